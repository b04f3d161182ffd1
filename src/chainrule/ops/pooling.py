"""Pooling: ``max_pool1d/2d``, ``avg_pool1d/2d`` and ``adaptive_avg_pool2d`` (PyTorch
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
so forward and backward are matrix products.

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
                padding: Pads, dilation: tuple[int, int], out_hw: tuple[int, int]
                ) -> np.ndarray:
        xp = pad_spatial(x, padding, -np.inf)
        offsets = _offsets(kernel, stride, dilation, out_hw)
        out = xp[(slice(None), slice(None)) + offsets[0]].copy()
        track = self.needs_input_grad[0] and is_grad_enabled()
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

def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) matrix whose row i averages PyTorch's window
    ``[⌊i·size/out⌋, ⌈(i+1)·size/out⌉)``."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
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


# ---- functional wrappers ---------------------------------------------------------------------

def _check_input(op: str, x: Tensor, nd: int) -> bool:
    """Validate x's rank; True when it is unbatched (no N axis)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if x.data.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected input of shape {layout} (or unbatched, without N), "
                         f"got {x.shape}")
    if x.data.dtype.kind != "f":
        raise ValueError(f"{op}: expected a floating-point input, got dtype {x.data.dtype}")
    return x.data.ndim == nd + 1


def _lift(values: tuple[int, ...], fill: int) -> tuple[int, int]:
    """A 1-d setting as the (H, W) setting of a height-1 image."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


def _max_pool(op: type[MaxPool2d], nd: int, x: Tensor, kernel_size: Any, stride: Any,
              padding: Any, dilation: Any, ceil_mode: bool) -> Tensor:
    name = f"max_pool{nd}d"
    unbatched = _check_input(name, x, nd)
    kernel = spatial_tuple(kernel_size, nd, "kernel_size", name)
    strides = kernel if stride is None else spatial_tuple(stride, nd, "stride", name)
    pads = spatial_tuple(padding, nd, "padding", name)
    dil = spatial_tuple(dilation, nd, "dilation", name)
    if unbatched:
        x = x.unsqueeze(0)
    shape4 = x.data.shape if nd == 2 else x.data.shape[:2] + (1,) + x.data.shape[2:]
    k2, s2, p2, d2 = _lift(kernel, 1), _lift(strides, 1), _lift(pads, 0), _lift(dil, 1)
    out_hw, pairs = _geometry(name, shape4, k2, s2, p2, d2, ceil_mode)
    out = op.apply(x, kernel=k2, stride=s2, padding=pairs, dilation=d2, out_hw=out_hw)
    return out.squeeze(0) if unbatched else out


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False) -> Tensor:
    """2-d max pooling (PyTorch's ``F.max_pool2d``).

    Args:
        x: (N, C, H, W), or (C, H, W) unbatched.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW); defaults to ``kernel_size`` (non-overlapping windows).
        padding: int or (pH, pW), at most half the kernel; padded elements are −∞.
        dilation: int or (dH, dW): spacing between window elements.
        ceil_mode: round the output size up (a last, partial window) instead of down.

    Returns:
        (N, C, Ho, Wo), ``Ho = ⌊(H + 2pH − dH(kH − 1) − 1) / sH⌋ + 1``. The gradient goes
        to the first maximum of each window.

    Example:
        >>> import chainrule as cr
        >>> max_pool2d(cr.randn(1, 1, 4, 4), 2).shape
        (1, 1, 2, 2)
    """
    return _max_pool(MaxPool2d, 2, x, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False) -> Tensor:
    """1-d max pooling over (N, C, L) (or (C, L)); arguments as in ``max_pool2d``.

    Example:
        >>> import chainrule as cr
        >>> max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[3.0, 2.0]]]
    """
    return _max_pool(MaxPool1d, 1, x, kernel_size, stride, padding, dilation, ceil_mode)


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
    shape4 = x.data.shape if nd == 2 else x.data.shape[:2] + (1,) + x.data.shape[2:]
    k2, s2, p2 = _lift(kernel, 1), _lift(strides, 1), _lift(pads, 0)
    out_hw, pairs = _geometry(name, shape4, k2, s2, p2, (1, 1), ceil_mode)
    divisor = _avg_divisor(shape4, k2, s2, p2, out_hw, count_include_pad, divisor_override,
                           x.data.dtype)
    out = op.apply(x, kernel=k2, stride=s2, padding=pairs, out_hw=out_hw, divisor=divisor)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-d average pooling (PyTorch's ``F.avg_pool2d``).

    Args:
        x: (N, C, H, W), or (C, H, W) unbatched.
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
    return _avg_pool(AvgPool2d, 2, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-d average pooling over (N, C, L) (or (C, L)); arguments as in ``avg_pool2d``.

    Example:
        >>> import chainrule as cr
        >>> avg_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
        [[[2.0, 1.0]]]
    """
    return _avg_pool(AvgPool1d, 1, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size whatever the input size (PyTorch's
    ``F.adaptive_avg_pool2d``); window i along H covers rows ``⌊iH/Ho⌋ … ⌈(i+1)H/Ho⌉ − 1``.

    Args:
        x: (N, C, H, W), or (C, H, W) unbatched.
        output_size: int or (Ho, Wo); ``None`` in either place keeps that input size.
            ``1`` is global average pooling.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> import chainrule as cr
        >>> adaptive_avg_pool2d(cr.randn(2, 8, 7, 7), 1).shape
        (2, 8, 1, 1)
    """
    name = "adaptive_avg_pool2d"
    unbatched = _check_input(name, x, 2)
    sizes = (output_size, output_size) if output_size is None or isinstance(
        output_size, (int, np.integer)) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair, got {output_size!r}")
    out_hw = tuple(x.data.shape[-2 + i] if s is None else int(s) for i, s in enumerate(sizes))
    if any(s < 1 for s in out_hw):
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    if unbatched:
        x = x.unsqueeze(0)
    out = AdaptiveAvgPool2d.apply(x, out_hw=out_hw)
    return out.squeeze(0) if unbatched else out


__all__ = ["adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d"]
