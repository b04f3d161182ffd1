"""Indexing by integer tensors along one axis: ``gather``, ``index_select``, ``scatter``
and ``scatter_add``; by masks: ``masked_select`` and ``nonzero``.

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
    if idx.ndim != x._data.ndim:
        raise ValueError(f"gather: index of shape {idx.shape} needs as many dimensions as "
                         f"the input of shape {x.shape}")
    d = single_dim("gather", dim, x._data.ndim)
    for k, (n, m) in enumerate(zip(idx.shape, x._data.shape)):
        if k != d and n > m:
            raise ValueError(f"gather: index of shape {idx.shape} is larger than the input "
                             f"of shape {x.shape} at dim {k}")
    if idx.size and (idx.min() < 0 or idx.max() >= x._data.shape[d]):
        raise IndexError(f"gather: index values must be in 0..{x._data.shape[d] - 1} for dim "
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
    d = single_dim("index_select", dim, x._data.ndim)
    n = x._data.shape[d] if x._data.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index_select: index values must be in 0..{n - 1} for dim {dim} "
                         f"of a tensor of shape {x.shape}")
    if x._data.ndim == 0:
        return getitem(x.reshape(1), idx.reshape(-1)).reshape(())
    return getitem(x, (slice(None),) * d + (idx.reshape(-1).astype(np.int64),))


__all__ = ["gather", "index_select"]


# ---- gapstensor: scatter, scatter_add, masked_select, nonzero -------------------------------

def _scatter_index(op: str, x: Tensor, dim: int, index: Any, src_shape: tuple[int, ...] | None
                   ) -> tuple[np.ndarray, int]:
    """``index`` as int64 after PyTorch's checks: as many dims as ``x``, no larger than
    ``src`` anywhere nor than ``x`` off ``dim``, values inside ``x``'s ``dim``."""
    idx = np.asarray(raw(index))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {idx.dtype}")
    if idx.ndim != x._data.ndim:
        raise ValueError(f"{op}: index of shape {idx.shape} needs as many dimensions as the "
                         f"input of shape {x.shape}")
    d = single_dim(op, dim, x._data.ndim)
    for k, n in enumerate(idx.shape):
        if (k != d and n > x._data.shape[k]) or (src_shape is not None and n > src_shape[k]):
            raise ValueError(f"{op}: index of shape {idx.shape} is larger than the input of "
                             f"shape {x.shape} (off dim {dim}) or the source of shape "
                             f"{src_shape} at dim {k}")
    n = x._data.shape[d] if x._data.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{op}: index values must be in 0..{n - 1} for dim {dim} of a "
                         f"tensor of shape {x.shape}, got {idx.min()}..{idx.max()}")
    return idx.astype(np.int64, copy=False), d


def _scatter_source(op: str, x: Tensor, index: np.ndarray, src: Any) -> Tensor:
    """``src`` as a tensor of ``x``'s dtype; a number fills ``index``'s shape."""
    if isinstance(src, Tensor):
        if src._data.ndim != x._data.ndim:
            raise ValueError(f"{op}: src of shape {src.shape} needs as many dimensions as "
                             f"the input of shape {x.shape}")
        if src._data.dtype != x._data.dtype:
            raise TypeError(f"{op}: src has dtype {src._data.dtype} but the input has "
                            f"{x._data.dtype}; convert one (e.g. src.to(x.dtype))")
        return src
    value = np.asarray(raw(src))
    if value.ndim != 0:
        raise TypeError(f"{op}: src must be a Tensor or a number, got an array of shape "
                        f"{value.shape}")
    return Tensor._make(np.full(index.shape, value, x._data.dtype), False, None)


def _scatter_into(out: np.ndarray, src: np.ndarray, index: np.ndarray, axis: int,
                  add: bool) -> None:
    """Write (or add) ``src``'s leading part at ``index`` along ``axis`` of ``out``."""
    region = tuple(slice(0, n) for n in index.shape)
    where = _along_axis_index(index, axis)
    if add:
        np.add.at(out, where, src[region])
    else:
        out[where] = src[region]


class Scatter(Function):
    """``out = x`` with ``out[i][index[i][j]] = src[i][j]`` (for dim 1), like
    ``torch.scatter``; with ``add`` the values are added instead (``scatter_add``).

    Backward: x's gradient is ``g`` with the overwritten positions zeroed (all of ``g``
    for ``add``); src's is ``g`` gathered at ``index`` (zeros where src was not read).
    Where ``index`` repeats a position, only one value is written, but every source
    element that aimed at it gets the gradient there, as in PyTorch.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, src: np.ndarray, index: np.ndarray, axis: int,
                add: bool) -> np.ndarray:
        out = x.copy()
        _scatter_into(out, src, index, axis, add)
        self.saved = (index, axis, add, src.shape)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        index, axis, add, src_shape = self.saved
        where = _along_axis_index(index, axis)
        nx, ns = self.needs_input_grad
        gx = gs = None
        if nx:
            gx = g if add else g.copy()
            if not add:
                gx[where] = 0
        if ns:
            gs = np.zeros(src_shape, g.dtype)
            gs[tuple(slice(0, n) for n in index.shape)] = g[where]
        return gx, gs


def scatter(x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """``x`` with the values of ``src`` written at ``index`` along ``dim``, like
    ``torch.scatter`` (out of place, differentiable in ``x`` and ``src``).

    For dim 0: ``out[index[i][j]][j] = src[i][j]``; for dim 1: ``out[i][index[i][j]] =
    src[i][j]``.

    Args:
        x: any shape (at least 1-d).
        dim: the axis ``index`` points along.
        index: integers with x's number of dims, no larger than ``src`` anywhere nor than
            ``x`` off ``dim``.
        src: a tensor of x's dtype, or a number (also accepted as ``value=``).
        reduce: None, or ``"add"`` to add instead of write (``scatter_add``).

    Example:
        >>> import chainrule as cr
        >>> cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[2], [0]]), 5.0)
        tensor([[0., 0., 5.],
                [5., 0., 0.]])
    """
    if (src is None) == (value is None):
        raise TypeError("scatter: give src (a tensor or a number) or value=, not both")
    if reduce not in (None, "add"):
        raise ValueError(f"scatter: reduce={reduce!r} is not supported (use None or 'add')")
    src = value if src is None else src
    shape = src._data.shape if isinstance(src, Tensor) else None
    idx, d = _scatter_index("scatter", x, dim, index, shape)
    s = _scatter_source("scatter", x, idx, src)
    return Scatter.apply(x, s, index=idx, axis=d, add=reduce == "add")


def scatter_add(x: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """``x`` plus the values of ``src`` added at ``index`` along ``dim`` (repeated
    positions accumulate), like ``torch.scatter_add``; differentiable in both.

    Example:
        >>> import chainrule as cr
        >>> cr.scatter_add(cr.zeros(3), 0, cr.tensor([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0]))
        tensor([4., 0., 2.])
    """
    return scatter(x, dim, index, src, reduce="add")


def scatter_inplace(x: Tensor, dim: int, index: Any, src: Any, add: bool, op: str) -> Tensor:
    """``Tensor.scatter_`` / ``scatter_add_``: write into x's array (not recorded)."""
    shape = src._data.shape if isinstance(src, Tensor) else None
    idx, d = _scatter_index(op, x, dim, index, shape)
    s = _scatter_source(op, x, idx, src)
    _scatter_into(x._inplace(op, s), s._data, idx, d, add)
    return x


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The elements of ``x`` where ``mask`` is True, as a 1-d tensor in row-major order,
    like ``torch.masked_select`` (x and mask broadcast together; the gradient goes back
    to the selected positions).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, -2.0], [-3.0, 4.0]])
        >>> cr.masked_select(x, x > 0)
        tensor([1., 4.])
    """
    m = np.asarray(raw(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(x._data.shape, m.shape)
    except ValueError:
        raise ValueError(f"masked_select: the input of shape {x.shape} and the mask of "
                         f"shape {m.shape} do not broadcast together") from None
    if x._data.shape != shape:
        from chainrule.ops.shape import broadcast_to

        x = broadcast_to(x, shape)
    if shape == ():
        return getitem(x.reshape(1), np.broadcast_to(m, (1,)).copy())
    return getitem(x, np.broadcast_to(m, shape).copy())


def nonzero(x: Any, *, as_tuple: bool = False) -> Any:
    """Indices of the nonzero elements, like ``torch.nonzero``: an int64 tensor of shape
    (count, x.ndim), or with ``as_tuple=True`` one 1-d tensor per dimension (what
    ``x[...]`` takes).

    Example:
        >>> import chainrule as cr
        >>> cr.nonzero(cr.tensor([[0.0, 1.0], [2.0, 0.0]]))
        tensor([[0, 1],
                [1, 0]])
    """
    a = np.asarray(raw(x))
    if as_tuple:
        parts = np.nonzero(a.reshape(1) if a.ndim == 0 else a)
        return tuple(Tensor._make(p.astype(np.int64, copy=False), False, None) for p in parts)
    return Tensor._make(np.argwhere(a).astype(np.int64, copy=False), False, None)


__all__ += ["masked_select", "nonzero", "scatter", "scatter_add"]
