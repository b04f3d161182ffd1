"""Pooling: ``max_pool1d/2d`` (optionally with indices), ``avg_pool1d/2d``,
``adaptive_avg_pool1d/2d``, ``adaptive_max_pool1d/2d`` and ``max_unpool1d/2d`` (PyTorch
semantics, NCL / NCHW).

Max and average pooling loop over the kH·kW kernel offsets, each taking one strided slice
of the (padded) input — element ``(i, j)`` of every window at once — so the work is a few
whole-array operations per offset and never a loop over pixels or batch items:

    max:  out = max over offsets of slice(i, j); the running argmax is kept as a small
          integer per output (which offset won), and backward routes g to that offset
          only (the first maximum on ties, like PyTorch).
    avg:  out = Σ slice(i, j) / divisor; backward adds g / divisor to every offset.

Measured on LeNet shapes this is 4–7× faster than gathering the windows and calling
``argmax`` on them, and it covers the non-overlapping case (stride = kernel) and the
general one (overlap, padding, dilation, ceil mode) with the same code; backward
assigns instead of adding when windows cannot overlap.

Adaptive average pooling is linear and separable: with PyTorch's windows
``[⌊iH/Ho⌋, ⌈(i+1)H/Ho⌉)`` it is ``P_H · x · P_Wᵀ`` for two small averaging matrices,
so forward and backward are matrix products. Adaptive max pooling reduces one axis at a
time (see ``AdaptiveMaxPool2d``).

1-d pools are 2-d pools of height 1 (views, no copies).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function, is_grad_enabled
from chainrule.ops.windows import pad_spatial, spatial_tuple, window_slice
from chainrule.tensor import Tensor

Pads = tuple[tuple[int, int], tuple[int, int]]


# ---- geometry --------------------------------------------------------------------------------

def _pool_length(size: int, kernel: int, stride: int, pad: int, dilation: int,
                 ceil_mode: bool) -> int:
    """PyTorch's output length; in ceil mode the last window must start inside the input
    or its left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _geometry(op: str, shape: tuple[int, ...], kernel: tuple[int, int],
              stride: tuple[int, int], pads: tuple[int, int], dilation: tuple[int, int],
              ceil_mode: bool) -> tuple[tuple[int, int], Pads]:
    """Output size and ``(before, after)`` padding per axis; in ceil mode the last window
    may run past the padding, so the padded array gets the missing elements after."""
    out_hw, pairs = [], []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, pads, dilation):
        if k < 1 or s < 1 or d < 1:
            raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got "
                             f"{kernel}, {stride}, {dilation}")
        if p < 0 or 2 * p > k:
            raise ValueError(f"{op}: padding must be between 0 and half the kernel size, "
                             f"got padding={pads} for kernel_size={kernel}")
        n = _pool_length(size, k, s, p, d, ceil_mode)
        if n < 1:
            raise ValueError(f"{op}: input of shape {shape} is too small for kernel_size="
                             f"{kernel} (dilation {dilation}, padding {pads}); the output "
                             f"would be empty")
        reach = (n - 1) * s + d * (k - 1) + 1  # padded length the windows touch
        pairs.append((p, max(p, reach - size - p)))
        out_hw.append(n)
    return (out_hw[0], out_hw[1]), (pairs[0], pairs[1])


def _disjoint(kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int]) -> bool:
    """True when no input element lies in two windows (then backward can assign)."""
    return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def _offsets(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
             out_hw: tuple[int, int]) -> list[tuple[slice, slice]]:
    """For each kernel offset (row-major, PyTorch's scan order), the strided slice that
    holds that element of every window."""
    return [(window_slice(i, dilation[0], stride[0], out_hw[0]),
             window_slice(j, dilation[1], stride[1], out_hw[1]))
            for i in range(kernel[0]) for j in range(kernel[1])]


def _crop(gxp: np.ndarray, pads: Pads, shape: tuple[int, ...]) -> np.ndarray:
    (top, _), (left, _) = pads
    return gxp[:, :, top:top + shape[2], left:left + shape[3]]


def _index_dtype(count: int) -> type:
    return np.uint8 if count <= 256 else np.uint16 if count <= 65536 else np.uint32


# ---- max pooling -----------------------------------------------------------------------------

class MaxPool2d(Function):
    """Maximum over each window of x (N, C, H, W); padding counts as −∞."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, kernel: tuple[int, int], stride: tuple[int, int],
                padding: Pads, dilation: tuple[int, int], out_hw: tuple[int, int],
                indices_out: list | None = None) -> np.ndarray:
        xp = pad_spatial(x, padding, -np.inf)
        offsets = _offsets(kernel, stride, dilation, out_hw)
        out = xp[(slice(None), slice(None)) + offsets[0]].copy()
        track = indices_out is not None or (self.needs_input_grad[0] and is_grad_enabled())
        if track:
            winner = np.zeros(out.shape, _index_dtype(len(offsets)))
            greater = np.empty(out.shape, bool)
            step = np.empty_like(winner)
        for o, (rows, cols) in enumerate(offsets[1:], start=1):
            window = xp[:, :, rows, cols]
            if track:
                # winner = where(window > out, o, winner) without temporaries: unsigned
                # arithmetic wraps, so winner + (o − winner)·[greater] is exact.
                np.greater(window, out, out=greater)
                np.subtract(o, winner, out=step)
                np.multiply(step, greater, out=step)
                winner += step
            np.maximum(out, window, out=out)
        if indices_out is not None:
            indices_out.append(_flat_indices(winner, x.shape[3], kernel, stride, padding,
                                             dilation))
        self.saved = (winner if track else None, x.shape, xp.shape, kernel, stride, padding,
                      dilation, out_hw)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        winner, x_shape, padded_shape, kernel, stride, padding, dilation, out_hw = self.saved
        gxp = np.zeros(padded_shape, g.dtype)
        disjoint = _disjoint(kernel, stride, dilation)
        for o, (rows, cols) in enumerate(_offsets(kernel, stride, dilation, out_hw)):
            if disjoint:
                np.multiply(g, winner == o, out=gxp[:, :, rows, cols])
            else:
                gxp[:, :, rows, cols] += g * (winner == o)
        return _crop(gxp, padding, x_shape)


def _flat_indices(winner: np.ndarray, width: int, kernel: tuple[int, int],
                  stride: tuple[int, int], padding: Pads, dilation: tuple[int, int]
                  ) -> np.ndarray:
    """PyTorch's ``return_indices``: each window's maximum as a flat index ``row·W + col``
    into its (unpadded) input plane, from the kernel offset that won."""
    ho, wo = winner.shape[2:]
    i, j = np.divmod(winner.astype(np.int64), kernel[1])
    rows = (np.arange(ho) * stride[0] - padding[0][0])[:, None] + i * dilation[0]
    cols = np.arange(wo) * stride[1] - padding[1][0] + j * dilation[1]
    return rows * width + cols


class MaxPool1d(MaxPool2d):
    """``MaxPool2d`` over (N, C, L) seen as (N, C, 1, L)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, **geometry: Any) -> np.ndarray:
        return super().forward(x[:, :, None, :], **geometry)[:, :, 0, :]

    def backward(self, g: np.ndarray) -> np.ndarray:
        return super().backward(g[:, :, None, :])[:, :, 0, :]


# ---- average pooling -------------------------------------------------------------------------

def _avg_divisor(shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                 pads: tuple[int, int], out_hw: tuple[int, int], count_include_pad: bool,
                 divisor_override: int | None, dtype: np.dtype) -> float | np.ndarray:
    """How many elements each window averages, PyTorch's rule: padding counts when
    ``count_include_pad`` (but not the part of a ceil-mode window past the padding);
    a scalar when every window has the same count."""
    if divisor_override:
        return float(divisor_override)
    per_axis = []
    for size, k, s, p, n in zip(shape[2:], kernel, stride, pads, out_hw):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        per_axis.append(end - start)
    counts = np.multiply.outer(per_axis[0], per_axis[1])
    if np.all(counts == counts.flat[0]):
        return float(counts.flat[0])
    return counts.astype(dtype)


class AvgPool2d(Function):
    """Mean over each window of x (N, C, H, W) (zero padding, divisor per PyTorch)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, kernel: tuple[int, int], stride: tuple[int, int],
                padding: Pads, out_hw: tuple[int, int],
                divisor: float | np.ndarray) -> np.ndarray:
        xp = pad_spatial(x, padding)
        offsets = _offsets(kernel, stride, (1, 1), out_hw)
        out = xp[(slice(None), slice(None)) + offsets[0]].copy()
        for rows, cols in offsets[1:]:
            out += xp[:, :, rows, cols]
        out /= divisor
        self.saved = (x.shape, xp.shape, kernel, stride, padding, out_hw, divisor)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        x_shape, padded_shape, kernel, stride, padding, out_hw, divisor = self.saved
        share = g / divisor
        gxp = np.zeros(padded_shape, g.dtype)
        disjoint = _disjoint(kernel, stride, (1, 1))
        for rows, cols in _offsets(kernel, stride, (1, 1), out_hw):
            if disjoint:
                gxp[:, :, rows, cols] = share
            else:
                gxp[:, :, rows, cols] += share
        return _crop(gxp, padding, x_shape)


class AvgPool1d(AvgPool2d):
    """``AvgPool2d`` over (N, C, L) seen as (N, C, 1, L)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, **geometry: Any) -> np.ndarray:
        return super().forward(x[:, :, None, :], **geometry)[:, :, 0, :]

    def backward(self, g: np.ndarray) -> np.ndarray:
        return super().backward(g[:, :, None, :])[:, :, 0, :]


# ---- adaptive average pooling ----------------------------------------------------------------

def _adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of PyTorch's adaptive windows along one axis:
    window i covers ``[⌊i·size/out⌋, ⌈(i+1)·size/out⌉)``."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) matrix whose row i averages adaptive window i."""
    start, end = _adaptive_windows(size, out)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """Average of x (N, C, H, W) over an (Ho, Wo) grid of windows that cover it."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, out_hw: tuple[int, int]) -> np.ndarray:
        n, c, h, w = x.shape
        ho, wo = out_hw
        if out_hw == (1, 1):  # global average pooling: no matrices needed
            self.saved = (x.shape, None, None)
            return x.mean(axis=(2, 3), keepdims=True)
        p_h = _averaging_matrix(h, ho, x.dtype)
        p_w = _averaging_matrix(w, wo, x.dtype)
        rows = np.reshape(x, (n * c * h, w)) @ p_w.T               # average along W
        out = np.matmul(p_h, rows.reshape(n * c, h, wo))           # then along H
        self.saved = (x.shape, p_h, p_w)
        return out.reshape(n, c, ho, wo)

    def backward(self, g: np.ndarray) -> np.ndarray:
        x_shape, p_h, p_w = self.saved
        n, c, h, w = x_shape
        if p_h is None:
            gx = np.empty(x_shape, g.dtype)
            gx[...] = g / (h * w)
            return gx
        ho, wo = g.shape[2:]
        rows = np.reshape(g, (n * c * ho, wo)) @ p_w
        return np.matmul(p_h.T, rows.reshape(n * c, ho, w)).reshape(x_shape)


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """``AdaptiveAvgPool2d`` over (N, C, L) seen as (N, C, 1, L)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, out_hw: tuple[int, int]) -> np.ndarray:
        return super().forward(x[:, :, None, :], out_hw=out_hw)[:, :, 0, :]

    def backward(self, g: np.ndarray) -> np.ndarray:
        return super().backward(g[:, :, None, :])[:, :, 0, :]


# ---- adaptive max pooling --------------------------------------------------------------------

def _window_positions(size: int, out: int) -> np.ndarray:
    """(out, k) input positions of each adaptive window, k the longest window; shorter
    windows repeat their last position, which can never be a window's first maximum."""
    start, end = _adaptive_windows(size, out)
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


def _scatter_planes(g: np.ndarray, flat: np.ndarray, plane: int) -> np.ndarray:
    """Add each g (N, C, ...) value at its flat index into an (N, C, plane) zero array
    (repeated indices accumulate), one ``bincount`` over the whole batch."""
    n, c = g.shape[:2]
    where = flat.reshape(n * c, -1) + (np.arange(n * c) * plane)[:, None]
    sums = np.bincount(where.ravel(), weights=g.reshape(-1), minlength=n * c * plane)
    return sums.astype(g.dtype, copy=False).reshape(n, c, plane)


class AdaptiveMaxPool2d(Function):
    """Maximum of x (N, C, H, W) over an (Ho, Wo) grid of adaptive windows.

    Max over a rectangle is max over its rows of the max along each row, so the windows
    are reduced one axis at a time (two gathers, no loop over windows). Taking the first
    maximum along W, then the first row holding a window's maximum, picks the first
    maximum in row-major order, which is what PyTorch's scan picks (and routes the
    gradient to).
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, *, out_hw: tuple[int, int],
                indices_out: list | None = None) -> np.ndarray:
        n, c, h, w = x.shape
        ho, wo = out_hw
        rows, cols = _window_positions(h, ho), _window_positions(w, wo)
        by_col = x[:, :, :, cols]                                    # (N, C, H, Wo, kW)
        col_arg = by_col.argmax(axis=4)
        row_max = np.take_along_axis(by_col, col_arg[..., None], 4)[..., 0]
        by_row = row_max[:, :, rows, :]                              # (N, C, Ho, kH, Wo)
        row_arg = by_row.argmax(axis=3)
        out = np.take_along_axis(by_row, row_arg[:, :, :, None, :], 3)[:, :, :, 0, :]
        row = rows[np.arange(ho)[:, None], row_arg]                  # (N, C, Ho, Wo)
        col = cols[np.arange(wo), np.take_along_axis(col_arg, row, 2)]
        flat = row * w + col
        if indices_out is not None:
            indices_out.append(flat)
        self.saved = (flat, x.shape)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        flat, x_shape = self.saved
        return _scatter_planes(g, flat, x_shape[2] * x_shape[3]).reshape(x_shape)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """``AdaptiveMaxPool2d`` over (N, C, L) seen as (N, C, 1, L)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        return super().forward(x[:, :, None, :], **kwargs)[:, :, 0, :]

    def backward(self, g: np.ndarray) -> np.ndarray:
        return super().backward(g[:, :, None, :])[:, :, 0, :]


# ---- max unpooling ---------------------------------------------------------------------------

class MaxUnpool2d(Function):
    """Put each value of x (N, C, H, W) at its flat index (``max_pool2d``'s
    ``return_indices``) in a zero (N, C, Ho, Wo) map; backward gathers from the same
    places.

    An index given twice (overlapping pooling windows share a maximum) receives one of its
    values — they are equal then — and only that value gets the gradient, so backward is
    the exact derivative (PyTorch's backward gathers for every copy instead).
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, *, indices: np.ndarray, out_hw: tuple[int, int]
                ) -> np.ndarray:
        n, c = x.shape[:2]
        size = x.shape[2] * x.shape[3]
        plane = out_hw[0] * out_hw[1]
        # which input element each output position takes (−1: none)
        owner = np.full((n, c, plane), -1, np.int64)
        np.put_along_axis(owner, indices.reshape(n, c, size),
                          np.broadcast_to(np.arange(size), (n, c, size)), axis=2)
        written = owner >= 0
        out = np.zeros((n, c, plane), x.dtype)
        out[written] = np.take_along_axis(x.reshape(n, c, size), np.maximum(owner, 0),
                                          axis=2)[written]
        self.saved = (owner, written, x.shape)
        return out.reshape((n, c) + tuple(out_hw))

    def backward(self, g: np.ndarray) -> np.ndarray:
        owner, written, x_shape = self.saved
        n, c = x_shape[:2]
        size = x_shape[2] * x_shape[3]
        gx = np.zeros(n * c * size, g.dtype)
        # every input element owns at most one output position: plain assignment
        gx[(owner + (np.arange(n * c) * size).reshape(n, c, 1))[written]] = \
            g.reshape(n, c, -1)[written]
        return gx.reshape(x_shape)


class MaxUnpool1d(MaxUnpool2d):
    """``MaxUnpool2d`` over (N, C, L) seen as (N, C, 1, L)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        return super().forward(x[:, :, None, :], **kwargs)[:, :, 0, :]

    def backward(self, g: np.ndarray) -> np.ndarray:
        return super().backward(g[:, :, None, :])[:, :, 0, :]


# ---- functional wrappers ---------------------------------------------------------------------

def _check_input(op: str, x: Tensor, nd: int) -> bool:
    """Validate x's rank; True when it is unbatched (no N axis)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if x._data.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected input of shape {layout} (or unbatched, without N), "
                         f"got {x.shape}")
    if x._data.dtype.kind != "f":
        raise ValueError(f"{op}: expected a floating-point input, got dtype {x._data.dtype}")
    return x._data.ndim == nd + 1


def _lift(values: tuple[int, ...], fill: int) -> tuple[int, int]:
    """A 1-d setting as the (H, W) setting of a height-1 image."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


def _max_pool(op: type[MaxPool2d], nd: int, x: Tensor, kernel_size: Any, stride: Any,
              padding: Any, dilation: Any, ceil_mode: bool, return_indices: bool = False
              ) -> Tensor | tuple[Tensor, Tensor]:
    name = f"max_pool{nd}d"
    unbatched = _check_input(name, x, nd)
    kernel = spatial_tuple(kernel_size, nd, "kernel_size", name)
    strides = kernel if stride is None else spatial_tuple(stride, nd, "stride", name)
    pads = spatial_tuple(padding, nd, "padding", name)
    dil = spatial_tuple(dilation, nd, "dilation", name)
    if unbatched:
        x = x.unsqueeze(0)
    shape4 = x._data.shape if nd == 2 else x._data.shape[:2] + (1,) + x._data.shape[2:]
    k2, s2, p2, d2 = _lift(kernel, 1), _lift(strides, 1), _lift(pads, 0), _lift(dil, 1)
    out_hw, pairs = _geometry(name, shape4, k2, s2, p2, d2, ceil_mode)
    sink: list | None = [] if return_indices else None
    out = op.apply(x, kernel=k2, stride=s2, padding=pairs, dilation=d2, out_hw=out_hw,
                   indices_out=sink)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    return out, _index_tensor(sink[0].reshape(out._data.shape))


def _index_tensor(indices: np.ndarray) -> Tensor:
    """Indices as an int64 tensor without gradient (PyTorch's ``return_indices`` dtype)."""
    return Tensor._make(np.ascontiguousarray(indices, dtype=np.int64), False, None)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
               ) -> Tensor | tuple[Tensor, Tensor]:
    """2-d max pooling (PyTorch's ``F.max_pool2d``).

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW); defaults to ``kernel_size`` (non-overlapping windows).
        padding: int or (pH, pW), at most half the kernel; padded elements are −∞.
        dilation: int or (dH, dW): spacing between window elements.
        ceil_mode: round the output size up (a last, partial window) instead of down.
        return_indices: also return where each maximum came from, for ``max_unpool2d``.

    Returns:
        (N, C, Ho, Wo), ``Ho = ⌊(H + 2pH − dH(kH − 1) − 1) / sH⌋ + 1``. The gradient goes
        to the first maximum of each window. With ``return_indices``, ``(output,
        indices)``: int64 indices of output's shape, each the flat position
        ``row·W + col`` of the maximum in its input plane (PyTorch's convention).

    Example:
        >>> import chainrule as cr
        >>> max_pool2d(cr.randn(1, 1, 4, 4), 2).shape
        (1, 1, 2, 2)
    """
    return _max_pool(MaxPool2d, 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
               ) -> Tensor | tuple[Tensor, Tensor]:
    """1-d max pooling over (N, C, L) (or (C, L)); arguments as in ``max_pool2d``
    (indices are positions along L).

    Example:
        >>> import chainrule as cr
        >>> max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[3.0, 2.0]]]
    """
    return _max_pool(MaxPool1d, 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_pool(op: type[AvgPool2d], nd: int, x: Tensor, kernel_size: Any, stride: Any,
              padding: Any, ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    name = f"avg_pool{nd}d"
    unbatched = _check_input(name, x, nd)
    kernel = spatial_tuple(kernel_size, nd, "kernel_size", name)
    strides = kernel if stride is None else spatial_tuple(stride, nd, "stride", name)
    pads = spatial_tuple(padding, nd, "padding", name)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"{name}: divisor_override must be positive, got {divisor_override}")
    if unbatched:
        x = x.unsqueeze(0)
    shape4 = x._data.shape if nd == 2 else x._data.shape[:2] + (1,) + x._data.shape[2:]
    k2, s2, p2 = _lift(kernel, 1), _lift(strides, 1), _lift(pads, 0)
    out_hw, pairs = _geometry(name, shape4, k2, s2, p2, (1, 1), ceil_mode)
    divisor = _avg_divisor(shape4, k2, s2, p2, out_hw, count_include_pad, divisor_override,
                           x._data.dtype)
    out = op.apply(x, kernel=k2, stride=s2, padding=pairs, out_hw=out_hw, divisor=divisor)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-d average pooling (PyTorch's ``F.avg_pool2d``).

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        kernel_size, stride, padding, ceil_mode: as in ``max_pool2d`` (zero padding).
        count_include_pad: divide by the whole window, padding included (PyTorch's
            default); otherwise by the number of real input elements in the window.
        divisor_override: divide every window's sum by this number instead.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> import chainrule as cr
        >>> avg_pool2d(cr.ones(1, 1, 4, 4), 2).tolist()
        [[[[1.0, 1.0], [1.0, 1.0]]]]
    """
    return _avg_pool(AvgPool2d, 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-d average pooling over (N, C, L) (or (C, L)); arguments as in ``avg_pool2d``.

    Example:
        >>> import chainrule as cr
        >>> avg_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[2.0, 1.0]]]
    """
    return _avg_pool(AvgPool1d, 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def _adaptive_size(name: str, x: Tensor, output_size: Any, nd: int) -> tuple[int, int]:
    """output_size (an int, or a tuple with None keeping that input size) as the (H, W)
    output of the height-1 or 2-d pooling."""
    single = output_size is None or isinstance(output_size, (int, np.integer))
    sizes = (output_size,) * nd if single else tuple(output_size)
    if len(sizes) != nd:
        raise ValueError(f"{name}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    out = tuple(x._data.shape[-nd + i] if s is None else int(s) for i, s in enumerate(sizes))
    if any(s < 1 for s in out):
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    return (out[0], out[1]) if nd == 2 else (1, out[0])


def _adaptive(op: type[Function], name: str, nd: int, x: Tensor, output_size: Any,
              return_indices: bool | None = None) -> Any:
    unbatched = _check_input(name, x, nd)
    out_hw = _adaptive_size(name, x, output_size, nd)
    if unbatched:
        x = x.unsqueeze(0)
    if return_indices is None:  # average pooling
        out = op.apply(x, out_hw=out_hw)
        return out.squeeze(0) if unbatched else out
    sink: list | None = [] if return_indices else None
    out = op.apply(x, out_hw=out_hw, indices_out=sink)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    return out, _index_tensor(sink[0].reshape(out._data.shape))


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size whatever the input size (PyTorch's
    ``F.adaptive_avg_pool2d``); window i along H covers rows ``⌊iH/Ho⌋ … ⌈(i+1)H/Ho⌉ − 1``.

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        output_size: int or (Ho, Wo); ``None`` in either place keeps that input size.
            ``1`` is global average pooling.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> import chainrule as cr
        >>> adaptive_avg_pool2d(cr.randn(2, 8, 7, 7), 1).shape
        (2, 8, 1, 1)
    """
    return _adaptive(AdaptiveAvgPool2d, "adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of (N, C, L) (or (C, L)) to a fixed length (PyTorch's
    ``F.adaptive_avg_pool1d``); windows as in ``adaptive_avg_pool2d``.

    Example:
        >>> import chainrule as cr
        >>> adaptive_avg_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0, 4.0]]]), 2).tolist()
        [[[2.0, 2.0]]]
    """
    return _adaptive(AdaptiveAvgPool1d, "adaptive_avg_pool1d", 1, input, output_size)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False
                        ) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a fixed output size whatever the input size (PyTorch's
    ``F.adaptive_max_pool2d``), over the windows of ``adaptive_avg_pool2d``.

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        output_size: int or (Ho, Wo); ``None`` keeps that input size.
        return_indices: also return the flat index ``row·W + col`` of each maximum in
            its input plane (int64).

    Returns:
        (N, C, Ho, Wo), or ``(output, indices)``. The gradient goes to the first maximum
        of each window (row-major).

    Example:
        >>> import chainrule as cr
        >>> out, idx = adaptive_max_pool2d(cr.tensor([[[[1.0, 5.0, 2.0]]]]), (1, 2), True)
        >>> out.tolist(), idx.tolist()
        ([[[[5.0, 5.0]]]], [[[[1, 1]]]])
    """
    return _adaptive(AdaptiveMaxPool2d, "adaptive_max_pool2d", 2, input, output_size,
                     return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False
                        ) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling of (N, C, L) (or (C, L)) to a fixed length (PyTorch's
    ``F.adaptive_max_pool1d``); arguments as in ``adaptive_max_pool2d`` (indices are
    positions along L).

    Example:
        >>> import chainrule as cr
        >>> adaptive_max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0, 4.0]]]), 2).tolist()
        [[[3.0, 4.0]]]
    """
    return _adaptive(AdaptiveMaxPool1d, "adaptive_max_pool1d", 1, input, output_size,
                     return_indices)


def _max_unpool(op: type[MaxUnpool2d], nd: int, x: Tensor, indices: Any, kernel_size: Any,
                stride: Any, padding: Any, output_size: Any) -> Tensor:
    name = f"max_unpool{nd}d"
    unbatched = _check_input(name, x, nd)
    idx = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
    if idx.shape != x._data.shape or idx.dtype.kind not in "iu":
        raise ValueError(f"{name}: indices must be integers of the input's shape "
                         f"{x.shape} (max_pool{nd}d's return_indices), got {idx.dtype} "
                         f"of shape {idx.shape}")
    kernel = spatial_tuple(kernel_size, nd, "kernel_size", name)
    strides = kernel if stride is None else spatial_tuple(stride, nd, "stride", name)
    pads = spatial_tuple(padding, nd, "padding", name)
    sizes = x._data.shape[-nd:]
    default = tuple((size - 1) * s - 2 * p + k
                    for size, k, s, p in zip(sizes, kernel, strides, pads))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)
        out = out[2:] if len(out) == nd + 2 else out
        if len(out) != nd:
            raise ValueError(f"{name}: output_size must have {nd} (or {nd + 2}) elements, "
                             f"got {output_size!r}")
        for o, d, s in zip(out, default, strides):
            if not d - s < o < d + s:
                raise ValueError(f"{name}: output_size {out} must be within a stride of "
                                 f"the default size {default} (stride {strides})")
    plane = int(np.prod(out))
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        raise ValueError(f"{name}: indices must lie in [0, {plane}) for an output of size "
                         f"{out}, got values from {idx.min()} to {idx.max()}")
    if unbatched:
        x, idx = x.unsqueeze(0), idx[None]
    result = op.apply(x, indices=idx.astype(np.int64, copy=False),
                      out_hw=out if nd == 2 else (1, out[0]))
    return result.squeeze(0) if unbatched else result


def max_unpool2d(input: Tensor, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """The partial inverse of ``max_pool2d`` (PyTorch's ``F.max_unpool2d``): every value
    goes back to where its maximum was, everything else is zero.

    Args:
        input: (N, C, H, W) pooled maps, or (C, H, W).
        indices: ``max_pool2d(..., return_indices=True)``'s indices, x's shape.
        kernel_size, stride, padding: those of the pooling (stride defaults to the
            kernel).
        output_size: (Ho, Wo) (or the whole shape); default
            ``(H − 1)·s − 2p + k``; pass the input's size when pooling dropped a
            partial window.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> import chainrule as cr
        >>> out, idx = max_pool2d(cr.tensor([[[[1.0, 2.0], [4.0, 3.0]]]]), 2,
        ...                       return_indices=True)
        >>> max_unpool2d(out, idx, 2).tolist()
        [[[[0.0, 0.0], [4.0, 0.0]]]]
    """
    return _max_unpool(MaxUnpool2d, 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool1d(input: Tensor, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """The partial inverse of ``max_pool1d`` over (N, C, L) (or (C, L)); arguments as in
    ``max_unpool2d`` with one spatial axis.

    Example:
        >>> import chainrule as cr
        >>> out, idx = max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2,
        ...                       return_indices=True)
        >>> max_unpool1d(out, idx, 2).tolist()
        [[[0.0, 3.0, 2.0, 0.0]]]
    """
    return _max_unpool(MaxUnpool1d, 1, input, indices, kernel_size, stride, padding, output_size)


__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d",
           "max_unpool1d", "max_unpool2d"]
