"""More dropout layers: ``AlphaDropout`` and ``FeatureAlphaDropout`` (for SELU networks)
and ``Dropout3d`` (channels of volumes), PyTorch's names. Active in training mode only;
masks come from chainrule's generator."""

from __future__ import annotations

from chainrule.nn.dropout import Dropout
from chainrule.ops.dropout_more import alpha_dropout, dropout3d, feature_alpha_dropout
from chainrule.tensor import Tensor


class AlphaDropout(Dropout):
    """Alpha dropout: dropped elements take SELU's negative saturation value and the
    result is rescaled so zero mean and unit variance are kept (see
    ``chainrule.ops.dropout_more``). The identity in eval mode.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AlphaDropout(0.2).eval()(cr.ones(2)).tolist()
        [1.0, 1.0]
    """

    def forward(self, x: Tensor) -> Tensor:
        return alpha_dropout(x, self.p, self.training, generator=self.generator)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels of (N, C, ...) inputs."""

    def forward(self, x: Tensor) -> Tensor:
        return feature_alpha_dropout(x, self.p, self.training, generator=self.generator)


class Dropout3d(Dropout):
    """Drops whole channels of (N, C, D, H, W) or (C, D, H, W) inputs (one mask value per
    channel), scaling the rest by 1/(1−p)."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout3d(x, self.p, self.training, generator=self.generator)


__all__ = ["AlphaDropout", "Dropout3d", "FeatureAlphaDropout"]
