"""Metrics against hand-computed values; streaming objects equal the one-shot functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.train import metrics as M


def test_accuracy_by_hand() -> None:
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert M.accuracy(pred, [1, 0, 0, 0]) == 0.75
    # one binary logit per sample: class 1 when > 0
    assert M.accuracy(np.array([[2.0], [-1.0], [0.5]]), np.array([[1.0], [0.0], [0.0]])) \
        == pytest.approx(2 / 3)
    assert M.accuracy(np.array([0.2, 0.8]), [0, 1], threshold=0.5) == 1.0


def test_top_k_by_hand() -> None:
    pred = np.array([[0.5, 0.3, 0.2],    # target 2 is third  -> miss for k=2
                     [0.1, 0.6, 0.3],    # target 2 is second -> hit
                     [0.2, 0.3, 0.5]])   # target 0 is third  -> miss
    assert M.top_k_accuracy(pred, [2, 2, 0], k=2) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(pred, [2, 2, 0], k=1) == 0.0
    assert M.top_k_accuracy(pred, [2, 2, 0], k=3) == 1.0


def test_confusion_matrix_by_hand() -> None:
    pred = np.eye(3)[[0, 1, 1, 2, 0]]
    cm = M.confusion_matrix(pred, [0, 1, 2, 2, 1])
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert cm.dtype == np.int64
    assert M.confusion_matrix(pred, [0, 1, 2, 2, 1], num_classes=4).shape == (4, 4)


def test_mae_and_r2_by_hand() -> None:
    y = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    assert M.mean_absolute_error(p, y) == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    ss_res = 0.25 + 0.25 + 0 + 1
    ss_tot = ((y - y.mean()) ** 2).sum()
    assert M.r2_score(p, y) == pytest.approx(1 - ss_res / ss_tot)
    # (N,) and (N, 1) mean the same thing
    assert M.r2_score(p[:, None], y) == pytest.approx(1 - ss_res / ss_tot)
    assert M.mean_absolute_error(p[:, None], y) == pytest.approx(0.5)


def test_r2_multi_output_is_the_mean_over_outputs() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=[0.1, 0.5], size=(50, 2))
    per = [1 - ((y[:, k] - p[:, k]) ** 2).sum() / ((y[:, k] - y[:, k].mean()) ** 2).sum()
           for k in range(2)]
    assert M.r2_score(p, y) == pytest.approx(np.mean(per))


@pytest.mark.parametrize("name", ["accuracy", "top2_accuracy", "mae", "r2", "confusion_matrix"])
def test_streaming_equals_one_shot_and_survives_state_dict(name: str) -> None:
    rng = np.random.default_rng(1)
    if name in ("mae", "r2"):
        pred, target = rng.normal(size=(97, 1)), rng.normal(size=(97, 1))
    else:
        pred, target = rng.normal(size=(97, 4)), rng.integers(0, 4, 97)
    whole = M.get_metric(name, num_classes=4)
    whole.update(pred, target)
    streamed = M.get_metric(name, num_classes=4)
    streamed.update(pred[:40], target[:40])
    resumed = M.get_metric(name, num_classes=4)
    resumed.load_state_dict(streamed.state_dict())   # what a mid-epoch checkpoint carries
    resumed.update(pred[40:], target[40:])
    np.testing.assert_allclose(resumed.compute(), whole.compute(), rtol=1e-12)
    resumed.reset()
    value = resumed.compute()
    assert (np.asarray(value) == 0).all() if name == "confusion_matrix" else math.isnan(value)


def test_functions_agree_with_objects() -> None:
    rng = np.random.default_rng(2)
    pred, target = rng.normal(size=(60, 5)), rng.integers(0, 5, 60)
    acc = M.Accuracy()
    acc.update(pred, target)
    assert acc.compute() == M.accuracy(pred, target)
    top = M.TopKAccuracy(3)
    top.update(pred, target)
    assert top.compute() == M.top_k_accuracy(pred, target, 3)
    assert top.name == "top3_accuracy"


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        M.accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="unknown metric"):
        M.get_metric("f7")
    with pytest.raises(ValueError, match="out of range"):
        M.ConfusionMatrix(2).update(np.zeros((1, 2)), [5])
    with pytest.raises(ValueError, match="shape"):
        M.mean_absolute_error(np.zeros((4, 2)), np.zeros(3))
