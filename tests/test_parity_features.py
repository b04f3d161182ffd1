"""What PyTorch's keywords brought in: ``F.pad`` modes, ``Conv*d(padding_mode=...)``,
``scaled_dot_product_attention(enable_gqa=True)``, ``BatchNorm*d(bias=False)`` and
``randint_like``. Gradients against central differences (no torch needed), then values
and gradients against PyTorch in float64."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.io.architecture import from_spec, to_spec
from helpers import check_grads

F = cr.nn.functional
MODES = ("constant", "reflect", "replicate", "circular")
# (input shape, pad): PyTorch's flat pads, last dimension first
PADS = [((2, 3, 5), (1, 2)), ((2, 3, 4, 5), (2, 1, 0, 3)), ((1, 2, 3, 4, 3), (1, 1, 2, 0, 1, 2))]


def rnd(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---- gradients, without torch ---------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", PADS)
def test_pad_gradcheck(mode: str, shape: tuple, pad: tuple) -> None:
    x = cr.tensor(rnd(*shape), requires_grad=True)
    w = cr.tensor(rnd(*F.pad(x, pad, mode=mode).shape, seed=1))
    check_grads(lambda: (F.pad(x, pad, mode=mode) * w).sum(), [x])


def test_pad_crop_and_numpy_style() -> None:
    x = cr.tensor(rnd(3, 4), requires_grad=True)
    w = cr.tensor(rnd(4, 5, seed=1))
    check_grads(lambda: (F.pad(x, (-1, 2, 2, -1), value=0.5) * w).sum(), [x])
    cropped = F.pad(x, (-1, 2, 2, -1), value=0.5)
    np.testing.assert_array_equal(cropped.numpy()[2:, :3], x.numpy()[:2, 1:])
    assert np.all(cropped.numpy()[:2] == 0.5) and np.all(cropped.numpy()[:, 3:] == 0.5)
    # chainrule's older NumPy style, one (before, after) pair per axis, value third
    old = cr.pad(x, ((1, 0), (0, 2)), 0.5)
    np.testing.assert_array_equal(old.numpy(), np.pad(x.numpy(), ((1, 0), (0, 2)),
                                                   constant_values=0.5))
    assert old.dtype == np.float64


def test_pad_errors_name_the_problem() -> None:
    x = cr.ones(2, 3)
    with pytest.raises(ValueError, match="must be less than the size 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="does not take a value"):
        F.pad(x, (1, 1), mode="replicate", value=2.0)
    with pytest.raises(TypeError, match="sequence"):
        F.pad(x, 1)
    assert F.pad(cr.ones(2, 3, dtype=cr.float32), (1, 1), mode="circular").dtype == np.float32


@pytest.mark.parametrize("mode", ("reflect", "replicate", "circular"))
@pytest.mark.parametrize("padding", (1, "same", (2, 0)))
def test_conv_padding_mode_gradcheck(mode: str, padding) -> None:
    conv = cr.nn.Conv2d(2, 3, (3, 2), padding=padding, padding_mode=mode, dtype=cr.float64,
                        generator=cr.Generator(0))
    x = cr.tensor(rnd(2, 2, 5, 4), requires_grad=True)
    w = cr.tensor(rnd(*conv(x).shape, seed=1))
    check_grads(lambda: (conv(x) * w).sum(), [x, conv.weight, conv.bias])


def test_conv_padding_mode_checks_and_spec() -> None:
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        cr.nn.Conv1d(2, 3, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="only padding_mode='zeros'"):
        cr.nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect")
    conv = cr.nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular")
    assert "padding_mode='circular'" in repr(conv)
    rebuilt = from_spec(json.loads(json.dumps(to_spec(conv))))
    assert rebuilt.padding_mode == "circular"
    rebuilt.load_state_dict(conv.state_dict())
    x = cr.randn(2, 2, 6)
    np.testing.assert_array_equal(rebuilt(x).numpy(), conv(x).numpy())
    assert "padding_mode" not in to_spec(cr.nn.Conv1d(2, 3, 3))["model"]["kwargs"]


def test_gqa_gradcheck() -> None:
    q = cr.tensor(rnd(2, 4, 3, 5), requires_grad=True)
    k = cr.tensor(rnd(2, 2, 4, 5, seed=1), requires_grad=True)
    v = cr.tensor(rnd(2, 2, 4, 3, seed=2), requires_grad=True)
    w = cr.tensor(rnd(2, 4, 3, 3, seed=3))

    def loss() -> cr.Tensor:
        return (F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                * w).sum()

    check_grads(loss, [q, k, v])
    # each key/value head serves two consecutive query heads, as repeat_interleave does
    shared = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    repeated = F.scaled_dot_product_attention(
        q, cr.tensor(np.repeat(k.numpy(), 2, axis=1)), cr.tensor(np.repeat(v.numpy(), 2, axis=1)))
    np.testing.assert_allclose(shared.numpy(), repeated.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="3 query, 2 key"):
        F.scaled_dot_product_attention(cr.ones(1, 3, 2, 5, dtype=cr.float64), k[:1], v[:1],
                                       enable_gqa=True)


def test_batch_norm_without_bias() -> None:
    bn = cr.nn.BatchNorm2d(3, bias=False, dtype=cr.float64)
    assert bn.bias is None and list(bn.state_dict())[:2] == ["weight", "running_mean"]
    x = cr.tensor(rnd(4, 3, 2, 2), requires_grad=True)
    w = cr.tensor(rnd(4, 3, 2, 2, seed=1))
    check_grads(lambda: (bn(x) * w).sum(), [x, bn.weight])
    spec = to_spec(bn)
    assert spec["model"]["kwargs"]["bias"] is False
    assert from_spec(json.loads(json.dumps(spec))).bias is None
    assert "bias" not in to_spec(cr.nn.BatchNorm2d(3))["model"]["kwargs"]


# ---- against PyTorch, float64 ---------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def _compare(ours: cr.Tensor, theirs, inputs: list[tuple[cr.Tensor, object]]) -> None:
    torch = _torch()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rnd(*ours.shape, seed=9)
    ours.backward(cr.tensor(g))
    theirs.backward(torch.tensor(g))
    for mine, ref in inputs:
        np.testing.assert_allclose(np.asarray(mine.grad), ref.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", PADS)
def test_pad_vs_torch(mode: str, shape: tuple, pad: tuple) -> None:
    torch = _torch()
    a = rnd(*shape)
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    _compare(F.pad(x, pad, mode=mode), torch.nn.functional.pad(t, pad, mode=mode), [(x, t)])
    if mode == "constant":
        neg = (-1,) + pad[1:]
        y, u = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        _compare(F.pad(y, neg, value=2.0), torch.nn.functional.pad(u, neg, value=2.0),
                 [(y, u)])


@pytest.mark.torch
@pytest.mark.parametrize("mode", ("reflect", "replicate", "circular"))
@pytest.mark.parametrize("nd,padding", [(1, 2), (1, "same"), (2, (1, 2)), (2, "same")])
def test_conv_padding_mode_vs_torch(mode: str, nd: int, padding) -> None:
    torch = _torch()
    kernel = (3,) if nd == 1 else (3, 2)
    theirs = getattr(torch.nn, f"Conv{nd}d")(2, 4, kernel, padding=padding, dilation=2,
                                             padding_mode=mode, dtype=torch.float64)
    ours = getattr(cr.nn, f"Conv{nd}d")(2, 4, kernel, padding=padding, dilation=2,
                                        padding_mode=mode, dtype=cr.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    a = rnd(*((3, 2) + (7,) * nd))
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    _compare(ours(x), theirs(t), [(x, t), (ours.weight, theirs.weight),
                                  (ours.bias, theirs.bias)])


@pytest.mark.torch
@pytest.mark.parametrize("causal", (False, True))
def test_gqa_vs_torch(causal: bool) -> None:
    torch = _torch()
    arrays = rnd(2, 6, 5, 4), rnd(2, 2, 5, 4, seed=1), rnd(2, 2, 5, 3, seed=2)
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    _compare(F.scaled_dot_product_attention(*ours, is_causal=causal, enable_gqa=True),
             torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=causal,
                                                              enable_gqa=True),
             list(zip(ours, theirs)))


@pytest.mark.torch
def test_batch_norm_without_bias_vs_torch() -> None:
    torch = _torch()
    theirs = torch.nn.BatchNorm1d(3, bias=False, dtype=torch.float64)
    ours = cr.nn.BatchNorm1d(3, bias=False, dtype=cr.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    a = rnd(5, 3, 4)
    x, t = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    _compare(ours(x), theirs(t), [(x, t), (ours.weight, theirs.weight)])
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_randint_like_matches_torch_contract() -> None:
    torch = _torch()
    for low, high in ((5, None), (2, 6)):
        args = (low,) if high is None else (low, high)
        ours = cr.randint_like(cr.zeros(50, 4, dtype=cr.int32), *args)
        theirs = torch.randint_like(torch.zeros(50, 4, dtype=torch.int32), *args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int32
        lo, hi = (0, low) if high is None else (low, high)
        assert ours.numpy().min() >= lo and ours.numpy().max() < hi
        assert set(np.unique(ours.numpy())) == set(range(lo, hi))  # every value drawn
