"""Convolutions ``conv1d`` and ``conv2d`` (NCL / NCHW, PyTorch semantics), by im2col.

Each output pixel is the dot product of the weight with one input window. im2col copies
every window into a column (strided-view copies, no Python loop over pixels; two stages
when the rows are short, see ``ops.windows``), so the whole layer becomes one batched
matrix product on BLAS:

    cols  (N, C·kH·kW, Ho·Wo)           the windows of x, a column per output pixel
    out   = W₂ @ cols                   W₂ = weight.reshape(O, C·kH·kW)
    ∂E/∂W = Σₙ gₙ @ colsₙᵀ              one batched GEMM (summed over the batch)
    ∂E/∂cols = W₂ᵀ @ g                  one batched GEMM, then col2im adds each column
                                        back onto the window it came from

col2im loops over the kH·kW kernel offsets (adding one strided slice per offset), never
over pixels or batch items. Groups split channels and filters into G independent
convolutions; they are a leading batch axis of the same matrix products.

Backward needs ``cols`` for ∂E/∂W. For small layers they are kept from the forward pass;
past ``COLS_CACHE_BYTES`` only the input is kept and the columns are rebuilt, so memory
stays that of the activations (im2col is kH·kW times bigger than the input).

Stride-1, single-group layers with several input channels take a channel-major path
instead (``_channel_major``): the columns are laid out (C·kH·kW, N·Ho·Wo), so the whole
batch is one GEMM in each direction rather than N small ones per image, and the input
gradient is computed from kW shifted copies of g instead of col2im
(``_input_grad_channel_major``).

1-d convolutions are 2-d ones of height 1 (views, no copies).

Transposed convolutions (``conv_transpose1d/2d``) are the adjoint of a convolution with
the same weight and geometry: their forward is that convolution's input gradient
(``_input_grad``), their input gradient its forward (``_convolve``) and their weight
gradient its weight gradient with the roles of input and output gradient swapped
(``_filter_grad``). All three directions run the same code as ``conv2d``'s.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.autograd import Function, _State
from chainrule.ops import _gemm
from chainrule.ops._util import kernel_array, ones_vector
from chainrule.ops.windows import (
    col2im,
    conv_padding,
    copy_windows,
    im2col,
    output_length,
    pad_spatial,
    spatial_tuple,
)
from chainrule.tensor import Tensor

# The largest im2col buffer kept from forward for backward; bigger ones are rebuilt from
# the input in backward (one more strided copy) so a deep network's memory is not
# multiplied by kH·kW. 32 MiB keeps every LeNet/CIFAR-sized layer on the fast path.
COLS_CACHE_BYTES = 32 * 2**20


def _columns_grad(w_mat: np.ndarray, g4: np.ndarray) -> np.ndarray:
    """∂E/∂cols = W₂ᵀ g per group: w_mat (G, Og, Kg), g4 (N, G, Og, L) → (N, G, Kg, L).

    With one filter per group (depthwise) the product is an outer product, which BLAS
    does poorly one tiny call at a time; broadcasting does it 2–3× faster.
    """
    if w_mat.shape[1] == 1:
        return w_mat.transpose(0, 2, 1) * g4
    return _gemm.matmul(w_mat.transpose(0, 2, 1), g4)


def _input_grad_wide(g4: np.ndarray, w_mat: np.ndarray, padded_shape: tuple[int, ...],
                     kernel: tuple[int, int], dilation: tuple[int, int],
                     out_hw: tuple[int, int]) -> np.ndarray:
    """``col2im(W₂ᵀ g)`` for stride 1, with every slice-add a long contiguous run.

    The plain col2im adds (Ho, Wo) blocks whose rows are only Wo long, so NumPy spends
    its time on loop overhead. Here g is widened to the padded width Wp (zero columns),
    making each column's image a contiguous run of Ho·Wp elements in the flattened padded
    input: offset (i, j) lands at ``i·dH·Wp + j·dW``. The zero columns only ever add
    zeros (past a row's end or into the spare tail). Costs a (Wp/Wo)-times larger GEMM,
    repaid several times over by the scatter.
    """
    groups, og = g4.shape[1:3]
    n, c, hp, wp = padded_shape
    (kh, kw), (dh, dw), (ho, wo) = kernel, dilation, out_hw
    g_wide = np.zeros((n, groups, og, ho, wp), g4.dtype)
    g_wide[..., :wo] = g4.reshape(n, groups, og, ho, wo)
    gcols = _columns_grad(w_mat, g_wide.reshape(n, groups, og, ho * wp))
    gcols = gcols.reshape(n, c, kh, kw, ho * wp)
    flat = np.zeros((n, c, hp * wp + (kw - 1) * dw), g4.dtype)
    run = ho * wp
    for i in range(kh):
        for j in range(kw):
            start = i * dh * wp + j * dw
            flat[:, :, start:start + run] += gcols[:, :, i, j]
    return flat[:, :, :hp * wp].reshape(padded_shape)


def _crop(x: np.ndarray, pads: tuple[tuple[int, int], ...], shape: tuple[int, ...]
          ) -> np.ndarray:
    (top, _), (left, _) = pads
    return x[:, :, top:top + shape[2], left:left + shape[3]]


def _weight_grad(g4: np.ndarray, cols4: np.ndarray) -> np.ndarray:
    """Σₙ gₙ colsₙᵀ for g4 (N, G, Og, L) and cols4 (N, G, Kg, L) → (G, Og, Kg).

    Per-sample products summed over the batch need no copy of cols but hold an
    (N, G, Og, Kg) intermediate; when that would outgrow the columns themselves
    (many filters, few pixels) the batch is folded into the contraction instead: one
    transposed copy of each operand, then one GEMM per group.
    """
    n, groups, og, length = g4.shape
    kg = cols4.shape[2]
    if og <= length:
        return _gemm.matmul(g4, cols4.transpose(0, 1, 3, 2)).sum(axis=0)
    g_t = g4.transpose(1, 2, 0, 3).reshape(groups, og, n * length)
    cols_t = cols4.transpose(1, 2, 0, 3).reshape(groups, kg, n * length)
    return np.matmul(g_t, cols_t.transpose(0, 2, 1))


# ---- channel-major path: the whole batch in one GEMM ------------------------------------------

def _channel_major(c_in: int, stride: tuple[int, int], groups: int) -> bool:
    """Whether a convolution takes the channel-major path.

    Measured on 2 cores with OpenBLAS (forward + backward, float32, batch 32–64): it takes
    0.55–0.71× the time of per-image products for 6–32 input channels (LeNet's second
    layer, CIFAR-style 3×3 layers) and breaks even at 64; the whole LeNet training step
    runs 18–31 % more steps per second. With 1–3 input channels (a network's first
    layer) the columns are too thin for a fast GEMM and it is 1.2–2× slower, so those
    keep the per-image path.
    """
    return groups == 1 and stride == (1, 1) and c_in >= 4


def _channel_major_columns(xp: np.ndarray, kernel: tuple[int, int],
                           dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Windows of padded xp (N, C, Hp, Wp) for a stride-1 convolution as one
    (C·kH·kW, N·Ho·Wo) matrix: a row per kernel element, a column per output pixel of
    the whole batch."""
    n, c = xp.shape[:2]
    (kh, kw), (ho, wo) = kernel, out_hw
    windows = copy_windows(xp, kernel, (1, 1), dilation, out_hw, True)
    return windows.reshape(c * kh * kw, n * ho * wo)


def _forward_channel_major(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                           padding: tuple[tuple[int, int], ...], dilation: tuple[int, int],
                           out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``W₂ @ cols`` → (O, N, Ho·Wo) in one GEMM, then one copy into NCHW that also adds
    the bias. Returns (output, columns)."""
    n = x.shape[0]
    o = w.shape[0]
    cols = _channel_major_columns(pad_spatial(x, padding), w.shape[2:], dilation, out_hw)
    length = out_hw[0] * out_hw[1]
    per_filter = _gemm.matmul(w.reshape(o, -1), cols).reshape(o, n, length).transpose(1, 0, 2)
    out = np.empty((n, o) + out_hw, x.dtype)
    flat_out = out.reshape(n, o, length)
    if b is None:
        flat_out[...] = per_filter
    else:
        np.add(per_filter, b[:, None], out=flat_out)
    return out, cols


def _input_grad_channel_major(g_t: np.ndarray, w: np.ndarray, padded_shape: tuple[int, ...],
                              dilation: tuple[int, int], out_hw: tuple[int, int]
                              ) -> np.ndarray:
    """``col2im(W₂ᵀ g)`` for stride 1 with g_t (O, N, Ho, Wo) channel-major; returns the
    padded input's gradient in NCHW.

    g is widened to the padded width Wp (zero columns) and flattened over the batch, so
    that a shift by j·dW along the flattened axis moves every output pixel j·dW columns
    right (what falls off a row's end lands in the zero columns of the next). With
    ∂E/∂x[c, y, x] = Σᵢ Σₒⱼ W[o, c, i, j] g[o, y − i·dH, x − j·dW] this gives

        g_j[o, j, :] = g shifted by j·dW                kW shifted copies of g
        r = W_r @ g_j                                   W_r[(c, i), (o, j)] = W[o, c, i, j]
        ∂E/∂x[c, y, :] = Σᵢ r[c, i, y − i·dH, :]        kH slice-adds of whole rows

    The GEMM (C·kH × O·kW by O·kW × N·Ho·Wp) has a deeper contraction and a kW times
    smaller output than the plain W₂ᵀ g (C·kH·kW × O), which OpenBLAS runs poorly with
    few filters; LeNet's second layer measured 0.71× the time with whole padded planes
    in the GEMM, and a further 0.75× with only the Ho rows that carry a gradient.
    """
    o, n, ho, wo = g_t.shape
    _, c, hp, wp = padded_shape
    kh, kw = w.shape[2:]
    dh, dw = dilation
    run = n * ho * wp
    lead = (kw - 1) * dw  # zeros before the first image, read by the shifted copies
    g_flat = np.zeros((o, lead + run), g_t.dtype)
    g_flat[:, lead:].reshape(o, n, ho, wp)[..., :wo] = g_t
    g_shifted = np.empty((o, kw, run), g_t.dtype)
    for j in range(kw):
        g_shifted[:, j] = g_flat[:, lead - j * dw:lead - j * dw + run]
    w_r = w.transpose(1, 2, 0, 3).reshape(c * kh, o * kw)
    rows = _gemm.matmul(w_r, g_shifted.reshape(o * kw, run)).reshape(c, kh, n, ho, wp)
    gxp = np.zeros(padded_shape, g_t.dtype)
    by_channel = gxp.transpose(1, 0, 2, 3)  # each (c, n) plane is contiguous: long runs
    for i in range(kh):
        by_channel[:, :, i * dh:i * dh + ho] += rows[:, i]
    return gxp


# ---- shared by the convolution and its transpose ---------------------------------------------

def _columns(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int], out_hw: tuple[int, int], channel_major: bool
             ) -> np.ndarray:
    """The windows of padded xp in the layout the chosen path multiplies."""
    if channel_major:
        return _channel_major_columns(xp, kernel, dilation, out_hw)
    return im2col(xp, kernel, stride, dilation, out_hw)


def _convolve(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
              padding: tuple[tuple[int, int], ...], dilation: tuple[int, int], groups: int,
              out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``conv2d`` on arrays: x (N, C, H, W), w (O, C/G, kH, kW) → ((N, O, Ho, Wo), the
    columns backward needs for ∂E/∂W)."""
    if _channel_major(x.shape[1], stride, groups):
        return _forward_channel_major(x, w, b, padding, dilation, out_hw)
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    cols = im2col(pad_spatial(x, padding), (kh, kw), stride, dilation, out_hw)
    kg = cg * kh * kw
    w_mat = w.reshape(groups, o // groups, kg)
    length = out_hw[0] * out_hw[1]
    # (G, O/G, Kg) @ (N, G, Kg, L) → (N, G, O/G, L): already NCHW order.
    out = _gemm.matmul(w_mat, cols.reshape(n, groups, kg, length))
    out = out.reshape(n, o, *out_hw)
    if b is not None:
        out += b.reshape(1, o, 1, 1)
    return out, cols


def _to_channel_major(g: np.ndarray) -> np.ndarray:
    """g (N, O, Ho, Wo) copied to (O, N, Ho, Wo)."""
    g_t = np.empty((g.shape[1], g.shape[0]) + g.shape[2:], g.dtype)
    g_t[...] = g.transpose(1, 0, 2, 3)
    return g_t


def _filter_grad(g: np.ndarray, g_t: np.ndarray | None, cols: np.ndarray,
                 w_shape: tuple[int, ...], groups: int) -> np.ndarray:
    """∂E/∂W from the output gradient g (N, O, Ho, Wo) and the columns of the input.
    With channel-major columns (``g_t`` given: g as (O, N, Ho, Wo)) it is one GEMM,
    ``(cols gᵀ)ᵀ``, in the orientation OpenBLAS runs fastest for few filters."""
    if g_t is not None:
        return _gemm.matmul(cols, g_t.reshape(g_t.shape[0], -1).T).T.reshape(w_shape)
    n, o = g.shape[:2]
    kg = int(np.prod(w_shape[1:]))
    length = g.shape[2] * g.shape[3]
    g4 = g.reshape(n, groups, o // groups, length)
    return _weight_grad(g4, cols.reshape(n, groups, kg, length)).reshape(w_shape)


def _input_grad(g: np.ndarray, g_t: np.ndarray | None, w: np.ndarray,
                padded_shape: tuple[int, ...], stride: tuple[int, int],
                dilation: tuple[int, int], groups: int) -> np.ndarray:
    """∂E/∂(padded input) of a convolution from its output gradient g (N, O, Ho, Wo):
    ``col2im(W₂ᵀ g)``, by the fastest path for the geometry. Also the forward pass of the
    transposed convolution. ``g_t`` is g channel-major when the convolution takes that
    path (made here when not given)."""
    out_hw = g.shape[2:]
    if _channel_major(padded_shape[1], stride, groups):
        g_t = _to_channel_major(g) if g_t is None else g_t
        return _input_grad_channel_major(g_t, w, padded_shape, dilation, out_hw)
    n, o = g.shape[:2]
    kh, kw = w.shape[2:]
    g4 = g.reshape(n, groups, o // groups, out_hw[0] * out_hw[1])
    w_mat = w.reshape(groups, o // groups, -1)
    if stride == (1, 1) and out_hw[0] > 1:
        return _input_grad_wide(g4, w_mat, padded_shape, (kh, kw), dilation, out_hw)
    gcols = _columns_grad(w_mat, g4).reshape(n, padded_shape[1], kh, kw, *out_hw)
    return col2im(gcols, padded_shape, (kh, kw), stride, dilation, out_hw)


def _bias_grad(g: np.ndarray, g_t: np.ndarray | None) -> np.ndarray:
    """Σ of g (N, O, Ho, Wo) over everything but O, as GEMVs (3× faster than .sum)."""
    if g_t is not None:
        g_mat = g_t.reshape(g_t.shape[0], -1)
        return g_mat @ ones_vector(g_mat.shape[1], g.dtype)
    n, o = g.shape[:2]
    length = g.shape[2] * g.shape[3]
    return (g.reshape(n * o, length) @ ones_vector(length, g.dtype)).reshape(n, o).sum(axis=0)


def _padded(shape: tuple[int, ...], channels: int, pads: tuple[tuple[int, int], ...]
            ) -> tuple[int, int, int, int]:
    return (shape[0], channels, shape[2] + sum(pads[0]), shape[3] + sum(pads[1]))


# ---- direct path (optional, numba) -----------------------------------------------------------

def _direct(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
            groups: int) -> bool:
    """Whether a forward pass that needs no weight gradient takes the compiled direct
    convolution (``chainrule.fast.convolution``) when the fast path is on.

    Measured on 2 cores (float32, batch 64, 28×28, CPU time, interleaved): against im2col
    + GEMM the direct loop wins with 1–2 input channels while the filters' work per pixel
    O·kH·kW stays small: 1.6–1.8× at 4 filters, 1.13–1.25× at O·kH·kW = 72–200 (LeNet's
    first layer, 6×5×5 = 150: 1.3–1.6×), even at 144–400, and 0.7–0.9× beyond (BLAS gets
    efficient as O grows). 3 input channels with 16 filters: 0.9×; LeNet's second layer
    (6 channels): 0.8×. Training needs the im2col columns for ∂E/∂W anyway and the GEMM
    alone costs less than the direct loop, so layers whose weight gradient is wanted keep
    im2col (a direct weight-gradient kernel measured 0.1–0.2×). Stride 1 only: the kernel
    walks output pixels as one contiguous run.
    """
    return (x.dtype == np.float32 and w.dtype == np.float32
            and (b is None or b.dtype == np.float32) and groups == 1
            and stride == (1, 1) and x.shape[1] <= 2
            and w.shape[0] * w.shape[2] * w.shape[3] <= 200)


def _direct_kernel() -> Callable[..., Any] | None:
    def build() -> Callable[..., Any]:
        return importlib.import_module("chainrule.fast.convolution").build_conv2d_direct()

    return _fast.kernel("conv2d_direct", build)


def _convolve_direct(kernel: Callable[..., Any], x: np.ndarray, w: np.ndarray,
                     b: np.ndarray | None, padding: tuple[tuple[int, int], ...],
                     dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    xp = kernel_array(pad_spatial(x, padding))
    bias = np.zeros(w.shape[0], np.float32) if b is None else kernel_array(b)
    out = np.empty((x.shape[0], w.shape[0]) + out_hw, np.float32)
    kernel(xp, kernel_array(w), bias, out, *dilation)
    return out


# ---- the op ----------------------------------------------------------------------------------

class Conv2d(Function):
    """2-d cross-correlation: x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,)
    → (N, O, Ho, Wo). Padding is ``((top, bottom), (left, right))``."""

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: tuple[int, int], padding: tuple[tuple[int, int], ...],
                dilation: tuple[int, int], groups: int) -> np.ndarray:
        kh, kw = w.shape[2:]
        out_hw = (output_length(x.shape[2], kh, stride[0], padding[0], dilation[0]),
                  output_length(x.shape[3], kw, stride[1], padding[1], dilation[1]))
        needs_x, needs_w = self.needs_input_grad[:2]
        needs_w = needs_w and _State.grad_enabled
        if _fast.enabled and not needs_w and _direct(x, w, b, stride, groups):
            kernel = _direct_kernel()
            if kernel is not None:  # nothing to keep for ∂E/∂W: no columns at all
                out = _convolve_direct(kernel, x, w, b, padding, dilation, out_hw)
                self.saved = (None, None, w if needs_x else None, x.shape, w.shape, out_hw,
                              stride, padding, dilation, groups)
                return out
        out, cols = _convolve(x, w, b, stride, padding, dilation, groups, out_hw)
        # ∂E/∂W needs the columns: keep them, or past the cache limit keep x and rebuild.
        keep_cols = needs_w and cols.nbytes <= COLS_CACHE_BYTES
        self.saved = (
            cols if keep_cols else None,
            x if needs_w and not keep_cols else None,
            w if needs_x else None,
            x.shape, w.shape, out_hw, stride, padding, dilation, groups,
        )
        return out

    def backward(self, g: np.ndarray) -> tuple:
        cols, x, w, x_shape, w_shape, out_hw, stride, padding, dilation, groups = self.saved
        needs = self.needs_input_grad
        channel_major = _channel_major(x_shape[1], stride, groups)
        # channel-major, g is (O, N·Ho·Wo): one GEMM per gradient for the whole batch
        g_t = _to_channel_major(g) if channel_major else None
        gx = gw = gb = None
        if needs[1]:
            if cols is None:
                cols = _columns(pad_spatial(x, padding), w_shape[2:], stride, dilation,
                                out_hw, channel_major)
            gw = _filter_grad(g, g_t, cols, w_shape, groups)
        if needs[0]:
            gxp = _input_grad(g, g_t, w, _padded(x_shape, x_shape[1], padding), stride,
                              dilation, groups)
            gx = _crop(gxp, padding, x_shape)
        if len(needs) > 2 and needs[2]:
            gb = _bias_grad(g, g_t)
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


class Conv1d(Conv2d):
    """1-d cross-correlation: x (N, C, L), weight (O, C/groups, k), bias (O,) → (N, O, Lo);
    computed as a 2-d convolution of height 1 (views only)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: tuple[int], padding: tuple[tuple[int, int]], dilation: tuple[int],
                groups: int) -> np.ndarray:
        out = super().forward(x[:, :, None, :], w[:, :, None, :], b, stride=(1,) + stride,
                              padding=((0, 0),) + padding, dilation=(1,) + dilation,
                              groups=groups)
        return out[:, :, 0, :]

    def backward(self, g: np.ndarray) -> tuple:
        gx, gw, *gb = super().backward(g[:, :, None, :])
        gx = None if gx is None else gx[:, :, 0, :]
        gw = None if gw is None else gw[:, :, 0, :]
        return (gx, gw, *gb)


class ConvTranspose2d(Function):
    """Transposed 2-d convolution: x (N, Cin, H, W), weight (Cin, Cout/groups, kH, kW),
    bias (Cout,) → (N, Cout, Ho, Wo), ``out_hw`` given by the wrapper.

    It is the input gradient of the convolution that maps (N, Cout, Ho, Wo) to
    (N, Cin, H, W) with this weight, stride, padding and dilation, so forward runs that
    convolution's ``_input_grad`` and backward its ``_convolve`` (∂E/∂x) and
    ``_filter_grad`` (∂E/∂W). Padding is ``((top, bottom), (left, right))``.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: tuple[int, int], padding: tuple[tuple[int, int], ...],
                dilation: tuple[int, int], groups: int, out_hw: tuple[int, int]
                ) -> np.ndarray:
        n = x.shape[0]
        c_out = w.shape[1] * groups
        kernel = w.shape[2:]
        padded = _padded((n, c_out) + tuple(out_hw), c_out, padding)
        # Windows of the adjoint convolution over the output: H + ⌊output_padding/stride⌋.
        # An output_padding of at least the stride (allowed below the dilation) gives it
        # more windows than x has pixels; those get zeros.
        conv_hw = tuple(output_length(size, k, s, p, d) for size, k, s, p, d in
                        zip(out_hw, kernel, stride, padding, dilation))
        in_hw = x.shape[2:]
        if conv_hw != in_hw:
            x = pad_spatial(x, ((0, conv_hw[0] - x.shape[2]), (0, conv_hw[1] - x.shape[3])))
        out = _crop(_input_grad(x, None, w, padded, stride, dilation, groups), padding,
                    (n, c_out) + tuple(out_hw))
        if padded[2:] != tuple(out_hw):
            out = np.ascontiguousarray(out)
        if b is not None:
            out += b.reshape(1, c_out, 1, 1)
        needs_x, needs_w = self.needs_input_grad[:2]
        self.saved = (x if needs_w else None, w if needs_x else None, w.shape, in_hw,
                      conv_hw, stride, padding, dilation, groups)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        x, w, w_shape, in_hw, conv_hw, stride, padding, dilation, groups = self.saved
        needs = self.needs_input_grad
        channel_major = _channel_major(g.shape[1], stride, groups)
        gx = gw = gb = None
        cols = None
        if needs[0]:
            gx, cols = _convolve(g, w, None, stride, padding, dilation, groups, conv_hw)
            if conv_hw != in_hw:
                gx = gx[:, :, :in_hw[0], :in_hw[1]]
        if needs[1]:
            if cols is None:
                cols = _columns(pad_spatial(g, padding), w_shape[2:], stride, dilation,
                                conv_hw, channel_major)
            x_t = _to_channel_major(x) if channel_major else None
            gw = _filter_grad(x, x_t, cols, w_shape, groups)
        if len(needs) > 2 and needs[2]:
            gb = _bias_grad(g, None)
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-d convolution: x (N, Cin, L), weight (Cin, Cout/groups, k) →
    (N, Cout, Lo); a 2-d one of height 1 (views only)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: tuple[int], padding: tuple[tuple[int, int]], dilation: tuple[int],
                groups: int, out_hw: tuple[int]) -> np.ndarray:
        out = super().forward(x[:, :, None, :], w[:, :, None, :], b, stride=(1,) + stride,
                              padding=((0, 0),) + padding, dilation=(1,) + dilation,
                              groups=groups, out_hw=(1,) + out_hw)
        return out[:, :, 0, :]

    def backward(self, g: np.ndarray) -> tuple:
        gx, gw, *gb = super().backward(g[:, :, None, :])
        gx = None if gx is None else gx[:, :, 0, :]
        gw = None if gw is None else gw[:, :, 0, :]
        return (gx, gw, *gb)


# ---- functional wrappers ---------------------------------------------------------------------

def _conv(op: type[Conv2d], nd: int, x: Tensor, weight: Tensor, bias: Tensor | None,
          stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    name = f"conv{nd}d"
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    unbatched = x._data.ndim == nd + 1
    if x._data.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected input of shape {layout} (or unbatched, without "
                         f"N), got {x.shape}")
    w_shape = weight._data.shape
    if len(w_shape) != nd + 2:
        raise ValueError(f"{name}: weight must have shape (out_channels, in_channels/groups"
                         f"{', k' if nd == 1 else ', kH, kW'}), got {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    channels = x._data.shape[-nd - 1]
    if channels != w_shape[1] * groups:
        raise ValueError(
            f"{name}: input of shape {x.shape} has {channels} channels but the weight of "
            f"shape {weight.shape} with groups={groups} expects {w_shape[1] * groups}")
    if w_shape[0] % groups:
        raise ValueError(f"{name}: out_channels ({w_shape[0]}) must be divisible by "
                         f"groups ({groups})")
    if bias is not None and bias._data.shape != (w_shape[0],):
        raise ValueError(f"{name}: bias must have shape ({w_shape[0]},), got {bias.shape}")
    dtypes = [str(t._data.dtype) for t in (x, weight, bias) if t is not None]
    if len(set(dtypes)) > 1:
        raise ValueError(f"{name}: input, weight and bias must share a dtype (no silent "
                         f"casts), got {', '.join(dtypes)} respectively")
    kernel = tuple(w_shape[2:])
    stride_t = spatial_tuple(stride, nd, "stride", name)
    dilation_t = spatial_tuple(dilation, nd, "dilation", name)
    if any(s < 1 for s in stride_t) or any(d < 1 for d in dilation_t):
        raise ValueError(f"{name}: stride and dilation must be positive, got "
                         f"stride={stride!r}, dilation={dilation!r}")
    pads = conv_padding(padding, kernel, stride_t, dilation_t, name)
    sizes = x._data.shape[-nd:]
    for size, k, s, p, d in zip(sizes, kernel, stride_t, pads, dilation_t):
        if output_length(size, k, s, p, d) < 1:
            raise ValueError(
                f"{name}: input of shape {x.shape} is too small for a kernel of size "
                f"{kernel} with dilation {dilation_t} and padding {tuple(p for p, _ in pads)}")
    if unbatched:
        x = x.unsqueeze(0)
    args = (x, weight) if bias is None else (x, weight, bias)
    out = op.apply(*args, stride=stride_t, padding=pads, dilation=dilation_t,
                   groups=int(groups))
    return out.squeeze(0) if unbatched else out


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation, as in every deep-learning library).

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        weight: (O, C/groups, kH, kW).
        bias: (O,) or None.
        stride: int or (sH, sW).
        padding: int, (pH, pW), ``'valid'`` (0) or ``'same'`` (output size = input size,
            stride 1 only; an odd total pads one more after than before, like PyTorch).
        dilation: int or (dH, dW): spacing between kernel elements.
        groups: split the C input channels and O filters into this many independent
            convolutions (``groups=C`` is a depthwise convolution).

    Returns:
        (N, O, Ho, Wo) with ``Ho = ⌊(H + 2pH − dH(kH − 1) − 1) / sH⌋ + 1`` (same for W).

    Example:
        >>> import chainrule as cr
        >>> x, w = cr.randn(2, 3, 8, 8), cr.randn(4, 3, 3, 3)
        >>> conv2d(x, w, padding="same").shape
        (2, 4, 8, 8)
    """
    return _conv(Conv2d, 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-d convolution over sequences.

    Args:
        input: (N, C, L), or (C, L) unbatched.
        weight: (O, C/groups, k).
        bias: (O,) or None.
        stride, padding, dilation, groups: as in ``conv2d``, with one spatial axis.

    Returns:
        (N, O, Lo) with ``Lo = ⌊(L + 2p − d(k − 1) − 1) / s⌋ + 1``.

    Example:
        >>> import chainrule as cr
        >>> conv1d(cr.randn(2, 3, 10), cr.randn(5, 3, 3), stride=2).shape
        (2, 5, 4)
    """
    return _conv(Conv1d, 1, input, weight, bias, stride, padding, dilation, groups)


def transposed_output_size(name: str, sizes: tuple[int, ...], kernel: tuple[int, ...],
                           stride: tuple[int, ...], padding: tuple[int, ...],
                           output_padding: tuple[int, ...], dilation: tuple[int, ...]
                           ) -> tuple[int, ...]:
    """PyTorch's output size of a transposed convolution,
    ``(size − 1)·s − 2p + d(k − 1) + output_padding + 1`` per axis, checked."""
    out = []
    for size, k, s, p, op, d in zip(sizes, kernel, stride, padding, output_padding, dilation):
        if op < 0 or (op >= s and op >= d):
            raise ValueError(f"{name}: output_padding must be smaller than either stride or "
                             f"dilation (as in PyTorch), got output_padding="
                             f"{output_padding}, stride={stride}, dilation={dilation}")
        length = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if length < 1:
            raise ValueError(f"{name}: input of size {tuple(sizes)} gives an empty output "
                             f"with kernel {kernel}, stride {stride}, padding {padding}")
        out.append(length)
    return tuple(out)


def _conv_transpose(op: type[ConvTranspose2d], nd: int, x: Tensor, weight: Tensor,
                    bias: Tensor | None, stride: Any, padding: Any, output_padding: Any,
                    groups: int, dilation: Any) -> Tensor:
    name = f"conv_transpose{nd}d"
    layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if x._data.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected input of shape {layout} (or unbatched, without "
                         f"N), got {x.shape}")
    unbatched = x._data.ndim == nd + 1
    w_shape = weight._data.shape
    if len(w_shape) != nd + 2:
        raise ValueError(f"{name}: weight must have shape (in_channels, out_channels/groups"
                         f"{', k' if nd == 1 else ', kH, kW'}), got {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    channels = x._data.shape[-nd - 1]
    if channels != w_shape[0]:
        raise ValueError(f"{name}: input of shape {x.shape} has {channels} channels but the "
                         f"weight of shape {weight.shape} expects {w_shape[0]}")
    if w_shape[0] % groups:
        raise ValueError(f"{name}: in_channels ({w_shape[0]}) must be divisible by groups "
                         f"({groups})")
    c_out = w_shape[1] * groups
    if bias is not None and bias._data.shape != (c_out,):
        raise ValueError(f"{name}: bias must have shape ({c_out},), got {bias.shape}")
    dtypes = [str(t._data.dtype) for t in (x, weight, bias) if t is not None]
    if len(set(dtypes)) > 1:
        raise ValueError(f"{name}: input, weight and bias must share a dtype (no silent "
                         f"casts), got {', '.join(dtypes)} respectively")
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding must be an int or a tuple of {nd} ints (PyTorch "
                         f"has no string padding for transposed convolutions), got "
                         f"{padding!r}")
    kernel = tuple(w_shape[2:])
    stride_t = spatial_tuple(stride, nd, "stride", name)
    dilation_t = spatial_tuple(dilation, nd, "dilation", name)
    pads = spatial_tuple(padding, nd, "padding", name)
    out_pads = spatial_tuple(output_padding, nd, "output_padding", name)
    if min(stride_t + dilation_t) < 1 or min(pads) < 0:
        raise ValueError(f"{name}: stride and dilation must be positive and padding "
                         f"non-negative, got stride={stride!r}, dilation={dilation!r}, "
                         f"padding={padding!r}")
    out_size = transposed_output_size(name, x._data.shape[-nd:], kernel, stride_t, pads,
                                      out_pads, dilation_t)
    if unbatched:
        x = x.unsqueeze(0)
    args = (x, weight) if bias is None else (x, weight, bias)
    out = op.apply(*args, stride=stride_t, padding=tuple((p, p) for p in pads),
                   dilation=dilation_t, groups=int(groups), out_hw=out_size)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """2-d transposed convolution (PyTorch's ``F.conv_transpose2d``, argument order
    included), the adjoint of ``conv2d``: it maps a map the size of a convolution's
    output back to the size of its input, e.g. to upsample by the stride.

    Args:
        input: (N, Cin, H, W), or (Cin, H, W) unbatched.
        weight: (Cin, Cout/groups, kH, kW) (note: in-channels first, unlike conv2d).
        bias: (Cout,) or None.
        stride: int or (sH, sW): spacing of the input pixels in the output.
        padding: int or (pH, pW): ``dilation·(k − 1) − padding`` zeros pad each side of
            the output's underlying convolution (``padding`` trims the output).
        output_padding: int or (oH, oW): extra rows/columns on the bottom/right, smaller
            than the stride or the dilation; picks among the input sizes a strided
            convolution maps to the same output size.
        groups: independent channel groups.
        dilation: int or (dH, dW).

    Returns:
        (N, Cout, Ho, Wo), ``Ho = (H − 1)·sH − 2pH + dH(kH − 1) + oH + 1``.

    Example:
        >>> import chainrule as cr
        >>> x, w = cr.randn(2, 4, 5, 5), cr.randn(4, 3, 3, 3)
        >>> conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape
        (2, 3, 10, 10)
    """
    return _conv_transpose(ConvTranspose2d, 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """1-d transposed convolution over (N, Cin, L) (or (Cin, L)); weight
    (Cin, Cout/groups, k); arguments as in ``conv_transpose2d`` with one spatial axis.

    Returns:
        (N, Cout, Lo), ``Lo = (L − 1)·s − 2p + d(k − 1) + output_padding + 1``.

    Example:
        >>> import chainrule as cr
        >>> conv_transpose1d(cr.randn(2, 4, 10), cr.randn(4, 6, 4), stride=2).shape
        (2, 6, 22)
    """
    return _conv_transpose(ConvTranspose1d, 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]
