"""Gradient clipping: norms and clipping against PyTorch; gradients replaced, never written."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import nn, optim

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def params_with_grads(dtype: str = "float64", scale: float = 1.0, seed: int = 0
                      ) -> list[nn.Parameter]:
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    for p in params:
        p.grad = (scale * rng.standard_normal(p.shape)).astype(dtype)
    return params


def all_grads(params: list[nn.Parameter]) -> np.ndarray:
    return np.concatenate([p.grad.numpy().ravel() for p in params])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_grad_norm_is_the_norm_of_all_gradients_together(norm_type: float) -> None:
    params = params_with_grads()
    expected = np.linalg.norm(all_grads(params), ord=norm_type)
    assert math.isclose(optim.grad_norm(params, norm_type), expected, rel_tol=1e-12)


def test_grad_norm_skips_missing_gradients() -> None:
    params = params_with_grads()
    params[1].grad = None
    expected = np.linalg.norm(np.concatenate([params[0].grad.numpy().ravel(),
                                              params[2].grad.numpy().ravel()]))
    assert math.isclose(optim.grad_norm(params), expected, rel_tol=1e-12)
    assert optim.grad_norm([nn.Parameter([1.0])]) == 0.0
    assert optim.grad_norm(params[0]) == pytest.approx(np.linalg.norm(params[0].grad))


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_by_hand(max_norm: float) -> None:
    params = params_with_grads()
    before = all_grads(params)
    total = np.linalg.norm(before)
    returned = optim.clip_grad_norm_(params, max_norm)
    assert isinstance(returned, float)
    assert math.isclose(returned, total, rel_tol=1e-12)
    if total > max_norm:
        np.testing.assert_allclose(all_grads(params), before * max_norm / (total + 1e-6))
        assert np.linalg.norm(all_grads(params)) <= max_norm
    else:
        np.testing.assert_array_equal(all_grads(params), before)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.3, 2.0, 1e3])
def test_clip_grad_norm_matches_torch(max_norm: float, norm_type: float) -> None:
    torch = pytest.importorskip("torch")
    params = params_with_grads()
    tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
    for p, tp in zip(params, tparams):
        tp.grad = torch.from_numpy(p.grad.numpy().copy())
    ours = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert math.isclose(ours, float(theirs), rel_tol=1e-10)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_clip_grad_norm_replaces_shared_and_read_only_gradients() -> None:
    params = params_with_grads("float32")
    shared = np.full(SHAPES[0], 5.0, dtype=np.float32)
    params[0].grad = shared
    other_holder = nn.Parameter(np.zeros(SHAPES[0]))
    other_holder.grad = shared  # e.g. a retained intermediate's .grad
    readonly = np.broadcast_to(np.float32(3.0), SHAPES[1])
    params[1].grad = readonly
    optim.clip_grad_norm_(params, 1.0)
    assert np.all(shared == 5.0) and other_holder.grad.numpy() is shared
    assert np.all(readonly == 3.0)
    assert params[0].grad.numpy() is not shared
    assert all(p.grad.dtype == np.float32 for p in params)
    assert optim.grad_norm(params) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_untouched() -> None:
    params = params_with_grads(scale=1e-3)
    before = [p.grad for p in params]
    optim.clip_grad_norm_(params, 1.0)
    assert all(p.grad is g for p, g in zip(params, before))


def test_clip_grad_norm_nonfinite() -> None:
    params = params_with_grads()
    params[2].name = "decoder.weight"
    params[2].grad.numpy()[0, 0, 0] = np.nan
    with pytest.raises(RuntimeError, match=r"non-finite gradients in parameters #2 shape "
                                           r"\(2, 2, 2\) 'decoder.weight'\. Pass"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    total = optim.clip_grad_norm_(params, 1.0)
    assert math.isnan(total)
    assert np.all(np.isnan(all_grads(params)))  # as PyTorch: scaled by a NaN factor


def test_clip_grad_norm_bad_arguments() -> None:
    params = params_with_grads()
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        optim.clip_grad_norm_(params, -1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        optim.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="expected Tensors"):
        optim.clip_grad_norm_([np.zeros(3)], 1.0)


def test_clip_grad_value_by_hand_and_replaces_arrays() -> None:
    params = params_with_grads("float32", scale=3.0)
    before = [p.grad.numpy().copy() for p in params]
    originals = [p.grad.numpy() for p in params]
    for o in originals:
        o.setflags(write=False)
    assert optim.clip_grad_value_(params, 1.5) is None
    for p, b, o in zip(params, before, originals):
        np.testing.assert_array_equal(p.grad, np.clip(b, -1.5, 1.5))
        np.testing.assert_array_equal(o, b)
        assert p.grad.dtype == np.float32
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        optim.clip_grad_value_(params, -1.0)


@pytest.mark.torch
def test_clip_grad_value_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    params = params_with_grads(scale=2.0)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
    for p, tp in zip(params, tparams):
        tp.grad = torch.from_numpy(p.grad.numpy().copy())
    optim.clip_grad_value_(params, 0.7)
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for p, tp in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
