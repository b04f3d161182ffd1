"""Adadelta, Adamax, NAdam, RAdam (and Adam's decoupled_weight_decay): update rules
against their formulas, against PyTorch in float64 on a small model for 25 steps, state
round trips, dtypes and argument errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.losses import mse_loss

SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 12  # RAdam's rectification starts at step 6 with β₂ = 0.999: both branches run


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


# ---- references, written from the papers' formulas ------------------------------------------
def _decay(w, g, weight_decay, lr, decoupled=False, maximize=False):
    g = -g if maximize else g
    if decoupled:
        return w * (1 - lr * weight_decay), g
    return w, g + weight_decay * w


def adadelta_reference(w, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                       maximize=False):
    w, v, u = w.copy(), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        w, g = _decay(w, g, weight_decay, lr, maximize=maximize)
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        w = w - lr * delta
    return w


def adamax_reference(w, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                     maximize=False):
    b1, b2 = betas
    w, m, u = w.copy(), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        w, g = _decay(w, g, weight_decay, lr, maximize=maximize)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - lr / (1 - b1 ** t) * m / u
    return w


def nadam_reference(w, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    b1, b2 = betas
    w, m, v, prod = w.copy(), np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, start=1):
        w, g = _decay(w, g, weight_decay, lr, decoupled_weight_decay, maximize)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        d = np.sqrt(v / (1 - b2 ** t)) + eps
        w = w - lr * (1 - mu) / (1 - prod) * g / d - lr * mu_next / (1 - prod * mu_next) * m / d
    return w


def radam_reference(w, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    decoupled_weight_decay=False, maximize=False):
    b1, b2 = betas
    w, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        w, g = _decay(w, g, weight_decay, lr, decoupled_weight_decay, maximize)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)
        else:
            w = w - lr * m_hat
    return w


REFERENCES = {"Adadelta": adadelta_reference, "Adamax": adamax_reference,
              "NAdam": nadam_reference, "RAdam": radam_reference}

CASES = [
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.1, maximize=True)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.9), momentum_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.99))),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


def case_id(case: tuple[str, dict]) -> str:
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_update_matches_formula(case: tuple[str, dict]) -> None:
    name, kw = case
    params = make_params()
    start = [p.numpy().copy() for p in params]
    grads = make_grads()
    got = run(getattr(optim, name)(params, **kw), params, grads)
    for i, (w0, w) in enumerate(zip(start, got)):
        expected = REFERENCES[name](w0, [step[i] for step in grads], **kw)
        np.testing.assert_allclose(w, expected, rtol=1e-11, atol=1e-13)


def test_radam_uses_both_branches() -> None:
    b2 = 0.999
    rho_inf = 2 / (1 - b2) - 1
    rho = [rho_inf - 2 * t * b2 ** t / (1 - b2 ** t) for t in (1, STEPS)]
    assert rho[0] <= 5 < rho[1]


def test_defaults_are_pytorchs() -> None:
    p = make_params()
    assert optim.Adadelta(p).defaults == dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                                              maximize=False)
    assert optim.Adamax(p).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                                            weight_decay=0.0, maximize=False)
    assert optim.NAdam(p).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                                           weight_decay=0.0, momentum_decay=4e-3,
                                           decoupled_weight_decay=False, maximize=False)
    assert optim.RAdam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                           weight_decay=0.0, decoupled_weight_decay=False,
                                           maximize=False)


# ---- against PyTorch ---------------------------------------------------------------------------
TORCH_CASES = CASES + [
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, decoupled_weight_decay=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5, maximize=True)),
]


@pytest.fixture
def torch64():
    """torch with float64 as its default dtype: its optimizers then keep scalar state
    (NAdam's mu_product) in float64, as chainrule does, instead of float32."""
    torch = pytest.importorskip("torch")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def _model_pair(torch):
    """The same small MLP in chainrule and torch, float64, same initial weights."""
    cr.manual_seed(3)
    ours = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 2)).double()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(np.array(ours.state_dict()[name])))
    return ours, theirs


@pytest.mark.torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
def test_small_model_matches_torch_for_25_steps(case: tuple[str, dict], torch64) -> None:
    torch = torch64
    name, kw = case
    ours, theirs = _model_pair(torch)
    opt = getattr(optim, name)(ours.parameters(), **kw)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kw)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(25):
        # each framework computes its own gradient from its own weights
        opt.zero_grad()
        mse_loss(ours(cr.tensor(x, dtype="float64")), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(theirs(tx), ty).backward()
        topt.step()
    sd = ours.state_dict()
    for pname, tp in theirs.named_parameters():
        assert sd[pname].dtype == np.float64
        np.testing.assert_allclose(np.asarray(sd[pname]), tp.detach().numpy(), rtol=1e-12,
                                   atol=1e-14, err_msg=pname)
    # the state has PyTorch's names and values
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert set(opt.state[p]) == set(topt.state[tp])
        for key, value in opt.state[p].items():
            expected = topt.state[tp][key]
            if key == "step":
                assert value == int(expected)
            else:
                np.testing.assert_allclose(value, np.asarray(expected), rtol=1e-11,
                                           atol=1e-15, err_msg=key)


@pytest.mark.torch
def test_param_groups_with_different_hyperparameters_match_torch(torch64) -> None:
    torch = torch64
    for name in ("Adadelta", "Adamax", "NAdam", "RAdam"):
        ours, theirs = _model_pair(torch)
        groups = [{"params": list(m.parameters()), "lr": lr, "weight_decay": wd}
                  for m, lr, wd in ((ours[0], 0.02, 0.1), (ours[2], 0.005, 0.0))]
        tgroups = [{"params": list(m.parameters()), "lr": lr, "weight_decay": wd}
                   for m, lr, wd in ((theirs[0], 0.02, 0.1), (theirs[2], 0.005, 0.0))]
        opt, topt = getattr(optim, name)(groups), getattr(torch.optim, name)(tgroups)
        rng = np.random.default_rng(6)
        for _ in range(20):
            x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
            opt.zero_grad()
            mse_loss(ours(cr.tensor(x, dtype="float64")), y).backward()
            opt.step()
            topt.zero_grad()
            torch.nn.functional.mse_loss(theirs(torch.from_numpy(x)),
                                         torch.from_numpy(y)).backward()
            topt.step()
        for pname, tp in theirs.named_parameters():
            np.testing.assert_allclose(np.asarray(ours.state_dict()[pname]), tp.detach().numpy(),
                                       rtol=1e-10, atol=1e-12, err_msg=f"{name} {pname}")


# ---- state, dtypes, errors -----------------------------------------------------------------------
def _as_json_and_back(state_dict: dict) -> dict:
    def encode(value):
        return value.tolist() if isinstance(value, np.ndarray) else value

    text = json.dumps({
        "state": {k: {n: encode(v) for n, v in s.items()} for k, s in
                  state_dict["state"].items()},
        "param_groups": state_dict["param_groups"],
    }, allow_nan=False)
    return json.loads(text)


@pytest.mark.parametrize("through_json", [False, True])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_dict_resume_is_identical(case: tuple[str, dict], through_json: bool) -> None:
    name, kw = case
    grads = make_grads(10)
    params = make_params()
    uninterrupted = getattr(optim, name)(params, **kw)
    run(uninterrupted, params, grads[:4])
    saved_weights = [p.numpy().copy() for p in params]
    saved = uninterrupted.state_dict()
    if through_json:
        saved = _as_json_and_back(saved)
    else:
        saved = {"state": {k: {n: np.copy(v) for n, v in s.items()}
                           for k, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    resumed_params = [nn.Parameter(w, dtype="float64") for w in saved_weights]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # lr comes from the state
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == uninterrupted.param_groups[0]["lr"]
    a = run(uninterrupted, params, grads[4:])
    b = run(resumed, resumed_params, grads[4:])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_state_layout() -> None:
    expected = {"Adadelta": {"step", "square_avg", "acc_delta"},
                "Adamax": {"step", "exp_avg", "exp_inf"},
                "NAdam": {"step", "mu_product", "exp_avg", "exp_avg_sq"},
                "RAdam": {"step", "exp_avg", "exp_avg_sq"}}
    for name, keys in expected.items():
        params = make_params()
        opt = getattr(optim, name)(params)
        run(opt, params, make_grads(2))
        sd = opt.state_dict()
        assert set(sd["state"][0]) == keys
        assert sd["state"][0]["step"] == 2
    assert isinstance(sd["state"][0]["step"], int)


@pytest.mark.parametrize("case", CASES + [("Adam", dict(weight_decay=0.1,
                                                       decoupled_weight_decay=True))],
                         ids=case_id)
def test_float32_stays_float32(case: tuple[str, dict]) -> None:
    name, kw = case
    # NumPy float64 scalars as hyperparameters must not upcast float32 parameters
    kw = {k: np.float64(v) if isinstance(v, float) else v for k, v in kw.items()}
    params = make_params("float32")
    opt = getattr(optim, name)(params, **kw)
    for step_grads in make_grads(8):
        for p, g in zip(params, step_grads):
            p.grad = g.astype(np.float32)
        opt.step()
    for p in params:
        assert p.numpy().dtype == np.float32
        for value in opt.state[p].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
            else:
                assert type(value) in (int, float)


def test_float32_result_close_to_float64() -> None:
    for name in ("Adadelta", "Adamax", "NAdam", "RAdam"):
        p64, p32 = make_params("float64"), make_params("float32")
        grads = make_grads(8)
        run(getattr(optim, name)(p64, lr=0.01), p64, grads)
        run(getattr(optim, name)(p32, lr=0.01), p32, grads)
        for a, b in zip(p32, p64):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_adam_decoupled_weight_decay_is_adamw() -> None:
    grads = make_grads(5)
    a, b = make_params(), make_params()
    run(optim.Adam(a, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), a, grads)
    run(optim.AdamW(b, lr=0.01, weight_decay=0.1), b, grads)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert optim.AdamW(make_params()).defaults["decoupled_weight_decay"] is True


def test_optimizers_train_a_small_regression() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    for name, kw in [("Adadelta", dict(lr=10.0)), ("Adamax", dict(lr=0.05)),
                     ("NAdam", dict(lr=0.05)), ("RAdam", dict(lr=0.05))]:
        cr.manual_seed(0)
        model = nn.Linear(3, 1)
        opt = getattr(optim, name)(model.parameters(), **kw)
        first = None
        for _ in range(150):
            opt.zero_grad()
            loss = mse_loss(model(cr.tensor(x)), y)
            first = loss.item() if first is None else first
            loss.backward()
            opt.step()
        assert loss.item() < 0.1 * first, (name, first, loss.item())


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.Adadelta(p, rho=1.5), r"rho must be in \[0, 1\]"),
    (lambda p: optim.Adadelta(p, lr=-1.0), "lr must be"),
    (lambda p: optim.Adamax(p, betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda p: optim.Adamax(p, eps=-1e-8), "eps must be"),
    (lambda p: optim.NAdam(p, momentum_decay=-1.0), "momentum_decay must be"),
    (lambda p: optim.NAdam(p, decoupled_weight_decay=1), "decoupled_weight_decay must be"),
    (lambda p: optim.RAdam(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: optim.RAdam(p, weight_decay=-0.1), "weight_decay must be"),
    (lambda p: optim.Adam(p, decoupled_weight_decay="yes"), "decoupled_weight_decay must"),
])
def test_bad_hyperparameters_raise_value_error(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(make_params())


def test_load_state_dict_rejects_another_optimizers_state() -> None:
    params = make_params()
    adamax = optim.Adamax(params)
    run(adamax, params, make_grads(2))
    with pytest.raises(ValueError, match="missing keys \\['exp_avg_sq'\\]"):
        optim.RAdam(make_params()).load_state_dict(adamax.state_dict())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"])
def test_every_optimizer_steps_a_0d_parameter_as_pytorch(name: str) -> None:
    # NumPy gives scalars, not arrays, from operations on 0-d arrays: the updates' out=
    # temporaries once failed on a scalar parameter (a learned temperature, say)
    torch = pytest.importorskip("torch")
    if not hasattr(optim, name):
        pytest.skip(f"no optim.{name}")
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    p = nn.Parameter(cr.tensor(1.5, dtype=cr.float64))
    q = torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
    ours, theirs = getattr(optim, name)([p], **kw), getattr(torch.optim, name)([q], **kw)
    for _ in range(5):
        ours.zero_grad()
        (p * p * p).backward()
        ours.step()
        theirs.zero_grad()
        (q * q * q).backward()
        theirs.step()
    assert p.dtype == cr.float64 and p.shape == ()
    # torch keeps NAdam's running μ product in float32 even for float64 parameters
    rel = 1e-8 if name == "NAdam" else 1e-12
    assert p.item() == pytest.approx(q.item(), rel=rel, abs=1e-14)
    for key, value in theirs.state[q].items():
        if isinstance(value, torch.Tensor) and key not in ("step", "mu_product"):
            assert np.shape(ours.state[p][key]) == tuple(value.shape), key
            np.testing.assert_allclose(ours.state[p][key], value.numpy(), rtol=rel,
                                       err_msg=key)


def test_parameter_of_a_tensor_keeps_its_dtype_and_storage() -> None:
    t = cr.tensor([1.5, 2.5], dtype=cr.float64)
    p = nn.Parameter(t)
    assert p.dtype == cr.float64 and np.shares_memory(p.numpy(), t.numpy())  # as torch shares
    assert cr.tensor(t).dtype == cr.float64
    assert not np.shares_memory(cr.tensor(t).numpy(), t.numpy())  # tensor() copies
