"""GradientMonitor: each detector fires once on a model built to have its problem, stays
silent on a healthy one; the sampled figures are the right numbers."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.diagnostics import (
    GradientMonitor,
    MonitorHistory,
    plot_grad_norms,
    plot_layer_bars,
)
from chainrule.losses import cross_entropy, mse_loss


def blobs(n: int = 128, seed: int = 0) -> tuple[cr.Tensor, np.ndarray]:
    """Two Gaussian blobs in 4-D: an easy task a healthy net learns steadily."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 4)) + 1.5 * (2 * y[:, None] - 1)
    return cr.tensor(x.astype(np.float32)), y


def update_and_monitor(monitor: GradientMonitor, api: str, step: int,
                       opt: optim.SGD) -> None:
    """The optimizer step of a hand-written loop, with the monitor called either way:
    ``record`` before and ``after_step`` after the update, or one ``step`` after it."""
    if api == "two-call":
        monitor.record(step)
    opt.step()
    if api == "two-call":
        monitor.after_step(step)
    else:
        monitor.step(step)


def sgd_steps(model: nn.Module, monitor: GradientMonitor, x: cr.Tensor, y: np.ndarray,
              lr: float, steps: int, api: str = "step", start: int = 0) -> list[float]:
    opt = optim.SGD(model.parameters(), lr=lr)
    losses = []
    for step in range(start, start + steps):
        model.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        update_and_monitor(monitor, api, step, opt)
        losses.append(loss.item())
    return losses


def deep_sigmoid(depth: int = 20, width: int = 32) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(4, width), nn.Sigmoid()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.Sigmoid()]
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def small_relu() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 2))


def kinds(monitor: GradientMonitor) -> list[str]:
    return [f.kind for f in monitor.findings]


# ---- detectors ---------------------------------------------------------------------------

def test_vanishing_fires_once_on_20_layer_sigmoid_naming_the_early_layers() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = deep_sigmoid()
    monitor = GradientMonitor(model, every=2, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=20)
    assert kinds(monitor).count("vanishing") == 1
    finding = next(f for f in monitor.findings if f.kind == "vanishing")
    assert finding.layers[0] == "0" and "2" in finding.layers and "38" not in finding.layers
    assert finding.figures["ratio"] > 1e6
    assert "'0'" in finding.message and "'38'" in finding.message
    for remedy in ("ReLU", "He/Xavier", "batch normalisation", "residual"):
        assert remedy in finding.message
    # patience: fired on the third sample (steps 0, 2, 4)
    assert finding.step == 4


def test_exploding_fires_on_huge_initialisation() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(32, 32), nn.ReLU())])
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), model, nn.Linear(32, 2))
    for p in model.parameters():
        if p.ndim == 2:
            nn.init.normal_(p, 0.0, 1.0)  # ~4x He: activations and gradients grow 2.8x/layer
    monitor = GradientMonitor(model, every=1, verbose=False)
    model.zero_grad()
    cross_entropy(model(x), y).backward()
    monitor.step(0)
    assert kinds(monitor) == ["exploding"]
    finding = monitor.findings[0]
    assert "clip_grad_norm_" in finding.message and "learning rate" in finding.message
    assert "0" in finding.layers  # the input side gets the largest gradient
    assert max(v for k, v in finding.figures.items() if k.endswith("grad_norm")) > 1e3


def test_exploding_fires_on_growth_with_a_huge_learning_rate() -> None:
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((64, 4)).astype(np.float32))
    t = cr.tensor(rng.standard_normal((64, 1)).astype(np.float32))
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    # the ceiling is out of the way: only the sustained growth can fire
    monitor = GradientMonitor(model, every=1, explode_norm=math.inf, verbose=False)
    with np.errstate(all="ignore"):  # the run ends in overflow, as diverging runs do
        for step in range(12):
            model.zero_grad()
            mse_loss(model(x), t).backward()
            for p in model.parameters():
                p.data -= 1.0 * p.grad
            monitor.step(step)
    assert kinds(monitor)[:2] == ["exploding", "nonfinite"]
    finding = monitor.findings[0]
    assert finding.figures["growth"] > 100
    assert "doubled on each of the last 3 samples" in finding.message


def test_growth_detector_ignores_minibatch_spikes() -> None:
    model = small_relu()
    monitor = GradientMonitor(model, every=1, verbose=False)
    # a converged net: tiny gradients with occasional 200x spikes from one hard batch
    totals = [0.005, 0.004, 1.2, 0.006, 0.003, 0.9, 1.1, 0.004, 0.005, 0.006, 1.5, 0.004]
    for step, total in enumerate(totals):
        for p in model.parameters():
            p.grad = np.full(p.shape, total / math.sqrt(model.num_parameters()), np.float32)
        monitor.step(step)
    assert "exploding" not in kinds(monitor)  # no update here: only "stalled" may fire


def test_nonfinite_fires_on_an_injected_nan_naming_the_layer() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    monitor = GradientMonitor(model, every=1, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=3)
    assert monitor.findings == []
    model[2].weight.numpy()[0, 0] = np.nan
    sgd_steps(model, monitor, x, y, lr=0.1, steps=5, start=3)
    assert kinds(monitor).count("nonfinite") == 1
    finding = next(f for f in monitor.findings if f.kind == "nonfinite")
    assert finding.step == 3 and "2" in finding.layers
    assert finding.figures["2.nonfinite_weight"] >= 1
    assert "detect_anomaly()" in finding.message and "learning rate" in finding.message


def test_nonfinite_loss_reported_through_on_batch_end() -> None:
    model = small_relu()
    monitor = GradientMonitor(model, every=1, verbose=False)
    monitor.on_batch_end(None, 0, {"loss": float("nan"), "batch": 0, "size": 4})
    assert kinds(monitor) == ["nonfinite"]
    assert "the loss is nan" in monitor.findings[0].message


def test_dead_relu_fires_on_a_layer_with_very_negative_bias() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    model[2].bias.numpy()[...] = -100.0  # every unit of ReLU '3' is off for every input
    monitor = GradientMonitor(model, every=1, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=4)
    assert "dead_relu" in kinds(monitor)
    finding = next(f for f in monitor.findings if f.kind == "dead_relu")
    assert finding.layers == ["3"]
    assert finding.figures["3.dead_fraction"] == 1.0
    assert "after layer '2'" in finding.message and "LeakyReLU" in finding.message
    assert monitor.history.dead_fraction["1"][-1] < 0.5


def test_stalled_fires_on_a_tiny_learning_rate() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    monitor = GradientMonitor(model, every=1, verbose=False)
    sgd_steps(model, monitor, x, y, lr=1e-9, steps=6)
    assert kinds(monitor) == ["stalled"]
    finding = monitor.findings[0]
    assert set(finding.layers) == {"0", "2", "4"}
    assert all(v < 1e-5 for v in finding.figures.values())
    assert "raise the learning rate" in finding.message


def test_healthy_relu_mlp_trained_normally_raises_nothing() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    monitor = GradientMonitor(model, every=5, verbose=False)
    losses = sgd_steps(model, monitor, x, y, lr=0.1, steps=200)
    assert losses[-1] < 0.5 * losses[0]
    assert monitor.findings == []
    assert "No problems detected." in monitor.summary()
    ratios = np.concatenate([monitor.history.update_ratio[n][1:] for n in ("0", "2", "4")])
    assert np.all((ratios > 1e-5) & (ratios < 1e-1))


# ---- the numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("api", ["step", "two-call"])
def test_sampled_figures_match_a_direct_computation(api: str) -> None:
    cr.manual_seed(0)
    x, y = blobs(32)
    model = small_relu()
    monitor = GradientMonitor(model, every=3, verbose=False)
    lr = 0.05
    expected = {}
    opt = optim.SGD(model.parameters(), lr=lr)
    for step in range(7):
        model.zero_grad()
        cross_entropy(model(x), y).backward()
        if step % 3 == 0:
            w, b = model[2].weight, model[2].bias
            g = math.sqrt(float((w.grad.astype(np.float64) ** 2).sum()
                                + (b.grad.astype(np.float64) ** 2).sum()))
            before = math.sqrt(float((w.numpy().astype(np.float64) ** 2).sum()
                                     + (b.numpy().astype(np.float64) ** 2).sum()))
            expected[step] = (g, lr * g / before)
        update_and_monitor(monitor, api, step, opt)
    history = monitor.history
    assert isinstance(history, MonitorHistory)
    assert history.steps.tolist() == [0, 3, 6]
    assert history.layers == ["0", "2", "4"]
    assert history.activations == ["1", "3"]
    for i, step in enumerate(history.steps):
        g, ratio = expected[int(step)]
        assert history.grad_norm["2"][i] == pytest.approx(g, rel=1e-5)
        if api == "step" and step == 0:
            assert math.isnan(history.update_ratio["2"][i])  # no weights before step 0
        else:
            assert history.update_ratio["2"][i] == pytest.approx(ratio, rel=1e-4)
    assert np.all(history.nonfinite["0"] == 0)
    assert np.all(np.isfinite(history.act_std["3"]))


def test_activation_statistics_and_dead_fraction_are_exact() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    model[0].weight.numpy()[...] = np.eye(4, 3, dtype=np.float32)
    model[0].bias.numpy()[...] = [0.0, 0.0, 0.0, -1.0]  # unit 3 is always 0 here
    x = cr.tensor([[1.0, -1.0, 0.5], [2.0, -3.0, -0.5]])
    monitor = GradientMonitor(model, every=1, verbose=False)
    model.zero_grad()
    mse_loss(model(x), cr.zeros(2, 1)).backward()
    monitor.step(0)
    h = np.maximum(x.numpy() @ np.eye(4, 3).T + [0, 0, 0, -1], 0)
    assert monitor.history.act_mean["1"][0] == pytest.approx(h.mean())
    assert monitor.history.act_std["1"][0] == pytest.approx(h.std())
    assert monitor.history.dead_fraction["1"][0] == pytest.approx(0.5)  # units 1 and 3


def test_hooks_record_only_on_sampled_steps_and_detach_removes_them() -> None:
    x, y = blobs(16)
    model = small_relu()
    monitor = GradientMonitor(model, every=4, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=2)  # steps 0 (sampled) and 1
    model(x)
    assert monitor._act_values == {}  # step 2 is not sampled: the hook did nothing
    sgd_steps(model, monitor, x, y, lr=0.1, steps=2, start=2)  # arms for step 4
    model(x)
    assert set(monitor._act_values) == {"1", "3"}
    monitor.detach()
    assert all(not m._forward_hooks for m in model.modules())


def test_each_finding_fires_once_and_summary_names_it() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = deep_sigmoid(12)
    monitor = GradientMonitor(model, every=1, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=30)
    counts = {k: kinds(monitor).count(k) for k in set(kinds(monitor))}
    assert counts and all(c == 1 for c in counts.values())
    text = monitor.summary()
    assert "vanishing" in text and "grad norm" in text and "Sigmoid" in text


def test_verbose_prints_and_on_finding_is_called(capsys: pytest.CaptureFixture) -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    seen = []
    monitor = GradientMonitor(model, every=1, on_finding=seen.append)
    sgd_steps(model, monitor, x, y, lr=1e-9, steps=4)
    assert [f.kind for f in seen] == ["stalled"]
    # one-call API: step 0 has no Δw (no weights copied before it), so samples 1-3 stall
    assert "[GradientMonitor] step 3: Learning has stalled" in capsys.readouterr().out


def test_state_dict_round_trips_through_json() -> None:
    cr.manual_seed(0)
    x, y = blobs()
    model = small_relu()
    monitor = GradientMonitor(model, every=1, verbose=False)
    sgd_steps(model, monitor, x, y, lr=1e-9, steps=4)
    state = json.loads(json.dumps(monitor.state_dict(), allow_nan=False))
    again = GradientMonitor(small_relu(), every=1, verbose=False)
    again.load_state_dict(state)
    assert kinds(again) == ["stalled"]
    a, b = monitor.history, again.history
    np.testing.assert_allclose(b.grad_norm["2"], a.grad_norm["2"])
    np.testing.assert_array_equal(np.isnan(b.update_ratio["0"]), np.isnan(a.update_ratio["0"]))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="every"):
        GradientMonitor(small_relu(), every=0)
    with pytest.raises(ValueError, match="dead_fraction"):
        GradientMonitor(small_relu(), dead_fraction=1.5)
    with pytest.raises(ValueError, match="no model"):
        GradientMonitor().step()


# ---- as a Trainer callback ---------------------------------------------------------------

def test_as_trainer_callback_sees_vanishing_with_global_steps() -> None:
    trainer_module = pytest.importorskip("chainrule.train.trainer")
    optim = pytest.importorskip("chainrule.optim")
    cr.manual_seed(0)
    x, y = blobs(64)
    model = deep_sigmoid()
    monitor = GradientMonitor(every=3, verbose=False)  # the model comes from the trainer
    trainer = trainer_module.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                            callbacks=[monitor])
    trainer.fit((x.numpy(), y), epochs=3, batch_size=16)  # 4 steps per epoch
    assert monitor.history.steps.tolist() == [0, 3, 6, 9]
    assert "vanishing" in kinds(monitor)
    assert np.all(np.isfinite(monitor.history.update_ratio["38"]))
    assert all(not m._forward_hooks for m in model.modules())  # detached at train end


# ---- plots -------------------------------------------------------------------------------

def test_plots_are_saved_as_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    cr.manual_seed(0)
    x, y = blobs()
    model = deep_sigmoid(6)
    monitor = GradientMonitor(model, every=2, verbose=False)
    sgd_steps(model, monitor, x, y, lr=0.1, steps=10)
    lines = tmp_path / "norms.png"
    bars = tmp_path / "sub" / "bars.png"
    fig = plot_grad_norms(monitor, lines)
    plot_layer_bars(monitor.history, step=5, path=bars, metric="update_ratio")
    for path in (lines, bars):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="metric"):
        plot_grad_norms(monitor, metric="loss")


def test_plot_without_matplotlib_gives_the_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monitor = GradientMonitor(small_relu(), verbose=False)
    with pytest.raises(ImportError, match=r"pip install chainrule\[plot\]"):
        plot_grad_norms(monitor)
