"""Shape ops: reshape, transpose, indexing, concatenate, stack, squeeze, pad, expand.

Their backward only moves gradient values around; indexing with integer arrays
scatter-adds so repeated indices accumulate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import dim_args, single_dim, unbroadcast
from chainrule.tensor import Tensor


class Reshape(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.saved = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) "
                f"as shape {shape}"
            ) from None

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.reshape(self.saved)


def reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    if x._data.shape == tuple(shape):
        return x
    return Reshape.apply(x, shape=tuple(shape))


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` (inclusive) into one, like ``torch.flatten``."""
    shape = x._data.shape
    nd = len(shape)
    if nd == 0:
        return reshape(x, (1,))
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(shape[s:e + 1]))
    return reshape(x, shape[:s] + (merged,) + shape[e + 1:])


def squeeze(x: Tensor, dim: Any = None, *, axis: Any = None) -> Tensor:
    """Drop size-1 axes: all of them, or those among ``dim`` (an int or tuple); a named
    axis that is not size 1 stays, as in PyTorch."""
    dim, _ = dim_args("squeeze", dim, None, axis)
    shape = x._data.shape
    if dim is None:
        new = tuple(n for n in shape if n != 1)
    else:
        dims = dim if isinstance(dim, tuple) else (dim,)
        axes = {single_dim("squeeze", a, len(shape)) for a in dims}
        new = tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1))
    return reshape(x, new)


def unsqueeze(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert a size-1 axis at ``dim`` (negative counts from the end of the result)."""
    dim, _ = dim_args("unsqueeze", dim, None, axis)
    if dim is None:
        raise TypeError("unsqueeze() needs dim, the position of the new axis")
    shape = list(x._data.shape)
    pos = single_dim("unsqueeze", dim, len(shape) + 1)
    shape.insert(pos, 1)
    return reshape(x, tuple(shape))


class Transpose(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...] | None) -> np.ndarray:
        if axes is not None and sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"a tensor of shape {x.shape}")
        self.saved = None if axes is None else tuple(np.argsort([a % x.ndim for a in axes]))
        return np.transpose(x, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return np.transpose(g, self.saved)


def transpose(x: Tensor, axes: tuple[int, ...] | None = None) -> Tensor:
    """Permute axes (None reverses them), like ``numpy.transpose``."""
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


permute = transpose


def swapaxes(x: Tensor, a: int, b: int) -> Tensor:
    """Exchange two axes (``torch.transpose(x, a, b)``)."""
    axes = list(range(x._data.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def _is_advanced(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list, Tensor)) for i in items)


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


class GetItem(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, index: Any, advanced: bool) -> np.ndarray:
        self.saved = (x.shape, x.dtype, index, advanced)
        try:
            out = x[index]
        except IndexError as err:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {err}") from None
        return out if isinstance(out, np.ndarray) else np.asarray(out)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, dtype, index, advanced = self.saved
        out = np.zeros(shape, dtype=g.dtype)
        if advanced:
            np.add.at(out, index, g)  # repeated indices must accumulate
        else:
            out[index] = g
        return out


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with NumPy semantics (basic slicing and integer/boolean arrays)."""
    index = _plain_index(index)
    return GetItem.apply(x, index=index, advanced=_is_advanced(index))


class Concatenate(Function):
    __slots__ = ()

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = [a.shape for a in arrays]
            raise ValueError(f"concatenate along axis {axis}: shapes {shapes} differ "
                             "outside that axis") from None
        self.saved = (np.cumsum([a.shape[axis] for a in arrays])[:-1], axis)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        splits, axis = self.saved
        parts = np.split(g, splits, axis=axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


def concatenate(tensors: list[Tensor], dim: int | None = None, *,
                axis: int | None = None) -> Tensor:
    """Join tensors along an existing axis ``dim`` (default 0), like ``torch.cat``.

    Example:
        >>> import chainrule as cr
        >>> cr.cat([cr.ones(2, 3), cr.zeros(2, 1)], dim=1).shape
        (2, 4)
    """
    dim, _ = dim_args("cat", dim, None, axis)
    axis = 0 if dim is None else dim
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


class Stack(Function):
    __slots__ = ()

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"stack: all tensors need the same shape, got "
                             f"{[a.shape for a in arrays]}")
        out = np.stack(arrays, axis=axis)
        self.saved = axis % out.ndim
        return out

    def backward(self, g: np.ndarray) -> tuple:
        axis = self.saved
        return tuple(np.take(g, i, axis=axis) if need else None
                     for i, need in enumerate(self.needs_input_grad))


def stack(tensors: list[Tensor], dim: int | None = None, *, axis: int | None = None
          ) -> Tensor:
    """Join same-shaped tensors along a new axis ``dim`` (default 0), like ``torch.stack``.
    """
    dim, _ = dim_args("stack", dim, None, axis)
    axis = 0 if dim is None else dim
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


class BroadcastTo(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.saved = x.shape
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: cannot broadcast shape {x.shape} to {shape}") from None

    def backward(self, g: np.ndarray) -> np.ndarray:
        return unbroadcast(g, self.saved)


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Repeat size-1 axes to ``shape`` without copying (``torch.expand``)."""
    shape = tuple(x._data.shape[i - len(shape) + x._data.ndim] if n == -1 else n
                  for i, n in enumerate(shape))
    return BroadcastTo.apply(x, shape=shape)


class Pad(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, widths: tuple[tuple[int, int], ...],
                value: float) -> np.ndarray:
        self.saved = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, constant_values=value)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g[self.saved]


def pad(x: Tensor, widths: Any, value: float = 0.0) -> Tensor:
    """Constant padding; ``widths`` is one ``(before, after)`` pair per axis, each >= 0
    (NumPy style). The primitive under ``chainrule.ops.padding.pad``, PyTorch's ``F.pad``
    (flat widths, last dimension first, negative widths and the other modes), which
    ``chainrule.pad`` and ``F.pad`` are."""
    widths = tuple((int(a), int(b)) for a, b in widths)
    if len(widths) != x._data.ndim:
        raise ValueError(f"pad: need {x._data.ndim} (before, after) pairs for shape "
                         f"{x.shape}, got {len(widths)}")
    return Pad.apply(x, widths=widths, value=value)


class Repeat(Function):
    """``np.tile``: the tensor copied ``repeats[i]`` times along each axis (leading axes
    added when there are more repeats than axes). Backward sums the copies."""

    __slots__ = ()

    def forward(self, x: np.ndarray, repeats: tuple[int, ...]) -> np.ndarray:
        lifted = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
        self.saved = (x.shape, lifted.shape, repeats)
        return np.tile(lifted, repeats)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, lifted, repeats = self.saved
        interleaved = [n for pair in zip(repeats, lifted) for n in pair]
        copies = tuple(range(0, 2 * len(repeats), 2))
        return g.reshape(interleaved).sum(axis=copies).reshape(shape)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """``x`` repeated ``sizes[i]`` times along each axis, like ``Tensor.repeat`` in
    PyTorch (NumPy's ``tile``): ``sizes`` may be longer than ``x.shape``.

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).repeat(2, 2)
        tensor([[1., 2., 1., 2.],
                [1., 2., 1., 2.]])
    """
    reps = tuple(int(n) for n in (sizes[0] if len(sizes) == 1 and isinstance(
        sizes[0], (tuple, list)) else sizes))
    if len(reps) < x._data.ndim:
        raise ValueError(f"repeat: {len(reps)} repeat count(s) {reps} for a tensor of shape "
                         f"{x.shape}; give at least one per dimension")
    if any(n < 0 for n in reps):
        raise ValueError(f"repeat: repeat counts must be >= 0, got {reps}")
    return Repeat.apply(x, repeats=reps)


def _slices(x: Tensor, d: int, bounds: list[int]) -> tuple[Tensor, ...]:
    lead = (slice(None),) * d
    return tuple(getitem(x, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:]))


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` along ``dim`` into pieces of ``split_size_or_sections`` elements (the
    last may be smaller), or into pieces of the listed sizes, like ``torch.split``.

    Example:
        >>> import chainrule as cr
        >>> [p.shape for p in cr.split(cr.ones(5, 2), 2)]
        [(2, 2), (2, 2), (1, 2)]
    """
    d = single_dim("split", dim, x._data.ndim)
    n = x._data.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        bounds = list(range(0, n, size)) + [n]
        if n == 0:
            bounds = [0, 0]
    else:
        sizes = [int(k) for k in split_size_or_sections]
        if sum(sizes) != n or any(k < 0 for k in sizes):
            raise ValueError(f"split: sections {sizes} must be non-negative and add up to "
                             f"{n}, the size of dim {dim} of shape {x.shape}")
        bounds = [0] + list(np.cumsum(sizes).tolist())
    return _slices(x, d, bounds)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` into ``chunks`` pieces of ``ceil(n / chunks)`` along ``dim`` (fewer when
    they run out), like ``torch.chunk``.

    Example:
        >>> import chainrule as cr
        >>> [p.shape for p in cr.chunk(cr.ones(5), 3)]
        [(2,), (2,), (1,)]
    """
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x._data.shape[single_dim("chunk", dim, x._data.ndim)]
    return split(x, max(-(-n // chunks), 1), dim)


__all__ = [
    "reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "swapaxes",
    "getitem", "concatenate", "cat", "stack", "broadcast_to", "pad", "repeat", "split",
    "chunk",
]


# ---- gapstensor: flip, roll, movedim, narrow, unflatten, tile, repeat_interleave, stacks ---

def _dims_tuple(op: str, dims: Any, ndim: int) -> tuple[int, ...]:
    """``dims`` (an int or a sequence of ints) as non-negative axes, each at most once."""
    items = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = tuple(single_dim(op, d, ndim) for d in items)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: dims {tuple(items)} name an axis more than once")
    return axes


class Flip(Function):
    """Reverse the order of elements along some axes; backward reverses them back."""

    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.saved = axes
        return np.flip(x, axes).copy() if axes else x.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        return np.flip(g, self.saved) if self.saved else g


def flip(x: Tensor, dims: Any) -> Tensor:
    """``x`` with the order of elements reversed along each axis in ``dims``, like
    ``torch.flip``.

    Example:
        >>> import chainrule as cr
        >>> cr.flip(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), [1])
        tensor([[2., 1.],
                [4., 3.]])
    """
    return Flip.apply(x, axes=_dims_tuple("flip", dims, x._data.ndim) if x._data.ndim else ())


class Roll(Function):
    """Shift elements cyclically along axes (``numpy.roll``); backward shifts back."""

    __slots__ = ()

    def forward(self, x: np.ndarray, shifts: tuple[int, ...],
                axes: tuple[int, ...] | None) -> np.ndarray:
        self.saved = (shifts, axes)
        if axes is None:
            return np.roll(x, shifts[0])
        return np.roll(x, shifts, axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shifts, axes = self.saved
        back = tuple(-s for s in shifts)
        return np.roll(g, back[0]) if axes is None else np.roll(g, back, axes)


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift the elements of ``x`` by ``shifts`` along ``dims``, wrapping around, like
    ``torch.roll``; without ``dims`` the tensor is rolled as if flattened.

    Example:
        >>> import chainrule as cr
        >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1)
        tensor([3., 1., 2.])
    """
    shift_t = (int(shifts),) if isinstance(shifts, (int, np.integer)) else tuple(
        int(s) for s in shifts)
    if dims is None:
        if len(shift_t) != 1:
            raise ValueError(f"roll: without dims give one shift, got {shift_t}")
        return Roll.apply(x, shifts=shift_t, axes=None)
    items = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = tuple(single_dim("roll", d, x._data.ndim) for d in items)
    if len(axes) != len(shift_t):
        raise ValueError(f"roll: {len(shift_t)} shift(s) {shift_t} for {len(axes)} dim(s) "
                         f"{tuple(items)}: give one shift per dim")
    return Roll.apply(x, shifts=shift_t, axes=axes)


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Move the axes ``source`` to the positions ``destination`` (ints or sequences of the
    same length), keeping the other axes in order, like ``torch.movedim``.

    Example:
        >>> import chainrule as cr
        >>> cr.movedim(cr.zeros(2, 3, 4), 0, -1).shape
        (3, 4, 2)
    """
    nd = x._data.ndim
    src = _dims_tuple("movedim", source, nd)
    dst = _dims_tuple("movedim", destination, nd)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must "
                         "name the same number of dims")
    rest = iter(a for a in range(nd) if a not in src)
    placed = dict(zip(dst, src))
    order = tuple(placed[i] if i in placed else next(rest) for i in range(nd))
    return x if order == tuple(range(nd)) else transpose(x, order)


moveaxis = movedim


def narrow(x: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """The ``length`` elements of ``x`` from ``start`` along ``dim`` (a view in PyTorch,
    a differentiable slice here), like ``torch.narrow``.

    Example:
        >>> import chainrule as cr
        >>> cr.narrow(cr.arange(6).reshape(2, 3), 1, 1, 2)
        tensor([[1, 2],
                [4, 5]])
    """
    d = single_dim("narrow", dim, x._data.ndim)
    n = x._data.shape[d]
    s = int(start.item() if isinstance(start, Tensor) else start)
    if not -n <= s <= n:
        raise IndexError(f"narrow: start {s} is out of range for dim {dim} of size {n}")
    if s < 0:
        s += n
    if length < 0 or s + length > n:
        raise ValueError(f"narrow: start ({s}) + length ({length}) exceeds dim {dim} of "
                         f"size {n} (shape {x.shape})")
    return getitem(x, (slice(None),) * d + (slice(s, s + int(length)),))


def unflatten(x: Tensor, dim: int, sizes: Any) -> Tensor:
    """Split axis ``dim`` into the axes ``sizes`` (one may be -1), like
    ``torch.unflatten``.

    Example:
        >>> import chainrule as cr
        >>> cr.zeros(2, 12).unflatten(1, (3, -1)).shape
        (2, 3, 4)
    """
    d = single_dim("unflatten", dim, x._data.ndim)
    shape = x._data.shape
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise ValueError("unflatten: sizes must name at least one size")
    if sizes.count(-1) > 1:
        raise ValueError(f"unflatten: at most one size may be -1, got {sizes}")
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if known == 0 or shape[d] % known:
            raise ValueError(f"unflatten: sizes {sizes} do not divide dim {dim} of size "
                             f"{shape[d]}")
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    elif known != shape[d]:
        raise ValueError(f"unflatten: sizes {sizes} multiply to {known}, but dim {dim} of "
                         f"shape {shape} has size {shape[d]}")
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def tile(x: Tensor, dims: Any) -> Tensor:
    """``x`` repeated ``dims[i]`` times along each axis, like ``torch.tile``: fewer
    ``dims`` than axes are padded with 1s in front (``Tensor.repeat`` would refuse).

    Example:
        >>> import chainrule as cr
        >>> cr.tile(cr.tensor([[1.0, 2.0]]), (2,))
        tensor([[1., 2., 1., 2.]])
    """
    reps = (int(dims),) if isinstance(dims, (int, np.integer)) else tuple(int(n) for n in dims)
    reps = (1,) * (x._data.ndim - len(reps)) + reps
    return repeat(x, *reps)


def repeat_interleave(x: Any, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Repeat each element (or each slice along ``dim``) ``repeats`` times, like
    ``torch.repeat_interleave``; without ``dim`` the tensor is flattened first.
    ``repeat_interleave(counts)`` alone gives ``0`` repeated ``counts[0]`` times, then
    ``1``, and so on. Gradients of the copies add up.

    Args:
        x: any shape (or, alone, 1-d integer counts).
        repeats: an int, or a 1-d integer tensor with one count per element/slice.
        dim: the axis to repeat along (None: flatten first).
        output_size: the total length, if known (checked).

    Example:
        >>> import chainrule as cr
        >>> cr.tensor([[1, 2], [3, 4]]).repeat_interleave(cr.tensor([1, 2]), dim=0)
        tensor([[1, 2],
                [3, 4],
                [3, 4]])
    """
    if repeats is None:
        counts = np.asarray(x._data if isinstance(x, Tensor) else x)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise ValueError(f"repeat_interleave(repeats): repeats must be 1-d integers, got "
                             f"shape {counts.shape} and dtype {counts.dtype}")
        return Tensor._make(np.repeat(np.arange(len(counts), dtype=np.int64), counts),
                            False, None)
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if dim is None:
        x, d = reshape(x, (-1,)), 0
    else:
        d = single_dim("repeat_interleave", dim, x._data.ndim)
    n = x._data.shape[d] if x._data.ndim else 1
    reps = np.asarray(repeats._data if isinstance(repeats, Tensor) else repeats)
    if reps.dtype.kind not in "iu" or reps.ndim > 1 or (reps.ndim == 1 and
                                                         reps.size not in (1, n)):
        raise ValueError(f"repeat_interleave: repeats must be an int or 1-d integers of "
                         f"length 1 or {n} (the size of dim {dim}), got {reps!r}")
    if reps.size and reps.min() < 0:
        raise ValueError("repeat_interleave: repeats must be >= 0")
    index = np.repeat(np.arange(n, dtype=np.int64), reps.reshape(-1) if reps.ndim else reps)
    if output_size is not None and int(output_size) != index.size:
        raise ValueError(f"repeat_interleave: output_size={output_size} but the repeats "
                         f"give {index.size}")
    if x._data.ndim == 0:
        x = reshape(x, (1,))
    return getitem(x, (slice(None),) * d + (index,))


def hstack(tensors: Any) -> Tensor:
    """Join tensors column-wise, like ``torch.hstack``: 1-d tensors end to end (dim 0),
    others along dim 1.

    Example:
        >>> import chainrule as cr
        >>> cr.hstack([cr.ones(2, 1), cr.zeros(2, 2)]).shape
        (2, 3)
    """
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    ts = [reshape(t, (1,)) if t._data.ndim == 0 else t for t in ts]
    if not ts:
        raise ValueError("hstack needs at least one tensor")
    return concatenate(ts, 0 if ts[0]._data.ndim == 1 else 1)


def vstack(tensors: Any) -> Tensor:
    """Join tensors row-wise, like ``torch.vstack``: 0-d and 1-d tensors become rows
    first, then everything is joined along dim 0.

    Example:
        >>> import chainrule as cr
        >>> cr.vstack([cr.ones(3), cr.zeros(3)]).shape
        (2, 3)
    """
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    ts = [reshape(t, (1, -1)) if t._data.ndim < 2 else t for t in ts]
    if not ts:
        raise ValueError("vstack needs at least one tensor")
    return concatenate(ts, 0)


row_stack = vstack
concat = concatenate

__all__ += [
    "concat", "flip", "hstack", "moveaxis", "movedim", "narrow", "repeat_interleave", "roll",
    "row_stack", "tile", "unflatten", "vstack",
]
