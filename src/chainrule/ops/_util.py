"""Helpers shared by the ops: undoing broadcasting, lifting constants to tensors, and the
ones vectors that turn sums into matrix-vector products."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.tensor import Tensor, raw  # noqa: F401  (re-exported)


@lru_cache(maxsize=64)
def _ones_cached(n: int, dtype: str) -> np.ndarray:
    ones = np.ones(n, np.dtype(dtype))
    ones.flags.writeable = False
    return ones


def ones_vector(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones (cached). ``a @ ones_vector(a.shape[-1], a.dtype)``
    sums rows and ``ones_vector(len(a), a.dtype) @ a`` columns: BLAS does these GEMVs
    2–5× faster than NumPy's ``sum`` over short rows or down columns."""
    return _ones_cached(n, np.dtype(dtype).str)


def kernel_array(a: np.ndarray) -> np.ndarray:
    """a as the compiled kernels' signatures take it (``chainrule.fast``: writable,
    C-contiguous): itself when it is one, else a copy. A read-only input (a loaded
    weight, a broadcast view) would otherwise find no matching signature."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes broadcasting added or stretched, back to ``shape``.

    The one place that undoes broadcasting: every binary op's backward calls it.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def constant(value: Any, like: Tensor | None = None) -> Tensor:
    """Wrap a non-tensor operand. Python numbers and float arrays take the dtype of the
    tensor they meet, so ``x * 2.0`` or ``x + np.float64(1)`` never upcasts a float32 x."""
    if isinstance(value, Tensor):
        return value
    if like is not None and like._data.dtype.kind == "f":
        arr = np.asarray(value)
        if arr.dtype.kind in "fiub":
            arr = arr.astype(like._data.dtype, copy=False)
        return Tensor._make(arr, False, None)
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and arr.dtype != get_default_dtype():
        arr = arr.astype(get_default_dtype())
    return Tensor._make(arr, False, None)


def pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors (the common case, two tensors, costs two type checks)."""
    if not isinstance(a, Tensor):
        a = constant(a, b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = constant(b, a)
    return a, b


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        # a 0-d tensor accepts axis 0 / -1 (as PyTorch does): there is nothing to reduce
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        if ndim:
            out.append(a % ndim)
    return tuple(sorted(out))


def shape_mismatch(op: str, a: tuple, b: tuple, detail: str = "") -> ValueError:
    text = f"{op}: shapes {a} and {b} are incompatible"
    return ValueError(f"{text}: {detail}" if detail else text)


# ---- PyTorch and NumPy spellings of reduction arguments --------------------------------

def dim_args(op: str, dim: Any, keepdim: bool | None, axis: Any = None,
             keepdims: bool | None = None) -> tuple[Any, bool]:
    """``(dim, keepdim)`` from PyTorch's ``dim=``/``keepdim=`` or NumPy's ``axis=``/
    ``keepdims=`` (either spelling, never both); keepdim defaults to False.

    Example:
        >>> dim_args("sum", None, None, axis=1, keepdims=True)
        (1, True)
    """
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}() got both dim= and axis= (the same argument in PyTorch's "
                            "and NumPy's spelling): pass one")
        dim = axis
    if keepdims is not None:
        if keepdim is not None:
            raise TypeError(f"{op}() got both keepdim= and keepdims= (the same argument in "
                            "PyTorch's and NumPy's spelling): pass one")
        keepdim = keepdims
    if isinstance(dim, list):
        dim = tuple(dim)
    return dim, (False if keepdim is None else bool(keepdim))


def single_dim(op: str, dim: Any, ndim: int) -> int:
    """One axis as a non-negative int, with an error naming the op and the tensor's rank."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be one int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected {-n}..{n - 1})")
    return int(dim) % n
