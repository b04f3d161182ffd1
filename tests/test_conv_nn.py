"""The ``Conv1d``/``Conv2d`` layers and CNNs built from the public API: initialisation,
shape errors that name the layer, BatchNorm2d on images, a residual block, and a small
CNN whose loss falls."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, nn
from chainrule.diagnostics.gradcheck import check_gradients, gradcheck
from chainrule.nn.conv import Conv1d, Conv2d
from chainrule.nn.module import LayerError
from chainrule.nn.pooling import AdaptiveAvgPool2d, MaxPool2d


def test_parameters_follow_pytorch_shapes_and_init() -> None:
    conv = Conv2d(6, 16, (5, 3), groups=2, generator=cr.Generator(0))
    assert conv.weight.shape == (16, 3, 5, 3) and conv.bias.shape == (16,)
    assert conv.weight.dtype == np.float32
    assert list(conv.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(3 * 5 * 3)  # fan_in = in_channels / groups · kH · kW
    for p in (conv.weight, conv.bias):
        assert np.all(np.abs(p.numpy()) <= bound) and np.abs(p.numpy()).max() > 0.8 * bound
    assert Conv1d(4, 8, 3, bias=False).bias is None
    assert list(Conv1d(4, 8, 3, bias=False).state_dict()) == ["weight"]
    assert Conv1d(4, 8, 3).weight.shape == (8, 4, 3)
    assert Conv2d(3, 4, 3, dtype="float64").weight.dtype == np.float64


def test_generator_makes_initialisation_reproducible() -> None:
    a = Conv2d(3, 4, 3, generator=cr.Generator(7))
    b = Conv2d(3, 4, 3, generator=cr.Generator(7))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


def test_repr_reads_like_pytorch() -> None:
    assert repr(Conv2d(1, 6, 5, padding=2)) == (
        "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))")
    assert repr(Conv1d(4, 8, 3, padding="same", dilation=2, groups=2, bias=False)) == (
        "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding='same', dilation=(2,), "
        "groups=2, bias=False)")


def test_shape_mismatch_names_the_layer_its_channels_and_the_input() -> None:
    model = nn.Sequential(Conv2d(3, 8, 3), nn.ReLU(), Conv2d(16, 4, 3))
    with pytest.raises(ValueError) as info:
        model(cr.zeros(2, 3, 10, 10))
    text = str(info.value)
    assert isinstance(info.value, LayerError)
    assert "layer '2'" in text and "Conv2d(16, 4, kernel_size=(3, 3)" in text
    assert "expected input of shape (N, 16, H, W)" in text and "(2, 8, 8, 8)" in text
    with pytest.raises(ValueError, match=r"\(N, 3, L\).*got \(2, 3, 4, 4\)"):
        Conv1d(3, 4, 3)(cr.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\).*\(4, 4\)"):
        Conv2d(3, 4, 3)(cr.zeros(4, 4))


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        Conv2d(4, 6, 3, padding_mode="mirror")  # reflect/replicate/circular: see F.pad
    with pytest.raises(ValueError, match="stride 1"):
        Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        Conv2d(0, 6, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(3, 6, (3, 3, 3))


def test_layer_gradients_against_finite_differences() -> None:
    conv = Conv2d(3, 4, 3, stride=2, padding="valid", dilation=1, generator=cr.Generator(1))
    x = cr.randn(2, 3, 7, 7)
    checks = check_gradients(conv, lambda out, _: (out * out).mean(), (x, None))
    assert [c.name for c in checks] == ["weight", "bias"] and all(c.passed for c in checks)
    conv1 = Conv1d(2, 3, 4, padding="same", generator=cr.Generator(2))
    checks = check_gradients(conv1, lambda out, _: (out * out).mean(), (cr.randn(2, 2, 9), 0))
    assert all(c.passed for c in checks)


def test_batchnorm2d_normalises_images_per_channel() -> None:
    bn = nn.BatchNorm2d(3, dtype="float64")
    x = cr.tensor(np.random.default_rng(0).normal(5.0, 3.0, (4, 3, 5, 6)), dtype="float64")
    out = bn(x).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-4)
    bn_fn = nn.BatchNorm2d(3, dtype="float64")
    bn_fn.weight.numpy()[:] = [0.5, 2.0, -1.0]
    assert gradcheck(lambda t: bn_fn(t), [cr.randn(3, 3, 4, 4, requires_grad=True)]).passed


def basic_block(channels: int) -> nn.Module:
    """conv-BN-ReLU-conv-BN plus the identity, then ReLU (ResNet's basic block)."""
    branch = nn.Sequential(
        Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        nn.ReLU(),
        Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
    return nn.Sequential(nn.Residual(branch), nn.ReLU())


def downsample_block(cin: int, cout: int) -> nn.Module:
    """The strided variant: a 1×1 strided conv + BN on the shortcut matches the shapes."""
    branch = nn.Sequential(
        Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(),
        Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
    shortcut = nn.Sequential(Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
    return nn.Sequential(nn.Residual(branch, shortcut), nn.ReLU())


def test_residual_cnn_from_the_public_api() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(
        Conv2d(3, 8, 3, padding=1), basic_block(8), downsample_block(8, 16),
        AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    x = cr.randn(4, 3, 8, 8)
    out = model(x)
    assert out.shape == (4, 5) and out.dtype == np.float32
    assert "1.0.fn.0.weight" in model.state_dict()
    assert "2.0.shortcut.0.weight" in model.state_dict()
    losses.cross_entropy(out, np.array([0, 1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad)), name
        assert np.abs(p.grad).sum() > 0, name
    # The block's gradients against finite differences (float64 copy, sampled entries).
    block = nn.Sequential(basic_block(3), downsample_block(3, 4))
    checks = check_gradients(block, lambda out, _: (out * out).mean(),
                             (cr.randn(2, 3, 6, 6), None), max_elements_per_param=20)
    assert checks and all(c.passed for c in checks)


def test_small_cnn_learns() -> None:
    """conv-relu-pool-conv-relu-pool-flatten-linear on random data: the loss falls."""
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((32, 1, 12, 12)), dtype=cr.float32)
    y = rng.integers(0, 3, 32)
    model = nn.Sequential(
        Conv2d(1, 4, 3, padding=1), nn.ReLU(), MaxPool2d(2),
        Conv2d(4, 8, 3, padding="same"), nn.ReLU(), MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 3))
    params = list(model.parameters())
    history = []
    for _ in range(60):
        for p in params:
            p.grad = None
        loss = losses.cross_entropy(model(x), y)
        loss.backward()
        for p in params:  # plain gradient descent, Δw = −α ∂E/∂w
            p.data -= 0.3 * p.grad
        history.append(loss.item())
    assert history[-1] < 0.2 * history[0]
    assert all(np.isfinite(history))
