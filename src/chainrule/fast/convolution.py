"""numba kernels for direct 2-d convolution of thin inputs (float32 only).

``ops.convolution`` turns a convolution into GEMMs over im2col columns. With one or two
input channels (a network's first layer, LeNet's 1×28×28 digits) the columns are only
C·kH·kW = 25 rows deep: the GEMM is too thin for BLAS to run well and copying the windows
costs as much as the arithmetic. Here each output plane is built by sliding the kernel
over the padded input instead: per kernel offset, one contiguous run of multiply-adds
that LLVM vectorises, with no columns at all.

Only the forward pass: training needs the columns for ∂E/∂W anyway (see
``ops.convolution._direct``), and a direct weight-gradient kernel (each weight's sum as
16 independent partial sums over the same runs) measured 4–14× slower than the GEMM on
columns kept from forward.

Imported only by the builders in ``ops.convolution`` through ``chainrule.fast.kernel``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from chainrule import fast

_F4 = "float32[:, :, :, ::1]"  # C-contiguous float32 (N, C, H, W) or (O, C, kH, kW)


def _jit(signature: str) -> Callable[[Callable[..., Any]], Any]:
    # error_model="numpy" and no fastmath, as in fast.recurrent: sums stay in the order
    # written, which LLVM can still vectorise because the vector runs along output pixels
    # (independent sums), never along a reduction.
    return numba.njit(signature, error_model="numpy", cache=fast.cache_enabled(),
                      nogil=True)


def build_conv2d_direct() -> Callable[..., None]:
    """``conv2d_direct(xp, w, b, out, dh, dw)``: out (N, O, Ho, Wo) = the stride-1
    cross-correlation of the padded input xp (N, C, Hp, Wp) with w (O, C, kH, kW), plus
    b (O,) — pass zeros for no bias; dilation (dh, dw), one group.

    Output pixel (y, x) is computed at position k = y·Wp + x of a plane as wide as the
    padded input, so that for every kernel offset (i, j) it reads the input at k + i·dH·Wp
    + j·dW: one contiguous run of (Ho − 1)·Wp + Wo multiply-adds per offset instead of Ho
    runs of Wo (28 for LeNet, too short to vectorise well). The Wp − Wo extra columns per
    row are computed and dropped.
    """

    @_jit(f"void({_F4}, {_F4}, float32[::1], {_F4}, intp, intp)")
    def conv2d_direct(xp, w, b, out, dh, dw):  # noqa: ANN001, ANN202
        n_img, n_out, ho, wo = out.shape
        n_in, kh, kw = w.shape[1], w.shape[2], w.shape[3]
        wp = xp.shape[3]
        length = (ho - 1) * wp + wo
        acc = np.empty(length, np.float32)
        for n in range(n_img):
            for o in range(n_out):
                bias = b[o]
                for k in range(length):
                    acc[k] = bias
                for c in range(n_in):
                    src = xp[n, c].reshape(-1)
                    for i in range(kh):
                        # up to four kernel columns per pass: each pass loads and stores
                        # acc once, so fewer passes leave the loop less bound by memory
                        for j in range(0, kw, 4):
                            m = min(4, kw - j)
                            off = i * dh * wp + j * dw
                            s0 = src[off:off + length]
                            w0 = w[o, c, i, j]
                            if m == 1:
                                for k in range(length):
                                    acc[k] += w0 * s0[k]
                                continue
                            s1 = src[off + dw:off + dw + length]
                            w1 = w[o, c, i, j + 1]
                            if m == 2:
                                for k in range(length):
                                    acc[k] += w0 * s0[k] + w1 * s1[k]
                                continue
                            s2 = src[off + 2 * dw:off + 2 * dw + length]
                            w2 = w[o, c, i, j + 2]
                            if m == 3:
                                for k in range(length):
                                    acc[k] += w0 * s0[k] + w1 * s1[k] + w2 * s2[k]
                                continue
                            s3 = src[off + 3 * dw:off + 3 * dw + length]
                            w3 = w[o, c, i, j + 3]
                            for k in range(length):
                                acc[k] += w0 * s0[k] + w1 * s1[k] + w2 * s2[k] + w3 * s3[k]
                plane = out[n, o]
                for y in range(ho):
                    for x in range(wo):
                        plane[y, x] = acc[y * wp + x]

    return conv2d_direct

