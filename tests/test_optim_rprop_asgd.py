"""Rprop and ASGD against PyTorch: float64 parameters of several shapes (a 0-d one too)
trained for 25 steps on the same loss, with every hyperparameter; state_dict round trips;
bad hyperparameters."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
STEPS = 25
RTOL = 1e-12


def _constants(seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0.5, 2.0, s), rng.standard_normal(s)) for s in SHAPES]


CONSTANTS = _constants()


def _start(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) * 2.0 for s in SHAPES]


def _loss(params: list[Any], lib: Any, sign: float) -> Any:
    """sign · Σ a·(w − b)² + 0.05·w⁴: a valley the steps overshoot, so gradients flip."""
    total = None
    for w, (a, b) in zip(params, CONSTANTS):
        a_t, b_t = lib.tensor(a, dtype=lib.float64), lib.tensor(b, dtype=lib.float64)
        term = (a_t * (w - b_t) ** 2 + 0.05 * w ** 4).sum() * sign
        total = term if total is None else total + term
    return total


def _train(name: str, kwargs: dict[str, Any], steps: int = STEPS
           ) -> tuple[list[np.ndarray], list[np.ndarray], optim.Optimizer, Any, list, list]:
    sign = -1.0 if kwargs.get("maximize") else 1.0
    ours = [nn.Parameter(cr.tensor(w, dtype=cr.float64)) for w in _start()]
    theirs = [torch.nn.Parameter(torch.tensor(w, dtype=torch.float64)) for w in _start()]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        _loss(ours, cr, sign).backward()
        opt.step()
        ref.zero_grad()
        _loss(theirs, torch, sign).backward()
        ref.step()
    return ([p.numpy().copy() for p in ours], [q.detach().numpy().copy() for q in theirs],
            opt, ref, ours, theirs)


def max_relative_difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    worst = 0.0
    for a, b in zip(ours, theirs):
        scale = np.maximum(np.abs(b), 1e-300)
        worst = max(worst, float(np.max(np.abs(np.asarray(a) - b) / scale)))
    return worst


def _assert_matches_torch(name: str, kwargs: dict[str, Any]) -> None:
    ours, theirs, opt, ref, ps, qs = _train(name, kwargs)
    assert [w.shape for w in ours] == SHAPES and all(w.dtype == np.float64 for w in ours)
    assert max_relative_difference(ours, theirs) <= RTOL
    for p, q in zip(ps, qs):
        mine, torchs = opt.state[p], ref.state[q]
        assert set(mine) == set(torchs)
        for key, value in torchs.items():
            value = value.numpy()
            assert np.shape(mine[key]) == value.shape, key
            np.testing.assert_allclose(mine[key], value, rtol=RTOL, atol=0, err_msg=key)
    assert all(v != 0 for w in theirs for v in np.ravel(w))  # no zero to hide behind rtol


# ---- Rprop --------------------------------------------------------------------------------
RPROP_CASES = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "maximize": True},
    {"lr": 0.1, "etas": (0.3, 1.5)},
    {"lr": 0.1, "step_sizes": (1e-3, 0.2)},
    {"lr": 0.3, "etas": (0.25, 2.0), "step_sizes": (0.01, 0.5), "maximize": True},
    {"lr": 0.0, "step_sizes": (0.0, 1.0)},  # a zero step size stays zero: nothing moves
]


@pytest.mark.parametrize("kwargs", RPROP_CASES, ids=[str(c) for c in RPROP_CASES])
def test_rprop_matches_torch(kwargs: dict[str, Any]) -> None:
    _assert_matches_torch("Rprop", kwargs)


def test_rprop_sign_flips_happen() -> None:
    # the cases above exercise the shrink-and-skip branch, not only the growing one
    grew = shrank = skipped = False
    for steps in range(1, STEPS + 1, 2):
        _, _, opt, _, ps, _ = _train("Rprop", {"lr": 0.01}, steps=steps)
        sizes = np.concatenate([np.ravel(opt.state[p]["step_size"]) for p in ps])
        grew |= bool(np.any(sizes > 0.01))
        shrank |= bool(np.any(sizes < 0.01))
        skipped |= any(bool(np.any(opt.state[p]["prev"] == 0)) for p in ps)
    assert grew and shrank and skipped


def test_rprop_formula_on_one_weight() -> None:
    w = nn.Parameter(cr.tensor([1.0, 1.0, 1.0], dtype=cr.float64))
    opt = optim.Rprop([w], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    expected = [[0.9, 1.1, 1.0], [0.7, 1.1, 1.0], [0.4, 1.05, 1.0]]
    for grads, want in zip([[1.0, -1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 1.0, 0.0]], expected):
        w.grad = cr.tensor(grads, dtype=cr.float64)
        opt.step()
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-15)
    # weight 0: 0.1 → 0.2 → 0.3 (capped at s_max); weight 1: its sign flips at step 2,
    # which halves its step size and skips the step; then p = 0, so step 3 moves it by the
    # halved size, neither grown nor shrunk; weight 2: a zero gradient never moves it
    np.testing.assert_allclose(opt.state[w]["step_size"], [0.3, 0.05, 0.1], rtol=1e-15)
    assert opt.state[w]["step"] == 3


def test_rprop_nan_gradient_leaves_the_weight_as_torch() -> None:
    w = nn.Parameter(cr.tensor([1.0, 2.0], dtype=cr.float64))
    q = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt, ref = optim.Rprop([w], lr=0.1), torch.optim.Rprop([q], lr=0.1)
    for g in ([1.0, float("nan")], [1.0, 1.0], [-1.0, 1.0]):
        w.grad = cr.tensor(g, dtype=cr.float64)
        q.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        ref.step()
        np.testing.assert_array_equal(w.numpy(), q.detach().numpy())
        np.testing.assert_array_equal(opt.state[w]["step_size"],
                                      ref.state[q]["step_size"].numpy())


# ---- ASGD ---------------------------------------------------------------------------------
ASGD_CASES = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "maximize": True},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "lambd": 1e-2},
    {"lr": 0.05, "lambd": 0.5, "alpha": 0.5},
    {"lr": 0.05, "t0": 5.0},  # averaging starts at step 6: the μ ≠ 1 branch runs
    {"lr": 0.05, "lambd": 0.2, "alpha": 1.0, "t0": 3, "weight_decay": 0.05,
     "maximize": True},
]


@pytest.mark.parametrize("kwargs", ASGD_CASES, ids=[str(c) for c in ASGD_CASES])
def test_asgd_matches_torch(kwargs: dict[str, Any]) -> None:
    _assert_matches_torch("ASGD", kwargs)


def test_asgd_average_differs_from_the_iterate_after_t0() -> None:
    _, _, opt, _, ps, _ = _train("ASGD", {"lr": 0.05, "t0": 5.0})
    p = ps[0]
    assert opt.state[p]["mu"] == pytest.approx(1 / (STEPS - 5), rel=1e-7)
    assert not np.allclose(opt.state[p]["ax"], p.numpy())


def test_asgd_with_float64_default_dtype_matches_torch() -> None:
    # torch keeps η and μ in the default dtype: with float64 they are not rounded to float32
    old_cr, old_torch = cr.get_default_dtype(), torch.get_default_dtype()
    cr.set_default_dtype(cr.float64)
    torch.set_default_dtype(torch.float64)
    try:
        _assert_matches_torch("ASGD", {"lr": 0.05, "lambd": 0.1, "t0": 4.0})
        _, _, opt, ref, ps, qs = _train("ASGD", {"lr": 0.1, "lambd": 0.3}, steps=3)
        assert opt.state[ps[0]]["eta"] == ref.state[qs[0]]["eta"].item()
        assert opt.state[ps[0]]["eta"] != float(np.float32(opt.state[ps[0]]["eta"]))
    finally:
        cr.set_default_dtype(old_cr)
        torch.set_default_dtype(old_torch)


def test_asgd_formula_on_one_weight() -> None:
    lr, lambd, alpha, t0 = 0.5, 0.1, 0.75, 1.0
    w = nn.Parameter(cr.tensor([2.0], dtype=cr.float64))
    opt = optim.ASGD([w], lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    x, ax, eta, mu = 2.0, 0.0, float(np.float32(lr)), 1.0
    for t in range(1, 5):
        w.grad = cr.tensor([x], dtype=cr.float64)  # the gradient of x²/2
        opt.step()
        x = x * (1 - lambd * eta) - eta * x
        ax = x if mu == 1 else ax + mu * (x - ax)
        eta = float(np.float32(lr / (1 + lambd * lr * t) ** alpha))
        mu = float(np.float32(1 / max(1, t - t0)))
        assert w.item() == pytest.approx(x, rel=1e-15)
        assert opt.state[w]["ax"][0] == pytest.approx(ax, rel=1e-15)
        assert (opt.state[w]["eta"], opt.state[w]["mu"]) == (eta, mu)


# ---- state_dict -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [
    ("Rprop", {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.4), "maximize": True}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 4.0, "weight_decay": 0.01}),
])
@pytest.mark.parametrize("through_json", [False, True])
def test_state_dict_round_trip_continues_identically(name: str, kwargs: dict[str, Any],
                                                     through_json: bool) -> None:
    sign = -1.0 if kwargs.get("maximize") else 1.0

    def steps(opt: optim.Optimizer, params: list[nn.Parameter], n: int) -> None:
        for _ in range(n):
            opt.zero_grad()
            _loss(params, cr, sign).backward()
            opt.step()

    a = [nn.Parameter(cr.tensor(w, dtype=cr.float64)) for w in _start()]
    opt_a = getattr(optim, name)(a, **kwargs)
    steps(opt_a, a, 10)
    saved = copy.deepcopy(opt_a.state_dict())
    if through_json:
        saved = json.loads(json.dumps(saved, default=lambda x: np.asarray(x).tolist()))
    b = [nn.Parameter(cr.tensor(p.numpy().copy(), dtype=cr.float64)) for p in a]
    opt_b = getattr(optim, name)(b, lr=123.0)  # hyperparameters come from the state dict
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == kwargs["lr"]
    for p, q in zip(a, b):
        assert set(opt_b.state[q]) == set(opt_a.state[p])
        for key, value in opt_a.state[p].items():
            assert np.shape(opt_b.state[q][key]) == np.shape(value)
    steps(opt_a, a, 12)
    steps(opt_b, b, 12)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
        for key, value in opt_a.state[p].items():
            np.testing.assert_array_equal(opt_b.state[q][key], value, err_msg=key)


@pytest.mark.parametrize("name,kwargs", [("Rprop", {"lr": 0.1}),
                                         ("ASGD", {"lr": 0.05, "t0": 3.0})])
def test_torch_state_dict_loads_and_continues_as_torch(name: str,
                                                       kwargs: dict[str, Any]) -> None:
    ours, theirs, _, ref, _, qs = _train(name, kwargs, steps=8)
    ps = [nn.Parameter(cr.tensor(q.detach().numpy().copy(), dtype=cr.float64)) for q in qs]
    opt = getattr(optim, name)(ps, **kwargs)
    saved = ref.state_dict()
    opt.load_state_dict({"state": saved["state"],
                         "param_groups": [{k: v for k, v in g.items()
                                           if k in opt.defaults or k == "params"}
                                          for g in saved["param_groups"]]})
    for _ in range(10):
        opt.zero_grad()
        _loss(ps, cr, 1.0).backward()
        opt.step()
        ref.zero_grad()
        _loss(qs, torch, 1.0).backward()
        ref.step()
    assert max_relative_difference([p.numpy() for p in ps],
                                   [q.detach().numpy() for q in qs]) <= RTOL


# ---- bad hyperparameters ----------------------------------------------------------------------
BAD = [
    ("Rprop", {"lr": -0.1}, "lr must be", True),
    ("Rprop", {"etas": (1.5, 1.2)}, "etas must be", True),
    ("Rprop", {"etas": (0.0, 1.2)}, "etas must be", True),
    ("Rprop", {"etas": (0.5, 1.0)}, "etas must be", True),
    ("Rprop", {"etas": (0.5,)}, "etas must be a pair", False),
    ("Rprop", {"step_sizes": (1.0, 0.1)}, "step_sizes must be", False),
    ("Rprop", {"step_sizes": (-1e-6, 50)}, "step_sizes must be", False),
    ("Rprop", {"step_sizes": (float("nan"), 50)}, "step_sizes must be a pair", False),
    ("Rprop", {"maximize": "yes"}, "maximize must be", False),
    ("ASGD", {"lr": -0.1}, "lr must be", True),
    ("ASGD", {"weight_decay": -0.1}, "weight_decay must be", True),
    ("ASGD", {"lambd": float("nan")}, "lambd must be", False),
    ("ASGD", {"alpha": "0.75"}, "alpha must be", False),
    ("ASGD", {"t0": float("nan")}, "t0 must be", False),
    ("ASGD", {"maximize": 1}, "maximize must be", False),
]


@pytest.mark.parametrize("name,kwargs,message,torch_too", BAD,
                         ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_bad_hyperparameters_raise_value_error(name: str, kwargs: dict[str, Any],
                                               message: str, torch_too: bool) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([nn.Parameter(cr.tensor([1.0]))], **kwargs)
    if torch_too:  # the values PyTorch refuses, it refuses with ValueError too
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)
    opt = getattr(optim, name)([nn.Parameter(cr.tensor([1.0]))])
    with pytest.raises(ValueError, match=message):  # a new group is checked the same way
        opt.add_param_group({"params": [nn.Parameter(cr.tensor([1.0]))], **kwargs})


def test_asgd_accepts_an_infinite_t0() -> None:
    w = nn.Parameter(cr.tensor([1.0], dtype=cr.float64))
    opt = optim.ASGD([w], t0=float("inf"))
    w.grad = cr.tensor([1.0], dtype=cr.float64)
    opt.step()
    assert opt.state[w]["mu"] == 1.0


def test_float32_parameters_stay_float32() -> None:
    for name in ("Rprop", "ASGD"):
        w = nn.Parameter(cr.tensor([1.0, -2.0], dtype=cr.float32))
        opt = getattr(optim, name)([w], lr=0.1, t0=0.0) if name == "ASGD" \
            else getattr(optim, name)([w], lr=0.1)
        for _ in range(3):
            w.grad = cr.tensor([0.5, 1.5], dtype=cr.float32)
            opt.step()
        assert w.dtype == cr.float32
        assert all(v.dtype == np.float32 for v in opt.state[w].values()
                   if isinstance(v, np.ndarray))
