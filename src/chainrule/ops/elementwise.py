"""Elementwise math beyond the arithmetic operators: sin, cos, log1p, expm1, reciprocal,
square, rsqrt, sign/floor/ceil/round (zero gradient, as in PyTorch), masked_fill and
clone."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import shape_mismatch
from chainrule.tensor import Tensor, raw


class Sin(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        return np.sin(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * np.cos(self.saved)


def sin(x: Tensor) -> Tensor:
    return Sin.apply(x)


class Cos(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        return np.cos(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return -g * np.sin(self.saved)


def cos(x: Tensor) -> Tensor:
    return Cos.apply(x)


class Log1p(Function):
    """``log(1 + x)``, accurate for small x."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g / (1 + self.saved)


def log1p(x: Tensor) -> Tensor:
    return Log1p.apply(x)


class Expm1(Function):
    """``exp(x) − 1``, accurate for small x; d/dx = exp(x) = out + 1."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.expm1(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (self.saved + 1)


def expm1(x: Tensor) -> Tensor:
    return Expm1.apply(x)


class Reciprocal(Function):
    """``1 / x``; d/dx = −1/x² = −out²."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":  # PyTorch's reciprocal of an integer tensor is float
            from chainrule.backend import get_default_dtype

            x = x.astype(get_default_dtype())
        with np.errstate(divide="ignore"):
            out = np.reciprocal(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        out = self.saved
        return -g * (out * out)


def reciprocal(x: Tensor) -> Tensor:
    return Reciprocal.apply(x)


class Square(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        return x * x

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (2 * self.saved)


def square(x: Tensor) -> Tensor:
    return Square.apply(x)


class Rsqrt(Function):
    """``1 / sqrt(x)``; d/dx = −out³ / 2."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / np.sqrt(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        out = self.saved
        return g * (-0.5 * out * out * out)


def rsqrt(x: Tensor) -> Tensor:
    return Rsqrt.apply(x)


class _Piecewise(Function):
    """sign, floor, ceil, round: piecewise constant, so the gradient is zero everywhere
    (PyTorch's convention, which keeps them usable inside a differentiable graph)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, decimals: int = 0) -> np.ndarray:
        self.saved = None
        return self.compute(x, decimals)

    @staticmethod
    def compute(x: np.ndarray, decimals: int) -> np.ndarray:
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> np.ndarray:
        return np.zeros_like(g)


class Sign(_Piecewise):
    __slots__ = ()
    compute = staticmethod(lambda x, decimals: np.sign(x))


class Floor(_Piecewise):
    __slots__ = ()
    compute = staticmethod(lambda x, decimals: np.floor(x))


class Ceil(_Piecewise):
    __slots__ = ()
    compute = staticmethod(lambda x, decimals: np.ceil(x))


class Round(_Piecewise):
    __slots__ = ()
    compute = staticmethod(lambda x, decimals: np.round(x, decimals))


def sign(x: Tensor) -> Tensor:
    """−1, 0 or 1 (zero gradient)."""
    return Sign.apply(x)


def floor(x: Tensor) -> Tensor:
    """Largest integer ≤ x, in x's dtype (zero gradient)."""
    return x if x._data.dtype.kind in "iub" else Floor.apply(x)


def ceil(x: Tensor) -> Tensor:
    """Smallest integer ≥ x, in x's dtype (zero gradient)."""
    return x if x._data.dtype.kind in "iub" else Ceil.apply(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round half to even to ``decimals`` places, like ``torch.round`` (zero gradient).

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([0.5, 1.5, 2.567]).round()
        tensor([0., 2., 3.])
    """
    if x._data.dtype.kind in "iub" and decimals >= 0:
        return x
    return Round.apply(x, decimals=int(decimals))


class MaskedFill(Function):
    """``value`` where ``mask`` is True, ``x`` elsewhere; x's gradient flows where the
    mask is False. The mask broadcasts to x's shape (never the other way round)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, mask: np.ndarray, value: Any) -> np.ndarray:
        self.saved = mask
        return np.where(mask, np.asarray(value, dtype=x.dtype), x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return np.where(self.saved, np.zeros((), g.dtype), g)


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """``x`` with the positions where ``mask`` is True set to ``value``.

    Args:
        x: any shape.
        mask: bool tensor/array broadcastable to ``x.shape``.
        value: a number, or a 0-d tensor (which gets no gradient here).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0, 3.0])
        >>> x.masked_fill(x > 1.5, float("-inf"))
        tensor([  1., -inf, -inf])
    """
    m = np.asarray(raw(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        if np.broadcast_shapes(m.shape, x._data.shape) != x._data.shape:
            raise ValueError
    except ValueError:
        raise shape_mismatch("masked_fill", x.shape, m.shape,
                             "the mask must broadcast to the tensor's shape") from None
    v = raw(value)
    if np.ndim(v) != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                         f"{np.shape(v)}")
    return MaskedFill.apply(x, mask=m, value=np.asarray(v).item())


class Clone(Function):
    """A copy in new memory; the gradient passes through unchanged."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = None
        return x.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` with its own memory, still connected to the graph (``torch.clone``).
    """
    return Clone.apply(x)


__all__ = [
    "ceil", "clone", "cos", "expm1", "floor", "log1p", "masked_fill", "reciprocal", "round",
    "rsqrt", "sign", "sin", "square",
]


# ---- gapstensor: tan, log2, log10, trunc ------------------------------------------------

def _floating(x: Tensor) -> Tensor:
    """Integer and bool tensors become the default float dtype first (PyTorch's rule for
    functions such as log2 whose results are not integers)."""
    if x._data.dtype.kind == "f":
        return x
    from chainrule.backend import get_default_dtype

    return Tensor._make(x._data.astype(get_default_dtype()), False, None)


class Tan(Function):
    """``tan x``; d/dx = 1 + tan² x = 1 + out²."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tan(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        out = self.saved
        return g * (1 + out * out)


def tan(x: Tensor) -> Tensor:
    """Elementwise tangent, like ``torch.tan``."""
    return Tan.apply(_floating(x))


class Log2(Function):
    """``log₂ x``; d/dx = 1 / (x ln 2)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g / (self.saved * np.log(2.0)).astype(g.dtype, copy=False)


def log2(x: Tensor) -> Tensor:
    """Base-2 logarithm, like ``torch.log2`` (integers give the default float dtype).

    Example:
        >>> import chainrule as cr
        >>> cr.log2(cr.tensor([1.0, 8.0]))
        tensor([0., 3.])
    """
    return Log2.apply(_floating(x))


class Log10(Function):
    """``log₁₀ x``; d/dx = 1 / (x ln 10)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g / (self.saved * np.log(10.0)).astype(g.dtype, copy=False)


def log10(x: Tensor) -> Tensor:
    """Base-10 logarithm, like ``torch.log10`` (integers give the default float dtype)."""
    return Log10.apply(_floating(x))


class Trunc(_Piecewise):
    __slots__ = ()
    compute = staticmethod(lambda x, decimals: np.trunc(x))


def trunc(x: Tensor) -> Tensor:
    """Round towards zero, in x's dtype (zero gradient), like ``torch.trunc``/``fix``.

    Example:
        >>> import chainrule as cr
        >>> cr.trunc(cr.tensor([-1.7, 1.7]))
        tensor([-1.,  1.])
    """
    return x if x._data.dtype.kind in "iub" else Trunc.apply(x)


fix = trunc

__all__ += ["fix", "log10", "log2", "tan", "trunc"]
