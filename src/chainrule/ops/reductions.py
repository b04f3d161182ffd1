"""Reductions: sum, mean, max, min, var, std — each with ``axis`` and ``keepdims``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import normalize_axes
from chainrule.tensor import Tensor


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The reduced shape with the reduced axes kept as size 1 (for broadcasting back)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.saved = (x.shape, axes)
        return np.sum(x, axis=axes, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, axes = self.saved
        return np.broadcast_to(g.reshape(_kept_shape(shape, axes)), shape)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes)."""
    return Sum.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


class Mean(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.saved = (x.shape, axes)
        return np.mean(x, axis=axes, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, axes = self.saved
        scale = 1.0 / _count(shape, axes)
        return np.broadcast_to(g.reshape(_kept_shape(shape, axes)) * scale, shape)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (None: all axes)."""
    return Mean.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


class _Extreme(Function):
    """max/min: the gradient is shared equally among tied extreme elements."""

    __slots__ = ()
    reduce = staticmethod(np.max)

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        if x.size == 0:
            raise ValueError(f"{type(self).__name__.lower()}() of an empty tensor {x.shape}")
        kept = self.reduce(x, axis=axes, keepdims=True)
        self.saved = (x == kept, axes, x.shape)
        return kept if keepdims else kept.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, g: np.ndarray) -> np.ndarray:
        mask, axes, shape = self.saved
        count = mask.sum(axis=axes, keepdims=True)
        return mask * (g.reshape(_kept_shape(shape, axes)) / count).astype(g.dtype, copy=False)


class Max(_Extreme):
    __slots__ = ()
    reduce = staticmethod(np.max)


class Min(_Extreme):
    __slots__ = ()
    reduce = staticmethod(np.min)


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value over ``axis``."""
    return Max.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest value over ``axis``."""
    return Min.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


class Var(Function):
    """Variance ``Σ (x − mean)² / (n − correction)``; correction=1 is PyTorch's default."""

    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool,
                correction: int) -> np.ndarray:
        n = _count(x.shape, axes)
        if n - correction <= 0:
            raise ValueError(
                f"var: {n} element(s) over axes {axes} is too few for correction={correction}"
            )
        centered = x - x.mean(axis=axes, keepdims=True)
        denom = n - correction
        self.saved = (centered, axes, denom)
        return np.sum(centered * centered, axis=axes, keepdims=keepdims) / denom

    def backward(self, g: np.ndarray) -> np.ndarray:
        centered, axes, denom = self.saved
        gk = g.reshape(_kept_shape(centered.shape, axes))
        return centered * (gk * (2.0 / denom))


def var(x: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``axis``; ``correction=0`` gives the population (biased) variance."""
    return Var.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims,
                     correction=correction)


def std(x: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Standard deviation: ``sqrt(var(x))``."""
    from chainrule.ops.arithmetic import sqrt

    return sqrt(var(x, axis, keepdims, correction))


def logsumexp(x: Tensor, axis: Any = -1, keepdims: bool = False) -> Tensor:
    """``log Σ exp(x)`` over ``axis``, computed without overflow."""
    from chainrule.ops.activations import LogSumExp

    return LogSumExp.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


__all__ = ["sum", "mean", "max", "min", "var", "std", "logsumexp"]
