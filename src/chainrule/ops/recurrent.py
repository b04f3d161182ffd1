"""Recurrent layers as fused ops: one graph node runs a whole sequence through one layer.

``RNNLayer``, ``LSTMLayer`` and ``GRULayer`` take the layer's input sequence x (T, B, I)
(or (B, T, I) with ``batch_first=True``), its initial state and its weights in
PyTorch's layout (``w_ih`` (G·H, I), ``w_hh`` (G·H, H), optional ``b_ih``/``b_hh``
(G·H,), G = 1, 4 or 3) and return the output sequence in one node, so backpropagation
through time costs one backward call, not dozens of tiny nodes per time step:

* forward: the input projection ``W_ih x_t + b`` of every time step is one batched GEMM
  before the loop; the loop over time does one GEMM per step (``W_hh h_{t-1}``) and a
  handful of NumPy calls of fused gate math into preallocated buffers, and saves the
  gate activations for backward (the LSTM also computes its per-step derivative
  factors there, while the step's values are in cache).
* backward: the reverse loop does one GEMM per step (``W_hhᵀ δ_t``) and a few
  multiplies; the weight gradients come from GEMMs over all time steps at the end
  (``dW_ih = Σ_t δ_t x_tᵀ``, ``dW_hh = Σ_t δ_t h_{t-1}ᵀ``, ``dx_t = W_ihᵀ δ_t``).

Inside the loops every per-step array is (features, batch) rather than (batch,
features): the same GEMM is about twice as fast with OpenBLAS on two cores that way
(the long gate axis is split across threads). Sigmoid gates are computed as
``σ(z) = ½ + ½·tanh(z/2)`` with the ½ folded into scaled copies of the weights, so all
gates of a step go through one ``tanh`` call.

Final states: for ``RNNLayer``/``GRULayer`` the last hidden state is the last step of
the output sequence (``getitem``). ``LSTMLayer`` also has the final cell state, and a
node has one output, so it returns one flat array holding the output sequence followed
by c_T; ``lstm_layer`` views it as (output, h_n, c_n) and the gradients of the views
meet again in this node's backward.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.autograd import Function, _State
from chainrule.ops import _gemm
from chainrule.ops._util import kernel_array, ones_vector
from chainrule.ops.shape import getitem, reshape
from chainrule.tensor import Tensor

# ---- shared pieces ---------------------------------------------------------------------

# Time steps handled together where a whole-sequence pass would stream megabytes through
# memory: LSTMLayer's input projections, and the weight-gradient GEMMs of backward (which
# then read δ while it is still in cache).
_CHUNK = 8


def _time_major(x: np.ndarray, batch_first: bool) -> np.ndarray:
    """A (T, B, ·) view of a sequence stored time-major or batch-major."""
    return x.transpose(1, 0, 2) if batch_first else x


def _tgb_to_gn(d: np.ndarray) -> np.ndarray:
    """(T, G, B) per-step arrays → one (G, T·B) matrix whose columns are (t, b) pairs."""
    T, G, B = d.shape
    out = np.empty((G, T, B), d.dtype)
    out[...] = d.transpose(1, 0, 2)
    return out.reshape(G, T * B)


def _bias_tile(bias: np.ndarray | None, batch: int) -> np.ndarray | None:
    """The bias repeated over the batch as a contiguous (G, B) block: adding it to
    (k, G, B) arrays is several times faster than broadcasting a (G, 1) column."""
    if bias is None:
        return None
    return np.ascontiguousarray(np.broadcast_to(bias[:, None], (bias.shape[0], batch)))


def _project_inputs(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``w x_t + bias`` for every time step of x (T, B, I), as one contiguous (T, G, B)
    array (one batched GEMM over all steps)."""
    a = _gemm.matmul(w, x.transpose(0, 2, 1))
    if bias is not None:
        a += _bias_tile(bias, x.shape[1])
    return a


def _write_sequence(out: np.ndarray, hs: np.ndarray, batch_first: bool) -> np.ndarray:
    """Copy per-step states hs (T, H, B) into ``out`` laid out (T, B, H) or (B, T, H)."""
    if not batch_first:
        out[...] = hs.transpose(0, 2, 1)
        return out
    # two cheap copies (2-D transposes, then whole rows) beat one three-axis shuffle
    tbh = np.empty((hs.shape[0], hs.shape[2], hs.shape[1]), hs.dtype)
    tbh[...] = hs.transpose(0, 2, 1)
    out[...] = tbh.transpose(1, 0, 2)
    return out


def _grad_sequence(g: np.ndarray, batch_first: bool) -> np.ndarray:
    """The gradient of an output sequence as contiguous per-step (T, H, B) arrays."""
    T, B, H = _time_major(g, batch_first).shape
    out = np.empty((T, H, B), g.dtype)
    if batch_first:  # as in _write_sequence: whole rows first, then 2-D transposes
        tbh = np.empty((T, B, H), g.dtype)
        tbh[...] = g.transpose(1, 0, 2)
        out[...] = tbh.transpose(0, 2, 1)
    else:
        out[...] = g.transpose(0, 2, 1)
    return out


def _step_kernel(name: str, dtype: np.dtype) -> Callable[..., Any] | None:
    """The compiled per-step kernel ``name`` of ``chainrule.fast.recurrent`` when the fast
    path is on and the layer is float32, else None (float64 and every fallback run the
    NumPy loop). Callers test ``_fast.enabled`` first, so the NumPy path pays one lookup.
    """
    if dtype != np.float32:
        return None

    def build() -> Callable[..., Any]:
        module = importlib.import_module("chainrule.fast.recurrent")  # imports numba
        return getattr(module, f"build_{name}")()

    return _fast.kernel(name, build)


def _flags(needs: tuple, first_weight: int) -> tuple[bool, ...]:
    """Which of (x, w_ih, w_hh, b_ih, b_hh) want a gradient; weights start at
    ``first_weight`` in the op's inputs (after x and the initial states)."""
    k = first_weight
    biases = needs[k + 2:k + 4] if len(needs) > k + 2 else (False, False)
    return (needs[0], needs[k], needs[k + 1]) + tuple(biases)


class _ChunkedGrads:
    """Gradients of (x, W_ih, W_hh, b_ih, b_hh), accumulated a few time steps at a time
    from the pre-activation gradients δ while those are still in cache.

    ``add(t0, t1, dgx, dgh)`` takes δ of steps t0..t1-1 as (t1 − t0, G, B) arrays: ``dgx``
    for the input projection ``W_ih x_t + b_ih``, ``dgh`` for ``W_hh h_{t-1} + b_hh``
    (omit it when the two are equal).
    """

    def __init__(self, flags: tuple, x: np.ndarray, batch_first: bool, h0: np.ndarray,
                 hs: np.ndarray, w_ih: np.ndarray) -> None:
        self.flags = flags
        xt = _time_major(x, batch_first)
        T, B, n_in = xt.shape
        G, H = w_ih.shape[0], hs.shape[1]
        dt = x.dtype
        self.x, self.batch_first, self.h0, self.hs, self.w_ih = xt, batch_first, h0, hs, w_ih
        self.dx = np.empty((T, B, n_in), dt) if flags[0] else None
        self.dw_ih = np.zeros((G, n_in), dt) if flags[1] else None
        self.dw_hh = np.zeros((G, H), dt) if flags[2] else None
        self.db_ih = np.zeros(G, dt) if flags[3] else None
        self.db_hh = np.zeros(G, dt) if flags[4] else None

    def add(self, t0: int, t1: int, dgx: np.ndarray, dgh: np.ndarray | None = None) -> None:
        k, G, B = dgx.shape
        gx = _tgb_to_gn(dgx)  # (G, k·B), columns (t, b)
        gh = gx if dgh is None else _tgb_to_gn(dgh)
        ones = ones_vector(k * B, dgx.dtype)
        if self.dx is not None:
            _gemm.matmul(gx.T, self.w_ih, out=self.dx[t0:t1].reshape(k * B, -1))
        if self.dw_ih is not None:
            self.dw_ih += _gemm.matmul(gx, self.x[t0:t1].reshape(k * B, -1))
        sum_x = None
        if self.db_ih is not None or (self.db_hh is not None and dgh is None):
            sum_x = gx @ ones  # row sums as a GEMV
        if self.db_ih is not None:
            self.db_ih += sum_x
        if self.db_hh is not None:
            self.db_hh += sum_x if dgh is None else gh @ ones
        if self.dw_hh is not None:  # step t multiplies h_{t-1}; step 0 multiplies h0
            s0 = max(t0, 1)
            if s0 < t1:
                h_prev = _tgb_to_gn(self.hs[s0 - 1:t1 - 1])
                self.dw_hh += _gemm.matmul(gh[:, (s0 - t0) * B:], h_prev.T)
            if t0 == 0:
                self.dw_hh += gh[:, :B] @ self.h0

    def result(self) -> tuple:
        dx = self.dx
        if dx is not None and self.batch_first:
            dx = dx.transpose(1, 0, 2)
        return dx, self.dw_ih, self.dw_hh, self.db_ih, self.db_hh


def _unpermute(grads: tuple, perm: np.ndarray) -> tuple:
    """Put weight/bias gradient rows computed in an internal gate order back in order."""
    out = []
    for gr in grads:
        if gr is None:
            out.append(None)
        else:
            back = np.empty_like(gr)
            back[perm] = gr
            out.append(back)
    return tuple(out)


# ---- Elman RNN ----------------------------------------------------------------------------


class RNNLayer(Function):
    """One Elman RNN layer over a sequence: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} +
    b_hh)`` with act tanh or relu.

    Inputs: x (T, B, I) (or (B, T, I) with ``batch_first``), h0 (B, H), w_ih (H, I),
    w_hh (H, H)[, b_ih (H,), b_hh (H,)]. Output: h_1..h_T in x's layout, (T, B, H) or
    (B, T, H); the final state is its last step.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None, *,
                nonlinearity: str = "tanh", batch_first: bool = False) -> np.ndarray:
        xt = _time_major(x, batch_first)
        T = xt.shape[0]
        bias = None if b_ih is None else b_ih + b_hh
        hs = _project_inputs(xt, w_ih, bias)  # (T, H, B), turned into h_t in place
        rec = np.empty(hs.shape[1:], x.dtype)
        h = h0.T
        relu = nonlinearity == "relu"
        # no compiled step here: NumPy's add and (SIMD) tanh are two calls, and a fused
        # kernel measured 1.05x alone and 0.94-0.99x on the layer (benchmarks/fast_ab.py)
        for t in range(T):
            a = hs[t]
            _gemm.matmul(w_hh, h, out=rec)
            a += rec
            if relu:
                np.maximum(a, 0, out=a)
            else:
                np.tanh(a, out=a)
            h = a
        out = np.empty(x.shape[:2] + (w_hh.shape[0],), x.dtype)
        self.saved = (x, h0, w_ih, w_hh, relu, batch_first, hs)
        return _write_sequence(out, hs, batch_first)

    def backward(self, g: np.ndarray) -> tuple:
        x, h0, w_ih, w_hh, relu, batch_first, hs = self.saved
        T = hs.shape[0]
        # d h_t / d pre_t, overwritten step by step with the pre-activation gradient δ_t
        d = np.empty(hs.shape, hs.dtype)
        if relu:
            np.greater(hs, 0, out=d)
        else:
            np.multiply(hs, hs, out=d)
            np.subtract(1, d, out=d)
        g_t = _grad_sequence(g, batch_first)
        w_hh_t = np.ascontiguousarray(w_hh.T)
        dh_rec = np.zeros(hs.shape[1:], x.dtype)  # W_hhᵀ δ_{t+1}: what h_t passes back
        needs = self.needs_input_grad
        acc = _ChunkedGrads(_flags(needs, 2), x, batch_first, h0, hs, w_ih)
        for t1 in range(T, 0, -_CHUNK):
            t0 = max(t1 - _CHUNK, 0)
            for t in range(t1 - 1, t0 - 1, -1):
                dh_rec += g_t[t]
                d[t] *= dh_rec
                _gemm.matmul(w_hh_t, d[t], out=dh_rec)
            acc.add(t0, t1, d[t0:t1])
        dx, dw_ih, dw_hh, db_ih, db_hh = acc.result()
        dh0 = dh_rec.T.copy() if needs[1] else None
        grads = (dx, dh0, dw_ih, dw_hh)
        return grads + (db_ih, db_hh) if len(needs) > 4 else grads


# ---- LSTM ---------------------------------------------------------------------------------


def _blocks(order: tuple[int, ...], hidden: int) -> np.ndarray:
    """Row indices that reorder PyTorch's gate blocks (i, f, g, o = 0..3) into ``order``."""
    return np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in order])


@lru_cache(maxsize=32)
def _lstm_layout(hidden: int, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Internal gate orders and the tanh-trick scale of ``LSTMLayer``.

    Forward keeps the gates as f, i, o, g (then tanh c): the sigmoid gates are one block,
    and i, o sit next to their partners g, tanh c. Backward keeps δ as g, f, i, o (then
    p): the gates scaled by the cell gradient (g, f, i) are one block and those scaled by
    the hidden gradient (o, p) another. Returns (forward rows, backward rows, scale).
    """
    fwd, bwd = _blocks((1, 0, 3, 2), hidden), _blocks((2, 1, 0, 3), hidden)
    scale = np.full(4 * hidden, 0.5, dtype=np.dtype(dtype))
    scale[3 * hidden:] = 1  # g is a tanh gate; f, i, o use σ(z) = ½ + ½ tanh(z/2)
    for arr in (fwd, bwd, scale):
        arr.flags.writeable = False
    return fwd, bwd, scale


def _lstm_factors(act: np.ndarray, c_prev: np.ndarray, q: np.ndarray, sq: np.ndarray) -> None:
    """Fill q (k, 6H, B) for k steps from their activations act (k, 5H, B) = f, i, o, g,
    tanh(c_t) and cell states c_prev (k, H, B) = c_{t-1}: rows g: i(1 − g²), f: c_{t-1}σ'(f),
    i: g σ'(i), o: tanh(c_t) σ'(o), p: o(1 − tanh² c_t), then f. sq is scratch (k, 2H, B)."""
    H = c_prev.shape[1]
    s = act[:, :3 * H]
    dsig = q[:, H:4 * H]  # f, i, o
    np.subtract(1, s, out=dsig)
    dsig *= s  # σ' = σ (1 − σ)
    q[:, 2 * H:4 * H] *= act[:, 3 * H:]  # i·g, o·tanh(c_t)
    q[:, H:2 * H] *= c_prev
    np.multiply(act[:, 3 * H:], act[:, 3 * H:], out=sq)
    np.subtract(1, sq, out=sq)  # 1 − g², 1 − tanh² c_t
    np.multiply(act[:, H:2 * H], sq[:, :H], out=q[:, :H])
    np.multiply(act[:, 2 * H:3 * H], sq[:, H:], out=q[:, 4 * H:5 * H])
    q[:, 5 * H:] = act[:, :H]


class LSTMLayer(Function):
    """One LSTM layer over a sequence (PyTorch's equations and gate order i, f, g, o)::

        i, f, o = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·)      (three gates)
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f ⊙ c_{t-1} + i ⊙ g,    h_t = o ⊙ tanh(c_t)

    Inputs: x (T, B, I) (or (B, T, I) with ``batch_first``), h0 (B, H), c0 (B, H),
    w_ih (4H, I), w_hh (4H, H)[, b_ih (4H,), b_hh (4H,)].

    Output: one flat array of T·B·H + B·H numbers, h_1..h_T laid out like x ((T, B, H)
    or (B, T, H)) followed by c_T (B, H). ``lstm_layer`` views it as (output, h_n, c_n).

    When a gradient will be wanted, each step also computes, while its values are in
    cache, the factors ``q[t]`` that backward multiplies by the cell gradient dc_t (rows
    g: i(1 − g²), f: c_{t-1}σ'(f), i: g σ'(i)) or by the hidden gradient dh_t (rows
    o: tanh(c_t) σ'(o), p: o(1 − tanh² c_t)), and keeps f for dc_{t-1} = f ⊙ dc_t::

        δ_o = dh_t q_o,   dc_t += dh_t p,   δ_{g,f,i} = dc_t q_{g,f,i}
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray,
                w_hh: np.ndarray, b_ih: np.ndarray | None = None,
                b_hh: np.ndarray | None = None, *, batch_first: bool = False) -> np.ndarray:
        xt = _time_major(x, batch_first)
        T, B, _ = xt.shape
        H = w_hh.shape[1]
        dt = x.dtype
        rows, back_rows, scale = _lstm_layout(H, dt.str)
        col = scale[:, None]
        bias = None if b_ih is None else _bias_tile((b_ih + b_hh)[rows] * scale, B)
        w_in = w_ih[rows] * col
        w_rec = w_hh[rows] * col
        grad = _State.grad_enabled and True in self.needs_input_grad
        # q[t]: rows g, f, i, o, p (see the docstring) and the forget gate f itself
        q = np.empty((T, 6 * H, B), dt) if grad else None
        hs = np.empty((T, H, B), dt)
        # Work goes _CHUNK steps at a time so that it stays in cache: the chunk's input
        # projections are made before its steps, and the derivative factors q after them
        # (a few calls over the whole chunk instead of many per step). act[k] holds step
        # k's f, i, o, g, tanh(c_t); cs[k] holds c_{t-1} (cs[k + 1] gets c_t).
        K = min(T, _CHUNK)
        proj = np.empty((K, 4 * H, B), dt)
        act = np.empty((K, 5 * H, B), dt)
        cs = np.empty((K + 1, H, B), dt)
        cs[0] = c0.T
        rec = np.empty((4 * H, B), dt)
        ig = np.empty((H, B), dt)
        sq = np.empty((K, 2 * H, B), dt) if grad else None
        h = h0.T
        # every per-step view made once, not 64 times: slicing costs as much as a small ufunc
        step_views = [(act[k, :4 * H], act[k, :3 * H], act[k, :H], act[k, H:2 * H],
                       act[k, 2 * H:3 * H], act[k, 3 * H:4 * H], act[k, 4 * H:], proj[k],
                       cs[k], cs[k + 1]) for k in range(K)]
        h_steps = list(hs)
        # the compiled step (see chainrule.fast.recurrent) writes c, h and q[t] itself
        step = _step_kernel("lstm_step", dt) if _fast.enabled else None
        if step is not None:  # rec: a placeholder q that the kernel ignores without grad
            q_steps = list(q) if grad else [rec] * T
        # the recurrent products, h_{t-1} = h0 then hs[t - 1] (see _gemm.plans)
        rec_plans = _gemm.plans(w_rec, h[None], rec) + _gemm.plans(w_rec, hs[:T - 1], rec)
        matmul, add, multiply, tanh = _gemm.matmul, np.add, np.multiply, np.tanh
        for t0 in range(0, T, K):
            t1 = min(t0 + K, T)
            matmul(w_in, xt[t0:t1].transpose(0, 2, 1), out=proj[:t1 - t0])
            if bias is not None:
                proj += bias
            if step is not None:
                for k in range(t1 - t0):
                    rec_plans[t0 + k]()
                    h = h_steps[t0 + k]
                    step(rec, proj[k], cs[k], cs[k + 1], h, q_steps[t0 + k], grad)
                cs[0] = cs[t1 - t0]
                continue
            for k in range(t1 - t0):
                gates, sig, f, i, o, g, tanh_c, proj_k, c_prev, c = step_views[k]
                rec_plans[t0 + k]()
                add(rec, proj_k, out=gates)
                tanh(gates, out=gates)  # tanh(z/2) for f, i, o; tanh(z) for g
                sig *= 0.5
                sig += 0.5  # σ(z) = ½ + ½ tanh(z/2)
                multiply(f, c_prev, out=c)
                multiply(i, g, out=ig)
                c += ig
                tanh(c, out=tanh_c)
                h = h_steps[t0 + k]
                multiply(o, tanh_c, out=h)
            if grad:
                _lstm_factors(act[:t1 - t0], cs[:t1 - t0], q[t0:t1], sq[:t1 - t0])
            cs[0] = cs[t1 - t0]
        c_prev = cs[0]
        n = T * B * H
        out = np.empty(n + B * H, dt)
        _write_sequence(out[:n].reshape(x.shape[:2] + (H,)), hs, batch_first)
        out[n:].reshape(B, H)[...] = c_prev.T  # c_prev now holds c_T
        if grad:
            self.saved = (x, h0, w_ih[back_rows], w_hh[back_rows], batch_first, q, hs)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        x, h0, w_ih_b, w_hh_b, batch_first, q, hs = self.saved
        T, H, B = hs.shape
        n = T * B * H
        f = q[:, 5 * H:]
        g_t = _grad_sequence(g[:n].reshape(x.shape[:2] + (H,)), batch_first)
        dc = kernel_array(g[n:].reshape(B, H).T)  # gradient arriving at c_T, updated in place
        w_hh_t = np.ascontiguousarray(w_hh_b.T)
        q5 = q.reshape(T, 6, H, B)
        # δ_t (g, f, i, o) and the cell gradient via h_t of the current chunk of steps
        d = np.empty((min(T, _CHUNK), 5 * H, B), x.dtype)
        d5 = d.reshape(-1, 5, H, B)
        dh = np.empty((H, B), x.dtype)
        dh_rec = np.zeros((H, B), x.dtype)
        needs = self.needs_input_grad
        acc = _ChunkedGrads(_flags(needs, 3), x, batch_first, h0, hs, w_ih_b)
        # per-step views made once (see forward)
        d_views = [(d5[k, 3:], d5[k, 4], d5[k, :3], d[k, :4 * H]) for k in range(len(d))]
        q_views = [(q5[t, 3:5], q5[t, :3], f[t], g_t[t]) for t in range(T)]
        step = _step_kernel("lstm_back_step", x.dtype) if _fast.enabled else None
        q_steps = list(q) if step is not None else None
        back_plans = _gemm.plans(w_hh_t, d[:, :4 * H], dh_rec)  # W_hhᵀ δ_t, step by step
        add, multiply = np.add, np.multiply
        for t1 in range(T, 0, -_CHUNK):
            t0 = max(t1 - _CHUNK, 0)
            if step is not None:  # the same arithmetic in one pass (chainrule.fast)
                for t in range(t1 - 1, t0 - 1, -1):
                    step(dh_rec, g_t[t], q_steps[t], dc, d[t - t0])
                    back_plans[t - t0]()
                acc.add(t0, t1, d[:t1 - t0, :4 * H])
                continue
            for t in range(t1 - 1, t0 - 1, -1):
                d_oh, d_p, d_gfi, d_gates = d_views[t - t0]
                q_oh, q_gfi, f_t, g_step = q_views[t]
                add(dh_rec, g_step, out=dh)
                multiply(q_oh, dh, out=d_oh)  # δ_o and p·dh
                dc += d_p
                multiply(q_gfi, dc, out=d_gfi)  # δ_g, δ_f, δ_i
                dc *= f_t
                back_plans[t - t0]()
            acc.add(t0, t1, d[:t1 - t0, :4 * H])
        dx, *wgrads = acc.result()
        _, back_rows, _ = _lstm_layout(H, x.dtype.str)
        dw_ih, dw_hh, db_ih, db_hh = _unpermute(tuple(wgrads), back_rows)
        dh0 = dh_rec.T.copy() if needs[1] else None
        dc0 = dc.T.copy() if needs[2] else None
        grads = (dx, dh0, dc0, dw_ih, dw_hh)
        return grads + (db_ih, db_hh) if len(needs) > 5 else grads


# ---- GRU ----------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _gru_scale(hidden: int, dtype: str) -> np.ndarray:
    scale = np.full(3 * hidden, 0.5, dtype=np.dtype(dtype))
    scale[2 * hidden:] = 1
    scale.flags.writeable = False
    return scale


class GRULayer(Function):
    """One GRU layer over a sequence (PyTorch's equations and gate order r, z, n)::

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

    Inputs: x (T, B, I) (or (B, T, I) with ``batch_first``), h0 (B, H), w_ih (3H, I),
    w_hh (3H, H)[, b_ih (3H,), b_hh (3H,)]. Output: h_1..h_T in x's layout; the final
    state is its last step.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None, *,
                batch_first: bool = False) -> np.ndarray:
        xt = _time_major(x, batch_first)
        T, B, _ = xt.shape
        H = w_hh.shape[1]
        scale = _gru_scale(H, x.dtype.str)
        col = scale[:, None]
        bias = None
        b_hn = None
        if b_ih is not None:
            bias = b_ih * scale
            bias[:2 * H] += b_hh[:2 * H] * 0.5  # r, z see both biases outside any product
            b_hn = b_hh[2 * H:, None]
        # a[t]: (3H, B) input projections, turned in place into r, z (σ) and n (tanh)
        a = _project_inputs(xt, w_ih * col, bias)
        w_rec = w_hh * col
        hn = np.empty((T, H, B), x.dtype)  # W_hn h_{t-1} + b_hn, needed for dr
        hs = np.empty((T, H, B), x.dtype)
        rec = np.empty((3 * H, B), x.dtype)
        tmp = np.empty((H, B), x.dtype)
        h = h0.T
        step = _step_kernel("gru_step", x.dtype) if _fast.enabled else None
        if step is not None:
            h = kernel_array(h)
            b_col = np.zeros((H, 1), x.dtype) if b_hn is None else kernel_array(b_hn)
        for t in range(T):
            at = a[t]
            _gemm.matmul(w_rec, h, out=rec)
            if step is not None:  # hn, r, z, n and h_t in one pass
                step(rec, at, b_col, h, hn[t], hs[t])
                h = hs[t]
                continue
            if b_hn is None:
                hn[t] = rec[2 * H:]
            else:
                np.add(rec[2 * H:], b_hn, out=hn[t])
            rz = at[:2 * H]
            rz += rec[:2 * H]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            n = at[2 * H:]
            np.multiply(at[:H], hn[t], out=tmp)
            n += tmp
            np.tanh(n, out=n)
            np.subtract(h, n, out=tmp)
            tmp *= at[H:2 * H]
            np.add(n, tmp, out=hs[t])  # n + z (h − n)
            h = hs[t]
        out = np.empty(x.shape[:2] + (H,), x.dtype)
        self.saved = (x, h0, w_ih, w_hh, batch_first, a, hn, hs)
        return _write_sequence(out, hs, batch_first)

    def backward(self, g: np.ndarray) -> tuple:
        x, h0, w_ih, w_hh, batch_first, a, hn, hs = self.saved
        T, H, B = hs.shape
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        step = _step_kernel("gru_back_step", x.dtype) if _fast.enabled else None
        # per-step factors: dn_pre = dh·pn, dz_pre = dh·pz, dr_pre = dn_pre·pr; the
        # compiled step wants them side by side in one array (fewer arrays, fewer run-time
        # overlap checks before its loop vectorises)
        fac = np.empty((T, 3, H, B), x.dtype) if step is not None else None
        pn = np.multiply(n, n, out=None if fac is None else fac[:, 0])
        np.subtract(1, pn, out=pn)
        pn *= 1 - z
        pz = np.empty_like(z) if fac is None else fac[:, 1]
        np.subtract(h0.T, n[0], out=pz[0])
        np.subtract(hs[:-1], n[1:], out=pz[1:])
        pz *= z
        pz *= 1 - z
        pr = np.subtract(1, r, out=None if fac is None else fac[:, 2])
        pr *= r
        pr *= hn
        if step is not None:
            return self._backward_fast(step, g, fac.reshape(T, 3 * H, B))
        g_t = _grad_sequence(g, batch_first)
        w_hh_t = np.ascontiguousarray(w_hh.T)
        # δ of the current chunk of steps: of W_ih x + b_ih (dr, dz, dn) and of
        # W_hh h + b_hh (dr, dz, dn ⊙ r)
        dgx = np.empty((min(T, _CHUNK), 3 * H, B), x.dtype)
        dgh = np.empty_like(dgx)
        dh = np.empty((H, B), x.dtype)
        tmp = np.empty((H, B), x.dtype)
        dh_rec = np.zeros((H, B), x.dtype)  # what h_t receives from step t + 1
        needs = self.needs_input_grad
        acc = _ChunkedGrads(_flags(needs, 2), x, batch_first, h0, hs, w_ih)
        for t1 in range(T, 0, -_CHUNK):
            t0 = max(t1 - _CHUNK, 0)
            for t in range(t1 - 1, t0 - 1, -1):
                gx, gh = dgx[t - t0], dgh[t - t0]
                np.add(dh_rec, g_t[t], out=dh)
                dn = gx[2 * H:]
                np.multiply(dh, pn[t], out=dn)
                np.multiply(dh, pz[t], out=gh[H:2 * H])
                np.multiply(dn, pr[t], out=gh[:H])
                np.multiply(dn, r[t], out=gh[2 * H:])
                _gemm.matmul(w_hh_t, gh, out=dh_rec)
                np.multiply(dh, z[t], out=tmp)
                dh_rec += tmp
            k = t1 - t0
            dgx[:k, :2 * H] = dgh[:k, :2 * H]
            acc.add(t0, t1, dgx[:k], dgh[:k])
        dx, dw_ih, dw_hh, db_ih, db_hh = acc.result()
        dh0 = dh_rec.T.copy() if needs[1] else None
        grads = (dx, dh0, dw_ih, dw_hh)
        return grads + (db_ih, db_hh) if len(needs) > 4 else grads

    def _backward_fast(self, step: Callable[..., Any], g: np.ndarray, fac: np.ndarray
                       ) -> tuple:
        """``backward``'s reverse loop with each step's element-wise work compiled
        (``chainrule.fast.recurrent.gru_back_step``); the same arithmetic in the same
        order, so the same gradients bit for bit."""
        x, h0, w_ih, w_hh, batch_first, a, _, hs = self.saved
        T, H, B = hs.shape
        g_t = _grad_sequence(g, batch_first)
        w_hh_t = np.ascontiguousarray(w_hh.T)
        K = min(T, _CHUNK)
        dg = np.empty((K, 4 * H, B), x.dtype)  # dr, dz, dn ⊙ r (δ of W_hh h), dn
        dgx = np.empty((K, 3 * H, B), x.dtype)  # dr, dz, dn (δ of W_ih x)
        rec = np.zeros((H, B), x.dtype)  # W_hhᵀ δ_{t+1}
        carry = np.zeros((H, B), x.dtype)  # dh_{t+1} ⊙ z_{t+1}
        needs = self.needs_input_grad
        acc = _ChunkedGrads(_flags(needs, 2), x, batch_first, h0, hs, w_ih)
        for t1 in range(T, 0, -_CHUNK):
            t0 = max(t1 - _CHUNK, 0)
            for t in range(t1 - 1, t0 - 1, -1):
                dg_t = dg[t - t0]
                step(rec, carry, g_t[t], fac[t], a[t], dg_t)
                np.matmul(w_hh_t, dg_t[:3 * H], out=rec)
            k = t1 - t0
            dgx[:k, :2 * H] = dg[:k, :2 * H]
            dgx[:k, 2 * H:] = dg[:k, 3 * H:]
            acc.add(t0, t1, dgx[:k], dg[:k, :3 * H])
        dx, dw_ih, dw_hh, db_ih, db_hh = acc.result()
        rec += carry  # what h0 receives, as the NumPy loop's dh_rec
        dh0 = rec.T.copy() if needs[1] else None
        grads = (dx, dh0, dw_ih, dw_hh)
        return grads + (db_ih, db_hh) if len(needs) > 4 else grads


# ---- functional wrappers ------------------------------------------------------------------


def _check(name: str, gates: int, x: Tensor, batch_first: bool, states: list[Tensor | None],
           w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
           ) -> tuple[int, int, int]:
    """Validate shapes and dtypes of a layer call; returns (seq_len, batch, hidden)."""
    layout = "(batch, seq_len, input_size)" if batch_first else "(seq_len, batch, input_size)"
    if x._data.ndim != 3:
        raise ValueError(f"{name}: input must be {layout}, got shape {x.shape}")
    if x._data.dtype.kind != "f":
        raise ValueError(f"{name}: input must be floating point, got dtype {x.dtype}")
    T, B, n_in = _time_major(x._data, batch_first).shape
    if T == 0:
        raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
    H = w_hh._data.shape[-1]
    if w_hh._data.shape != (gates * H, H):
        raise ValueError(f"{name}: weight_hh must be ({gates}·hidden, hidden), got "
                         f"{w_hh.shape}")
    if w_ih._data.shape != (gates * H, n_in):
        raise ValueError(f"{name}: weight_ih of shape {w_ih.shape} does not fit input of "
                         f"shape {x.shape} {layout}: expected ({gates * H}, {n_in})")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{name}: pass both biases or neither")
    for b in (b_ih, b_hh):
        if b is not None and b._data.shape != (gates * H,):
            raise ValueError(f"{name}: biases must be ({gates * H},), got {b.shape}")
    for st in states:
        if st is not None and st._data.shape != (B, H):
            raise ValueError(f"{name}: initial state must be (batch, hidden) = ({B}, {H}), "
                             f"got {st.shape}")
    dt = x._data.dtype
    for t in [w_ih, w_hh, b_ih, b_hh, *states]:
        if t is not None and t._data.dtype != dt:
            raise ValueError(f"{name}: all inputs need the input's dtype {dt}, got a "
                             f"{t.dtype} tensor of shape {t.shape}")
    return T, B, H


def _zeros_state(x: Tensor, batch: int, hidden: int) -> Tensor:
    return Tensor._make(np.zeros((batch, hidden), x._data.dtype), False, None)


def _params(w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> tuple:
    return (w_ih, w_hh) if b_ih is None else (w_ih, w_hh, b_ih, b_hh)


def _last_step(y: Tensor, T: int, batch_first: bool) -> Tensor:
    return getitem(y, (slice(None), T - 1) if batch_first else T - 1)


def rnn_layer(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              nonlinearity: str = "tanh", batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Run one Elman RNN layer over a whole sequence (one graph node).

    Args:
        x: (T, B, I) input sequence, or (B, T, I) with ``batch_first``.
        h0: (B, H) initial hidden state, or None for zeros.
        w_ih, w_hh: (H, I) and (H, H) weights; b_ih, b_hh: optional (H,) biases.
        nonlinearity: ``'tanh'`` or ``'relu'``.

    Returns:
        ``(output, h_n)``: all hidden states ((T, B, H) or (B, T, H)) and the last (B, H).

    Example:
        >>> import chainrule as cr
        >>> y, h = rnn_layer(cr.ones(5, 2, 3), None, cr.ones(4, 3) * 0.1, cr.ones(4, 4) * 0.1)
        >>> y.shape, h.shape
        ((5, 2, 4), (2, 4))
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    T, B, H = _check("rnn_layer", 1, x, batch_first, [h0], w_ih, w_hh, b_ih, b_hh)
    h0 = _zeros_state(x, B, H) if h0 is None else h0
    out = RNNLayer.apply(x, h0, *_params(w_ih, w_hh, b_ih, b_hh), nonlinearity=nonlinearity,
                         batch_first=batch_first)
    return out, _last_step(out, T, batch_first)


def lstm_layer(x: Tensor, h0: Tensor | None, c0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
               b_ih: Tensor | None = None, b_hh: Tensor | None = None,
               batch_first: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM layer over a whole sequence (one graph node).

    Args:
        x: (T, B, I) input sequence, or (B, T, I) with ``batch_first``.
        h0, c0: (B, H) initial hidden and cell state, or None for zeros.
        w_ih, w_hh: (4H, I) and (4H, H) weights, gate rows in PyTorch's order i, f, g, o;
            b_ih, b_hh: optional (4H,) biases.

    Returns:
        ``(output, h_n, c_n)``: hidden states ((T, B, H) or (B, T, H)), last hidden and
        cell state (B, H).

    Example:
        >>> import chainrule as cr
        >>> y, h, c = lstm_layer(cr.ones(5, 2, 3), None, None, cr.ones(16, 3) * 0.1,
        ...                      cr.ones(16, 4) * 0.1)
        >>> y.shape, c.shape
        ((5, 2, 4), (2, 4))
    """
    T, B, H = _check("lstm_layer", 4, x, batch_first, [h0, c0], w_ih, w_hh, b_ih, b_hh)
    h0 = _zeros_state(x, B, H) if h0 is None else h0
    c0 = _zeros_state(x, B, H) if c0 is None else c0
    flat = LSTMLayer.apply(x, h0, c0, *_params(w_ih, w_hh, b_ih, b_hh),
                           batch_first=batch_first)
    n = T * B * H
    y = reshape(getitem(flat, slice(0, n)), x._data.shape[:2] + (H,))
    return y, _last_step(y, T, batch_first), reshape(getitem(flat, slice(n, None)), (B, H))


def gru_layer(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Run one GRU layer over a whole sequence (one graph node).

    Args:
        x: (T, B, I) input sequence, or (B, T, I) with ``batch_first``.
        h0: (B, H) initial hidden state, or None for zeros.
        w_ih, w_hh: (3H, I) and (3H, H) weights, gate rows in PyTorch's order r, z, n;
            b_ih, b_hh: optional (3H,) biases.

    Returns:
        ``(output, h_n)``: all hidden states ((T, B, H) or (B, T, H)) and the last (B, H).

    Example:
        >>> import chainrule as cr
        >>> y, h = gru_layer(cr.ones(5, 2, 3), None, cr.ones(12, 3) * 0.1,
        ...                  cr.ones(12, 4) * 0.1)
        >>> y.shape
        (5, 2, 4)
    """
    T, B, H = _check("gru_layer", 3, x, batch_first, [h0], w_ih, w_hh, b_ih, b_hh)
    h0 = _zeros_state(x, B, H) if h0 is None else h0
    out = GRULayer.apply(x, h0, *_params(w_ih, w_hh, b_ih, b_hh), batch_first=batch_first)
    return out, _last_step(out, T, batch_first)


__all__ = ["GRULayer", "LSTMLayer", "RNNLayer", "gru_layer", "lstm_layer", "rnn_layer"]
