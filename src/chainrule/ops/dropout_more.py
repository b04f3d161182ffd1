"""Alpha dropout (element-wise and per channel) and 3-d channel dropout, PyTorch's
``F.alpha_dropout``, ``F.feature_alpha_dropout`` and ``F.dropout3d``.

Alpha dropout keeps SELU networks self-normalising: a dropped activation is set to SELU's
negative saturation ``α' = −λα ≈ −1.7581`` instead of 0, and the result is scaled and
shifted so that zero mean and unit variance survive:

    y = a·(m·x + (1 − m)·α') + b,   a = ((1 − p)(1 + p·α'²))^(−1/2),   b = −a·α'·p

with m ~ Bernoulli(1 − p) (one draw per element, or per (n, c) channel). ∂y/∂x = a·m.
The masks come from chainrule's generator.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import Generator, resolve_generator
from chainrule.ops.activations import check_dropout_p, dropout_channels
from chainrule.ops.shape import squeeze, unsqueeze
from chainrule.tensor import Tensor

# −λα of SELU: the value a dropped SELU activation takes
_ALPHA = 1.7580993408473766


class AlphaDropout(Function):
    """``y = x·(a·m) + α·a·(m − 1) + α·a·p`` (α = −α' ≈ 1.7581; the module docstring's
    formula rearranged as PyTorch computes it), the mask m of ``mask_shape`` broadcast
    over x; ``∂y/∂x = a·m``."""

    __slots__ = ()

    def forward(self, x: np.ndarray, p: float, generator: Generator,
                mask_shape: tuple[int, ...]) -> np.ndarray:
        keep = (generator.random(mask_shape, x.dtype) >= p).astype(x.dtype)
        a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
        scale = keep * np.asarray(a, x.dtype)
        shift = (keep - 1) * np.asarray(_ALPHA * a, x.dtype) + np.asarray(_ALPHA * a * p,
                                                                          x.dtype)
        self.saved = scale
        return x * scale + shift

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def _alpha(name: str, x: Tensor, p: float, training: bool, generator: Generator | None,
           per_channel: bool) -> Tensor:
    p = check_dropout_p(p, name)
    if not training or p == 0 or x._data.size == 0:
        return x
    if p == 1:
        return x * 0.0
    shape = x._data.shape
    if per_channel:
        if x._data.ndim < 2:
            raise ValueError(f"{name}: feature dropout requires at least 2 dimensions in the "
                             f"input, got shape {x.shape}")
        shape = shape[:2] + (1,) * (len(shape) - 2)
    return AlphaDropout.apply(x, p=p, generator=resolve_generator(generator),
                              mask_shape=shape)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                  inplace: bool = False, *, generator: Generator | None = None) -> Tensor:
    """Alpha dropout of each element (for SELU networks); the identity unless
    ``training`` (PyTorch's functional default is False). ``inplace`` is ignored.

    Example:
        >>> import chainrule as cr
        >>> alpha_dropout(cr.ones(3), 0.5).tolist()
        [1.0, 1.0, 1.0]
    """
    return _alpha("alpha_dropout", input, p, training, generator, per_channel=False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5,  # noqa: A002
                          training: bool = False, inplace: bool = False, *,
                          generator: Generator | None = None) -> Tensor:
    """Alpha dropout of whole channels: one mask value per (n, c) of an (N, C, ...)
    input. The identity unless ``training``; ``inplace`` is ignored.

    Example:
        >>> import chainrule as cr
        >>> y = feature_alpha_dropout(cr.ones(2, 3, 4), 0.5, training=True)
        >>> y.shape
        (2, 3, 4)
    """
    return _alpha("feature_alpha_dropout", input, p, training, generator, per_channel=True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False, *, generator: Generator | None = None) -> Tensor:
    """Channel dropout of (N, C, D, H, W) or unbatched (C, D, H, W) inputs (PyTorch's
    ``F.dropout3d``): each channel is kept (scaled by 1/(1−p)) or zeroed whole.

    Other ranks warn, as in PyTorch, and are read as unbatched (axis 0 holds the
    channels). ``inplace`` is ignored.

    Example:
        >>> import chainrule as cr
        >>> dropout3d(cr.ones(1, 2, 1, 1, 1), 0.5, training=False).shape
        (1, 2, 1, 1, 1)
    """
    p = check_dropout_p(p, "dropout3d")
    ndim = input._data.ndim
    if ndim not in (4, 5):
        warnings.warn(f"dropout3d: received a {ndim}-D input; channel dropout expects "
                      "(N, C, D, H, W) or (C, D, H, W) (use dropout for other shapes)",
                      UserWarning, stacklevel=2)
    if ndim == 5:
        return dropout_channels(input, p, training, generator)
    return squeeze(dropout_channels(unsqueeze(input, 0), p, training, generator), 0)


__all__ = ["alpha_dropout", "dropout3d", "feature_alpha_dropout"]
