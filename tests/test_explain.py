"""The chain-rule explainer: every hand-computed gradient equals autograd and finite
differences, the update is Δw = −α ∂E/∂w, and the three renderings carry the story."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import Explanation, default_network, explain


def check_rows(ex: Explanation, lr: float) -> None:
    for r in ex.rows:
        assert r.chain_rule == pytest.approx(r.autograd, abs=1e-6), r.name
        assert r.chain_rule == pytest.approx(r.finite_difference, abs=1e-6), r.name
        assert abs(r.chain_rule - r.autograd) <= 1e-9 * max(1.0, abs(r.autograd)), r.name
        assert r.chain_rule == math.prod(f.value for f in r.factors)
        assert r.update == -lr * r.chain_rule
        assert r.new_value == r.value + r.update
    assert ex.max_discrepancy() < 1e-6


def test_default_network_worked_example_numbers() -> None:
    ex = explain()
    assert [r.name for r in ex.rows] == [
        "w(x1→h1)", "w(x2→h1)", "b(h1)", "w(x1→h2)", "w(x2→h2)", "b(h2)",
        "w(h1→o1)", "w(h2→o1)", "b(o1)"]
    assert [r.param for r in ex.rows][:3] == ["0.weight[0, 0]", "0.weight[0, 1]", "0.bias[0]"]
    check_rows(ex, 0.5)
    # forward: z_h1 = 0.15·0.05 + 0.20·0.10 + 0.35
    h1, h2, o1 = ex.neurons
    assert h1.z == pytest.approx(0.3775, abs=1e-15)
    assert h1.a == pytest.approx(1 / (1 + math.exp(-0.3775)), abs=1e-15)
    assert o1.z == pytest.approx(0.40 * h1.a + 0.45 * h2.a + 0.60, abs=1e-15)
    assert ex.error_before == pytest.approx((0.01 - o1.a) ** 2, abs=1e-15)
    assert ex.error_before == pytest.approx(0.549622, abs=1e-6)
    # the output weight's product, factor by factor
    row = ex.rows[6]
    assert [f.value for f in row.factors] == pytest.approx(
        [2 * (o1.a - 0.01), o1.a * (1 - o1.a), h1.a], abs=1e-15)
    # hidden weight: ∂E/∂h1 = δ_o1 · w(h1→o1)
    hidden = ex.rows[0]
    assert hidden.factors[0].value == pytest.approx(o1.delta * 0.40, abs=1e-15)
    assert hidden.factors[2].value == 0.05
    assert ex.error_after < ex.error_before


@pytest.mark.torch
def test_default_network_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    w1 = torch.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor([0.35, 0.35], dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor([[0.40, 0.45]], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([0.60], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.05, 0.10], dtype=torch.float64)
    out = torch.sigmoid(w2 @ torch.sigmoid(w1 @ x + b1) + b2)
    loss = ((torch.tensor([0.01], dtype=torch.float64) - out) ** 2).mean()
    loss.backward()
    expected = [*w1.grad[0].tolist(), b1.grad[0].item(), *w1.grad[1].tolist(),
                b1.grad[1].item(), *w2.grad[0].tolist(), b2.grad[0].item()]
    ex = explain()
    assert [r.chain_rule for r in ex.rows] == pytest.approx(expected, abs=1e-12)
    assert ex.error_before == pytest.approx(loss.item(), abs=1e-15)


def test_configurable_deeper_model_with_every_activation() -> None:
    cr.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3), nn.ReLU(),
                          nn.Linear(3, 3), nn.Identity(), nn.Linear(3, 2), nn.Sigmoid())
    model[2].bias.numpy()[...] = 0.5  # keep the ReLU units away from their kink at 0
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x, y = [0.3, -0.7, 1.2], [0.2, 0.9]
    ex = explain(model, x, y, lr=0.1)
    n_params = sum(p.numpy().size for p in model.parameters())
    assert len(ex.rows) == n_params == 4 * 3 + 4 + 3 * 4 + 3 + 3 * 3 + 3 + 2 * 3 + 2
    check_rows(ex, 0.1)
    assert [nr.name for nr in ex.neurons][:5] == ["h1_1", "h1_2", "h1_3", "h1_4", "h2_1"]
    assert ex.error_before == pytest.approx(
        float(np.mean((np.array(y) - ex.prediction) ** 2)), abs=1e-15)
    for k, v in model.state_dict().items():  # the user's model is untouched
        np.testing.assert_array_equal(v, before[k])
    assert model[0].weight.dtype == np.float32


def test_hidden_gradient_sums_over_every_downstream_path() -> None:
    model = nn.Sequential(nn.Linear(2, 2, dtype="float64"), nn.Sigmoid(),
                          nn.Linear(2, 2, dtype="float64"), nn.Sigmoid())
    model[0].weight.numpy()[...] = [[0.15, 0.20], [0.25, 0.30]]
    model[0].bias.numpy()[...] = 0.35
    model[2].weight.numpy()[...] = [[0.40, 0.45], [0.50, 0.55]]
    model[2].bias.numpy()[...] = 0.60
    ex = explain(model, [0.05, 0.10], [0.01, 0.99], lr=0.5)
    check_rows(ex, 0.5)
    h1, _, o1, o2 = ex.neurons
    assert [p[0] for p in h1.paths] == ["o1", "o2"]
    assert h1.upstream == pytest.approx(o1.delta * 0.40 + o2.delta * 0.50, abs=1e-15)
    first = ex.rows[0].factors[0]
    assert "δ_o1·w(h1→o1) + δ_o2·w(h1→o2)" in first.detail
    assert "δ_o1·w(h1→o1) + δ_o2·w(h1→o2)" in ex.text
    # n = 2 outputs: ∂E/∂o1 = 2/2 (o1 − y1)
    assert o1.upstream == pytest.approx(o1.a - 0.01, abs=1e-15)
    # Mazur's classic numbers (his error is ½Σ, ours 1/n Σ: the same for n = 2)
    assert ex.error_before == pytest.approx(0.298371109, abs=1e-9)
    w5 = next(r for r in ex.rows if r.name == "w(h1→o1)")
    assert w5.chain_rule == pytest.approx(0.082167041, abs=1e-9)
    assert w5.new_value == pytest.approx(0.35891648, abs=1e-8)


def test_bias_free_layers_and_tensor_inputs() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 1))
    ex = explain(model, cr.tensor([[0.5, -0.25]]), cr.tensor([0.3]), lr=1.0)
    assert len(ex.rows) == 6 + 3 + 1
    assert not any(r.name.startswith("b(h") for r in ex.rows)
    check_rows(ex, 1.0)


def test_renderings() -> None:
    ex = explain()
    text, md, html = ex.text, ex.markdown, ex.html
    for rendering in (text, md):
        assert "∂E/∂w(h1→o1) = ∂E/∂o1 · ∂o1/∂z_o1 · ∂z_o1/∂w(h1→o1)" in rendering
        assert "z_h1 = w(x1→h1)·x1 + w(x2→h1)·x2 + b(h1) = 0.15·0.05 + 0.2·0.1 + 0.35" \
            in rendering
        assert "0.549622" in rendering
    assert "Δw(h1→o1) = −α·∂E/∂w(h1→o1) = -0.5 × 0.164334 = -0.082167" in text
    assert "finite diff." in text and "autograd" in text
    assert "| parameter |" in md and "|---|" in md
    assert html.count("<table>") == 1 and html.count("<tr>") == 1 + len(ex.rows)
    assert "<h3>3. Backward pass</h3>" in html
    assert "went downhill" in text
    assert str(explain(format="markdown")) == md
    assert str(explain(format="html")) == html
    assert str(ex) == text
    # a whole page for files and browsers; the fragment inside it for notebooks
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in html and "<title>" in html
    fragment = ex.html_fragment
    assert fragment.startswith('<div class="chainrule-explain">') and fragment in html
    assert "<html" not in fragment and ex._repr_html_() == fragment


def test_explain_reports_overshoot_with_a_huge_learning_rate() -> None:
    ex = explain(y=[0.7], lr=200.0)  # ŷ = 0.75 is close: a huge step lands far below
    assert ex.error_after > ex.error_before
    assert "overshot" in ex.text


def test_default_network_is_float64_with_the_documented_weights() -> None:
    net = default_network()
    assert net[0].weight.dtype == np.float64
    np.testing.assert_array_equal(net[0].weight.numpy(), [[0.15, 0.20], [0.25, 0.30]])
    np.testing.assert_array_equal(net[2].weight.numpy(), [[0.40, 0.45]])


def test_unsupported_models_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="Sequential"):
        explain(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="layer '2' is BatchNorm1d"):
        explain(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.BatchNorm1d(2),
                              nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="second activation"):
        explain(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Sigmoid()))
    with pytest.raises(ValueError, match="starts with activation"):
        explain(nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="x must have 2 values"):
        explain(x=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="y must have 1 values"):
        explain(y=[1.0, 2.0])
    with pytest.raises(ValueError, match="format"):
        explain(format="latex")
    with pytest.raises(ValueError, match="learning rate"):
        explain(lr=0.0)


def test_model_written_by_chainrule_train_walks_from_standardised_values() -> None:
    # `chainrule train` wraps the layers it trains in Standardize layers and adds dropout;
    # the walk covers the trained layers, on the values they saw in training
    cr.manual_seed(0)
    core = [nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)]
    model = nn.Sequential(nn.Standardize(mean=[10.0, -1.0], std=[2.0, 0.5]), core[0],
                          core[1], nn.Dropout(0.5), core[2],
                          nn.Standardize(mean=[100.0], std=[20.0], invert=True))
    ex = explain(model, x=[12.0, -1.5], y=[110.0], lr=0.1)
    check_rows(ex, 0.1)
    np.testing.assert_allclose(ex.x, [1.0, -1.0])
    np.testing.assert_allclose(ex.y, [0.5])
    plain = explain(nn.Sequential(*core), x=[1.0, -1.0], y=[0.5], lr=0.1)
    assert [r.chain_rule for r in ex.rows] == [r.chain_rule for r in plain.rows]
    assert ex.rows[0].param == "1.weight[0, 0]"  # the layer keeps its name in the model
    assert len(ex.notes) == 3 and "dropout ('3')" in ex.notes[0]
    assert all(note in ex.text and note in ex.markdown for note in ex.notes)
