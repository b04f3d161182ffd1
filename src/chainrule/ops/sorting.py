"""Sorting along one axis: ``sort``, ``argsort``, ``topk``.

Indices come from a stable NumPy argsort (ties keep their order, NaN sorts last as in
PyTorch); values are gathered at them, so they are differentiable and the gradient goes
back to the positions they came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import return_types
from chainrule.ops._util import single_dim
from chainrule.ops.indexing import gather
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor


def _argsort(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # Stable descending without negating (which fails for bool and unsigned ints, and
    # would put NaN first): sort the reversed array ascending, reverse, map positions back.
    n = a.shape[axis]
    order = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return (n - 1) - np.flip(order, axis)


def _as_1d(x: Tensor) -> tuple[Tensor, bool]:
    return (reshape(x, (1,)), True) if x._data.ndim == 0 else (x, False)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False
            ) -> Tensor:
    """Indices (int64) that sort ``x`` along ``dim``; always stable here.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([3.0, 1.0, 2.0]).argsort()
        tensor([1, 2, 0])
    """
    x1, scalar = _as_1d(x)
    d = single_dim("argsort", dim, x._data.ndim)
    out = _argsort(x1._data, d, descending).astype(np.int64, copy=False)
    return Tensor._make(out.reshape(()) if scalar else out, False, None)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` of ``x`` sorted along ``dim`` (``return_types.sort``).

    Args:
        x: any shape.
        dim: the axis to sort.
        descending: largest first.
        stable: accepted for PyTorch compatibility; the sort is always stable.

    Example:
        >>> import chainrule as cr
        >>> values, indices = cr.tensor([3.0, 1.0, 2.0]).sort(descending=True)
        >>> values, indices
        (tensor([3., 2., 1.]), tensor([0, 2, 1]))
    """
    x1, scalar = _as_1d(x)
    d = single_dim("sort", dim, x._data.ndim)
    index = _argsort(x1._data, d, descending).astype(np.int64, copy=False)
    values = gather(x1, d, index, unique=True)
    if scalar:
        return return_types.sort(reshape(values, ()),
                                 Tensor._make(index.reshape(()), False, None))
    return return_types.sort(values, Tensor._make(index, False, None))


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
         ) -> Any:  # noqa: A002
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices
    (``return_types.topk``); always returned sorted, ties in index order.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 4.0, 2.0, 3.0]).topk(2).indices
        tensor([1, 3])
    """
    x1, scalar = _as_1d(x)
    d = single_dim("topk", dim, x._data.ndim)
    n = x1._data.shape[d]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {n} "
                         f"(shape {x.shape})")
    order = _argsort(x1._data, d, descending=largest)
    index = np.take(order, np.arange(k), axis=d).astype(np.int64, copy=False)
    values = gather(x1, d, index, unique=True)
    if scalar and k == 1:  # a 0-d input gives 0-d results, as in PyTorch
        return return_types.topk(reshape(values, ()),
                                 Tensor._make(index.reshape(()), False, None))
    return return_types.topk(values, Tensor._make(index, False, None))


__all__ = ["argsort", "sort", "topk"]


# ---- gapstensor: unique ---------------------------------------------------------------------

def unique(x: Any, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct elements of ``x`` in ascending order (or, with ``dim``, the distinct
    slices along ``dim`` in lexicographic order), like ``torch.unique``.

    Not differentiable (neither is PyTorch's). ``sorted=False`` is accepted and still
    sorts (PyTorch leaves the order unspecified).

    Args:
        x: any shape.
        return_inverse: also return, for each element (slice), the position of its value
            in the result: x's shape (``(x.shape[dim],)`` with ``dim``).
        return_counts: also return how often each distinct value occurs.
        dim: None to flatten, or the axis whose slices are compared.

    Returns:
        the values, or a tuple ``(values, inverse?, counts?)`` when asked for more.

    Example:
        >>> import chainrule as cr
        >>> cr.unique(cr.tensor([3, 1, 3, 2]), return_counts=True)
        (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    a = np.asarray(x._data if isinstance(x, Tensor) else x)
    axis = None if dim is None else single_dim("unique", dim, a.ndim)
    values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True,
                                        axis=axis)
    inverse = inverse.reshape(a.shape if axis is None else (-1,)).astype(np.int64)
    out = [Tensor._make(values, False, None)]
    if return_inverse:
        out.append(Tensor._make(inverse, False, None))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64, copy=False), False, None))
    return out[0] if len(out) == 1 else tuple(out)


__all__ += ["unique"]
