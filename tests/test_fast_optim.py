"""The compiled optimizer kernels (``chainrule.fast.optim``) against the NumPy updates.

The NumPy update is the reference and the kernels promise the same bits: every test runs
the same steps twice, fast path off and on, and compares the parameter and every state
array with ``np.array_equal`` (NaN where NaN). Skipped when numba is not installed.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
from chainrule import fast  # noqa: E402
from chainrule.optim.optimizer import _BLOCK  # noqa: E402

SHAPES = [(1,), (7,), (33, 7), (2, 3, 4, 5), (_BLOCK + 5,)]
STEPS = 21


pytestmark = pytest.mark.usefixtures("fast_reset")  # see tests/conftest.py


def _train(make_opt, shapes, on: bool, dtype=np.float32, steps: int = STEPS, special=False,
           layout=None):
    """Parameters of ``shapes`` after ``steps`` steps of ``make_opt(params)`` with random
    gradients (the same on both paths), and the optimizer."""
    assert fast.use_fast(on) is on
    rng = np.random.default_rng(0)
    params = []
    for s in shapes:
        data = rng.standard_normal(s).astype(dtype)
        p = cr.nn.Parameter(data)
        p.data = layout(data) if layout is not None else data  # float64 stays float64
        params.append(p)
    opt = make_opt(params)
    for step in range(steps):
        for p in params:
            g = rng.standard_normal(p.shape).astype(dtype)
            if special and step in (5, 11) and g.size >= 4:
                g.reshape(-1)[:4] = [0.0, np.nan, np.inf, -np.inf][:4]
            p.grad = cr.from_numpy(g)  # keeps float64
        opt.step()
    fast.use_fast(False)
    return params, opt


def _assert_same(a, b) -> None:
    (pa, oa), (pb, ob) = a, b
    for x, y in zip(pa, pb):
        assert x.numpy().dtype == y.numpy().dtype
        assert np.array_equal(x.numpy(), y.numpy(), equal_nan=True)
        sa, sb = oa.state[x], ob.state[y]
        assert sa.keys() == sb.keys()
        for k in sa:
            va, vb = sa[k], sb[k]
            if isinstance(va, np.ndarray):
                assert va.dtype == vb.dtype
                assert np.array_equal(va, vb, equal_nan=True), k
            else:
                assert va == vb and type(va) is type(vb), k


def _same_both_ways(make_opt, shapes=SHAPES, **kw) -> None:
    _assert_same(_train(make_opt, shapes, False, **kw), _train(make_opt, shapes, True, **kw))


def _ran_fast(make_opt, shapes, **kw) -> bool:
    """Whether a step of the fast path used a compiled kernel (some were built)."""
    fast._kernels.clear()
    _train(make_opt, shapes, True, steps=2, **kw)
    return bool(fast._kernels)


ADAM_FLAGS = list(itertools.product([False, True], [False, True], [0.0, 0.1],
                                    [False, True]))


@pytest.mark.parametrize("amsgrad,maximize,weight_decay,decoupled", ADAM_FLAGS)
def test_adam_is_bit_identical(amsgrad, maximize, weight_decay, decoupled):
    def make(ps):
        return cr.optim.Adam(ps, lr=3e-2, betas=(0.8, 0.95), eps=1e-6,
                             weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                             decoupled_weight_decay=decoupled)

    _same_both_ways(make)
    assert _ran_fast(make, [(3, 4)])


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_is_bit_identical(amsgrad):
    _same_both_ways(lambda ps: cr.optim.AdamW(ps, lr=1e-2, amsgrad=amsgrad))


SGD_FLAGS = [f for f in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.1],
                                          [False, True])
             if not (f[2] and (f[0] == 0 or f[1] != 0))]


@pytest.mark.parametrize("momentum,dampening,nesterov,weight_decay,maximize", SGD_FLAGS)
def test_sgd_is_bit_identical(momentum, dampening, nesterov, weight_decay, maximize):
    def make(ps):
        return cr.optim.SGD(ps, lr=0.05, momentum=momentum, dampening=dampening,
                            nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)

    _same_both_ways(make)
    assert _ran_fast(make, [(3, 4)])


RMSPROP_FLAGS = list(itertools.product([0.0, 0.9], [False, True], [0.0, 0.1], [False, True]))


@pytest.mark.parametrize("momentum,centered,weight_decay,maximize", RMSPROP_FLAGS)
def test_rmsprop_is_bit_identical(momentum, centered, weight_decay, maximize):
    def make(ps):
        return cr.optim.RMSprop(ps, lr=1e-2, alpha=0.9, eps=1e-7, momentum=momentum,
                                centered=centered, weight_decay=weight_decay,
                                maximize=maximize)

    _same_both_ways(make)
    assert _ran_fast(make, [(3, 4)])


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: cr.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True),
    lambda ps: cr.optim.SGD(ps, lr=1e-2),
    lambda ps: cr.optim.RMSprop(ps, lr=1e-3, centered=True, momentum=0.5),
])
def test_nan_inf_and_zero_gradients_give_the_same_bits(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's invalid-value warnings
        _same_both_ways(make, shapes=[(33, 7), (5,)], special=True)


def test_eps_zero_divides_the_same_way():
    with np.errstate(divide="ignore", invalid="ignore"):
        _same_both_ways(lambda ps: cr.optim.RMSprop(ps, eps=0.0), shapes=[(4, 4)], special=True)


@pytest.mark.parametrize("layout", [np.asfortranarray, lambda a: np.repeat(a, 2, -1)[..., ::2]])
@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.Adam(ps, lr=1e-2),
    lambda ps: cr.optim.SGD(ps, lr=1e-2, momentum=0.9),
    lambda ps: cr.optim.SGD(ps, lr=1e-2),
    lambda ps: cr.optim.RMSprop(ps, lr=1e-2),
])
def test_non_contiguous_parameters_fall_back_to_numpy(make, layout):
    shapes = [(6, 5), (3, 4, 2)]
    _same_both_ways(make, shapes=shapes, layout=layout)
    assert not _ran_fast(make, shapes, layout=layout)


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.Adam(ps, lr=1e-2),
    lambda ps: cr.optim.SGD(ps, lr=1e-2, momentum=0.9),
    lambda ps: cr.optim.SGD(ps, lr=1e-2),
    lambda ps: cr.optim.RMSprop(ps, lr=1e-2),
])
def test_float64_stays_numpy(make):
    _same_both_ways(make, shapes=[(6, 5), (7,)], dtype=np.float64)
    assert not _ran_fast(make, [(6, 5)], dtype=np.float64)


def test_non_contiguous_gradient_falls_back_to_numpy():
    def run(on):
        fast.use_fast(on)
        p = cr.nn.Parameter(np.arange(12, dtype=np.float32).reshape(3, 4))
        opt = cr.optim.Adam([p], lr=0.1)
        for _ in range(3):
            p.grad = cr.Tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3).T)
            opt.step()
        fast.use_fast(False)
        return [p], opt

    fast._kernels.clear()
    _assert_same(run(False), run(True))
    assert not fast._kernels


def test_param_groups_each_with_their_own_options():
    def make(ps):
        return cr.optim.Adam([
            {"params": ps[:2]},
            {"params": ps[2:3], "lr": 0.1, "amsgrad": True, "weight_decay": 0.01},
            {"params": ps[3:], "maximize": True, "betas": (0.5, 0.6)},
        ], lr=1e-2)

    _same_both_ways(make, shapes=[(4, 3), (3,), (5, 5), (2,)])

    def make_sgd(ps):
        return cr.optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "momentum": 0.9}],
                            lr=0.1)

    _same_both_ways(make_sgd, shapes=[(4, 3), (3,), (5, 5), (2,)])


def test_changing_lr_between_steps_as_a_scheduler_does():
    def make(ps):
        opt = cr.optim.Adam(ps, lr=0.1)
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        real_step = opt.step

        def step(closure=None):
            out = real_step(closure)
            sched.step()
            return out

        opt.step = step
        return opt

    _same_both_ways(make, shapes=[(8, 3)])


@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: cr.optim.SGD(ps, lr=1e-2, momentum=0.9),
    lambda ps: cr.optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.9),
])
def test_state_dict_round_trip_is_path_independent(make):
    """A checkpoint written on one path resumes on the other with the same bits."""
    params, opt = _train(make, [(6, 4), (4,)], True, steps=7)
    saved = {k: v for k, v in opt.state_dict().items()}
    saved = {"state": {i: {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                           for k, v in s.items()} for i, s in saved["state"].items()},
             "param_groups": saved["param_groups"]}
    results = []
    for on in (False, True):
        ps = [cr.nn.Parameter(p.numpy().copy()) for p in params]
        o = make(ps)
        o.load_state_dict(saved)
        fast.use_fast(on)
        rng = np.random.default_rng(1)
        for _ in range(5):
            for p in ps:
                p.grad = cr.Tensor(rng.standard_normal(p.shape).astype(np.float32))
            o.step()
        fast.use_fast(False)
        results.append((ps, o))
    _assert_same(*results)
    # the state dict holds the same keys and plain values on either path
    (pa, oa), (pb, ob) = results
    da, db = oa.state_dict(), ob.state_dict()
    assert da["param_groups"] == db["param_groups"]
    assert {i: sorted(s) for i, s in da["state"].items()} == \
        {i: sorted(s) for i, s in db["state"].items()}


def test_training_a_model_ends_with_the_same_weights():
    def run(on):
        fast.use_fast(on)
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(5, 8), cr.nn.Tanh(), cr.nn.Linear(8, 2))
        opt = cr.optim.AdamW(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(0)
        x = cr.tensor(rng.standard_normal((16, 5)).astype(np.float32))
        y = cr.tensor(rng.standard_normal((16, 2)).astype(np.float32))
        for _ in range(10):
            opt.zero_grad()
            cr.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        fast.use_fast(False)
        return model.state_dict()

    a, b = run(False), run(True)
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
