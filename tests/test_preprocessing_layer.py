"""``nn.Standardize``: the preprocessing layer a trained model carries (issue 11, item 2)."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import io, nn
from chainrule.models import build_model, with_preprocessing
from helpers import check_grads


def _stats(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * 10, rng.uniform(0.5, 3.0, shape)


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("shape", [(3,), (2, 2, 3)])
def test_forward_values_and_float64_gradient(invert: bool, shape: tuple[int, ...]) -> None:
    mean, std = _stats(shape)
    layer = nn.Standardize(shape, mean=mean, std=std, invert=invert, dtype="float64")
    x = cr.tensor(np.random.default_rng(1).normal(size=(4, *shape)) * 5, requires_grad=True,
                  dtype="float64")
    out = layer(x)
    expected = x.numpy() * std + mean if invert else (x.numpy() - mean) / std
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15, atol=1e-13)
    w = cr.tensor(np.random.default_rng(2).normal(size=(4, *shape)), dtype="float64")
    check_grads(lambda: (layer(x) * w).sum(), [x])


def test_float32_by_default_buffers_and_round_trip(tmp_path: os.PathLike) -> None:
    mean, std = _stats((4,))
    layer = nn.Standardize(mean=mean, std=std)
    assert layer.shape == (4,) and layer.mean.dtype == np.float32
    assert list(layer.state_dict()) == ["mean", "std"] and not list(layer.parameters())
    out = layer(cr.ones(2, 4))
    assert out.dtype == np.float32
    model = with_preprocessing(build_model("mlp:8", (4,), 2), layer,
                               nn.Standardize(2, mean=[1.0, 2.0], std=[3.0, 4.0], invert=True))
    assert list(model.state_dict()) == ["input.mean", "input.std", "0.weight", "0.bias",
                                        "2.weight", "2.bias", "output.mean", "output.std"]
    path = os.path.join(tmp_path, "m.safetensors")
    io.save(model, path)
    loaded = io.load(path)
    x = cr.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    np.testing.assert_array_equal(loaded(x).numpy(), model.eval()(x).numpy())
    assert isinstance(loaded.input, nn.Standardize) and loaded.output.invert


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="std must be > 0"):
        nn.Standardize(mean=[0.0], std=[0.0])
    with pytest.raises(ValueError, match="shape"):
        nn.Standardize()
    with pytest.raises(ValueError, match=r"mean has shape \(2,\), expected \(3,\)"):
        nn.Standardize(3, mean=[1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        nn.Standardize(mean=[np.nan], std=[1.0])
    with pytest.raises(ValueError, match=r"expects inputs of shape \(N, 3\)"):
        nn.Standardize(3)(cr.ones(2, 4))


def test_named_sequential_keeps_body_keys() -> None:
    body = build_model("linear", (2,), 1)
    wrapped = with_preprocessing(body, nn.Standardize(2))
    assert isinstance(wrapped, nn.Sequential)
    assert list(wrapped._modules) == ["input", "0"]
    assert list(with_preprocessing(body)._modules) == ["0"]
    assert nn.Sequential(OrderedDict(wrapped._modules))(cr.ones(3, 2)).shape == (3, 1)


@pytest.mark.torch
@pytest.mark.parametrize("invert", [False, True])
def test_forward_and_gradient_match_torch(invert: bool) -> None:
    torch = pytest.importorskip("torch")
    mean, std = _stats((1, 3, 3))
    x_np = np.random.default_rng(3).normal(size=(5, 1, 3, 3)) * 4
    g = np.random.default_rng(4).normal(size=x_np.shape)
    layer = nn.Standardize(mean=mean, std=std, invert=invert, dtype="float64")
    x = cr.tensor(x_np, requires_grad=True, dtype="float64")
    out = layer(x)
    out.backward(g)
    xt = torch.tensor(x_np, requires_grad=True)
    m, s = torch.tensor(mean), torch.tensor(std)
    ref = xt * s + m if invert else (xt - m) / s
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
