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
    if x.data.shape == tuple(shape):
        return x
    return Reshape.apply(x, shape=tuple(shape))


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` (inclusive) into one, like ``torch.flatten``."""
    shape = x.data.shape
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
    shape = x.data.shape
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
    shape = list(x.data.shape)
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
    axes = list(range(x.data.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def _is_advanced(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list, Tensor)) for i in items)


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
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
    shape = tuple(x.data.shape[i - len(shape) + x.data.ndim] if n == -1 else n
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


# F.pad's other modes, as NumPy's np.pad names them: each output position reads one input
# position along every axis, so those modes are one gather (getitem with an open mesh).
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_widths(nd: int, pad: Any, mode: Any, value: Any) -> tuple[list[tuple[int, int]],
                                                                   Any, Any]:
    """(before, after) per axis from PyTorch's flat ``pad`` (last axis first) or NumPy's
    pairs (one per axis; then a number in ``mode``'s place is the value)."""
    if isinstance(pad, (int, np.integer)) or not hasattr(pad, "__len__"):
        raise TypeError(f"pad: pad must be a sequence such as (left, right), got {pad!r}")
    seq = list(pad)
    if seq and all(isinstance(w, (tuple, list)) for w in seq):
        if isinstance(mode, (int, float, np.number)) and not isinstance(mode, bool):
            mode, value = "constant", mode  # chainrule's older pad(x, widths, value)
        if len(seq) != nd:
            raise ValueError(f"pad: need {nd} (before, after) pairs for a {nd}-d input, got "
                             f"{len(seq)}")
        return [(int(a), int(b)) for a, b in seq], mode, value
    if len(seq) % 2 or len(seq) // 2 > nd:
        raise ValueError(f"pad: pad {tuple(seq)} must have an even length of at most "
                         f"2 × {nd} (the input's dimensions), last dimension first")
    widths = [(0, 0)] * nd
    for k in range(len(seq) // 2):
        widths[nd - 1 - k] = (int(seq[2 * k]), int(seq[2 * k + 1]))
    return widths, mode, value


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad ``input``, PyTorch's ``F.pad``.

    Args:
        input: any shape.
        pad: (left, right) for the last dimension, then (top, bottom) for the one before,
            and so on: ``(1, 1, 2, 0)`` pads the last axis by 1 on each side and the one
            before by 2 at the start. NumPy's style, one (before, after) pair per axis,
            is accepted too. Negative widths crop (``'constant'`` mode).
        mode: ``'constant'`` (``value``, default 0), ``'reflect'`` (mirror without
            repeating the edge; widths below the axis length), ``'replicate'`` (repeat
            the edge) or ``'circular'`` (wrap around; widths up to the axis length).
        value: the fill of ``'constant'`` mode.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0]])
        >>> cr.nn.functional.pad(x, (2, 1), mode="reflect")
        tensor([[3., 2., 1., 2., 3., 2.]])
        >>> cr.nn.functional.pad(x, (1, 0, 0, 1)).tolist()
        [[0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]]
    """
    shape = input.data.shape
    widths, mode, value = _pad_widths(len(shape), pad, mode, value)
    if mode == "constant":
        if any(lo < 0 or hi < 0 for lo, hi in widths):  # crop first, then pad the rest
            crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in
                         zip(widths, shape))
            if any(c.start > c.stop for c in crop):
                raise ValueError(f"pad: widths {widths} crop more than the input's shape "
                                 f"{input.shape}")
            input = getitem(input, crop)
            widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        return Pad.apply(input, widths=tuple(widths), value=0.0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    if value not in (None, 0):
        raise ValueError(f"pad: mode {mode!r} does not take a value (got value={value})")
    index = []
    for axis, ((lo, hi), n) in enumerate(zip(widths, shape)):
        limit = n - 1 if mode == "reflect" else n
        if min(lo, hi) < 0 or max(lo, hi) > limit:
            need = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(f"pad: {mode} padding {(lo, hi)} of dim {axis} must be "
                             f"non-negative and {need} its size {n} (input shape "
                             f"{input.shape})")
        index.append(np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[mode]))
    return getitem(input, np.ix_(*index))


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
    if len(reps) < x.data.ndim:
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
    d = single_dim("split", dim, x.data.ndim)
    n = x.data.shape[d]
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
    n = x.data.shape[single_dim("chunk", dim, x.data.ndim)]
    return split(x, max(-(-n // chunks), 1), dim)


__all__ = [
    "reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "swapaxes",
    "getitem", "concatenate", "cat", "stack", "broadcast_to", "pad", "repeat", "split",
    "chunk",
]
