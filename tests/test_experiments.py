"""The experiments in examples/experiments, in quick mode, show what they claim."""

from __future__ import annotations

import math

import pytest

from helpers import load_example


@pytest.fixture(scope="module")
def vanishing() -> dict:
    return load_example("experiments/vanishing").run(quick=True)


@pytest.fixture(scope="module")
def exploding() -> dict:
    return load_example("experiments/exploding").run(quick=True)


def test_vanishing_cures_raise_the_first_layer_gradient(vanishing: dict) -> None:
    base = vanishing["sigmoid"]
    assert base["first_grad_norm"] / base["last_grad_norm"] < 1e-6
    for cure in ("relu_he", "batchnorm", "residual"):
        assert vanishing[cure]["first_grad_norm"] >= 10 * base["first_grad_norm"], cure
        assert vanishing[cure]["first_grad_norm"] / vanishing[cure]["last_grad_norm"] > 1e-3
    assert "vanishing" in base["findings"]
    assert "sigmoid (baseline)" in vanishing["table"]


def test_exploding_unclipped_diverges_and_clipping_tames_it(exploding: dict) -> None:
    wild, clipped, he = exploding["large_init"], exploding["large_init_clipped"], \
        exploding["he_init"]
    assert wild["initial_grad_norm"] > 1e4
    assert wild["diverged_at"] is not None
    assert wild["findings"][0] == "exploding"
    assert clipped["diverged_at"] is None and math.isfinite(clipped["final_loss"])
    assert clipped["final_loss"] < clipped["initial_loss"] / 100
    assert exploding["large_init_low_lr"]["diverged_at"] is None
    assert he["initial_grad_norm"] < wild["initial_grad_norm"] / 100
    assert he["final_loss"] < clipped["final_loss"]


def test_learning_rate_too_low_is_slow_and_too_high_diverges() -> None:
    results = load_example("experiments/learning_rate").run(quick=True)
    assert results[1e-4]["verdict"] == "too low: barely moved"
    assert results[100.0]["verdict"] == "diverged"
    assert not math.isfinite(results[100.0]["final_loss"]) or \
        results[100.0]["final_loss"] > results[100.0]["initial_loss"]
    assert results[1e-4]["final_loss"] > results[1e-2]["final_loss"] > results[1.0]["final_loss"]
    assert results[1.0]["verdict"] == "learns"
    assert "diverged" in results["table"]


def test_overfitting_gap_shrinks_with_each_cure() -> None:
    results = load_example("experiments/overfitting").run(quick=True)
    plain = results["plain"]
    assert plain["train_loss"] < 0.1 and plain["gap"] > 0.2
    for cure in ("dropout", "weight_decay", "early_stopping"):
        assert results[cure]["gap"] < plain["gap"], cure
        assert results[cure]["val_loss"] < plain["val_loss"], cure
    stop = results["early_stopping"]
    assert stop["epochs_run"] < 150 and stop["best_epoch"] < stop["epochs_run"]


def test_experiment_saves_its_plot(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    out = load_example("experiments/learning_rate").run(quick=True, out_dir=str(tmp_path))
    with open(out["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
