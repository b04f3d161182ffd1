"""The activations added for PyTorch scripts (SiLU, ELU, ReLU6, Hardtanh, PReLU, Mish,
SELU, CELU, Hardsigmoid, Hardswish, Softsign, Tanhshrink, LogSigmoid): float64 central
differences, float32 staying float32, PyTorch parity of values and gradients (kinks
included, so the subgradient conventions match), layer names/reprs/state_dict keys,
and save/load round trips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.diagnostics.gradcheck import gradcheck
from chainrule.io import load, save

# gradcheck: float64 central differences with step 1e-6 on sums of ~60 weighted outputs of
# magnitude up to ~10, whose rounding alone is a few 1e-9 in the difference quotient
ATOL, RTOL = 1e-7, 1e-6


def kinkless(*shape: int, seed: int = 0, kinks: tuple[float, ...] = (0.0,),
             scale: float = 3.0, gap: float = 0.05) -> np.ndarray:
    """Normal values times ``scale``, nudged at least ``gap`` away from every kink."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


# name → (chainrule function, torch function name and kwargs, kinks)
FUNCTIONS: dict[str, tuple[Callable, str, dict, tuple[float, ...]]] = {
    "silu": (F.silu, "silu", {}, ()),
    "mish": (F.mish, "mish", {}, ()),
    "elu": (F.elu, "elu", {}, (0.0,)),
    "elu_alpha": (lambda t: F.elu(t, alpha=1.7), "elu", {"alpha": 1.7}, (0.0,)),
    "selu": (F.selu, "selu", {}, (0.0,)),
    "celu": (F.celu, "celu", {}, (0.0,)),
    "celu_alpha": (lambda t: F.celu(t, alpha=0.6), "celu", {"alpha": 0.6}, (0.0,)),
    "relu6": (F.relu6, "relu6", {}, (0.0, 6.0)),
    "hardtanh": (F.hardtanh, "hardtanh", {}, (-1.0, 1.0)),
    "hardtanh_bounds": (lambda t: F.hardtanh(t, -0.5, 2.0), "hardtanh",
                        {"min_val": -0.5, "max_val": 2.0}, (-0.5, 2.0)),
    "hardsigmoid": (F.hardsigmoid, "hardsigmoid", {}, (-3.0, 3.0)),
    "hardswish": (F.hardswish, "hardswish", {}, (-3.0, 3.0)),
    "softsign": (F.softsign, "softsign", {}, (0.0,)),
    "tanhshrink": (F.tanhshrink, "tanhshrink", {}, ()),
    "logsigmoid": (F.logsigmoid, "logsigmoid", {}, ()),
}


def _t64(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(a, requires_grad=grad, dtype="float64")


# ---- central differences (no torch) ----------------------------------------------------

@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradient_matches_central_differences(name: str) -> None:
    fn, _, _, kinks = FUNCTIONS[name]
    x = _t64(kinkless(4, 5, 3, kinks=kinks, scale=4.0))
    result = gradcheck(fn, [x], atol=ATOL, rtol=RTOL)
    assert result.passed and result.inputs, result.report()


@pytest.mark.parametrize("shape,channels", [((6,), 1), ((3, 4), 1), ((3, 4), 4),
                                            ((2, 3, 5), 3), ((2, 3, 4, 2), 3)])
def test_prelu_gradients_of_input_and_slope(shape: tuple, channels: int) -> None:
    x = _t64(kinkless(*shape, seed=1))
    w = _t64(np.random.default_rng(2).uniform(0.05, 0.6, channels))
    result = gradcheck(F.prelu, [x, w], atol=ATOL, rtol=RTOL)
    assert result.passed and len(result.inputs) == 2, result.report()


def test_extreme_inputs_stay_finite_and_saturate() -> None:
    x = _t64(np.array([-1e4, -60.0, -30.0, 30.0, 60.0, 1e4]))
    for name in sorted(FUNCTIONS):
        fn = FUNCTIONS[name][0]
        x.grad = None
        out = fn(x)
        out.sum().backward()
        assert np.all(np.isfinite(out.numpy())), name
        assert np.all(np.isfinite(x.grad)), name
    np.testing.assert_allclose(F.logsigmoid(x).numpy()[[0, -1]], [-1e4, 0.0])
    np.testing.assert_allclose(F.mish(x).numpy()[[0, -1]], [0.0, 1e4], atol=1e-12)
    np.testing.assert_allclose(F.silu(x).numpy()[[0, -1]], [0.0, 1e4], atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_float32_stays_float32(name: str) -> None:
    fn = FUNCTIONS[name][0]
    x = cr.tensor(kinkless(3, 4).astype(np.float32), requires_grad=True)
    out = fn(x)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


def test_prelu_float32_weight_and_input_stay_float32() -> None:
    act = nn.PReLU(3)
    x = cr.tensor(kinkless(2, 3, 4).astype(np.float32), requires_grad=True)
    act(x).sum().backward()
    assert act(x).dtype == np.float32
    assert x.grad.dtype == np.float32 and act.weight.grad.dtype == np.float32
    assert nn.PReLU(dtype="float64").weight.dtype == np.float64


def test_inplace_is_accepted_and_returns_a_new_tensor() -> None:
    x = cr.tensor([-2.0, 0.5, 7.0])
    before = x.numpy().copy()
    for fn in (F.silu, F.elu, F.relu6, F.hardtanh, F.mish, F.selu, F.celu, F.hardsigmoid,
               F.hardswish, F.relu, F.leaky_relu):
        out = fn(x, inplace=True)
        assert out is not x
    np.testing.assert_array_equal(x.numpy(), before)
    out = nn.Sequential(nn.ReLU(inplace=True), nn.SiLU(inplace=True), nn.ELU(inplace=True))(x)
    assert out is not x and np.array_equal(x.numpy(), before)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(cr.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        F.celu(cr.ones(2), alpha=0.0)
    with pytest.raises(ValueError, match="3 channels"):
        F.prelu(cr.ones(2, 3), cr.ones(4))
    with pytest.raises(ValueError, match="PReLU"):
        nn.PReLU(0)
    with pytest.raises(nn.LayerError, match="channels"):
        nn.PReLU(5)(cr.ones(2, 3))


def test_softmax_takes_pytorch_dim_and_dtype() -> None:
    x = cr.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    np.testing.assert_allclose(F.softmax(x, dim=0).numpy(), F.softmax(x, axis=0).numpy())
    np.testing.assert_allclose(F.softmax(x, 0).numpy().sum(axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose(F.log_softmax(x, dim=1).numpy(), np.log(F.softmax(x, dim=1).numpy()),
                               rtol=1e-5, atol=1e-6)
    assert F.softmax(x, dim=-1, dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match="dim"):
        F.softmax(x, dim=0, axis=1)


# ---- against PyTorch, float64 ----------------------------------------------------------

def _torch_case(name: str, seed: int = 3) -> np.ndarray:
    """Random values plus every kink of the function exactly, and large magnitudes."""
    kinks = FUNCTIONS[name][3]
    x = kinkless(40, seed=seed, kinks=kinks, scale=4.0)
    return np.concatenate([x, np.array(kinks + (0.0, -25.0, 25.0, -3.0, 3.0, 6.0))])


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functional_matches_torch_at_kinks_too(name: str) -> None:
    torch = pytest.importorskip("torch")
    fn, tname, kwargs, _ = FUNCTIONS[name]
    a = _torch_case(name)
    x, tx = _t64(a), torch.tensor(a, requires_grad=True)
    out, ref = fn(x), getattr(torch.nn.functional, tname)(tx, **kwargs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(4).standard_normal(a.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=_grad_rtol(name), atol=1e-14)


def _grad_rtol(name: str) -> float:
    # PyTorch's float64 backward of hardsigmoid multiplies by 1/6 rounded to float32, and
    # celu's by 1/alpha rounded to float32 (relative error ~1e-7); ours is exact (the
    # central-difference checks above hold it to 1e-6 of the true derivative).
    return 1e-6 if name.startswith(("hardsigmoid", "celu")) else 1e-12


MODULES: dict[str, tuple[Callable, Callable]] = {
    "SiLU": (lambda m: m.SiLU(), lambda m: m.SiLU()),
    "Mish": (lambda m: m.Mish(), lambda m: m.Mish()),
    "ReLU6": (lambda m: m.ReLU6(inplace=True), lambda m: m.ReLU6(inplace=True)),
    "SELU": (lambda m: m.SELU(), lambda m: m.SELU()),
    "ELU": (lambda m: m.ELU(alpha=0.4), lambda m: m.ELU(alpha=0.4)),
    "CELU": (lambda m: m.CELU(1.5), lambda m: m.CELU(1.5)),
    "Hardtanh": (lambda m: m.Hardtanh(-2.0, 0.5), lambda m: m.Hardtanh(-2.0, 0.5)),
    "Hardsigmoid": (lambda m: m.Hardsigmoid(), lambda m: m.Hardsigmoid()),
    "Hardswish": (lambda m: m.Hardswish(), lambda m: m.Hardswish()),
    "Softsign": (lambda m: m.Softsign(), lambda m: m.Softsign()),
    "Tanhshrink": (lambda m: m.Tanhshrink(), lambda m: m.Tanhshrink()),
    "LogSigmoid": (lambda m: m.LogSigmoid(), lambda m: m.LogSigmoid()),
    "PReLU": (lambda m: m.PReLU(), lambda m: m.PReLU()),
    "PReLU_channels": (lambda m: m.PReLU(3, init=0.1), lambda m: m.PReLU(3, init=0.1)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(MODULES))
def test_layer_matches_torch_with_torch_weights(name: str) -> None:
    torch = pytest.importorskip("torch")
    make = MODULES[name][0]
    ours, theirs = make(nn), make(torch.nn).double()
    ours.double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if name.startswith("PReLU"):  # learnable: give torch different slopes and copy them
        with torch.no_grad():
            theirs.weight.uniform_(0.05, 0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    a = kinkless(2, 3, 5, seed=5, scale=3.0)
    x, tx = _t64(a), torch.tensor(a, requires_grad=True)
    r = np.random.default_rng(6).standard_normal(a.shape)
    loss = (ours(x) * cr.tensor(r, dtype="float64")).sum()
    tloss = (theirs(tx.clone()) * torch.tensor(r)).sum()  # clone: inplace=True needs it
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=_grad_rtol(name.lower()),
                               atol=1e-14)
    for (pname, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.grad.dtype == np.float64
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=pname)


@pytest.mark.torch
def test_prelu_trains_like_torch_for_a_few_sgd_steps() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 6), nn.PReLU(6), nn.Linear(6, 1)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.PReLU(6),
                                 torch.nn.Linear(6, 1)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    opt = cr.optim.SGD(ours.parameters(), lr=0.1)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    rng = np.random.default_rng(7)
    xb, yb = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        F.mse_loss(ours(cr.tensor(xb, dtype="float64")), cr.tensor(yb, dtype="float64")).backward()
        torch.nn.functional.mse_loss(theirs(torch.tensor(xb)), torch.tensor(yb)).backward()
        opt.step()
        topt.step()
    np.testing.assert_allclose(ours[1].weight.numpy(), theirs[1].weight.detach().numpy(),
                               rtol=1e-10)


# ---- architecture files ----------------------------------------------------------------

def test_every_new_activation_round_trips_through_a_model_file(tmp_path: Path) -> None:
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 6), nn.SiLU(), nn.ELU(alpha=0.7, inplace=True), nn.ReLU6(),
        nn.Hardtanh(-0.5, 0.8), nn.PReLU(6, init=0.3), nn.Mish(), nn.SELU(), nn.CELU(1.3),
        nn.Hardsigmoid(), nn.Hardswish(inplace=True), nn.Softsign(), nn.Tanhshrink(),
        nn.LogSigmoid(), nn.PReLU(), nn.ReLU(inplace=True), nn.LeakyReLU(0.2, inplace=True),
        nn.Linear(6, 2))
    model[5].weight.numpy()[:] = np.linspace(0.1, 0.6, 6)
    path = tmp_path / "acts.safetensors"
    save(model, path)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    for a, b in zip(model, loaded):
        assert type(a) is type(b)
        assert vars(a).get("inplace") == vars(b).get("inplace")
    np.testing.assert_array_equal(loaded[5].weight.numpy(), model[5].weight.numpy())
    x = cr.tensor(np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32))
    assert loaded(x).numpy().tobytes() == model(x).numpy().tobytes()
