"""``RNNCell``, ``LSTMCell`` and ``GRUCell`` against central differences and PyTorch
(parameter names, a five-step loop, every gradient, batched and unbatched, float64), and
``dtype=`` honoured by the recurrent layers and cells."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from helpers import check_grads

CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
         ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
         ("GRUCell", {"bias": False})]


def _t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


def _run(cell, xs, state, lstm: bool):
    """Five steps; the loss sums the squares of every hidden state (and the last cell)."""
    total = 0
    for x in xs:
        state = cell(x, state)
        h = state[0] if lstm else state
        total = total + (h * h).sum()
    return total + state[1].sum() if lstm else total


@pytest.mark.parametrize("name,kwargs", CELLS)
def test_cell_gradients_match_central_differences(name: str, kwargs: dict) -> None:
    cr.manual_seed(0)
    cell = getattr(cr.nn, name)(3, 4, dtype="float64", **kwargs)
    lstm = name == "LSTMCell"
    rng = np.random.default_rng(1)
    x = _t64(rng.standard_normal((3, 2, 3)))
    h0 = _t64(rng.standard_normal((2, 4)) * 0.5)
    if "nonlinearity" in kwargs:  # relu kinks: keep pre-activations away from 0
        x.numpy()[...] = np.abs(x.numpy()) + 0.5
        h0.numpy()[...] = np.abs(h0.numpy()) + 0.1
        cell.weight_ih.numpy()[...] = np.abs(cell.weight_ih.numpy())
        cell.weight_hh.numpy()[...] = np.abs(cell.weight_hh.numpy()) * 0.5
    check_grads(lambda: _run(cell, [x[t] for t in range(3)], (h0, h0 * 0.3) if lstm else h0,
                             lstm), [x, h0] + list(cell.parameters()))


def test_cell_shapes_states_and_errors() -> None:
    cell = LSTMCell(3, 5)
    h, c = cell(cr.ones(2, 3))
    assert h.shape == c.shape == (2, 5) and h.dtype == np.float32
    h, c = cell(cr.ones(3), (cr.zeros(5), cr.zeros(5)))  # unbatched
    assert h.shape == c.shape == (5,)
    assert GRUCell(3, 4)(cr.ones(3)).shape == (4,)
    assert RNNCell(3, 4)(cr.ones(2, 3), cr.zeros(2, 4)).shape == (2, 4)
    names = [n for n, _ in GRUCell(3, 4).named_parameters()]
    assert names == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert GRUCell(3, 4).weight_hh.shape == (12, 4)
    assert np.abs(LSTMCell(3, 4).weight_ih.numpy()).max() <= 0.5  # U(±1/√H)
    assert [n for n, _ in RNNCell(3, 4, bias=False).named_parameters()] == [
        "weight_ih", "weight_hh"]
    with pytest.raises(ValueError, match="hidden state must have shape"):
        RNNCell(3, 4)(cr.ones(2, 3), cr.zeros(3, 4))
    with pytest.raises(ValueError, match="expected input of shape"):
        GRUCell(3, 4)(cr.ones(2, 5))
    with pytest.raises(ValueError, match="hx must be a tuple"):
        LSTMCell(3, 4)(cr.ones(2, 3), cr.zeros(2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    assert repr(RNNCell(3, 4, bias=False, nonlinearity="relu")) == (
        "RNNCell(3, 4, bias=False, nonlinearity=relu)")


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recurrent_layers_honour_dtype(layer, dtype: str) -> None:
    module = layer(3, 4, dtype=dtype)
    assert {p.dtype for p in module.parameters()} == {np.dtype(dtype)}
    cell = layer in (RNNCell, LSTMCell, GRUCell)
    x = cr.randn(*((2, 3) if cell else (5, 2, 3)), dtype=dtype, requires_grad=True)
    out = module(x)
    first = out[0] if isinstance(out, tuple) else out
    first.sum().backward()
    assert first.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", CELLS)
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name: str, kwargs: dict, batched: bool) -> None:
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)(3, 4, **kwargs).double()
    ours = getattr(cr.nn, name)(3, 4, dtype="float64", **kwargs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    lstm = name == "LSTMCell"
    rng = np.random.default_rng(2)
    shape = (5, 2, 3) if batched else (5, 3)
    x, h0 = rng.standard_normal(shape), rng.standard_normal(shape[1:-1] + (4,))
    xc, hc = _t64(x), _t64(h0)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    loss = _run(ours, [xc[t] for t in range(5)], (hc, hc * 0.5) if lstm else hc, lstm)
    ref = _run(theirs, [xt[t] for t in range(5)], (ht, ht * 0.5) if lstm else ht, lstm)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(hc.grad, ht.grad.numpy(), atol=1e-12)
    for pname, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, pname).grad, p.grad.numpy(), atol=1e-12,
                                   err_msg=pname)
    state = ours(xc[0])  # hx=None: zeros, as PyTorch
    ref = theirs(xt[0])
    np.testing.assert_allclose((state[0] if lstm else state).numpy(),
                               (ref[0] if lstm else ref).detach().numpy(), atol=1e-12)
