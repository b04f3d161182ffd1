"""The numba kernels of ``chainrule.fast`` against the NumPy path they replace.

Each kernel alone against the NumPy calls it fuses, then whole layers with the fast path
on and off: outputs, final states and every gradient. float32 results agree to 1e-6 on
values in [-1, 1] (the rational tanh is 3.6e-7 from tanh; everything else is the same
float32 arithmetic) and to float32 tolerances where errors pass through many steps and
GEMMs; float64 and the layouts the kernels do not take stay bit for bit NumPy's.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
import chainrule.functional as F  # noqa: E402
from chainrule import fast  # noqa: E402
from chainrule.nn.recurrent import GRU, LSTM, RNN  # noqa: E402
from chainrule.ops import convolution as conv_ops  # noqa: E402
from chainrule.ops.recurrent import _lstm_factors, gru_layer, lstm_layer, rnn_layer  # noqa: E402


def _both(fn):
    """fn() with the fast path off, then on; the path is left off."""
    fast.use_fast(False)
    try:
        off = fn()
        assert fast.use_fast(True)
        on = fn()
    finally:
        fast.use_fast(False)
    return off, on


def _arr(rng, *shape, scale=1.0, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---- the kernels alone ----------------------------------------------------------------------


def test_rational_tanh(fast_on):
    from chainrule.fast.recurrent import build_tanh

    tanh_into = build_tanh()
    x = np.linspace(-30, 30, 600_001, dtype=np.float32).reshape(1, -1)
    out = np.empty_like(x)
    tanh_into(x, out)
    assert np.abs(out - np.tanh(x.astype(np.float64))).max() < 4e-7
    assert np.abs(out).max() <= 1
    special = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30]], np.float32)
    got = np.empty_like(special)
    tanh_into(special, got)
    assert np.isnan(got[0, 0])  # a diverging run must still see its NaN
    np.testing.assert_allclose(got[0, 1:], [1, -1, 0, 0, 1e-30], rtol=2e-7, atol=0)


def _lstm_step_numpy(rec, proj, c_prev, grad):
    """LSTMLayer.forward's NumPy calls for one step (and _lstm_factors for its q)."""
    H = c_prev.shape[0]
    act = np.empty((1, 5 * H) + c_prev.shape[1:], np.float32)
    a = act[0]
    np.add(rec, proj, out=a[:4 * H])
    np.tanh(a[:4 * H], out=a[:4 * H])
    a[:3 * H] *= 0.5
    a[:3 * H] += 0.5
    c = a[:H] * c_prev + a[H:2 * H] * a[3 * H:4 * H]
    np.tanh(c, out=a[4 * H:])
    h = a[2 * H:3 * H] * a[4 * H:]
    q = None
    if grad:
        q = np.empty((1, 6 * H) + c_prev.shape[1:], np.float32)
        _lstm_factors(act, c_prev[None], q, np.empty((1, 2 * H) + c_prev.shape[1:],
                                                     np.float32))
    return c, h, q


@pytest.mark.parametrize("H,B", [(128, 32), (3, 1), (17, 5)])
def test_lstm_step_kernel(fast_on, H, B):
    from chainrule.fast.recurrent import build_lstm_step

    step = build_lstm_step()
    rng = np.random.default_rng(H)
    rec, proj = _arr(rng, 4 * H, B, scale=2), _arr(rng, 4 * H, B, scale=2)
    c_prev = _arr(rng, H, B)
    c_ref, h_ref, q_ref = _lstm_step_numpy(rec, proj, c_prev, True)
    c, h, q = np.empty_like(c_ref), np.empty_like(h_ref), np.empty_like(q_ref[0])
    step(rec, proj, c_prev, c, h, q, True)
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(q, q_ref[0], rtol=0, atol=1e-6 * max(1, np.abs(c_prev).max()))
    c2, h2 = np.empty_like(c), np.empty_like(h)
    step(rec, proj, c_prev, c2, h2, rec, False)  # without grad q is a placeholder
    np.testing.assert_array_equal(c2, c)
    np.testing.assert_array_equal(h2, h)


def test_lstm_back_step_kernel_is_numpy_bit_for_bit(fast_on):
    from chainrule.fast.recurrent import build_lstm_back_step

    H, B = 19, 6
    rng = np.random.default_rng(1)
    q, dh_rec, g, dc0 = _arr(rng, 6 * H, B), _arr(rng, H, B), _arr(rng, H, B), _arr(rng, H, B)
    # LSTMLayer.backward's NumPy calls for one step
    q5 = q.reshape(6, H, B)
    d_ref = np.empty((5, H, B), np.float32)
    dc_ref = dc0.copy()
    dh = dh_rec + g
    np.multiply(q5[3:5], dh, out=d_ref[3:])
    dc_ref += d_ref[4]
    np.multiply(q5[:3], dc_ref, out=d_ref[:3])
    dc_ref *= q5[5]
    d, dc = np.zeros((5 * H, B), np.float32), dc0.copy()
    build_lstm_back_step()(dh_rec, g, q, dc, d)
    np.testing.assert_array_equal(d.reshape(5, H, B)[:4], d_ref[:4])
    np.testing.assert_array_equal(dc, dc_ref)


def test_gru_step_kernel(fast_on):
    from chainrule.fast.recurrent import build_gru_step

    H, B = 33, 7
    rng = np.random.default_rng(2)
    rec, a0, h_prev, b_hn = (_arr(rng, 3 * H, B, scale=2), _arr(rng, 3 * H, B, scale=2),
                             _arr(rng, H, B), _arr(rng, H, 1))
    # GRULayer.forward's NumPy calls for one step
    a_ref = a0.copy()
    hn_ref = rec[2 * H:] + b_hn
    a_ref[:2 * H] = 0.5 + 0.5 * np.tanh(a_ref[:2 * H] + rec[:2 * H])
    a_ref[2 * H:] = np.tanh(a_ref[2 * H:] + a_ref[:H] * hn_ref)
    n = a_ref[2 * H:]
    h_ref = n + (h_prev - n) * a_ref[H:2 * H]
    a, hn, h = a0.copy(), np.empty_like(h_prev), np.empty_like(h_prev)
    build_gru_step()(rec, a, b_hn, h_prev, hn, h)
    np.testing.assert_array_equal(hn, hn_ref)
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=1e-6)


# ---- whole layers, fast on against off -------------------------------------------------------

SHAPES = [  # T, B, I, H: chunk-sized, a partial last chunk, one step, batch of one
    (8, 4, 5, 6), (13, 3, 7, 9), (1, 2, 3, 4), (19, 1, 4, 5), (64, 32, 64, 128)]


def _layer_run(kind, T, B, n_in, H, batch_first, bias, given_state, dtype=np.float32):
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    rng = np.random.default_rng(T * 1000 + H)
    dt = np.dtype(dtype).name

    def t(a, grad=True):
        return cr.tensor(a, requires_grad=grad, dtype=dt)

    x = t(_arr(rng, *((B, T, n_in) if batch_first else (T, B, n_in)), dtype=dtype))
    # PyTorch's init scale: larger recurrent weights make a long sequence chaotic, and then
    # float32 rounding alone (fast or not) decides the sign of late outputs
    k = min(0.5, H ** -0.5)
    ws = [t(_arr(rng, gates * H, n_in, scale=k, dtype=dtype)),
          t(_arr(rng, gates * H, H, scale=k, dtype=dtype))]
    if bias:
        ws += [t(_arr(rng, gates * H, scale=k, dtype=dtype)) for _ in range(2)]
    n_states = 2 if kind == "lstm" else 1
    states = [t(_arr(rng, B, H, dtype=dtype)) if given_state else None
              for _ in range(n_states)]
    if kind == "lstm":
        outs = lstm_layer(x, *states, *ws, batch_first=batch_first)
    elif kind == "gru":
        outs = gru_layer(x, *states, *ws, batch_first=batch_first)
    else:
        outs = rnn_layer(x, *states, *ws, batch_first=batch_first)
    proj = [_arr(rng, *o.shape, dtype=dtype) for o in outs]
    loss = sum((o * cr.tensor(p, dtype=dt)).sum() for o, p in zip(outs, proj))
    loss.backward()
    leaves = [x, *ws, *[s for s in states if s is not None]]
    return [o.numpy().copy() for o in outs], [leaf.grad.numpy().copy() for leaf in leaves]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_fast_matches_numpy(kind, shape, batch_first):
    bias, given = shape[0] != 1, shape[1] != 2  # vary biases and initial states too
    (outs0, grads0), (outs1, grads1) = _both(
        lambda: _layer_run(kind, *shape, batch_first, bias, given))
    for a, b in zip(outs0, outs1):  # outputs, h_n (and c_n)
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * max(1, np.abs(a).max()))
    for a, b in zip(grads0, grads1):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * max(1, np.abs(a).max()))


@pytest.mark.parametrize("kind,forward_step", [("lstm", "lstm_step"), ("gru", "gru_step")])
@pytest.mark.parametrize("batch_first", [False, True])
def test_backward_kernels_are_numpy_bit_for_bit(monkeypatch, kind, forward_step, batch_first):
    # with the forward step left to NumPy, the compiled backward step must reproduce the
    # NumPy backward exactly: same float32 operations in the same order
    from chainrule.ops import recurrent

    real = recurrent._step_kernel
    monkeypatch.setattr(recurrent, "_step_kernel",
                        lambda name, dtype: None if name == forward_step else real(name, dtype))
    used = []
    monkeypatch.setattr(fast, "kernel", lambda name, build, real_kernel=fast.kernel:
                        used.append(name) or real_kernel(name, build))
    (outs0, grads0), (outs1, grads1) = _both(
        lambda: _layer_run(kind, 19, 3, 5, 7, batch_first, True, True))
    assert used == [f"{kind}_back_step"]
    for a, b in zip(outs0 + grads0, outs1 + grads1):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_layer_float64_is_unchanged(kind):
    (outs0, grads0), (outs1, grads1) = _both(
        lambda: _layer_run(kind, 13, 3, 5, 6, True, True, True, dtype=np.float64))
    for a, b in zip(outs0 + grads0, outs1 + grads1):
        assert b.dtype == np.float64
        np.testing.assert_array_equal(a, b)


def test_relu_rnn_is_unchanged():
    def run():
        rng = np.random.default_rng(5)
        x = cr.tensor(_arr(rng, 9, 3, 4), requires_grad=True)
        w = [cr.tensor(_arr(rng, *s, scale=0.5), requires_grad=True) for s in ((6, 4), (6, 6))]
        y, _ = rnn_layer(x, None, *w, nonlinearity="relu")
        y.sum().backward()
        return y.numpy().copy(), x.grad.numpy().copy()

    (y0, g0), (y1, g1) = _both(run)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(g0, g1)


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_stacked_bidirectional_modules(cls):
    def run():
        cr.manual_seed(3)
        m = cls(5, 8, num_layers=2, bidirectional=True, batch_first=True)
        x = cr.tensor(_arr(np.random.default_rng(4), 3, 11, 5), requires_grad=True)
        out, state = m(x)
        states = list(state) if isinstance(state, tuple) else [state]
        (out.sum() + sum((s * s).sum() for s in states)).backward()
        return ([out.numpy().copy()] + [s.numpy().copy() for s in states],
                [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in m.parameters()])

    (outs0, grads0), (outs1, grads1) = _both(run)
    for a, b in zip(outs0, outs1):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6)
    for a, b in zip(grads0, grads1):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6 * max(1, np.abs(a).max()))


def test_char_model_trains_to_the_same_loss():
    from chainrule import nn, optim

    def run():
        cr.manual_seed(0)
        emb, lstm, head = nn.Embedding(20, 8), nn.LSTM(8, 16, batch_first=True), \
            nn.Linear(16, 20)
        params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
        opt = optim.Adam(params, lr=1e-2)
        tokens = np.random.default_rng(0).integers(0, 20, (8, 17))
        x, y = cr.tensor(tokens[:, :-1]), cr.tensor(tokens[:, 1:])
        losses = []
        for _ in range(30):
            opt.zero_grad()
            out, _ = lstm(emb(x))
            logits = head(out)
            loss = F.cross_entropy(logits.reshape(-1, 20), y.reshape(-1))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        return np.array(losses)

    off, on = _both(run)
    assert off[-1] < 0.8 * off[0]  # it learns
    np.testing.assert_allclose(on, off, rtol=1e-4)


# ---- direct convolution ------------------------------------------------------------------------

DIRECT = [  # (N, C, H, W), (O, kH, kW), padding, dilation: thin inputs, stride 1
    ((4, 1, 28, 28), (6, 5, 5), 2, 1),  # LeNet's first layer
    ((3, 2, 11, 9), (4, 3, 3), 0, 1),
    ((2, 1, 9, 12), (3, 3, 3), 1, 2),
    ((2, 1, 9, 9), (3, 3, 5), (1, 2), 1),
    ((1, 1, 6, 6), (2, 1, 1), 0, 1),
]


@pytest.fixture
def count_direct(monkeypatch):
    calls = []
    real = conv_ops._convolve_direct

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(conv_ops, "_convolve_direct", spy)
    return calls


def _conv_inputs(seed, x_shape, w_shape, dtype=np.float32, bias=True):
    rng = np.random.default_rng(seed)
    x = cr.tensor(_arr(rng, *x_shape, dtype=dtype), dtype=np.dtype(dtype).name)
    w = cr.tensor(_arr(rng, *w_shape, scale=0.3, dtype=dtype), dtype=np.dtype(dtype).name)
    b = cr.tensor(_arr(rng, w_shape[0], dtype=dtype), dtype=np.dtype(dtype).name) \
        if bias else None
    return x, w, b


@pytest.mark.parametrize("x_shape,w_spec,padding,dilation", DIRECT)
@pytest.mark.parametrize("bias", [True, False])
def test_direct_conv_forward(count_direct, x_shape, w_spec, padding, dilation, bias):
    x, w, b = _conv_inputs(0, x_shape, (w_spec[0], x_shape[1]) + w_spec[1:], bias=bias)

    def run():
        with cr.no_grad():
            return F.conv2d(x, w, b, padding=padding, dilation=dilation).numpy()

    off, on = _both(run)
    assert len(count_direct) == 1 and on.dtype == np.float32
    np.testing.assert_allclose(on, off, rtol=0, atol=1e-6 * max(1, np.abs(off).max()))


def test_direct_conv_with_input_gradient_and_conv1d(count_direct):
    # a frozen filter bank whose input wants a gradient: forward direct, ∂E/∂x NumPy's
    x, w, b = _conv_inputs(1, (3, 1, 10, 10), (4, 1, 3, 3))
    x.requires_grad = True

    def run():
        x.grad = None
        y = F.conv2d(x, w, b, padding=1)
        (y * y).sum().backward()
        return y.numpy().copy(), x.grad.numpy().copy()

    (y0, g0), (y1, g1) = _both(run)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-6 * np.abs(y0).max())
    np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-5 * np.abs(g0).max())
    x1 = cr.tensor(_arr(np.random.default_rng(2), 2, 2, 30))
    w1 = cr.tensor(_arr(np.random.default_rng(3), 5, 2, 4))

    def run1():
        with cr.no_grad():
            return F.conv1d(x1, w1, padding=3, dilation=2).numpy()

    off, on = _both(run1)
    np.testing.assert_allclose(on, off, rtol=0, atol=1e-6 * np.abs(off).max())
    assert len(count_direct) == 2


NOT_DIRECT = [  # each breaks one part of the rule: stays NumPy's, bit for bit
    dict(x_shape=(2, 3, 9, 9), w_shape=(4, 3, 3, 3)),  # three input channels
    dict(x_shape=(2, 1, 12, 12), w_shape=(4, 1, 3, 3), stride=2),
    dict(x_shape=(2, 2, 9, 9), w_shape=(4, 1, 3, 3), groups=2),
    dict(x_shape=(2, 1, 9, 9), w_shape=(4, 1, 3, 3), dtype=np.float64),
    dict(x_shape=(2, 1, 9, 9), w_shape=(9, 1, 5, 5)),  # O·kH·kW = 225: BLAS wins
]


@pytest.mark.parametrize("case", NOT_DIRECT)
def test_conv_outside_the_rule_is_unchanged(count_direct, case):
    case = dict(case)
    dtype = case.pop("dtype", np.float32)
    x, w, b = _conv_inputs(4, case.pop("x_shape"), case.pop("w_shape"), dtype=dtype)

    def run():
        with cr.no_grad():
            return F.conv2d(x, w, b, padding=1, **case).numpy()

    off, on = _both(run)
    assert not count_direct
    np.testing.assert_array_equal(on, off)


def test_conv_training_keeps_im2col(count_direct):
    # ∂E/∂W wants the columns: a layer whose weight needs a gradient takes im2col, so
    # training is bit for bit the NumPy path
    x, w, b = _conv_inputs(5, (4, 1, 12, 12), (3, 1, 5, 5))
    w.requires_grad = True

    def run():
        w.grad = None
        y = F.conv2d(x, w, b, padding=2)
        y.sum().backward()
        return y.numpy().copy(), w.grad.numpy().copy()

    (y0, g0), (y1, g1) = _both(run)
    assert not count_direct
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(g0, g1)


# ---- exact GELU ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,grad,transposed", [
    ((32, 64, 512), True, False),  # tiny_transformer's MLP: 32 blocks of the kernel
    ((3, 32768 + 5), True, True),  # a partial last block, a non-contiguous input
    ((7, 9), False, False),
])
def test_gelu_fast_is_numpy_bit_for_bit(shape, grad, transposed):
    rng = np.random.default_rng(6)
    a = _arr(rng, *shape, scale=4)
    a.reshape(-1)[:8] = [0.0, -0.0, 1e-30, 40, -40, np.inf, -np.inf, np.nan]
    if transposed:
        a = a.T

    def run():
        x = cr.tensor(a, requires_grad=grad)
        y = F.gelu(x)
        if not grad:
            return y.numpy().copy(), None
        y.backward(cr.tensor(np.linspace(-1, 1, a.size, dtype=np.float32).reshape(a.shape)))
        return y.numpy().copy(), x.grad.numpy().copy()

    with np.errstate(invalid="ignore"):  # ±inf · 0 in the derivative at x = ±inf
        (y0, g0), (y1, g1) = _both(run)
    assert y1.dtype == np.float32 and y1.shape == a.shape
    np.testing.assert_array_equal(y1, y0)  # NaN where NumPy has NaN
    if grad:
        np.testing.assert_array_equal(g1, g0)


@pytest.mark.parametrize("dtype,approximate", [(np.float64, "none"), (np.float32, "tanh")])
def test_gelu_outside_the_kernel_is_unchanged(dtype, approximate):
    a = _arr(np.random.default_rng(7), 5, 300, dtype=dtype)

    def run():
        x = cr.tensor(a, requires_grad=True, dtype=np.dtype(dtype).name)
        y = F.gelu(x, approximate=approximate)
        (y * y).sum().backward()
        return y.numpy().copy(), x.grad.numpy().copy()

    (y0, g0), (y1, g1) = _both(run)
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(g1, g0)


# ---- read-only inputs ------------------------------------------------------------------------


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def test_read_only_inputs_take_the_kernels(count_direct):
    # weights loaded from a file or broadcast views are read-only; the kernels' signatures
    # name writable arrays, so these are copied first rather than failing to dispatch
    rng = np.random.default_rng(8)
    x = cr.tensor(_frozen(_arr(rng, 2, 1, 7, 7)))
    w, b = cr.tensor(_frozen(_arr(rng, 3, 1, 3, 3))), cr.tensor(_frozen(_arr(rng, 3)))
    act = cr.tensor(_frozen(_arr(rng, 4, 6)))
    gx, gh = _frozen(_arr(rng, 6, 1, 3)), _frozen(_arr(rng, 1, 4))  # batch 1: h0.T is C
    gw = [cr.tensor(_frozen(_arr(rng, *s, scale=0.3))) for s in ((12, 3), (12, 4), (12,), (12,))]

    def run():
        with cr.no_grad():
            return (F.conv2d(x, w, b).numpy().copy(), F.gelu(act).numpy().copy(),
                    gru_layer(cr.tensor(gx), cr.tensor(gh), *gw)[0].numpy().copy())

    off, on = _both(run)
    assert len(count_direct) == 1
    for a, c in zip(off, on):
        np.testing.assert_allclose(c, a, rtol=0, atol=1e-6 * max(1, np.abs(a).max()))


# ---- switching -----------------------------------------------------------------------------


def test_kernels_are_cacheable(fast_on):
    # numba caches a function with closure variables anew (and recompiles it) in every
    # process: the kernels take their constants as globals or arguments instead
    import chainrule.fast.activations as fact
    import chainrule.fast.convolution as fconv
    import chainrule.fast.recurrent as frec

    builders = [fact.build_gelu_tail, fconv.build_conv2d_direct, frec.build_tanh,
                frec.build_lstm_step, frec.build_lstm_back_step, frec.build_gru_step,
                frec.build_gru_back_step]
    for build in builders:
        assert build().py_func.__code__.co_freevars == (), build.__name__


def test_plain_import_does_not_load_numba():
    code = ("import sys, chainrule, chainrule.ops.recurrent, chainrule.ops.convolution, "
            "chainrule.ops.activations; "
            "assert 'numba' not in sys.modules, 'numba was imported'")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": ":".join(sys.path), "CHAINRULE_FAST": "0"})


def test_a_kernel_that_fails_to_build_falls_back_with_one_warning(monkeypatch):
    import chainrule.fast.recurrent as frec

    def broken():
        raise RuntimeError("no compiler today")

    expected = _layer_run("lstm", 5, 2, 3, 4, False, True, True)
    monkeypatch.setattr(frec, "build_lstm_step", broken)
    monkeypatch.setattr(fast, "_warned", False)
    monkeypatch.setattr(fast, "_kernels", {})
    assert fast.use_fast(True)
    try:
        with pytest.warns(RuntimeWarning, match="lstm_step"):
            got = _layer_run("lstm", 5, 2, 3, 4, False, True, True)
        assert not fast.enabled  # switched off for the rest of the process
    finally:
        fast.use_fast(False)
    for a, b in zip(expected[0] + expected[1], got[0] + got[1]):
        np.testing.assert_array_equal(a, b)
