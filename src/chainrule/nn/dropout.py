"""Dropout layers: active in training mode only."""

from __future__ import annotations

from chainrule.backend import Generator
from chainrule.nn.module import Module
from chainrule.ops.activations import dropout, dropout_channels
from chainrule.tensor import Tensor


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale
    the survivors by 1/(1−p); in eval mode, the identity. A cure for overfitting.

    Example:
        >>> import chainrule as cr
        >>> d = cr.nn.Dropout(0.5).eval()
        >>> d(cr.ones(3)).tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Drops whole channels of (N, C, H, W) inputs (one mask value per (n, c))."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout_channels(x, self.p, self.training, self.generator)


Dropout1d = Dropout2d
