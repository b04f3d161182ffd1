"""RNN, LSTM and GRU: fused layer ops against central differences and PyTorch, the module
API (names, shapes, init, states, batch_first, bidirectional, dropout), truncated BPTT,
and a tiny character model that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.losses import cross_entropy
from chainrule.nn.embedding import Embedding
from chainrule.nn.linear import Linear
from chainrule.nn.module import LayerError, Module
from chainrule.nn.recurrent import GRU, LSTM, RNN
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from helpers import check_grads

# ---- helpers ------------------------------------------------------------------------------


def t64(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64, order="C"), requires_grad=grad,
                     dtype="float64")


def projection(shape: tuple, seed: int) -> np.ndarray:
    """Random weights that turn an output into a scalar loss sensitive to every entry."""
    return np.random.default_rng(seed).standard_normal(shape)


# ---- fused layer ops: central differences -----------------------------------------------

T, B, IN, H = 4, 2, 3, 3


def layer_inputs(gates: int, seed: int) -> list[cr.Tensor]:
    rng = np.random.default_rng(seed)
    return [t64(rng.standard_normal((T, B, IN))),                 # x
            t64(rng.standard_normal((B, H)) * 0.5),              # h0
            t64(rng.standard_normal((B, H)) * 0.5),              # c0 (LSTM only)
            t64(rng.standard_normal((gates * H, IN)) * 0.6),      # w_ih
            t64(rng.standard_normal((gates * H, H)) * 0.6),      # w_hh
            t64(rng.standard_normal(gates * H) * 0.3),           # b_ih
            t64(rng.standard_normal(gates * H) * 0.3)]           # b_hh


def test_lstm_layer_gradients_match_central_differences() -> None:
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_inputs(4, 0)
    ry, rh, rc = projection((T, B, H), 1), projection((B, H), 2), projection((B, H), 3)

    def loss() -> cr.Tensor:
        y, h, c = lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        return (y * ry).sum() + (h * rh).sum() + (c * rc).sum()

    check_grads(loss, [x, h0, c0, w_ih, w_hh, b_ih, b_hh])


def test_gru_layer_gradients_match_central_differences() -> None:
    x, h0, _, w_ih, w_hh, b_ih, b_hh = layer_inputs(3, 4)
    ry, rh = projection((T, B, H), 5), projection((B, H), 6)

    def loss() -> cr.Tensor:
        y, h = gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh)
        return (y * ry).sum() + (h * rh).sum()

    check_grads(loss, [x, h0, w_ih, w_hh, b_ih, b_hh])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_layer_gradients_match_central_differences(nonlinearity: str) -> None:
    x, h0, _, w_ih, w_hh, b_ih, b_hh = layer_inputs(1, 7)
    ry, rh = projection((T, B, H), 8), projection((B, H), 9)

    def loss() -> cr.Tensor:
        y, h = rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity)
        return (y * ry).sum() + (h * rh).sum()

    check_grads(loss, [x, h0, w_ih, w_hh, b_ih, b_hh])


def test_batch_first_layers_match_time_major_and_central_differences() -> None:
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_inputs(4, 15)
    xb = t64(x.numpy().transpose(1, 0, 2))
    y_tm, h_tm, c_tm = lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    y_bf, h_bf, c_bf = lstm_layer(xb, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first=True)
    assert y_bf.shape == (B, T, H)
    np.testing.assert_allclose(y_bf.numpy(), y_tm.numpy().transpose(1, 0, 2), rtol=1e-14)
    np.testing.assert_allclose(h_bf.numpy(), h_tm.numpy(), rtol=1e-14)
    np.testing.assert_allclose(c_bf.numpy(), c_tm.numpy(), rtol=1e-14)
    r = projection((B, T, H), 16)
    check_grads(lambda: (lstm_layer(xb, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first=True)[0]
                         * r).sum(), [xb, h0, w_ih, w_hh, b_ih])
    xg, h0, _, w_ih, w_hh, b_ih, b_hh = layer_inputs(3, 17)
    xb = t64(xg.numpy().transpose(1, 0, 2))
    check_grads(lambda: (gru_layer(xb, h0, w_ih, w_hh, b_ih, b_hh, batch_first=True)[0]
                         * r).sum(), [xb, h0, w_ih, w_hh, b_hh])
    xr, h0, _, w_ih, w_hh, b_ih, b_hh = layer_inputs(1, 18)
    xb = t64(xr.numpy().transpose(1, 0, 2))
    check_grads(lambda: (rnn_layer(xb, h0, w_ih, w_hh, b_ih, b_hh, batch_first=True)[1]
                         * r[:, 0]).sum(), [xb, h0, w_ih, w_hh, b_hh])


def test_forward_without_gradient_tracking_gives_the_same_values() -> None:
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_inputs(4, 19)
    y, h, c = lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    with cr.no_grad():
        y2, h2, c2 = lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    assert not y2.requires_grad
    for a, b in ((y, y2), (h, h2), (c, c2)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("layer", ["lstm", "gru", "rnn"])
def test_retain_graph_backward_twice_and_interleaved_graphs(layer: str) -> None:
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[layer]
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_inputs(gates, 20)
    x2 = t64(x.numpy()[::-1] * 0.5)
    r = projection((T, B, H), 21)

    def run(inp: cr.Tensor) -> cr.Tensor:
        if layer == "lstm":
            return (lstm_layer(inp, h0, c0, w_ih, w_hh, b_ih, b_hh)[0] * r).sum()
        fn = gru_layer if layer == "gru" else rnn_layer
        return (fn(inp, h0, w_ih, w_hh, b_ih, b_hh)[0] * r).sum()

    loss = run(x)
    loss.backward(retain_graph=True)
    once = w_hh.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(w_hh.grad, 2 * once, rtol=1e-12)

    # two graphs alive at once, then a third run reusing the released workspace
    w_hh.grad = None
    first, second = run(x), run(x2)
    second.backward()
    g_second = w_hh.grad.numpy().copy()
    w_hh.grad = None
    first.backward()
    np.testing.assert_allclose(w_hh.grad, once, rtol=1e-12)
    w_hh.grad = None
    run(x2).backward()
    np.testing.assert_allclose(w_hh.grad, g_second, rtol=1e-12)


def test_layers_without_bias_and_zero_initial_state() -> None:
    x, _, _, w_ih, w_hh, _, _ = layer_inputs(4, 10)
    r = projection((T, B, H), 11)
    check_grads(lambda: (lstm_layer(x, None, None, w_ih, w_hh)[0] * r).sum(), [x, w_ih, w_hh])
    x, _, _, w_ih, w_hh, _, _ = layer_inputs(3, 12)
    check_grads(lambda: (gru_layer(x, None, w_ih, w_hh)[0] * r).sum(), [x, w_ih, w_hh])


def test_sequence_of_length_one() -> None:
    rng = np.random.default_rng(13)
    x = t64(rng.standard_normal((1, 2, 3)))
    w_ih, w_hh = t64(rng.standard_normal((16, 3))), t64(rng.standard_normal((16, 4)))
    check_grads(lambda: lstm_layer(x, None, None, w_ih, w_hh)[2].sum(), [x, w_ih, w_hh])


def test_layer_op_rejects_bad_shapes_and_dtypes() -> None:
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = layer_inputs(4, 14)
    with pytest.raises(ValueError, match="weight_ih"):
        lstm_layer(x, h0, c0, t64(np.zeros((4 * H, IN + 1))), w_hh)
    with pytest.raises(ValueError, match="initial state"):
        lstm_layer(x, t64(np.zeros((3, H))), None, w_ih, w_hh)
    with pytest.raises(ValueError, match="dtype"):
        lstm_layer(cr.tensor(x.numpy().astype(np.float32)), None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match="empty"):
        lstm_layer(t64(np.zeros((0, B, IN))), None, None, w_ih, w_hh)


# ---- modules: API ---------------------------------------------------------------------------


def test_parameter_names_shapes_and_init_follow_pytorch() -> None:
    cr.manual_seed(0)
    lstm = LSTM(5, 7, num_layers=2, bidirectional=True)
    names = [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
             for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert list(lstm.state_dict()) == names
    assert lstm.weight_ih_l0.shape == (28, 5)
    assert lstm.weight_ih_l1.shape == (28, 14)
    assert lstm.weight_hh_l1_reverse.shape == (28, 7)
    assert lstm.bias_hh_l0.shape == (28,)
    bound = 1 / math.sqrt(7)
    for p in lstm.parameters():
        assert p.dtype == np.float32
        assert np.all(np.abs(p.numpy()) <= bound) and p.numpy().std() > bound / 3
    assert GRU(5, 7).weight_hh_l0.shape == (21, 7)
    assert RNN(5, 7, bias=False).state_dict().keys() == {"weight_ih_l0", "weight_hh_l0"}
    assert "nonlinearity='relu'" in repr(RNN(2, 3, nonlinearity="relu"))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_output_shapes_batch_first_and_unbatched(cls) -> None:
    cr.manual_seed(1)
    m = cls(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    out, state = m(cr.randn(2, 5, 3))
    h = state[0] if cls is LSTM else state
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4) and out.dtype == np.float32
    m = cls(3, 4)
    out, state = m(cr.randn(5, 3))  # unbatched (T, I)
    h = state[0] if cls is LSTM else state
    assert out.shape == (5, 4) and h.shape == (1, 4)


def test_final_states_are_the_last_outputs() -> None:
    cr.manual_seed(2)
    lstm = LSTM(3, 4, bidirectional=True)
    out, (h, c) = lstm(cr.randn(6, 2, 3))
    np.testing.assert_array_equal(h.numpy()[0], out.numpy()[-1, :, :4])  # forward: last step
    np.testing.assert_array_equal(h.numpy()[1], out.numpy()[0, :, 4:])   # reverse: first step


def test_bad_inputs_raise_clear_errors() -> None:
    lstm = LSTM(3, 4)
    with pytest.raises(LayerError, match="input_size is 3"):
        lstm(cr.randn(5, 2, 6))
    with pytest.raises(ValueError, match="initial state"):
        lstm(cr.randn(5, 2, 3), (cr.zeros(1, 3, 4), cr.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match="tuple"):
        lstm(cr.randn(5, 2, 3), cr.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.warns(UserWarning, match="num_layers=1"):
        GRU(3, 4, dropout=0.5)


def test_dropout_between_layers_only_in_training() -> None:
    cr.manual_seed(3)
    gru = GRU(3, 8, num_layers=2, dropout=0.5, generator=cr.Generator(0))
    x = cr.randn(4, 2, 3)
    a, _ = gru(x)
    b, _ = gru(x)
    assert not np.allclose(a.numpy(), b.numpy())
    gru.eval()
    c, _ = gru(x)
    d, _ = gru(x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_float64_module_keeps_dtype() -> None:
    lstm = LSTM(3, 4).double()
    out, (h, c) = lstm(cr.randn(5, 2, 3, dtype="float64"))
    assert out.dtype == h.dtype == c.dtype == np.float64


# ---- truncated backpropagation through time ---------------------------------------------


def test_truncated_bptt_by_detaching_states() -> None:
    cr.manual_seed(4)
    lstm = LSTM(3, 5).double()
    rng = np.random.default_rng(4)
    x1 = t64(rng.standard_normal((6, 2, 3)))
    x2 = t64(rng.standard_normal((6, 2, 3)))
    r = projection((6, 2, 5), 5)

    _, (h, c) = lstm(x1)
    out, _ = lstm(x2, (h.detach(), c.detach()))
    (out * r).sum().backward()
    assert x1.grad is None  # the gradient stopped at the chunk boundary
    grads = {k: p.grad.numpy().copy() for k, p in lstm.named_parameters()}

    # the same as a fresh run of chunk 2 from constant initial states
    lstm.zero_grad()
    out2, _ = lstm(x2, (t64(h.numpy(), grad=False), t64(c.numpy(), grad=False)))
    (out2 * r).sum().backward()
    for k, p in lstm.named_parameters():
        np.testing.assert_allclose(p.grad, grads[k], rtol=1e-12, atol=1e-12)

    # and without detach the gradient flows back into the first chunk
    lstm.zero_grad()
    _, (h, c) = lstm(x1)
    out, _ = lstm(x2, (h, c))
    (out * r).sum().backward()
    assert x1.grad is not None and np.abs(x1.grad).max() > 0


# ---- against PyTorch ----------------------------------------------------------------------


def _copy_to_torch(ours: Module, theirs) -> None:
    import torch

    state = {k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_tanh", "RNN_relu"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_pytorch(kind: str, num_layers: int, batch_first: bool) -> None:
    torch = pytest.importorskip("torch")
    name, _, act = kind.partition("_")
    extra = {"nonlinearity": act} if act else {}
    cr.manual_seed(5)
    ours = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[name](
        4, 5, num_layers=num_layers, batch_first=batch_first, **extra).double()
    theirs = getattr(torch.nn, name)(4, 5, num_layers=num_layers, batch_first=batch_first,
                                     **extra).double()
    _copy_to_torch(ours, theirs)
    rng = np.random.default_rng(6)
    shape = (3, 7, 4) if batch_first else (7, 3, 4)
    x = rng.standard_normal(shape)
    h0 = rng.standard_normal((num_layers, 3, 5))
    c0 = rng.standard_normal((num_layers, 3, 5))
    r_out = rng.standard_normal(shape[:2] + (5,))
    r_h = rng.standard_normal((num_layers, 3, 5))

    X, H0, C0 = t64(x), t64(h0), t64(c0)
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if name == "LSTM":
        out, (h, c) = ours(X, (H0, C0))
        tout, (th, tc) = theirs(tx, (th0, tc0))
        loss = (out * r_out).sum() + (h * r_h).sum() + (c * r_h).sum()
        tloss = ((tout * torch.tensor(r_out)).sum() + (th * torch.tensor(r_h)).sum()
                 + (tc * torch.tensor(r_h)).sum())
    else:
        out, h = ours(X, H0)
        tout, th = theirs(tx, th0)
        loss = (out * r_out).sum() + (h * r_h).sum()
        tloss = (tout * torch.tensor(r_out)).sum() + (th * torch.tensor(r_h)).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(H0.grad, th0.grad.numpy(), atol=1e-5, rtol=0)
    if name == "LSTM":
        np.testing.assert_allclose(C0.grad, tc0.grad.numpy(), atol=1e-5, rtol=0)
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(theirs, k).grad.numpy(), atol=1e-5, rtol=0,
                                   err_msg=k)


@pytest.mark.torch
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "RNN"])
def test_long_sequences_match_pytorch(cls_name: str) -> None:
    """Sequences longer than the ops' internal chunk of time steps, not a multiple of it."""
    torch = pytest.importorskip("torch")
    cr.manual_seed(12)
    ours = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[cls_name](3, 6, batch_first=True).double()
    theirs = getattr(torch.nn, cls_name)(3, 6, batch_first=True).double()
    _copy_to_torch(ours, theirs)
    x = np.random.default_rng(13).standard_normal((2, 27, 3))
    r = projection((2, 27, 6), 14)
    X, tx = t64(x), torch.tensor(x, requires_grad=True)
    out, _ = ours(X)
    tout, _ = theirs(tx)
    (out * r).sum().backward()
    (tout * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), atol=1e-10)
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(theirs, k).grad.numpy(), atol=1e-10,
                                   err_msg=k)


@pytest.mark.torch
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_bidirectional_matches_pytorch_without_initial_state(cls_name: str,
                                                             batch_first: bool) -> None:
    torch = pytest.importorskip("torch")
    cr.manual_seed(7)
    ours = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[cls_name](
        3, 4, num_layers=2, bidirectional=True, bias=False, batch_first=batch_first).double()
    theirs = getattr(torch.nn, cls_name)(3, 4, num_layers=2, bidirectional=True, bias=False,
                                         batch_first=batch_first).double()
    _copy_to_torch(ours, theirs)
    x = np.random.default_rng(8).standard_normal((5, 2, 3))
    r = projection((5, 2, 8), 9)
    X, tx = t64(x), torch.tensor(x, requires_grad=True)
    out, _ = ours(X)
    tout, _ = theirs(tx)
    (out * r).sum().backward()
    (tout * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), atol=1e-5, rtol=0)
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(theirs, k).grad.numpy(), atol=1e-5, rtol=0,
                                   err_msg=k)


@pytest.mark.torch
def test_float32_lstm_close_to_pytorch() -> None:
    torch = pytest.importorskip("torch")
    cr.manual_seed(10)
    ours = LSTM(8, 16, batch_first=True)
    theirs = torch.nn.LSTM(8, 16, batch_first=True)
    _copy_to_torch(ours, theirs)
    x = np.random.default_rng(11).standard_normal((4, 12, 8)).astype(np.float32)
    out, _ = ours(cr.tensor(x))
    tout, _ = theirs(torch.from_numpy(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=2e-6, rtol=0)


# ---- learning -----------------------------------------------------------------------------


class CharLSTM(Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.emb = Embedding(vocab, 16)
        self.lstm = LSTM(16, 32, batch_first=True)
        self.head = Linear(32, vocab)

    def forward(self, ids: np.ndarray) -> cr.Tensor:
        out, _ = self.lstm(self.emb(ids))
        return self.head(out)


def test_tiny_char_lstm_loss_falls() -> None:
    text = "hello world, hello chainrule. " * 20
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text])
    rng = np.random.default_rng(0)
    cr.manual_seed(0)
    model = CharLSTM(len(chars))
    params = list(model.parameters())
    m = [np.zeros_like(p.numpy()) for p in params]
    v = [np.zeros_like(p.numpy()) for p in params]
    losses = []
    for step in range(1, 41):
        starts = rng.integers(0, len(ids) - 17, 8)
        batch = np.stack([ids[s:s + 17] for s in starts])
        for p in params:
            p.grad = None
        logits = model(batch[:, :-1])
        loss = cross_entropy(logits.reshape(-1, len(chars)), batch[:, 1:].reshape(-1))
        loss.backward()
        for p, mp, vp in zip(params, m, v):  # Adam, written out to stay self-contained
            mp += 0.1 * (p.grad - mp)
            vp += 0.001 * (p.grad**2 - vp)
            p.data -= 0.01 * (mp / (1 - 0.9**step)) / (np.sqrt(vp / (1 - 0.999**step)) + 1e-8)
        losses.append(loss.item())
    assert loss.dtype == np.float32
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:3]), losses
