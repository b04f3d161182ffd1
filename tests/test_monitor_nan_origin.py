"""find_nan_origin: the first op that produced NaN/Inf, forward or backward, without side
effects on the gradients."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import AnomalyError, detect_anomaly, find_nan_origin
from chainrule.losses import mse_loss


def test_reexports_are_the_autograd_ones() -> None:
    assert detect_anomaly is cr.detect_anomaly and AnomalyError is cr.AnomalyError


def test_forward_nan_names_the_op_and_the_layer() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = cr.tensor([[1.0, 2.0], [3.0, np.nan]])
    err = find_nan_origin(lambda: mse_loss(model(x), cr.zeros(2, 1)))
    assert isinstance(err, AnomalyError)
    assert "forward" in str(err) and "op Linear" in str(err) and "in layer '0' (Linear(" in str(err)


def test_backward_nan_is_found_and_gradients_are_left_alone() -> None:
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    x.grad = np.array([7.0, 7.0], dtype=np.float32)
    err = find_nan_origin(lambda: x.sqrt().sum())
    assert "backward" in str(err) and "Sqrt" in str(err)
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])


def test_finite_computation_returns_none() -> None:
    x = cr.tensor([1.0, 4.0], requires_grad=True)
    assert find_nan_origin(lambda: (x * x).sum()) is None
    assert x.grad is None
    assert find_nan_origin(lambda t: t.sqrt(), x, backward=False) is None
