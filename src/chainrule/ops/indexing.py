"""Indexing by integer tensors along one axis: ``gather`` and ``index_select``.

``gather`` is also how ``max(dim)``, ``sort`` and ``topk`` make their values
differentiable: they pick indices, then gather, so the gradient goes back to exactly the
picked positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import single_dim
from chainrule.ops.shape import getitem
from chainrule.tensor import Tensor, raw


def _along_axis_index(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The full advanced index that ``take_along_axis`` applies (for ``np.add.at``)."""
    nd = index.ndim
    grids = []
    for d in range(nd):
        if d == axis:
            grids.append(index)
        else:
            shape = [1] * nd
            shape[d] = index.shape[d]
            grids.append(np.arange(index.shape[d]).reshape(shape))
    return tuple(grids)


class Gather(Function):
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` (for axis 1), like ``torch.gather``.

    The index may be smaller than ``x`` on the other axes: the leading part of ``x`` is
    used. Backward scatter-adds into zeros, so repeated indices accumulate; ``unique``
    (set by sort/topk/max, whose indices never repeat within a row) writes directly.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, index: np.ndarray, axis: int,
                unique: bool) -> np.ndarray:
        region = tuple(slice(None) if d == axis else slice(0, n)
                       for d, n in enumerate(index.shape))
        self.saved = (x.shape, index, axis, region, unique)
        return np.take_along_axis(x[region], index, axis=axis)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, index, axis, region, unique = self.saved
        out = np.zeros(shape, dtype=g.dtype)
        view = out[region]
        if unique:
            np.put_along_axis(view, index, g, axis=axis)
        else:
            np.add.at(view, _along_axis_index(index, axis), g)
        return out


def gather(x: Tensor, dim: int, index: Any, *, unique: bool = False) -> Tensor:
    """Values of ``x`` at ``index`` along ``dim``; the result has ``index``'s shape.

    Args:
        x: any shape (at least 1-d).
        dim: the axis that ``index`` picks along.
        index: integer tensor/array with ``x``'s number of dimensions, no larger than
            ``x`` on the other axes; values in ``0 .. x.shape[dim] - 1``.
        unique: promise that no row repeats an index (a faster backward).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> cr.gather(x, 1, cr.tensor([[0, 0], [1, 0]]))
        tensor([[1., 1.],
                [4., 3.]])
    """
    idx = np.asarray(raw(index))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must hold integers, got dtype {idx.dtype}")
    if idx.ndim != x.data.ndim:
        raise ValueError(f"gather: index of shape {idx.shape} needs as many dimensions as "
                         f"the input of shape {x.shape}")
    d = single_dim("gather", dim, x.data.ndim)
    for k, (n, m) in enumerate(zip(idx.shape, x.data.shape)):
        if k != d and n > m:
            raise ValueError(f"gather: index of shape {idx.shape} is larger than the input "
                             f"of shape {x.shape} at dim {k}")
    if idx.size and (idx.min() < 0 or idx.max() >= x.data.shape[d]):
        raise IndexError(f"gather: index values must be in 0..{x.data.shape[d] - 1} for dim "
                         f"{dim} of a tensor of shape {x.shape}, got {idx.min()}..{idx.max()}")
    return Gather.apply(x, index=idx.astype(np.int64, copy=False), axis=d, unique=unique)


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``x`` at the positions ``index`` (1-d integers) along ``dim``.

    Repeated positions are allowed; their gradients add up.

    Example:
        >>> import chainrule as cr
        >>> cr.index_select(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, cr.tensor([1, 1]))
        tensor([[2., 2.],
                [4., 4.]])
    """
    idx = np.asarray(raw(index))
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise ValueError(f"index_select: index must be a 0-d or 1-d integer tensor, got "
                         f"shape {idx.shape} and dtype {idx.dtype}")
    d = single_dim("index_select", dim, x.data.ndim)
    n = x.data.shape[d] if x.data.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index_select: index values must be in 0..{n - 1} for dim {dim} "
                         f"of a tensor of shape {x.shape}")
    if x.data.ndim == 0:
        return getitem(x.reshape(1), idx.reshape(-1)).reshape(())
    return getitem(x, (slice(None),) * d + (idx.reshape(-1).astype(np.int64),))


__all__ = ["gather", "index_select"]
