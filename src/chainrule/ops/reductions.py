"""Reductions: sum, mean, max/min (and amax/amin, argmax/argmin), var, std, prod,
logsumexp, cumsum, norm, any/all — each with PyTorch's ``dim``/``keepdim`` and NumPy's
``axis``/``keepdims`` spellings (either, never both)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import return_types
from chainrule.autograd import Function
from chainrule.ops._util import dim_args, normalize_axes, single_dim
from chainrule.ops.arithmetic import maximum, minimum, sqrt
from chainrule.ops.indexing import gather
from chainrule.ops.shape import reshape, squeeze
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


def sum(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, dtype: Any = None,
        axis: Any = None, keepdims: bool | None = None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int or a tuple; None: every axis), like ``torch.sum``.

    Args:
        x: any shape.
        dim / axis: the axes to reduce (PyTorch's or NumPy's spelling).
        keepdim / keepdims: keep reduced axes as size 1 (default False).
        dtype: cast ``x`` to this dtype first.

    Example:
        >>> import chainrule as cr
        >>> cr.ones(2, 3).sum(dim=1, keepdim=True).shape
        (2, 1)
    """
    dim, keepdim = dim_args("sum", dim, keepdim, axis, keepdims)
    x = _cast_first(x, dtype)
    return Sum.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)


def _cast_first(x: Tensor, dtype: Any) -> Tensor:
    if dtype is None:
        return x
    from chainrule.ops.arithmetic import cast

    return cast(x, dtype)


class Mean(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.saved = (x.shape, axes)
        return np.mean(x, axis=axes, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, axes = self.saved
        scale = 1.0 / _count(shape, axes)
        return np.broadcast_to(g.reshape(_kept_shape(shape, axes)) * scale, shape)


def mean(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, dtype: Any = None,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Mean over ``dim`` (None: every axis); arguments as in ``sum``.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 5.0]]).mean(-1)
        tensor([1.5, 4. ])
    """
    dim, keepdim = dim_args("mean", dim, keepdim, axis, keepdims)
    x = _cast_first(x, dtype)
    return Mean.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)


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


def amax(x: Tensor, dim: Any = (), keepdim: bool | None = None, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Largest value over ``dim`` (an int or tuple; ``()``/None: every axis), like
    ``torch.amax``. Tied maxima share the gradient equally.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [7.0, 2.0]]).amax(dim=0)
        tensor([7., 5.])
    """
    dim, keepdim = dim_args("amax", None if dim == () else dim, keepdim, axis, keepdims)
    return Max.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)


def amin(x: Tensor, dim: Any = (), keepdim: bool | None = None, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Smallest value over ``dim`` (see ``amax``)."""
    dim, keepdim = dim_args("amin", None if dim == () else dim, keepdim, axis, keepdims)
    return Min.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)


def _extreme(op: str, x: Tensor, dim: Any, keepdim: bool | None, axis: Any,
             keepdims: bool | None) -> Any:
    """PyTorch's three ``max``/``min`` forms, plus NumPy's ``axis=`` form."""
    if isinstance(dim, (Tensor, np.ndarray)):  # torch.max(x, other): elementwise
        if keepdim is not None or axis is not None or keepdims is not None:
            raise TypeError(f"{op}(input, other) takes no dim/keepdim arguments")
        return (maximum if op == "max" else minimum)(x, dim)
    fn = Max if op == "max" else Min
    if axis is not None or keepdims is not None or dim is None:
        # NumPy's spelling, or no axis at all: the reduced values only (ties share)
        dim, keepdim = dim_args(op, dim, keepdim, axis, keepdims)
        return fn.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(dim=...) takes one int, as in PyTorch, and returns (values, "
                        f"indices); use a{op}(dim={tuple(dim)}) to reduce several axes")
    d = single_dim(op, dim, x._data.ndim)
    if x._data.size == 0:
        raise ValueError(f"{op}(): cannot reduce an empty tensor of shape {x.shape} over "
                         f"dim {dim}")
    picked = (np.argmax if op == "max" else np.argmin)(
        x._data.reshape(1) if x._data.ndim == 0 else x._data, axis=d, keepdims=True)
    return _values_and_indices(op, x, d, picked, bool(keepdim))


def _values_and_indices(op: str, x: Tensor, d: int, index: np.ndarray, keepdim: bool) -> Any:
    """``return_types.<op>(values, indices)``: values gathered (so differentiable) at
    ``index``, an int64 array with the kept-axis shape of ``x``."""
    index = index.astype(np.int64, copy=False)
    if x._data.ndim == 0:  # PyTorch allows dim 0/-1 of a scalar: itself, index 0
        return getattr(return_types, op)(gather(reshape(x, (1,)), 0, index).reshape(()),
                                         Tensor._make(index.reshape(()), False, None))
    values = gather(x, d, index)
    if not keepdim:
        values = squeeze(values, d)
        index = np.squeeze(index, axis=d)
    return getattr(return_types, op)(values, Tensor._make(index, False, None))


def max(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:  # noqa: A001
    """``torch.max`` in its three forms, plus NumPy's.

    - ``max(x)``: the largest element (tied maxima share the gradient);
    - ``max(x, dim, keepdim=False)``: a named tuple ``(values, indices)`` over one axis;
      values are differentiable, the gradient going to the first maximum of each row;
    - ``max(x, other)``: the elementwise maximum of two tensors;
    - ``max(x, axis=..., keepdims=...)``: NumPy's form, the values only (any axes).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 5.0], [7.0, 2.0]])
        >>> x.max(dim=1).indices
        tensor([1, 0])
        >>> x.max()
        tensor(7.)
    """
    return _extreme("max", x, dim, keepdim, axis, keepdims)


def min(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:  # noqa: A001
    """``torch.min``: the mirror image of ``max`` (same forms and return types)."""
    return _extreme("min", x, dim, keepdim, axis, keepdims)


def _arg_extreme(op: str, x: Tensor, dim: Any, keepdim: bool | None, axis: Any,
                 keepdims: bool | None) -> Tensor:
    dim, keepdim = dim_args(op, dim, keepdim, axis, keepdims)
    if x._data.size == 0:
        raise ValueError(f"{op}(): cannot pick from an empty tensor of shape {x.shape}")
    pick = np.argmax if op == "argmax" else np.argmin
    if dim is None:  # the index into the flattened tensor
        out = np.asarray(pick(x._data)).astype(np.int64)
        if keepdim:
            out = out.reshape((1,) * x._data.ndim)
    else:
        d = single_dim(op, dim, x._data.ndim)
        arr = x._data.reshape(1) if x._data.ndim == 0 else x._data
        out = pick(arr, axis=d, keepdims=keepdim).astype(np.int64, copy=False)
        if x._data.ndim == 0:
            out = out.reshape(())
    return Tensor._make(out, False, None)


def argmax(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
           keepdims: bool | None = None) -> Tensor:
    """Index (int64) of the first largest element over ``dim``; None: of the flattened
    tensor. Not differentiable.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(dim=1)
        tensor([1, 0])
    """
    return _arg_extreme("argmax", x, dim, keepdim, axis, keepdims)


def argmin(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
           keepdims: bool | None = None) -> Tensor:
    """Index (int64) of the first smallest element over ``dim`` (see ``argmax``)."""
    return _arg_extreme("argmin", x, dim, keepdim, axis, keepdims)


class Var(Function):
    """Variance ``Σ (x − mean)² / (n − correction)``; correction=1 is PyTorch's default."""

    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool,
                correction: float) -> np.ndarray:
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


def _correction(op: str, dim: Any, unbiased: bool | None, correction: float | None
                ) -> tuple[Any, float]:
    if isinstance(dim, bool):  # torch.var(x, False): the legacy (input, unbiased) form
        if unbiased is not None:
            raise TypeError(f"{op}() got unbiased twice")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}() got both unbiased= and correction=: pass one "
                        "(unbiased=False is correction=0)")
    if correction is None:
        correction = 1 if unbiased is None else int(bool(unbiased))
    return dim, correction


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None,
        keepdim: bool | None = None, *, correction: float | None = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Variance over ``dim`` (None: every axis), like ``torch.var``.

    Args:
        x: any shape.
        dim / axis: axes to reduce.
        unbiased: divide by n − 1 (True, the default) or n (False).
        keepdim / keepdims: keep reduced axes as size 1.
        correction: divide by n − correction (replaces ``unbiased``; 0 is the population
            variance).

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0, 4.0]).var(unbiased=False)
        tensor(1.25)
    """
    dim, correction = _correction("var", dim, unbiased, correction)
    dim, keepdim = dim_args("var", dim, keepdim, axis, keepdims)
    return Var.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim,
                     correction=correction)


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None,
        keepdim: bool | None = None, *, correction: float | None = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Standard deviation ``sqrt(var(x))``, arguments as in ``var``."""
    dim, correction = _correction("std", dim, unbiased, correction)
    dim, keepdim = dim_args("std", dim, keepdim, axis, keepdims)
    return sqrt(Var.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim,
                          correction=correction))


def logsumexp(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
    """``log Σ exp(x)`` over ``dim`` (an int or tuple; default the last axis), computed
    without overflow, like ``torch.logsumexp``.

    Example:
        >>> import chainrule as cr
        >>> cr.zeros(2, 4).logsumexp(dim=1)
        tensor([1.3863, 1.3863])
    """
    from chainrule.ops.activations import LogSumExp

    dim, keepdim = dim_args("logsumexp", dim, keepdim, axis, keepdims)
    dim = -1 if dim is None else dim
    return LogSumExp.apply(x, axes=normalize_axes(dim, x._data.ndim), keepdims=keepdim)


def _exclusive_cumprod(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """Product of the elements strictly before (or after) each one along ``axis``."""
    src = np.flip(x, axis) if reverse else x
    c = np.cumprod(src, axis=axis)
    out = np.ones_like(x)
    head = [slice(None)] * x.ndim
    tail = [slice(None)] * x.ndim
    head[axis], tail[axis] = slice(1, None), slice(None, -1)
    out[tuple(head)] = c[tuple(tail)]
    return np.flip(out, axis) if reverse else out


class Prod(Function):
    """Product over one axis. The gradient of each element is the product of the others,
    computed from prefix and suffix products so zeros need no division."""

    __slots__ = ()

    def forward(self, x: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
        self.saved = (x, axis)
        if axis is None:
            out = np.prod(x)
            return out.reshape((1,) * x.ndim) if keepdims else np.asarray(out)
        return np.prod(x, axis=axis, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, axis = self.saved
        flat = x.reshape(-1) if axis is None else x
        a = 0 if axis is None else axis
        others = _exclusive_cumprod(flat, a, False) * _exclusive_cumprod(flat, a, True)
        if axis is None:
            return (others * g.reshape(())).reshape(x.shape)
        return others * g.reshape(_kept_shape(x.shape, (axis,)))


def prod(x: Tensor, dim: int | None = None, keepdim: bool | None = None, *,
         dtype: Any = None, axis: int | None = None, keepdims: bool | None = None) -> Tensor:
    """Product over one axis ``dim`` (None: every element), like ``torch.prod``.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).prod(1)
        tensor([ 2., 12.])
    """
    dim, keepdim = dim_args("prod", dim, keepdim, axis, keepdims)
    x = _cast_first(x, dtype)
    if dim is not None:
        dim = single_dim("prod", dim, x._data.ndim) if x._data.ndim else None
    return Prod.apply(x, axis=dim, keepdims=keepdim)


class CumSum(Function):
    """Running sum along one axis; the gradient is the running sum of ``g`` from the end."""

    __slots__ = ()

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.saved = axis
        return np.cumsum(x, axis=axis)

    def backward(self, g: np.ndarray) -> np.ndarray:
        axis = self.saved
        return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def cumsum(x: Tensor, dim: int | None = None, *, dtype: Any = None,
           axis: int | None = None) -> Tensor:
    """Cumulative sum along ``dim`` (shape unchanged), like ``torch.cumsum``; with neither
    ``dim`` nor ``axis`` the tensor is flattened first, as in NumPy.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).cumsum(0)
        tensor([1., 3., 6.])
    """
    dim, _ = dim_args("cumsum", dim, None, axis, None)
    x = _cast_first(x, dtype)
    if x._data.dtype.kind == "b":  # PyTorch counts booleans in int64
        x = Tensor._make(x._data.astype(np.int64), False, None)
    if dim is None or x._data.ndim == 0:
        x = reshape(x, (-1,)) if x._data.ndim != 1 else x
        dim = 0
    return CumSum.apply(x, axis=single_dim("cumsum", dim, x._data.ndim))


def _logical(op: str, x: Tensor, dim: Any, keepdim: bool | None, axis: Any,
             keepdims: bool | None) -> Tensor:
    dim, keepdim = dim_args(op, dim, keepdim, axis, keepdims)
    reduce = np.any if op == "any" else np.all
    out = reduce(x._data, axis=normalize_axes(dim, x._data.ndim), keepdims=keepdim)
    return Tensor._make(np.asarray(out), False, None)


def any(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:  # noqa: A001
    """Whether any element over ``dim`` is nonzero (a bool tensor, not differentiable)."""
    return _logical("any", x, dim, keepdim, axis, keepdims)


def all(x: Tensor, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:  # noqa: A001
    """Whether every element over ``dim`` is nonzero (a bool tensor, not differentiable).

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 0.0], [2.0, 3.0]]).all(dim=1)
        tensor([False,  True])
    """
    return _logical("all", x, dim, keepdim, axis, keepdims)


class Norm(Function):
    """Vector p-norm ``(Σ |x|^p)^(1/p)`` over some axes; p may be inf, -inf or 0 (the
    count of nonzeros, with zero gradient). Where the norm is 0 the gradient is 0."""

    __slots__ = ()

    def forward(self, x: np.ndarray, p: float, axes: tuple[int, ...],
                keepdims: bool) -> np.ndarray:
        a = np.abs(x)
        if p == np.inf:
            kept = a.max(axis=axes, keepdims=True)
        elif p == -np.inf:
            kept = a.min(axis=axes, keepdims=True)
        elif p == 0:
            kept = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            kept = a.sum(axis=axes, keepdims=True)
        elif p == 2:
            kept = np.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            kept = (a**p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        self.saved = (x, kept, p, axes)
        if keepdims:
            return kept
        return kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, kept, p, axes = self.saved
        gk = g.reshape(kept.shape)
        if p == 0:
            return np.zeros_like(x)
        if p == 1:
            return np.sign(x) * gk
        if p in (np.inf, -np.inf):
            mask = np.abs(x) == kept
            count = mask.sum(axis=axes, keepdims=True)
            return (np.sign(x) * mask) * (gk / count).astype(x.dtype, copy=False)
        safe = np.where(kept == 0, 1, kept)
        if p == 2:
            return np.where(kept == 0, 0, x / safe) * gk
        a = np.abs(x)
        return np.where(kept == 0, 0, np.sign(x) * (a / safe) ** (p - 1)) * gk


def norm(x: Tensor, p: Any = 2, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """Vector p-norm over ``dim`` (None: all elements), like ``torch.norm`` for vectors.

    Args:
        x: any shape.
        p: a number, ``inf``, ``-inf``, or ``"fro"`` (the 2-norm of all elements).
        dim: an int or tuple of ints.
        keepdim: keep reduced axes as size 1.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[3.0, 4.0], [6.0, 8.0]]).norm(dim=1)
        tensor([ 5., 10.])
    """
    if p == "fro":
        p = 2
    if isinstance(p, str) or p is None:
        raise ValueError(f"norm: p={p!r} is not supported (use a number, inf, -inf or 'fro'; "
                         "matrix norms such as 'nuc' are not implemented)")
    x = _cast_first(x, dtype)
    dim, _ = dim_args("norm", dim, None)
    return Norm.apply(x, p=float(p), axes=normalize_axes(dim, x._data.ndim),
                      keepdims=bool(keepdim))


__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "logsumexp", "max", "mean",
    "min", "norm", "prod", "std", "sum", "var",
]


# ---- gapstensor: cumprod --------------------------------------------------------------------

class CumProd(Function):
    """Running product along one axis.

    ``∂out_i/∂x_k = Π_{j≤i, j≠k} x_j`` for ``k ≤ i``. Before the first zero of a row this
    is ``out_i / x_k``, so the gradient is the reversed running sum of ``g·out`` divided
    by ``x_k``; at the first zero it is the running product with that zero replaced by 1;
    after it, every product holds the zero, so the gradient is 0. No division by zero.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        out = np.cumprod(x, axis=axis)
        self.saved = (x, out, axis)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, out, axis = self.saved
        zeros_so_far = np.cumsum(x == 0, axis=axis)
        before = zeros_so_far == 0
        tail = np.flip(np.cumsum(np.flip(g * out, axis), axis=axis), axis)
        grad = np.where(before, tail / np.where(before, x, 1), 0).astype(g.dtype, copy=False)
        if not before.all():
            first = (x == 0) & (zeros_so_far == 1)
            from_first = np.cumprod(np.where(first, 1, x), axis=axis)
            at_first = np.sum(g * from_first * (zeros_so_far >= 1), axis=axis, keepdims=True)
            grad = np.where(first, at_first, grad)
        return grad


def cumprod(x: Tensor, dim: int | None = None, *, dtype: Any = None,
            axis: int | None = None) -> Tensor:
    """Cumulative product along ``dim`` (shape unchanged), like ``torch.cumprod``; with
    neither ``dim`` nor ``axis`` the tensor is flattened first, as in NumPy. Zeros are
    handled exactly in the gradient.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).cumprod(0)
        tensor([1., 2., 6.])
    """
    dim, _ = dim_args("cumprod", dim, None, axis, None)
    x = _cast_first(x, dtype)
    if x._data.dtype.kind == "b":  # PyTorch multiplies booleans in int64
        x = Tensor._make(x._data.astype(np.int64), False, None)
    if dim is None or x._data.ndim == 0:
        x = reshape(x, (-1,)) if x._data.ndim != 1 else x
        dim = 0
    return CumProd.apply(x, axis=single_dim("cumprod", dim, x._data.ndim))


__all__ += ["cumprod"]
