"""Shape ops: reshape, transpose, indexing, concatenate, stack, squeeze, pad, expand.

Their backward only moves gradient values around; indexing with integer arrays
scatter-adds so repeated indices accumulate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import unbroadcast
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


def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Drop size-1 axes (all of them, or the ones named)."""
    shape = x.data.shape
    if axis is None:
        new = tuple(n for n in shape if n != 1)
    else:
        axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
        new = tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1))
    return reshape(x, new)


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert a size-1 axis at ``axis`` (negative counts from the end of the result)."""
    shape = list(x.data.shape)
    pos = axis if axis >= 0 else len(shape) + 1 + axis
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


def concatenate(tensors: list[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
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


def stack(tensors: list[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
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


def pad(x: Tensor, widths: Any, value: float = 0.0) -> Tensor:
    """Constant padding; ``widths`` is one ``(before, after)`` pair per axis (NumPy style)."""
    widths = tuple((int(a), int(b)) for a, b in widths)
    if len(widths) != x.data.ndim:
        raise ValueError(f"pad: need {x.data.ndim} (before, after) pairs for shape "
                         f"{x.shape}, got {len(widths)}")
    return Pad.apply(x, widths=widths, value=value)


__all__ = [
    "reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "swapaxes",
    "getitem", "concatenate", "cat", "stack", "broadcast_to", "pad",
]
