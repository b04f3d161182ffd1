"""Optimizers: update rules against their formulas and PyTorch, groups, state, dtypes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.losses import mse_loss

SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 7


def make_params(dtype: str = "float64", seed: int = 0) -> list[nn.Parameter]:
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def make_grads(steps: int = STEPS, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def run(opt: optim.Optimizer, params: list[nn.Parameter], grads: list[list[np.ndarray]]
        ) -> list[np.ndarray]:
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.astype(p.dtype)
        opt.step()
    return [p.numpy().copy() for p in params]


# ---- closed-form references, written from the textbook formulas ------------------------------
def sgd_reference(w: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float = 0.0,
                  dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                  maximize: bool = False) -> np.ndarray:
    w = w.copy()
    buf = None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr * g
    return w


def adam_reference(w: np.ndarray, grads: list[np.ndarray], lr: float,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float = 0.0, amsgrad: bool = False, decoupled: bool = False,
                   maximize: bool = False) -> np.ndarray:
    b1, b2 = betas
    w = w.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    vmax = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1 ** t)
        v_hat = (vmax if amsgrad else v) / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def rmsprop_reference(w: np.ndarray, grads: list[np.ndarray], lr: float, alpha: float = 0.99,
                      eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                      centered: bool = False, maximize: bool = False) -> np.ndarray:
    w = w.copy()
    s = np.zeros_like(w)
    gbar = np.zeros_like(w)
    b = np.zeros_like(w)
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * w
        s = alpha * s + (1 - alpha) * g ** 2
        gbar = alpha * gbar + (1 - alpha) * g
        d = np.sqrt(s - gbar ** 2 if centered else s) + eps
        if momentum > 0:
            b = momentum * b + g / d
            w = w - lr * b
        else:
            w = w - lr * g / d
    return w


def adagrad_reference(w: np.ndarray, grads: list[np.ndarray], lr: float, lr_decay: float = 0.0,
                      weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                      eps: float = 1e-10, maximize: bool = False) -> np.ndarray:
    w = w.copy()
    total = np.full_like(w, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        g = g + weight_decay * w
        total = total + g ** 2
        w = w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + eps)
    return w


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.6), weight_decay=0.0)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
]

REFERENCES = {
    "SGD": sgd_reference,
    "Adam": adam_reference,
    "AdamW": lambda w, g, **kw: adam_reference(
        w, g, decoupled=True, **{"weight_decay": 1e-2, **kw}),
    "RMSprop": rmsprop_reference,
    "Adagrad": adagrad_reference,
}


def case_id(case: tuple[str, dict]) -> str:
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_update_matches_closed_form(case: tuple[str, dict]) -> None:
    name, kw = case
    params = make_params()
    start = [p.numpy().copy() for p in params]
    grads = make_grads()
    got = run(getattr(optim, name)(params, **kw), params, grads)
    for i, (w0, w) in enumerate(zip(start, got)):
        expected = REFERENCES[name](w0, [step[i] for step in grads], **kw)
        np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-14)


def step_both(opt, topt, params, tparams, grads) -> None:
    """One step of a chainrule and a torch optimizer on the same gradients."""
    import torch

    for p, tp, g in zip(params, tparams, grads):
        p.grad = g.copy()
        tp.grad = torch.from_numpy(g.copy())
    opt.step()
    topt.step()


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_update_matches_torch(case: tuple[str, dict]) -> None:
    torch = pytest.importorskip("torch")
    name, kw = case
    params = make_params()
    tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
    opt = getattr(optim, name)(params, **kw)
    topt = getattr(torch.optim, name)(tparams, **kw)
    for step_grads in make_grads(9):
        step_both(opt, topt, params, tparams, step_grads)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    # The state has PyTorch's names and values too.
    for p, tp in zip(params, tparams):
        for key, value in opt.state[p].items():
            expected = topt.state[tp][key]
            if key == "step":
                assert value == int(expected)
            else:
                np.testing.assert_allclose(value, expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_param_groups_with_different_lrs_match_torch() -> None:
    torch = pytest.importorskip("torch")
    params = make_params()
    tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.5, "momentum": 0.0}]
    tgroups = [{"params": tparams[:2]}, {"params": tparams[2:], "lr": 0.5, "momentum": 0.0}]
    opt = optim.SGD(groups, lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tgroups, lr=0.01, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0]
    for step_grads in make_grads(5):
        step_both(opt, topt, params, tparams, step_grads)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_param_groups_follow_their_own_formula() -> None:
    params = make_params()
    start = [p.numpy().copy() for p in params]
    grads = make_grads(4)
    opt = optim.Adam([{"params": [params[0]], "lr": 0.1},
                      {"params": params[1:], "betas": (0.5, 0.7)}], lr=0.01)
    run(opt, params, grads)
    np.testing.assert_allclose(
        params[0].numpy(), adam_reference(start[0], [s[0] for s in grads], lr=0.1), rtol=1e-12)
    for i in (1, 2):
        np.testing.assert_allclose(
            params[i].numpy(),
            adam_reference(start[i], [s[i] for s in grads], lr=0.01, betas=(0.5, 0.7)),
            rtol=1e-12)


def test_changing_group_lr_takes_effect_next_step() -> None:
    p = nn.Parameter([1.0, 2.0], dtype="float64")
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.array([1.0, 1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 - 0.5, 2.0 - 0.1 - 0.5])


def test_add_param_group_fills_defaults_and_validates() -> None:
    a, b, c = make_params()
    opt = optim.Adam([a], lr=0.01, betas=(0.8, 0.9))
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["betas"] == (0.8, 0.9)
    assert opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["params"] == [b]
    with pytest.raises(ValueError, match="param group 2: betas\\[1\\] must be in \\[0, 1\\)"):
        opt.add_param_group({"params": [c], "betas": (0.9, 1.0)})
    with pytest.raises(ValueError, match="already in another group"):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 2


def test_zero_grad_set_to_none() -> None:
    params = make_params()
    for p in params:
        p.grad = np.ones(p.shape)
    optim.SGD(params, lr=0.1).zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_to_zeros_never_writes_the_old_array() -> None:
    params = make_params("float32")
    shared = np.ones(params[0].shape, dtype=np.float32)
    params[0].grad = shared
    readonly = np.broadcast_to(np.float32(2.0), params[1].shape)
    params[1].grad = readonly
    optim.SGD(params, lr=0.1).zero_grad(set_to_none=False)
    assert np.array_equal(params[0].grad, np.zeros(params[0].shape))
    assert params[0].grad.dtype == np.float32
    assert np.array_equal(params[1].grad, np.zeros(params[1].shape))
    assert np.all(shared == 1.0)  # whoever else holds this array still sees its values
    assert params[2].grad is None


def test_step_skips_parameters_without_gradient() -> None:
    params = make_params()
    before = params[1].numpy().copy()
    opt = optim.Adam(params, lr=0.1)
    params[0].grad = np.ones(params[0].shape)
    params[2].grad = np.ones(params[2].shape)
    opt.step()
    assert np.array_equal(params[1].numpy(), before)
    assert params[1] not in opt.state
    assert opt.state[params[0]]["step"] == 1


def test_step_never_modifies_gradients_even_read_only_or_shared() -> None:
    for name, kw in CASES:
        params = [nn.Parameter(np.arange(6.0).reshape(2, 3) / 7, dtype="float32")
                  for _ in range(3)]
        shared = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
        shared.setflags(write=False)
        keep = shared.copy()
        broadcast = np.broadcast_to(np.float32(0.5), (2, 3))
        opt = getattr(optim, name)(params, **kw)
        for _ in range(3):
            params[0].grad = shared
            params[1].grad = shared
            params[2].grad = broadcast
            opt.step()
        assert np.array_equal(shared, keep), name
        assert np.all(broadcast == 0.5), name
        # The two parameters fed the same gradient moved the same way.
        np.testing.assert_array_equal(params[0].numpy(), params[1].numpy())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_stays_float32(case: tuple[str, dict]) -> None:
    name, kw = case
    # NumPy float64 scalars as hyperparameters must not upcast float32 parameters.
    kw = {k: np.float64(v) if isinstance(v, float) else v for k, v in kw.items()}
    params = make_params("float32")
    opt = getattr(optim, name)(params, **kw)
    for step_grads in make_grads(3):
        for p, g in zip(params, step_grads):
            p.grad = g.astype(np.float32)
        opt.step()
    for p in params:
        assert p.numpy().dtype == np.float32
        for value in opt.state[p].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    assert all(type(v) in (float, bool, tuple) for v in opt.param_groups[0].values()
               if not isinstance(v, list))


def test_float32_result_close_to_float64() -> None:
    p64 = make_params("float64")
    p32 = make_params("float32")
    grads = make_grads(5)
    run(optim.Adam(p64, lr=0.01), p64, grads)
    run(optim.Adam(p32, lr=0.01), p32, grads)
    for a, b in zip(p32, p64):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# ---- state_dict ---------------------------------------------------------------------------
RESUME_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]


def _as_json_and_back(state_dict: dict) -> dict:
    """What a checkpoint does: arrays out (here: to lists), the rest through JSON."""
    def encode(value):
        return value.tolist() if isinstance(value, np.ndarray) else value

    text = json.dumps({
        "state": {k: {n: encode(v) for n, v in s.items()} for k, s in
                  state_dict["state"].items()},
        "param_groups": state_dict["param_groups"],
    }, allow_nan=False)
    return json.loads(text)


@pytest.mark.parametrize("through_json", [False, True])
@pytest.mark.parametrize("case", RESUME_CASES, ids=case_id)
def test_state_dict_resume_is_identical(case: tuple[str, dict], through_json: bool) -> None:
    name, kw = case
    grads = make_grads(8)
    params = make_params()
    uninterrupted = getattr(optim, name)(params, **kw)
    run(uninterrupted, params, grads[:3])

    saved_weights = [p.numpy().copy() for p in params]
    saved = uninterrupted.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    for index, entry in saved["state"].items():
        assert isinstance(index, int)
        for value in entry.values():
            assert isinstance(value, (int, np.ndarray))
    if through_json:
        saved = _as_json_and_back(saved)
    else:
        saved = {"state": {k: {n: np.copy(v) for n, v in s.items()}
                           for k, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}

    resumed_params = [nn.Parameter(w, dtype="float64") for w in saved_weights]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # lr comes from the state
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kw["lr"]
    a = run(uninterrupted, params, grads[3:])
    b = run(resumed, resumed_params, grads[3:])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_state_dict_layout_matches_pytorch_names() -> None:
    params = make_params()
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}],
                     lr=0.01, amsgrad=True)
    run(opt, params, make_grads(2))
    sd = opt.state_dict()
    assert sd["param_groups"][0] == {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8,
                                     "weight_decay": 0.0, "amsgrad": True, "maximize": False,
                                     "decoupled_weight_decay": False, "params": [0]}
    assert sd["param_groups"][1]["params"] == [1, 2]
    assert sorted(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][2]["step"] == 2


def test_load_state_dict_rejects_mismatches_and_changes_nothing() -> None:
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, make_grads(2))
    sd = opt.state_dict()

    other = optim.Adam(make_params(), lr=0.5)
    with pytest.raises(ValueError, match="2 param groups, this optimizer has 1"):
        other.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(ValueError, match="has 2 parameters in the saved state, 3 in this"):
        other.load_state_dict({"state": {}, "param_groups": [
            {**sd["param_groups"][0], "params": [0, 1]}]})
    bad_shape = {k: dict(v) for k, v in sd["state"].items()}
    bad_shape[1]["exp_avg"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"parameter 1: 'exp_avg' has shape \(5,\), expected "
                                         r"\(4,\)"):
        other.load_state_dict({"state": bad_shape, "param_groups": sd["param_groups"]})
    with pytest.raises(ValueError, match="missing keys \\['max_exp_avg_sq'\\]"):
        other.load_state_dict({"state": sd["state"], "param_groups": [
            {**sd["param_groups"][0], "amsgrad": True}]})
    with pytest.raises(ValueError, match="betas"):
        other.load_state_dict({"state": sd["state"], "param_groups": [
            {**sd["param_groups"][0], "betas": (1.5, 0.9)}]})
    with pytest.raises(ValueError, match="state for parameter 7"):
        other.load_state_dict({"state": {7: sd["state"][0]},
                               "param_groups": sd["param_groups"]})
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        other.load_state_dict({"param_groups": []})
    sgd = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="unexpected keys"):
        sgd.load_state_dict({"state": sd["state"], "param_groups": [
            {**sgd.state_dict()["param_groups"][0]}]})
    assert other.param_groups[0]["lr"] == 0.5 and other.state == {}
    assert sgd.state == {}


def test_load_state_dict_casts_to_parameter_dtype_and_copies() -> None:
    src = make_params("float64")
    opt = optim.Adam(src, lr=0.01)
    run(opt, src, make_grads(2))
    sd = opt.state_dict()
    dst = make_params("float32")
    opt32 = optim.Adam(dst, lr=0.01)
    opt32.load_state_dict(sd)
    state = opt32.state[dst[0]]
    assert state["exp_avg"].dtype == np.float32
    state["exp_avg"][...] = 0
    assert np.any(opt.state[src[0]]["exp_avg"] != 0)


# ---- construction and validation ----------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr must be a finite number >= 0, got -0.1"),
    (lambda p: optim.SGD(p, lr=float("nan")), "lr must be a finite number"),
    (lambda p: optim.SGD(p, momentum=-0.5), "momentum must be"),
    (lambda p: optim.SGD(p, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda p: optim.SGD(p, weight_decay=-1), "weight_decay must be"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda p: optim.Adam(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps must be"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay must be"),
    (lambda p: optim.Adam(p, amsgrad="yes"), "amsgrad must be True or False"),
    (lambda p: optim.RMSprop(p, alpha=1.5), r"alpha must be in \[0, 1\]"),
    (lambda p: optim.RMSprop(p, momentum=-1), "momentum must be"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "lr_decay must be"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "SGD param group 0: lr must"),
])
def test_bad_hyperparameters_raise_value_error(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(make_params())


def test_bad_params_raise_clear_errors() -> None:
    params = make_params()
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(params[0], lr=0.1)
    with pytest.raises(TypeError, match="model.parameters\\(\\), not the model"):
        optim.SGD(nn.Linear(2, 2), lr=0.1)
    with pytest.raises(ValueError, match="same parameter more than once"):
        optim.SGD([params[0], params[0]], lr=0.1)
    with pytest.raises(ValueError, match="already in another group"):
        optim.SGD([{"params": params[:2]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD([{"params": set(params)}], lr=0.1)
    with pytest.raises(TypeError, match="wrap arrays in chainrule.nn.Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([params[0] * 2], lr=0.1)
    with pytest.raises(TypeError, match="mixes param-group dicts and Parameters"):
        optim.SGD([{"params": params[:1]}, params[1]], lr=0.1)


def test_gradient_of_wrong_shape_is_named() -> None:
    params = make_params()
    params[1].name = "bias"
    with pytest.raises(ValueError, match=r"assigned grad has shape \(5,\).*'bias'.*\(4,\)"):
        params[1].grad = np.zeros(5)
    for opt in (optim.SGD(params, lr=0.1), optim.Adam(params)):
        # the .grad setter refuses a wrong shape; an array swapped in behind it still
        # gets a clear error from the optimizer
        params[1].grad = np.zeros(4)
        params[1].grad.data = np.zeros(5)
        with pytest.raises(ValueError, match="parameter 1 'bias' of param group 0 has a "
                                             r"gradient of shape \(5,\).*\(4,\)"):
            opt.step()


def test_step_with_closure_returns_the_loss() -> None:
    cr.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.tensor([[1.0, 2.0]])

    def closure():
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert loss.item() >= 0 and model.weight.grad is not None


def test_repr_lists_the_groups() -> None:
    text = repr(optim.SGD(make_params(), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


# ---- learning ---------------------------------------------------------------------------------
def test_xor_learned_by_plain_sgd_on_mse() -> None:
    cr.manual_seed(0)
    x = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = cr.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=2.0)
    first = None
    for _ in range(4000):
        opt.zero_grad()
        loss = mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert first > 0.2
    assert loss.item() < 0.01
    assert np.array_equal(model(x).numpy().ravel() > 0.5, [False, True, True, False])
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_plain_sgd_is_the_seed_rule() -> None:
    """Δw = −α ∂E/∂w for E = (w·x − y)², checked by hand."""
    w = nn.Parameter([0.5, -1.0], dtype="float64")
    x = np.array([2.0, 1.0])
    opt = optim.SGD([w], lr=0.1)
    loss = ((w * cr.tensor(x, dtype="float64")).sum() - 3.0) ** 2
    loss.backward()
    expected_grad = 2 * (w.numpy() @ x - 3.0) * x
    np.testing.assert_allclose(w.grad, expected_grad)
    before = w.numpy().copy()
    opt.step()
    np.testing.assert_allclose(w.numpy(), before - 0.1 * expected_grad)
    assert math.isclose(float(w.numpy()[0]), 0.5 - 0.1 * 2 * (0.0 - 3.0) * 2.0)


def test_subtract_scaled_matches_the_plain_update_bit_for_bit() -> None:
    """SGD's blockwise ``w -= lr·g`` (no parameter-sized temporary) rounds exactly as the
    one-line update, for sizes below, at and past a block, and for strided arrays."""
    from chainrule.optim.optimizer import _BLOCK, subtract_scaled

    rng = np.random.default_rng(0)
    for size in (7, _BLOCK, 2 * _BLOCK + 3):
        for dtype in (np.float32, np.float64):
            w = rng.standard_normal(size).astype(dtype)
            g = rng.standard_normal(size).astype(dtype)
            want = w - g * np.asarray(0.03, dtype)
            subtract_scaled(w, g, np.asarray(0.03, dtype))
            np.testing.assert_array_equal(w, want)
    w = rng.standard_normal((600, 900)).T  # not contiguous: the plain path
    g = rng.standard_normal((900, 600))
    want = w - g * 0.5
    subtract_scaled(w, g, 0.5)
    np.testing.assert_array_equal(w, want)
