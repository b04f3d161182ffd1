"""numba kernels for the element-wise work of one recurrent time step (float32 only).

``ops.recurrent`` runs each step as one BLAS GEMM (``W_hh h_{t-1}``) followed by a handful
of NumPy calls over (gates, batch) arrays: add the input projection, tanh, the sigmoid
rescale, the cell update, tanh of the cell, the output gate. At char_lstm's size (4096
elements a gate) every one of those calls costs more in dispatch and passes over memory
than in arithmetic. The kernels here do a step's element-wise work in one loop, with a
rational tanh that LLVM vectorises (numba's own ``math.tanh`` is a scalar libm call per
element, while NumPy 2's float32 tanh is SIMD: 0.28 ns an element on the benchmark
machine); the GEMMs stay on BLAS.

Imported only by the builders in ``ops.recurrent`` through ``chainrule.fast.kernel``, so a
plain ``import chainrule`` never imports numba. Each builder compiles eagerly for the one
signature its call site passes (C-contiguous float32 arrays): a compile error then happens
inside ``fast.kernel`` (one warning, NumPy path) and never half-way through a sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from chainrule import fast

# tanh(x) ≈ x·P(x²)/Q(x²) on |x| ≤ 9, and ±1 beyond (float32 tanh rounds to ±1 there).
# The coefficients were fitted for this module (iteratively reweighted linear least
# squares on 16 000 points of [0, 9], in float64): 1.9e-8 from tanh in exact arithmetic,
# 3.6e-7 (three float32 ulps of 1) once evaluated in float32, against ~1 ulp for NumPy's
# own. They are float32 module constants so numba keeps every product in float32: a
# Python float would promote the whole expression to float64 and halve the vector width.
_CLIP = np.float32(9.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_P0 = np.float32(9.9999990194328503e-01)
_P1 = np.float32(1.3373212865937217e-01)
_P2 = np.float32(3.4866033712244522e-03)
_P3 = np.float32(2.0472081668324040e-05)
_P4 = np.float32(1.3183990328924050e-08)
_Q1 = np.float32(4.6706508601256103e-01)
_Q2 = np.float32(2.5842055302772476e-02)
_Q3 = np.float32(3.2714188781581645e-04)
_Q4 = np.float32(7.7027098988676003e-07)

_F2 = "float32[:, ::1]"  # a C-contiguous float32 matrix: every array the kernels take


def _jit(signature: str) -> Callable[[Callable[..., Any]], Any]:
    # error_model="numpy": a division never raises (the rational's Q is ≥ 1 anyway), which
    # lets LLVM vectorise it. No fastmath: it would let LLVM drop the NaN checks below.
    return numba.njit(signature, error_model="numpy", cache=fast.cache_enabled(),
                      nogil=True)


@numba.njit(inline="always", error_model="numpy")
def _tanh(x: float) -> float:
    """Rational float32 tanh. The clamps are comparisons, not min/max, so a NaN passes
    through them and comes out NaN (as NumPy's would): a diverging run must still see it.
    """
    if x > _CLIP:
        x = _CLIP
    elif x < -_CLIP:
        x = -_CLIP
    s = x * x
    p = (((_P4 * s + _P3) * s + _P2) * s + _P1) * s + _P0
    q = (((_Q4 * s + _Q3) * s + _Q2) * s + _Q1) * s + _ONE
    r = x * p / q
    # the float32 rounding of P/Q can overshoot 1 by an ulp or two near the clamp
    if r > _ONE:
        r = _ONE
    elif r < -_ONE:
        r = -_ONE
    return r


def build_tanh() -> Callable[..., None]:
    """``tanh_into(x, out)``: out = tanh(x) for C-contiguous float32 matrices (tests)."""

    @_jit(f"void({_F2}, {_F2})")
    def tanh_into(x, out):  # noqa: ANN001, ANN202 - numba signatures carry the types
        xf = x.reshape(-1)
        of = out.reshape(-1)
        for k in range(xf.size):
            of[k] = _tanh(xf[k])

    return tanh_into


def build_lstm_step() -> Callable[..., None]:
    """``lstm_step(rec, proj, c_prev, c, h, q, grad)`` — one LSTM step after its GEMM.

    Gates are in ``LSTMLayer``'s forward layout f, i, o, g with the sigmoid gates' weights
    pre-scaled by ½: ``rec`` (4H, B) = W_rec h_{t-1}, ``proj`` (4H, B) the step's input
    projection and bias. Writes c (H, B) = f·c_prev + i·g and h (H, B) = o·tanh(c); with
    ``grad`` also q (6H, B), the derivative factors ``_lstm_factors`` would make (rows g,
    f, i, o, p, then f), each by the same float32 operations in the same order, so fast
    and NumPy paths differ only by the tanh. q is not touched (pass any matrix) without
    ``grad``.
    """

    @_jit(f"void({_F2}, {_F2}, {_F2}, {_F2}, {_F2}, {_F2}, boolean)")
    def lstm_step(rec, proj, c_prev, c, h, q, grad):  # noqa: ANN001, ANN202
        n = c.size  # H·B: the gate blocks are n apart in the flattened (4H, B) arrays
        r = rec.reshape(-1)
        p = proj.reshape(-1)
        cp = c_prev.reshape(-1)
        cf = c.reshape(-1)
        hf = h.reshape(-1)
        qf = q.reshape(-1)
        # two copies of the loop rather than a test inside one: LLVM vectorises a loop
        # only after checking at run time that its arrays do not overlap, and the
        # placeholder q without grad is one of the others
        if not grad:
            for k in range(n):
                f = _HALF + _HALF * _tanh(r[k] + p[k])  # σ(z) = ½ + ½ tanh(z/2)
                i = _HALF + _HALF * _tanh(r[n + k] + p[n + k])
                o = _HALF + _HALF * _tanh(r[2 * n + k] + p[2 * n + k])
                g = _tanh(r[3 * n + k] + p[3 * n + k])
                ck = f * cp[k] + i * g
                cf[k] = ck
                hf[k] = o * _tanh(ck)
            return
        for k in range(n):
            f = _HALF + _HALF * _tanh(r[k] + p[k])
            i = _HALF + _HALF * _tanh(r[n + k] + p[n + k])
            o = _HALF + _HALF * _tanh(r[2 * n + k] + p[2 * n + k])
            g = _tanh(r[3 * n + k] + p[3 * n + k])
            ck = f * cp[k] + i * g
            tc = _tanh(ck)
            cf[k] = ck
            hf[k] = o * tc
            qf[k] = i * (_ONE - g * g)
            qf[n + k] = ((_ONE - f) * f) * cp[k]
            qf[2 * n + k] = ((_ONE - i) * i) * g
            qf[3 * n + k] = ((_ONE - o) * o) * tc
            qf[4 * n + k] = o * (_ONE - tc * tc)
            qf[5 * n + k] = f

    return lstm_step


def build_lstm_back_step() -> Callable[..., None]:
    """``lstm_back_step(dh_rec, g, q, dc, d)`` — one reverse LSTM step before its GEMM.

    ``dh_rec`` (H, B) is what h_t receives from step t + 1 and ``g`` (H, B) the output's
    gradient at t; ``q`` (6H, B) the step's factors from ``lstm_step``. Writes δ_t into
    d[:4H] (rows g, f, i, o, as ``LSTMLayer.backward`` lays it out; row block p of its
    (5H, B) d is left alone) and turns the cell gradient dc (H, B) from dc_t into
    dc_{t-1}. The float32 operations and their order are NumPy's, so the result is the
    same bit for bit.
    """

    @_jit(f"void({_F2}, {_F2}, {_F2}, {_F2}, {_F2})")
    def lstm_back_step(dh_rec, g, q, dc, d):  # noqa: ANN001, ANN202
        n = dc.size
        dr = dh_rec.reshape(-1)
        gf = g.reshape(-1)
        qf = q.reshape(-1)
        dcf = dc.reshape(-1)
        df = d.reshape(-1)
        for k in range(n):
            dh = dr[k] + gf[k]
            df[3 * n + k] = qf[3 * n + k] * dh  # δ_o
            dck = dcf[k] + qf[4 * n + k] * dh  # dc_t += p·dh
            df[k] = qf[k] * dck  # δ_g
            df[n + k] = qf[n + k] * dck  # δ_f
            df[2 * n + k] = qf[2 * n + k] * dck  # δ_i
            dcf[k] = dck * qf[5 * n + k]  # dc_{t-1} = f·dc_t

    return lstm_back_step


def build_gru_step() -> Callable[..., None]:
    """``gru_step(rec, a, b_hn, h_prev, hn, h)`` — one GRU step after its GEMM.

    ``GRULayer``'s layout r, z, n with r and z pre-scaled by ½: ``rec`` (3H, B) =
    W_rec h_{t-1}; ``a`` (3H, B) the step's input projection and biases, overwritten with
    r, z (sigmoids) and n (tanh) as the NumPy loop does, for backward. ``b_hn`` (H, 1)
    the hidden bias of n (zeros when the layer has none). Writes hn (H, B) = rec_n +
    b_hn and h (H, B) = n + z·(h_prev − n).
    """

    @_jit(f"void({_F2}, {_F2}, {_F2}, {_F2}, {_F2}, {_F2})")
    def gru_step(rec, a, b_hn, h_prev, hn, h):  # noqa: ANN001, ANN202
        hidden, batch = h.shape
        n = hidden * batch
        r = rec.reshape(-1)
        af = a.reshape(-1)
        hp = h_prev.reshape(-1)
        hnf = hn.reshape(-1)
        hf = h.reshape(-1)
        for j in range(hidden):
            bias = b_hn[j, 0]
            for b in range(batch):
                k = j * batch + b
                rg = _HALF + _HALF * _tanh(af[k] + r[k])
                zg = _HALF + _HALF * _tanh(af[n + k] + r[n + k])
                hnk = r[2 * n + k] + bias
                ng = _tanh(af[2 * n + k] + rg * hnk)
                af[k] = rg
                af[n + k] = zg
                af[2 * n + k] = ng
                hnf[k] = hnk
                hf[k] = ng + zg * (hp[k] - ng)

    return gru_step



def build_gru_back_step() -> Callable[..., None]:
    """``gru_back_step(rec, carry, g, fac, a, dg)`` — one reverse GRU step before its GEMM.

    What h_t receives from step t + 1 comes in two parts, as ``GRULayer.backward`` builds
    it: ``rec`` (H, B) = W_hhᵀ δ_{t+1} and ``carry`` (H, B) = dh_{t+1} ⊙ z_{t+1}; ``g``
    (H, B) is the output's gradient at t. ``fac`` (3H, B) holds the step's factors pn, pz,
    pr and ``a`` (3H, B) its gates r, z, n. Writes dg (4H, B) rows dr, dz, dn ⊙ r (δ of
    W_hh h + b_hh) and dn, and the next carry dh_t ⊙ z_t. The float32 operations and
    their order are NumPy's.
    """

    @_jit(f"void({_F2}, {_F2}, {_F2}, {_F2}, {_F2}, {_F2})")
    def gru_back_step(rec, carry, g, fac, a, dg):  # noqa: ANN001, ANN202
        n = g.size
        rf = rec.reshape(-1)
        cf = carry.reshape(-1)
        gf = g.reshape(-1)
        ff = fac.reshape(-1)
        af = a.reshape(-1)
        df = dg.reshape(-1)
        for k in range(n):
            dh = (rf[k] + cf[k]) + gf[k]
            dn = dh * ff[k]  # pn
            df[3 * n + k] = dn
            df[n + k] = dh * ff[n + k]  # dz = dh pz
            df[k] = dn * ff[2 * n + k]  # dr = dn pr
            df[2 * n + k] = dn * af[k]  # dn r
            cf[k] = dh * af[n + k]  # dh z, for step t − 1

    return gru_back_step
