"""LambdaLR, MultiplicativeLR, ConstantLR, LinearLR, PolynomialLR, CyclicLR,
CosineAnnealingWarmRestarts, SequentialLR and ChainedScheduler: 50 steps against PyTorch
(two param groups with different lrs) to 1e-12, by-hand values, resuming from
``state_dict()`` through JSON, and argument errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.optim import lr_scheduler as S

pytestmark = pytest.mark.filterwarnings(
    "ignore:Detected call of `lr_scheduler.step\\(\\)`",
    "ignore:The epoch parameter in `scheduler.step\\(\\)`")

LRS = (0.1, 0.03)
STEPS = 50


def make_optimizer(kind: str = "SGD", **kw) -> optim.Optimizer:
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    groups = [{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}]
    return getattr(optim, kind)(groups, **kw)


def make_torch_optimizer(torch, kind: str = "SGD", **kw):
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    groups = [{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}]
    return getattr(torch.optim, kind)(groups, **kw)


def trace(scheduler, steps: int = STEPS, epochs=None, keys=("lr",)) -> list[list[float]]:
    """Each group's values of ``keys`` at epochs 0..steps (after each step), plus
    ``get_last_lr()`` and ``last_epoch`` where the scheduler has one."""
    groups = scheduler.optimizer.param_groups

    def snapshot() -> list[float]:
        row = []
        for g in groups:
            for k in keys:
                row.append(float(g[k][0] if k == "betas" else g[k]))
        row += [float(v) for v in scheduler.get_last_lr()]
        if hasattr(scheduler, "last_epoch"):
            row.append(float(scheduler.last_epoch))
        return row

    rows = [snapshot()]
    for i in range(steps):
        scheduler.step() if epochs is None else scheduler.step(epochs[i])
        rows.append(snapshot())
    return rows


def assert_close(ours: list[list[float]], theirs: list[list[float]], tol: float = 1e-12):
    assert len(ours) == len(theirs)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b), (epoch, a, b)
        for x, y in zip(a, b):
            assert math.isclose(x, y, rel_tol=tol, abs_tol=1e-15), (epoch, a, b)


def half(e: int) -> float:
    return 0.5 ** (e // 7)


def decay(e: int) -> float:
    return 0.97 if e % 3 else 1.01


# Each case builds the same schedule from a module of schedulers (ours or torch's) and an
# optimizer; one factory for both sides keeps the two definitions identical.
CASES = {
    "lambda": lambda M, o: M.LambdaLR(o, half),
    "lambda_per_group": lambda M, o: M.LambdaLR(o, [half, lambda e: 1 / (1 + e)]),
    "multiplicative": lambda M, o: M.MultiplicativeLR(o, decay),
    "constant_default": lambda M, o: M.ConstantLR(o),
    "constant": lambda M, o: M.ConstantLR(o, factor=0.25, total_iters=7),
    "linear_default": lambda M, o: M.LinearLR(o),
    "linear_down": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                           total_iters=30),
    "polynomial_default": lambda M, o: M.PolynomialLR(o),
    "polynomial": lambda M, o: M.PolynomialLR(o, total_iters=40, power=2.5),
    "cyclic_triangular": lambda M, o: M.CyclicLR(o, 0.01, [0.2, 0.1], step_size_up=4,
                                                 step_size_down=7),
    "cyclic_triangular2": lambda M, o: M.CyclicLR(o, [0.01, 0.005], 0.3, step_size_up=5,
                                                  mode="triangular2"),
    "cyclic_exp_range": lambda M, o: M.CyclicLR(o, 0.01, 0.3, step_size_up=3,
                                                mode="exp_range", gamma=0.97),
    "cyclic_scale_fn": lambda M, o: M.CyclicLR(o, 0.01, 0.3, step_size_up=6,
                                               scale_fn=lambda x: 1 / (1 + 0.1 * x),
                                               scale_mode="iterations",
                                               base_momentum=0.7, max_momentum=0.95),
    "warm_restarts": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=7),
    "warm_restarts_mult": lambda M, o: M.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                     eta_min=0.002),
    "sequential": lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=5),
            M.CosineAnnealingLR(o, T_max=20, eta_min=0.001)], milestones=[5]),
    "sequential_three": lambda M, o: M.SequentialLR(
        o, [M.ConstantLR(o, factor=0.5, total_iters=3), M.ExponentialLR(o, gamma=0.9),
            M.MultiplicativeLR(o, decay), M.StepLR(o, step_size=4, gamma=0.5)],
        milestones=[4, 15, 30]),
    "sequential_restarts": lambda M, o: M.SequentialLR(
        o, [M.PolynomialLR(o, total_iters=6), M.CosineAnnealingWarmRestarts(o, T_0=4),
            M.LambdaLR(o, half)], milestones=[6, 25]),
    "chained": lambda M, o: M.ChainedScheduler(
        [M.ConstantLR(o, factor=0.1, total_iters=4), M.ExponentialLR(o, gamma=0.95)]),
    "chained_four": lambda M, o: M.ChainedScheduler(
        [M.LinearLR(o, start_factor=0.2, total_iters=6), M.StepLR(o, step_size=5, gamma=0.7),
         M.MultiStepLR(o, milestones=[10, 10, 33], gamma=0.5),
         M.PolynomialLR(o, total_iters=45, power=0.5)]),
    "chained_cosine_past_t_max": lambda M, o: M.ChainedScheduler(
        [M.CosineAnnealingLR(o, T_max=8, eta_min=0.001), M.MultiplicativeLR(o, decay)]),
    "chained_overwriting": lambda M, o: M.ChainedScheduler(
        [M.ExponentialLR(o, gamma=0.9), M.LambdaLR(o, half),
         M.ConstantLR(o, factor=0.5, total_iters=3)]),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_for_50_steps(name: str) -> None:
    torch = pytest.importorskip("torch")
    build = CASES[name]
    kw = dict(momentum=0.9) if name.startswith("cyclic") else {}
    keys = ("lr", "momentum") if kw else ("lr",)
    ours = build(S, make_optimizer(**kw))
    theirs = build(torch.optim.lr_scheduler, make_torch_optimizer(torch, **kw))
    assert_close(trace(ours, keys=keys), trace(theirs, keys=keys))


@pytest.mark.torch
def test_cyclic_cycles_adam_beta1_like_torch() -> None:
    torch = pytest.importorskip("torch")

    def build(M, o):
        return M.CyclicLR(o, 0.001, 0.01, step_size_up=5, base_momentum=0.85,
                          max_momentum=0.95)

    ours = build(S, make_optimizer("Adam"))
    theirs = build(torch.optim.lr_scheduler, make_torch_optimizer(torch, "Adam"))
    assert_close(trace(ours, keys=("lr", "betas")), trace(theirs, keys=("lr", "betas")))
    assert ours.optimizer.param_groups[0]["betas"][1] == 0.999


@pytest.mark.torch
@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_with_float_epochs_like_torch(t_mult: int) -> None:
    torch = pytest.importorskip("torch")
    # per-batch annealing: epoch + batch / batches, then some jumps back and forth
    epochs = [e + b / 4 for e in range(12) for b in range(4)] + [3, 0.5, 40.25, 7.0, 2]

    def build(M, o):
        return M.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=t_mult, eta_min=0.001)

    ours = build(S, make_optimizer())
    theirs = build(torch.optim.lr_scheduler, make_torch_optimizer(torch))
    n = len(epochs)
    assert_close(trace(ours, n, epochs), trace(theirs, n, epochs))


@pytest.mark.torch
def test_step_with_an_epoch_jumps_like_torch() -> None:
    torch = pytest.importorskip("torch")
    epochs = [3, 4, 10, 2, 0, 25]
    for name in ("LinearLR", "ConstantLR", "PolynomialLR"):
        ours = getattr(S, name)(make_optimizer(), total_iters=8)
        theirs = getattr(torch.optim.lr_scheduler, name)(make_torch_optimizer(torch),
                                                         total_iters=8)
        assert_close(trace(ours, len(epochs), epochs), trace(theirs, len(epochs), epochs))


# ---- by hand ------------------------------------------------------------------------------
def lrs(scheduler, steps: int) -> list[float]:
    return [row[0] for row in trace(scheduler, steps)]


def test_closed_forms_by_hand() -> None:
    b = LRS[0]
    assert lrs(S.ConstantLR(make_optimizer(), factor=0.5, total_iters=2), 3) == \
        pytest.approx([b / 2, b / 2, b, b], rel=1e-15)
    assert lrs(S.LinearLR(make_optimizer(), start_factor=0.25, end_factor=0.75,
                          total_iters=2), 3) == pytest.approx([b / 4, b / 2, 3 * b / 4,
                                                                3 * b / 4], rel=1e-15)
    assert lrs(S.PolynomialLR(make_optimizer(), total_iters=4, power=2.0), 5) == \
        pytest.approx([b, b * 9 / 16, b / 4, b / 16, 0.0, 0.0], rel=1e-15)
    assert lrs(S.LambdaLR(make_optimizer(), lambda e: e + 1), 2) == \
        pytest.approx([b, 2 * b, 3 * b], rel=1e-15)
    assert lrs(S.MultiplicativeLR(make_optimizer(), lambda e: 0.5), 3) == \
        pytest.approx([b, b / 2, b / 4, b / 8], rel=1e-15)
    cyc = S.CyclicLR(make_optimizer(momentum=0.9), 0.0, 1.0, step_size_up=2,
                     step_size_down=4, mode="triangular2")
    assert lrs(cyc, 12) == pytest.approx([0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0.25, 0.5, 0.375,
                                          0.25, 0.125, 0], abs=1e-15)
    sgdr = S.CosineAnnealingWarmRestarts(make_optimizer(), T_0=2, T_mult=2)
    assert lrs(sgdr, 6) == pytest.approx([b, b / 2, b, b * (2 + math.sqrt(2)) / 4, b / 2,
                                          b * (2 - math.sqrt(2)) / 4, b], rel=1e-12)


def test_cyclic_sets_base_lr_and_momentum_at_epoch_zero() -> None:
    opt = make_optimizer(momentum=0.5)
    S.CyclicLR(opt, base_lr=[0.001, 0.002], max_lr=0.1, step_size_up=3)
    assert [g["lr"] for g in opt.param_groups] == [0.001, 0.002]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    assert opt.param_groups[0]["base_momentum"] == 0.8


def test_chained_composes_and_sequential_switches() -> None:
    opt = make_optimizer()
    chained = S.ChainedScheduler([S.ConstantLR(opt, factor=0.1, total_iters=2),
                                  S.ExponentialLR(opt, gamma=0.5)])
    expected = [LRS[0] * 0.5 ** e * (0.1 if e < 2 else 1) for e in range(6)]
    assert lrs(chained, 5) == pytest.approx(expected, rel=1e-14)
    opt = make_optimizer()
    seq = S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.1, total_iters=10),
                               S.ExponentialLR(opt, gamma=0.5)], milestones=[2])
    expected = [LRS[0] * 0.1, LRS[0] * 0.1] + [LRS[0] * 0.5 ** k for k in range(4)]
    assert lrs(seq, 5) == pytest.approx(expected, rel=1e-14)


# ---- resuming -------------------------------------------------------------------------------
class Halving:
    """A callable object: its attributes are saved in state_dict (as PyTorch)."""

    def __init__(self, every: int) -> None:
        self.every = every

    def __call__(self, e: int) -> float:
        return 0.5 ** (e // self.every)


RESUME = {
    "lambda_object": lambda o: S.LambdaLR(o, Halving(3)),
    "multiplicative": lambda o: S.MultiplicativeLR(o, decay),
    "constant": lambda o: S.ConstantLR(o, factor=0.3, total_iters=6),
    "linear": lambda o: S.LinearLR(o, total_iters=9),
    "polynomial": lambda o: S.PolynomialLR(o, total_iters=12, power=1.5),
    "cyclic": lambda o: S.CyclicLR(o, 0.01, 0.2, step_size_up=3, mode="exp_range",
                                   gamma=0.99),
    "warm_restarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "sequential": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, total_iters=4), S.MultiplicativeLR(o, decay),
            S.CosineAnnealingWarmRestarts(o, T_0=3)], milestones=[4, 9]),
    "chained": lambda o: S.ChainedScheduler(
        [S.LinearLR(o, total_iters=4), S.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
         S.MultiplicativeLR(o, decay)]),
}


@pytest.mark.parametrize("before", [0, 3, 7])
@pytest.mark.parametrize("name", sorted(RESUME))
def test_resume_through_json_continues_identically(name: str, before: int) -> None:
    build = RESUME[name]
    kw = dict(momentum=0.9)
    sched = build(make_optimizer(**kw))
    for _ in range(before):
        sched.step()
    opt_groups = sched.optimizer.state_dict()["param_groups"]
    text = json.dumps({"opt": opt_groups, "sched": sched.state_dict()}, allow_nan=False)
    saved = json.loads(text)
    fresh_opt = make_optimizer(**kw)
    resumed = build(fresh_opt)
    resumed.load_state_dict(saved["sched"])
    fresh_opt.load_state_dict({"state": {}, "param_groups": saved["opt"]})
    assert resumed.get_last_lr() == sched.get_last_lr()
    for _ in range(15):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in fresh_opt.param_groups] == \
            [g["lr"] for g in sched.optimizer.param_groups]
        assert [g["momentum"] for g in fresh_opt.param_groups] == \
            [g["momentum"] for g in sched.optimizer.param_groups]


def test_lambdas_are_not_saved_but_callable_objects_are() -> None:
    opt = make_optimizer()
    fn = S.LambdaLR(opt, [half, Halving(4)])
    assert fn.state_dict()["lr_lambdas"] == [None, {"every": 4}]
    other = S.LambdaLR(make_optimizer(), [half, Halving(99)])
    other.load_state_dict(json.loads(json.dumps(fn.state_dict())))
    assert other.lr_lambdas[1].every == 4
    cyc = S.CyclicLR(make_optimizer(), 0.1, 1.0, scale_fn=lambda x: 1.0,
                     cycle_momentum=False)
    assert cyc.state_dict()["_scale_fn_custom"] is None
    json.dumps(cyc.state_dict(), allow_nan=False)


def test_composites_reject_mismatched_state() -> None:
    opt = make_optimizer()
    seq = S.SequentialLR(opt, [S.ConstantLR(opt), S.ExponentialLR(opt, 0.9)], [3])
    chained = S.ChainedScheduler([S.ConstantLR(opt), S.ExponentialLR(opt, 0.9)])
    with pytest.raises(ValueError, match="expected keys"):
        chained.load_state_dict(seq.state_dict())
    sd = seq.state_dict()
    sd["_schedulers"] = sd["_schedulers"][:1]
    with pytest.raises(ValueError, match="1 saved schedulers, 2 here"):
        seq.load_state_dict(sd)


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda o: S.LambdaLR(o, [half]), ValueError, "expected 2 lr_lambdas"),
    (lambda o: S.MultiplicativeLR(o, 0.5), TypeError, "must be callable"),
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, r"factor must be in \[0, 1\]"),
    (lambda o: S.ConstantLR(o, total_iters=-1), ValueError, "total_iters must be an int"),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError, r"start_factor must be in \(0"),
    (lambda o: S.LinearLR(o, end_factor=2.0), ValueError, "end_factor"),
    (lambda o: S.LinearLR(o, total_iters=0), ValueError, "total_iters must be an int >= 1"),
    (lambda o: S.PolynomialLR(o, power=math.nan), ValueError, "power"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, "mode must be"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, scale_mode="epoch"), ValueError, "scale_mode"),
    (lambda o: S.CyclicLR(o, 0.1, [1.0]), ValueError, "max_lr has 1 values"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, step_size_up=0), ValueError, "step_size_up"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0 must be an int"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), ValueError, "T_mult"),
    (lambda o: S.SequentialLR(o, [S.ConstantLR(o)], [2]), ValueError, "need 0 milestones"),
    (lambda o: S.SequentialLR(o, [S.ConstantLR(o), S.ReduceLROnPlateau(o)], [2]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: S.SequentialLR(o, [S.ConstantLR(make_optimizer())], []), ValueError,
     "another optimizer"),
    (lambda o: S.ChainedScheduler([]), ValueError, "at least one"),
    (lambda o: S.ChainedScheduler([S.ConstantLR(o), "x"]), TypeError, "not a chainrule"),
])
def test_bad_arguments(make, error, message: str) -> None:
    with pytest.raises(error, match=message):
        make(make_optimizer())


def test_cyclic_needs_momentum_unless_told_not_to() -> None:
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        S.CyclicLR(make_optimizer("Adagrad"), 0.1, 1.0)
    S.CyclicLR(make_optimizer("Adagrad"), 0.1, 1.0, cycle_momentum=False)


def test_warm_restarts_rejects_negative_epoch() -> None:
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        S.CosineAnnealingWarmRestarts(make_optimizer(), T_0=2).step(-1)


def test_exported_from_optim() -> None:
    for name in ("LambdaLR", "MultiplicativeLR", "ConstantLR", "LinearLR", "PolynomialLR",
                 "CyclicLR", "CosineAnnealingWarmRestarts", "SequentialLR",
                 "ChainedScheduler"):
        assert getattr(optim, name) is getattr(S, name)
