"""GroupNorm, RMSNorm, InstanceNorm1d/2d/3d, BatchNorm3d and BatchNorm's momentum=None:
float64 central differences, PyTorch parity of outputs, every gradient and the running
statistics over several training steps (train and eval), state_dict keys, dtypes and
save/load round trips."""

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

ATOL, RTOL = 1e-7, 1e-6


def rnd(*shape: int, seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


def T(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(a, requires_grad=grad, dtype="float64")


def check(fn: Callable, *inputs: cr.Tensor) -> None:
    result = gradcheck(fn, list(inputs), atol=ATOL, rtol=RTOL)
    assert result.passed and len(result.inputs) == sum(t.requires_grad for t in inputs), \
        result.report()


# ---- central differences (no torch) ----------------------------------------------------

@pytest.mark.parametrize("shape,groups", [((4, 6), 3), ((3, 6, 5), 1), ((3, 6, 5), 2),
                                          ((3, 6, 5), 6), ((2, 4, 3, 2), 2)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_group_norm_gradients(shape: tuple, groups: int, affine: str) -> None:
    c = shape[1]
    x = T(rnd(*shape, scale=2.0, shift=0.5))
    w = T(rnd(c, seed=1, shift=1.0)) if affine in ("both", "weight") else None
    b = T(rnd(c, seed=2)) if affine in ("both", "bias") else None
    params = [p for p in (w, b) if p is not None]

    def fn(x: cr.Tensor, *ps: cr.Tensor) -> cr.Tensor:
        it = iter(ps)
        return F.group_norm(x, groups, next(it) if w is not None else None,
                            next(it) if b is not None else None, eps=1e-3)

    check(fn, x, *params)


@pytest.mark.parametrize("shape,norm", [((5, 4), (4,)), ((2, 3, 4), (3, 4)), ((7,), (7,)),
                                        ((2, 3, 4), (4,))])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_gradients(shape: tuple, norm: tuple, with_weight: bool) -> None:
    x = T(rnd(*shape, scale=1.5, shift=0.3))
    if with_weight:
        check(lambda x, w: F.rms_norm(x, norm, w, eps=1e-4), x, T(rnd(*norm, seed=3)))
    else:
        check(lambda x: F.rms_norm(x, norm, eps=1e-4), x)


@pytest.mark.parametrize("shape", [(3, 2, 5), (2, 3, 4, 3)])
def test_instance_norm_gradients(shape: tuple) -> None:
    x = T(rnd(*shape, scale=2.0))
    w, b = T(rnd(shape[1], seed=1, shift=1.0)), T(rnd(shape[1], seed=2))
    check(lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3), x, w, b)
    check(lambda x: F.instance_norm(x), x)


def test_normalised_groups_have_zero_mean_and_unit_variance() -> None:
    x = cr.tensor(rnd(4, 6, 5, scale=3.0, shift=2.0), dtype="float64")
    y = F.group_norm(x, 3, eps=0.0).numpy().reshape(4, 3, -1)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-12)
    z = F.rms_norm(x, (5,), eps=0.0).numpy()
    np.testing.assert_allclose((z * z).mean(axis=-1), 1, rtol=1e-12)


def test_float32_stays_float32_and_float64_stays_float64() -> None:
    x32 = cr.tensor(rnd(2, 4, 3).astype(np.float32), requires_grad=True)
    for layer in (nn.GroupNorm(2, 4), nn.RMSNorm(3), nn.InstanceNorm1d(4, affine=True),
                  nn.BatchNorm1d(4, momentum=None)):
        out = layer(x32)
        out.sum().backward()
        assert out.dtype == np.float32 and x32.grad.dtype == np.float32, layer
        assert all(p.grad.dtype == np.float32 for p in layer.parameters())
        x32.grad = None
    for layer in (nn.GroupNorm(2, 4, dtype="float64"), nn.RMSNorm(3, dtype="float64"),
                  nn.InstanceNorm1d(4, affine=True, track_running_stats=True, dtype="float64")):
        assert all(t.dtype == np.float64 for t in layer.state_dict().values()
                   if t.dtype.kind == "f")
        assert layer(cr.tensor(rnd(2, 4, 3), dtype="float64")).dtype == np.float64


def test_rms_norm_eps_none_is_the_dtype_machine_epsilon() -> None:
    x = cr.tensor(np.full((1, 4), 1e-4), dtype="float64")
    for dtype in (np.float32, np.float64):
        xi = cr.tensor(x.numpy(), dtype=dtype)
        got = F.rms_norm(xi, (4,)).numpy()
        expected = 1e-4 / np.sqrt(1e-8 + np.finfo(dtype).eps)
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_errors_name_the_layer_and_shapes() -> None:
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(nn.LayerError, match=r"\(N, 6, \*\)"):
        nn.GroupNorm(3, 6)(cr.ones(2, 4, 3))
    with pytest.raises(ValueError, match="groups"):
        F.group_norm(cr.ones(2, 6), 4)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.rms_norm(cr.ones(2, 3), (4,))
    with pytest.raises(nn.LayerError, match="num_features"):
        nn.InstanceNorm1d(3, affine=True)(cr.ones(2, 4, 5))
    with pytest.raises(nn.LayerError, match="2-D .* or 3-D"):
        nn.InstanceNorm1d(3)(cr.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="spatial element"):
        F.instance_norm(cr.ones(2, 3, 1))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match="momentum must be a number"):
        F.batch_norm(cr.randn(4, 3), np.zeros(3, np.float32), np.ones(3, np.float32),
                     training=True, momentum=None)
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(3)(cr.randn(2, 4, 5))


def test_instance_norm_unbatched_equals_a_batch_of_one() -> None:
    x = cr.tensor(rnd(3, 7), dtype="float64")
    layer = nn.InstanceNorm1d(3, affine=True, dtype="float64")
    layer.weight.numpy()[:] = [0.5, 1.0, 2.0]
    batch = cr.tensor(x.numpy()[None], dtype="float64")
    np.testing.assert_array_equal(layer(x).numpy(), layer(batch).numpy()[0])


# ---- against PyTorch, float64 ----------------------------------------------------------

def _compare_functional(ours: Callable, theirs: Callable, *arrays: np.ndarray,
                        tol: float = 1e-10) -> None:
    torch = pytest.importorskip("torch")
    xs = [T(a) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = rnd(*out.shape, seed=99)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"gradient of input {i}")


@pytest.mark.torch
@pytest.mark.parametrize("shape,groups", [((4, 6), 2), ((3, 6, 5), 3), ((2, 4, 3, 3), 4),
                                          ((2, 4, 3, 3), 1)])
def test_group_norm_matches_torch(shape: tuple, groups: int) -> None:
    torch = pytest.importorskip("torch")
    c = shape[1]
    _compare_functional(lambda x, w, b: F.group_norm(x, groups, w, b, 1e-4),
                        lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b, 1e-4),
                        rnd(*shape, scale=2.0, shift=1.0), rnd(c, seed=1), rnd(c, seed=2))
    _compare_functional(lambda x: F.group_norm(x, groups),
                        lambda x: torch.nn.functional.group_norm(x, groups),
                        rnd(*shape, seed=3))


@pytest.mark.torch
@pytest.mark.parametrize("norm", [(5,), (4, 5)])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_torch(norm: tuple, eps: float | None) -> None:
    torch = pytest.importorskip("torch")
    _compare_functional(lambda x, w: F.rms_norm(x, norm, w, eps),
                        lambda x, w: torch.nn.functional.rms_norm(x, norm, w, eps),
                        rnd(3, 4, 5, scale=2.0, shift=0.5), rnd(*norm, seed=1))
    _compare_functional(lambda x: F.rms_norm(x, list(norm), eps=eps),
                        lambda x: torch.nn.functional.rms_norm(x, list(norm), eps=eps),
                        rnd(3, 4, 5, seed=2))


@pytest.mark.torch
def test_rms_norm_float32_default_eps_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    a = (rnd(4, 8) * 1e-3).astype(np.float32)
    ours = F.rms_norm(cr.tensor(a), (8,)).numpy()
    theirs = torch.nn.functional.rms_norm(torch.tensor(a), (8,)).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=2e-6)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(3, 4, 6), (2, 3, 4, 5)])
def test_instance_norm_functional_matches_torch(shape: tuple) -> None:
    torch = pytest.importorskip("torch")
    c = shape[1]
    _compare_functional(
        lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-4),
        lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b, eps=1e-4),
        rnd(*shape, scale=3.0, shift=-1.0), rnd(c, seed=1), rnd(c, seed=2))


def _load_torch_state(ours: nn.Module, theirs: object) -> None:
    state = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def _step_both(ours: nn.Module, theirs: object, a: np.ndarray, r: np.ndarray,
               tol: float = 1e-10) -> None:
    """One forward/backward of the same weighted loss; loss, input and every parameter
    gradient agree."""
    import torch

    x, tx = T(a), torch.tensor(a, requires_grad=True)
    for p in ours.parameters():
        p.grad = None
    theirs.zero_grad()
    loss = (ours(x) * cr.tensor(r, dtype="float64")).sum()
    tloss = (theirs(tx) * torch.tensor(r)).sum()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=tol, atol=tol)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=tol, atol=tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad.dtype == np.float64
        np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), rtol=tol,
                                   atol=tol, err_msg=name)


def _assert_same_buffers(ours: nn.Module, theirs: object) -> None:
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, state[k].numpy(), rtol=1e-12, atol=1e-14, err_msg=k)


LAYERS: dict[str, tuple[Callable, tuple[int, ...]]] = {
    "GroupNorm": (lambda m: m.GroupNorm(2, 4, eps=1e-3), (3, 4, 5)),
    "GroupNorm_no_affine": (lambda m: m.GroupNorm(1, 4, affine=False), (3, 4, 2, 2)),
    "GroupNorm_no_bias": (lambda m: m.GroupNorm(4, 4, bias=False), (3, 4)),
    "RMSNorm": (lambda m: m.RMSNorm((3, 4), eps=1e-5), (2, 3, 4)),
    "RMSNorm_eps_none": (lambda m: m.RMSNorm(4), (5, 4)),
    "RMSNorm_no_affine": (lambda m: m.RMSNorm([4], elementwise_affine=False), (5, 4)),
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(3), (2, 3, 6)),
    "InstanceNorm1d_affine": (lambda m: m.InstanceNorm1d(3, affine=True), (2, 3, 6)),
    "InstanceNorm1d_unbatched": (lambda m: m.InstanceNorm1d(3, affine=True), (3, 6)),
    "InstanceNorm2d_affine": (lambda m: m.InstanceNorm2d(3, eps=1e-3, affine=True),
                              (2, 3, 4, 3)),
    "InstanceNorm2d_no_bias": (lambda m: m.InstanceNorm2d(3, affine=True, bias=False),
                               (2, 3, 4, 3)),
    "InstanceNorm3d": (lambda m: m.InstanceNorm3d(2, affine=True), (2, 2, 3, 2, 2)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch_with_torch_weights(name: str) -> None:
    torch = pytest.importorskip("torch")
    make, shape = LAYERS[name]
    ours, theirs = make(nn), make(torch.nn).double()
    ours.double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():  # non-trivial affine parameters, copied into ours
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64) * 0.5 + 1.0)
    _load_torch_state(ours, theirs)
    _step_both(ours, theirs, rnd(*shape, scale=2.0, shift=0.7), rnd(*shape, seed=8))
    ours.eval()
    theirs.eval()
    _step_both(ours, theirs, rnd(*shape, seed=9), rnd(*shape, seed=10))


@pytest.mark.torch
@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (4, 3, 6)),
                                       ("InstanceNorm2d", (4, 3, 3, 5))])
@pytest.mark.parametrize("momentum", [0.1, 0.35, None])
def test_instance_norm_running_stats_match_torch_over_steps(cls: str, shape: tuple,
                                                            momentum: float | None) -> None:
    torch = pytest.importorskip("torch")
    kwargs = {"momentum": momentum, "affine": True, "track_running_stats": True, "eps": 1e-4}
    ours, theirs = getattr(nn, cls)(3, **kwargs), getattr(torch.nn, cls)(3, **kwargs).double()
    ours.double()
    _load_torch_state(ours, theirs)
    for step in range(4):
        _step_both(ours, theirs, rnd(*shape, seed=step, scale=1 + step, shift=step - 1.0),
                   rnd(*shape, seed=50 + step))
        _assert_same_buffers(ours, theirs)
    if momentum is None:  # PyTorch's instance norm leaves the running stats untouched
        np.testing.assert_array_equal(ours.running_mean.numpy(), 0)
    else:
        assert np.all(ours.running_mean.numpy() != 0)
    ours.eval()
    theirs.eval()
    _step_both(ours, theirs, rnd(*shape, seed=20), rnd(*shape, seed=21))
    _assert_same_buffers(ours, theirs)


@pytest.mark.torch
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (6, 3, 4)),
                                       ("BatchNorm2d", (5, 3, 2, 3)),
                                       ("BatchNorm3d", (4, 3, 2, 2, 2))])
@pytest.mark.parametrize("momentum", [None, 0.2])
def test_batch_norm_momentum_none_is_a_cumulative_average_like_torch(
        cls: str, shape: tuple, momentum: float | None) -> None:
    torch = pytest.importorskip("torch")
    ours = getattr(nn, cls)(3, momentum=momentum)
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    ours.double()
    assert repr(ours).startswith(f"{cls}(3, eps=1e-05, momentum={momentum}")
    _load_torch_state(ours, theirs)
    batches = [rnd(*shape, seed=s, scale=1 + s, shift=2.0 * s) for s in range(5)]
    for step, a in enumerate(batches):
        _step_both(ours, theirs, a, rnd(*shape, seed=30 + step))
        _assert_same_buffers(ours, theirs)
    assert int(ours.num_batches_tracked.numpy()) == len(batches)
    if momentum is None:  # the plain mean of the five batch means
        axes = (0,) + tuple(range(2, len(shape)))
        expected = np.mean([a.mean(axis=axes) for a in batches], axis=0)
        np.testing.assert_allclose(ours.running_mean.numpy(), expected, rtol=1e-12)
    ours.eval()
    theirs.eval()
    _step_both(ours, theirs, rnd(*shape, seed=40), rnd(*shape, seed=41))


# ---- architecture files ----------------------------------------------------------------

def test_every_new_norm_layer_round_trips_through_a_model_file(tmp_path: Path) -> None:
    cr.manual_seed(0)
    model = nn.ModuleDict({
        "gn": nn.GroupNorm(2, 4, eps=1e-3, bias=False),
        "gn_plain": nn.GroupNorm(1, 4, affine=False),
        "rms": nn.RMSNorm((3, 5), eps=None),
        "rms_plain": nn.RMSNorm(5, eps=1e-6, elementwise_affine=False),
        "in1": nn.InstanceNorm1d(4, momentum=None, affine=True, track_running_stats=True),
        "in2": nn.InstanceNorm2d(4, eps=1e-4, affine=True, bias=False),
        "in3": nn.InstanceNorm3d(4),
        "bn1": nn.BatchNorm1d(4, momentum=None),
        "bn3": nn.BatchNorm3d(4, affine=False),
    })
    for name in ("gn", "rms", "in1", "in2"):
        for p in model[name].parameters():
            p.numpy()[...] = np.random.default_rng(1).uniform(0.5, 1.5, p.shape)
    x3 = cr.tensor(rnd(6, 4, 5).astype(np.float32))
    for _ in range(3):  # move the running statistics
        model["in1"](x3)
        model["bn1"](x3)
    path = tmp_path / "norms.safetensors"
    save(model, path)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    assert list(loaded.state_dict()) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded.state_dict()[k].tobytes() == v.tobytes(), k
    assert loaded["rms"].eps is None and loaded["bn1"].momentum is None
    assert loaded["in2"].bias is None and loaded["gn"].bias is None
    inputs = {"gn": x3, "gn_plain": x3, "rms": cr.randn(2, 3, 5), "rms_plain": x3,
              "in1": x3, "in2": cr.randn(2, 4, 3, 3), "in3": cr.randn(2, 4, 2, 2, 2),
              "bn1": x3, "bn3": cr.randn(2, 4, 2, 2, 2)}
    model.eval()
    for name, x in inputs.items():
        assert loaded[name](x).numpy().tobytes() == model[name](x).numpy().tobytes(), name
