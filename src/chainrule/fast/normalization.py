"""numba kernels for LayerNorm's float32 forward and backward.

``ops.normalization.LayerNorm`` works on x as a (rows, m) matrix with row sums as GEMVs:
about ten NumPy passes each way over the whole matrix, with their temporaries
(tiny_transformer: 2048 rows of 128, 1 MiB per array). Here each direction is
one loop over the rows that keeps a row in L1 while it reads it: forward the mean, x − μ,
Σ(x − μ)², then x̂ and y; backward Σĝ and Σĝx̂ (ĝ = γ g), then ∂E/∂x, with the column sums
of ∂E/∂γ and ∂E/∂β added row by row.

Element arithmetic is float32 as in NumPy's passes (two-pass variance, as PyTorch: biased,
ε inside the root). Row sums run in eight float32 partial sums folded into float64 every
512 terms; column sums accumulate in float64. numba's default LLVM setup vectorises no
reduction without fastmath (which would reorder sums by the CPU's vector width), so the
sums are scalar loops with independent chains; the element-wise passes vectorise. Results
agree with NumPy's to a few float32 ulps, and with PyTorch's float32 LayerNorm likewise.

Imported only by the builders in ``ops.normalization`` through ``chainrule.fast.kernel``.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from chainrule import fast

_F1 = "float32[::1]"
_F2 = "float32[:, ::1]"
_D1 = "float64[::1]"


# Row sums: float32 terms into eight float32 partial sums (independent chains, so the
# scalar loop runs near the core's add throughput; numba's default LLVM setup vectorises
# no reduction without fastmath), folded into a float64 total every _CHUNK terms.
_CHUNK = 512


@numba.njit(inline="always", error_model="numpy")
def _sum(a, lo, hi):  # noqa: ANN001, ANN202
    """Σ a[lo:hi] (hi − lo a multiple of 8), as float64."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0)
    for j in range(lo, hi, 8):
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        s4 += a[j + 4]
        s5 += a[j + 5]
        s6 += a[j + 6]
        s7 += a[j + 7]
    return np.float64(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))


@numba.njit(inline="always", error_model="numpy")
def _sum_sq(a, lo, hi):  # noqa: ANN001, ANN202
    """Σ a[lo:hi]² (hi − lo a multiple of 8), as float64."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0)
    for j in range(lo, hi, 8):
        s0 += a[j] * a[j]
        s1 += a[j + 1] * a[j + 1]
        s2 += a[j + 2] * a[j + 2]
        s3 += a[j + 3] * a[j + 3]
        s4 += a[j + 4] * a[j + 4]
        s5 += a[j + 5] * a[j + 5]
        s6 += a[j + 6] * a[j + 6]
        s7 += a[j + 7] * a[j + 7]
    return np.float64(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))


@numba.njit(inline="always", error_model="numpy")
def _row_sum(a):  # noqa: ANN001, ANN202
    m = a.size
    m8 = m - m % 8
    if m8 <= _CHUNK:  # one chunk (a transformer's rows): a loop the compiler sees whole
        t = _sum(a, 0, m8)
    else:
        t = 0.0
        for lo in range(0, m8, _CHUNK):
            t += _sum(a, lo, min(lo + _CHUNK, m8))
    for j in range(m8, m):
        t += a[j]
    return t


@numba.njit(inline="always", error_model="numpy")
def _row_sum_sq(a):  # noqa: ANN001, ANN202
    m = a.size
    m8 = m - m % 8
    if m8 <= _CHUNK:  # one chunk (a transformer's rows): a loop the compiler sees whole
        t = _sum_sq(a, 0, m8)
    else:
        t = 0.0
        for lo in range(0, m8, _CHUNK):
            t += _sum_sq(a, lo, min(lo + _CHUNK, m8))
    for j in range(m8, m):
        t += a[j] * a[j]
    return t


@numba.njit(inline="always", error_model="numpy")
def _sums_backward(g, w, xh, lo, hi):  # noqa: ANN001, ANN202
    """(Σ g·w, Σ g·w·x̂) over [lo, hi) (a multiple of 8), as float64."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float32(0)
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = np.float32(0)
    for j in range(lo, hi, 8):
        h0 = g[j] * w[j]
        h1 = g[j + 1] * w[j + 1]
        h2 = g[j + 2] * w[j + 2]
        h3 = g[j + 3] * w[j + 3]
        h4 = g[j + 4] * w[j + 4]
        h5 = g[j + 5] * w[j + 5]
        h6 = g[j + 6] * w[j + 6]
        h7 = g[j + 7] * w[j + 7]
        s0 += h0
        s1 += h1
        s2 += h2
        s3 += h3
        s4 += h4
        s5 += h5
        s6 += h6
        s7 += h7
        c0 += h0 * xh[j]
        c1 += h1 * xh[j + 1]
        c2 += h2 * xh[j + 2]
        c3 += h3 * xh[j + 3]
        c4 += h4 * xh[j + 4]
        c5 += h5 * xh[j + 5]
        c6 += h6 * xh[j + 6]
        c7 += h7 * xh[j + 7]
    return (np.float64(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))),
            np.float64(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))))


@numba.njit(inline="always", error_model="numpy")
def _row_sums_backward(g, w, xh):  # noqa: ANN001, ANN202
    """(Σ g·w, Σ g·w·x̂) over one row, as float64."""
    m = g.size
    m8 = m - m % 8
    if m8 <= _CHUNK:
        t, u = _sums_backward(g, w, xh, 0, m8)
    else:
        t = u = 0.0
        for lo in range(0, m8, _CHUNK):
            tc, uc = _sums_backward(g, w, xh, lo, min(lo + _CHUNK, m8))
            t += tc
            u += uc
    for j in range(m8, m):
        h = g[j] * w[j]
        t += h
        u += h * xh[j]
    return t, u


def build_layer_norm_forward() -> Callable[..., None]:
    """``ln_forward(x, w, b, eps, affine, y, mean, rstd)``: for each row i of x (rows, m)
    write its mean μ and rstd = 1/√(var + ε) (float32; biased variance, as PyTorch), and
    y = x̂ = (x − μ)·rstd, or with ``affine`` y = x̂·w + b (pass zeros for b when there is
    no bias; without ``affine`` w and b are placeholders). Backward recomputes x̂ from x,
    μ and rstd exactly as here, so no x̂ array is kept."""

    @numba.njit(f"void({_F2}, {_F1}, {_F1}, float64, boolean, {_F2}, {_F1}, {_F1})",
                error_model="numpy", cache=fast.cache_enabled(), nogil=True)
    def ln_forward(x, w, b, eps, affine, y, mean, rstd):  # noqa: ANN001, ANN202
        rows, m = x.shape
        for i in range(rows):
            xr = x[i]
            d = y[i]  # x − μ first, then the output in place
            mu = np.float32(_row_sum(xr) / m)
            for j in range(m):
                d[j] = xr[j] - mu
            r = np.float32(1.0 / np.sqrt(_row_sum_sq(d) / m + eps))
            mean[i] = mu
            rstd[i] = r
            if affine:
                for j in range(m):
                    d[j] = (d[j] * r) * w[j] + b[j]
            else:
                for j in range(m):
                    d[j] *= r

    return ln_forward


def build_layer_norm_backward() -> Callable[..., None]:
    """``ln_backward(g, x, mean, rstd, w, need_x, need_w, need_b, gx, gw, gb)``: with
    x̂ = (x − μ)·rstd as the forward computed it and ĝ = g·w (pass ones for w without a
    weight), per row gx = rstd·(ĝ − Σĝ/m − x̂·Σ(ĝx̂)/m) when ``need_x``; adds the column
    sums Σ g·x̂ to gw and Σ g to gb (float64, zeroed by the caller) when ``need_w`` /
    ``need_b``."""

    @numba.njit(f"void({_F2}, {_F2}, {_F1}, {_F1}, {_F1}, boolean, boolean, boolean, {_F2}, "
                f"{_D1}, {_D1})", error_model="numpy", cache=fast.cache_enabled(), nogil=True)
    def ln_backward(g, x, mean, rstd, w, need_x, need_w, need_b, gx, gw, gb):  # noqa: ANN001, ANN202
        rows, m = g.shape
        xh = np.empty(m, np.float32)  # one row of x̂, in L1
        for i in range(rows):
            gr = g[i]
            xr = x[i]
            mu = mean[i]
            r = rstd[i]
            if need_w:
                for j in range(m):
                    v = (xr[j] - mu) * r
                    xh[j] = v
                    gw[j] += gr[j] * v
            else:
                for j in range(m):
                    xh[j] = (xr[j] - mu) * r
            if need_b:
                for j in range(m):
                    gb[j] += gr[j]
            if not need_x:
                continue
            sum_h, sum_hx = _row_sums_backward(gr, w, xh)
            c_h = np.float32(sum_h / m)
            c_hx = np.float32(sum_hx / m)
            out = gx[i]
            for j in range(m):
                out[j] = r * ((gr[j] * w[j] - c_h) - xh[j] * c_hx)

    return ln_backward
