"""Learning-rate schedules: sequences against PyTorch, resuming, validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chainrule import nn, optim

# PyTorch warns when its schedulers step without an optimizer step; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")

LRS = (0.1, 0.03)


def make_optimizer(kind: str = "SGD", **kw) -> optim.Optimizer:
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    groups = [{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}]
    return getattr(optim, kind)(groups, **kw)


def make_torch_optimizer(torch, kind: str = "SGD", **kw):
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    groups = [{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}]
    return getattr(torch.optim, kind)(groups, **kw)


def lr_sequence(scheduler, steps: int, metrics=None) -> list[list[float]]:
    """The lrs each group has at epochs 0..steps (the optimizer's view, after each step)."""
    seq = [list(scheduler.get_last_lr())]
    for i in range(steps):
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
        seq.append([float(g["lr"]) for g in scheduler.optimizer.param_groups])
        assert seq[-1] == [float(v) for v in scheduler.get_last_lr()]
    return seq


def assert_sequences_close(ours: list[list[float]], theirs: list[list[float]]) -> None:
    assert len(ours) == len(theirs)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            assert math.isclose(x, float(y), rel_tol=1e-10, abs_tol=1e-15), (epoch, a, b)


CLOSED_FORM = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
]


def case_id(case) -> str:
    return case[0] + "-" + ",".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.torch
@pytest.mark.parametrize("case", CLOSED_FORM, ids=case_id)
def test_closed_form_schedules_match_torch(case) -> None:
    torch = pytest.importorskip("torch")
    name, kw = case
    ours = getattr(optim, name)(make_optimizer(), **kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(make_torch_optimizer(torch), **kw)
    # 25 epochs: past every milestone and past T_max, where the cosine rises again.
    assert_sequences_close(lr_sequence(ours, 25), lr_sequence(theirs, 25))


def test_closed_forms_by_hand() -> None:
    seq = lr_sequence(optim.StepLR(make_optimizer(), step_size=2, gamma=0.5), 5)
    assert [s[0] for s in seq] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    seq = lr_sequence(optim.MultiStepLR(make_optimizer(), milestones=[3, 1], gamma=0.1), 4)
    assert [s[1] for s in seq] == pytest.approx([0.03, 0.003, 0.003, 0.0003, 0.0003])
    seq = lr_sequence(optim.ExponentialLR(make_optimizer(), gamma=0.5), 3)
    assert [s[0] for s in seq] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    seq = lr_sequence(optim.CosineAnnealingLR(make_optimizer(), T_max=4, eta_min=0.02), 4)
    assert [s[0] for s in seq] == pytest.approx(
        [0.02 + 0.08 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)])
    assert seq[-1][0] == pytest.approx(0.02)


@pytest.mark.torch
@pytest.mark.parametrize("start_factor", [0.1, 0.5, 1.0])
def test_linear_warmup_alone_matches_torch_linear_lr(start_factor: float) -> None:
    torch = pytest.importorskip("torch")
    ours = optim.LinearWarmup(make_optimizer(), warmup_steps=5, start_factor=start_factor)
    theirs = torch.optim.lr_scheduler.LinearLR(
        make_torch_optimizer(torch), start_factor=start_factor, end_factor=1.0, total_iters=5)
    assert_sequences_close(lr_sequence(ours, 12), lr_sequence(theirs, 12))


@pytest.mark.torch
def test_linear_warmup_then_cosine_matches_torch_sequential_lr() -> None:
    torch = pytest.importorskip("torch")
    opt = make_optimizer()
    ours = optim.LinearWarmup(opt, warmup_steps=4, start_factor=0.25,
                              after=optim.CosineAnnealingLR(opt, T_max=10, eta_min=0.001))
    topt = make_torch_optimizer(torch)
    sched = torch.optim.lr_scheduler
    theirs = sched.SequentialLR(topt, [
        sched.LinearLR(topt, start_factor=0.25, end_factor=1.0, total_iters=4),
        sched.CosineAnnealingLR(topt, T_max=10, eta_min=0.001)], milestones=[4])
    assert_sequences_close(lr_sequence(ours, 16), lr_sequence(theirs, 16))


def test_linear_warmup_by_hand() -> None:
    seq = lr_sequence(optim.LinearWarmup(make_optimizer(), warmup_steps=4), 6)
    assert [s[0] for s in seq] == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    opt = make_optimizer()
    warm = optim.LinearWarmup(opt, 2, start_factor=0.5,
                              after=optim.StepLR(opt, step_size=2, gamma=0.1))
    seq = lr_sequence(warm, 6)
    assert [s[0] for s in seq] == pytest.approx([0.05, 0.075, 0.1, 0.1, 0.01, 0.01, 0.001])


ONE_CYCLE = [
    ("SGD", dict(momentum=0.9), dict(max_lr=[1.0, 0.5], total_steps=20)),
    ("SGD", dict(momentum=0.9), dict(max_lr=1.0, epochs=3, steps_per_epoch=7,
                                     anneal_strategy="linear", pct_start=0.25)),
    ("SGD", dict(momentum=0.9, nesterov=True), dict(max_lr=0.3, total_steps=30,
                                                    three_phase=True)),
    ("Adam", dict(), dict(max_lr=0.01, total_steps=15, div_factor=10.0,
                          final_div_factor=100.0)),
    ("Adam", dict(), dict(max_lr=0.01, total_steps=15, cycle_momentum=False)),
    ("SGD", dict(), dict(max_lr=0.5, total_steps=12, base_momentum=0.8, max_momentum=0.9)),
]


@pytest.mark.torch
@pytest.mark.parametrize("case", ONE_CYCLE, ids=lambda c: c[0] + "-" + str(c[2]))
def test_one_cycle_matches_torch_including_momentum(case) -> None:
    torch = pytest.importorskip("torch")
    kind, opt_kw, kw = case
    opt = make_optimizer(kind, **opt_kw)
    topt = make_torch_optimizer(torch, kind, **opt_kw)
    ours = optim.OneCycleLR(opt, **kw)
    theirs = torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    total = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    key = "betas" if kind == "Adam" else "momentum"
    for _ in range(total - 1):
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert math.isclose(g["lr"], tg["lr"], rel_tol=1e-10)
            ours_m = g[key][0] if key == "betas" else g[key]
            theirs_m = tg[key][0] if key == "betas" else tg[key]
            assert math.isclose(ours_m, theirs_m, rel_tol=1e-10)
        ours.step()
        theirs.step()
    with pytest.raises(ValueError, match="total_steps"):
        ours.step()
        ours.step()


def test_one_cycle_shape() -> None:
    opt = make_optimizer("SGD", momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=1.0, total_steps=100)
    seq = [s[0] for s in lr_sequence(sched, 99)]
    peak = int(np.argmax(seq))
    assert peak == 29
    assert seq[0] == pytest.approx(1.0 / 25)
    assert seq[peak] == pytest.approx(1.0)
    assert seq[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_one_cycle_needs_momentum_or_betas() -> None:
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        optim.OneCycleLR(make_optimizer("Adagrad"), max_lr=0.1, total_steps=10)
    optim.OneCycleLR(make_optimizer("Adagrad"), max_lr=0.1, total_steps=10,
                     cycle_momentum=False)


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=1),
    dict(patience=2, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold=0.05, cooldown=1, min_lr=[0.01, 0.02]),
    dict(factor=0.5, patience=1, min_lr=0.02, eps=1e-3),
]
METRICS = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.85, 0.86, 0.86, 0.86, 0.86, 0.87, 0.5,
           0.5, 0.5, 0.6, 0.4, 0.4, 0.4, 0.41, 0.42, 0.39, 0.39, 0.39, 0.39, 0.38, 0.38,
           0.38, 0.38, 0.37, 0.37] + [0.36] * 15


@pytest.mark.torch
@pytest.mark.parametrize("kw", PLATEAU, ids=str)
def test_reduce_on_plateau_matches_torch(kw: dict) -> None:
    torch = pytest.importorskip("torch")
    metrics = METRICS if kw.get("mode") != "max" else [-m for m in METRICS]
    ours = optim.ReduceLROnPlateau(make_optimizer(), **kw)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(make_torch_optimizer(torch), **kw)
    ours_seq = lr_sequence(ours, len(metrics), metrics)
    assert_sequences_close(ours_seq, lr_sequence(theirs, len(metrics), metrics))
    assert ours_seq[-1] != ours_seq[0]  # the cases do reduce


def test_reduce_on_plateau_by_hand() -> None:
    sched = optim.ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=2)
    seq = [s[0] for s in lr_sequence(sched, 6, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])]
    # epoch 1 sets best; epochs 2, 3 are bad (patience 2); epoch 4 is the third: halve.
    assert seq == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])


# ---- resuming -----------------------------------------------------------------------------
def _resume_check(build, steps_before: int, steps_after: int, metrics=None) -> None:
    """Run, save through JSON, build a fresh scheduler, load, and continue: the lrs of the
    resumed run must equal those of an uninterrupted one."""
    sched = build(make_optimizer())
    m = metrics or [None] * (steps_before + steps_after)
    step = (lambda s, i: s.step(m[i])) if metrics else (lambda s, i: s.step())
    for i in range(steps_before):
        step(sched, i)
    text = json.dumps({"opt": _optimizer_json(sched.optimizer),
                       "sched": sched.state_dict()}, allow_nan=False)
    saved = json.loads(text)
    resumed_opt = make_optimizer()
    resumed = build(resumed_opt)
    resumed.load_state_dict(saved["sched"])  # either order works
    resumed_opt.load_state_dict(saved["opt"])
    assert resumed.get_last_lr() == sched.get_last_lr()
    for i in range(steps_before, steps_before + steps_after):
        step(sched, i)
        step(resumed, i)
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in resumed_opt.param_groups] == \
            [g["lr"] for g in sched.optimizer.param_groups]


def _optimizer_json(opt: optim.Optimizer) -> dict:
    sd = opt.state_dict()
    return {"state": {}, "param_groups": sd["param_groups"]}


@pytest.mark.parametrize("build", [
    lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
    lambda o: optim.MultiStepLR(o, milestones=[2, 6], gamma=0.1),
    lambda o: optim.ExponentialLR(o, gamma=0.9),
    lambda o: optim.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
    lambda o: optim.LinearWarmup(o, 3, start_factor=0.1,
                                 after=optim.CosineAnnealingLR(o, T_max=8)),
    lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=20),
], ids=["step", "multistep", "exponential", "cosine", "warmup+cosine", "onecycle"])
def test_resume_from_state_dict_continues_identically(build) -> None:
    _resume_check(build, 5, 8)


def test_resume_reduce_on_plateau_including_infinite_best() -> None:
    build = lambda o: optim.ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=1)  # noqa: E731
    sched = build(make_optimizer())
    json.dumps(sched.state_dict(), allow_nan=False)  # best = inf is stored as "inf"
    assert sched.state_dict()["best"] == "inf"
    _resume_check(build, 0, 10, metrics=METRICS)
    _resume_check(build, 7, 10, metrics=METRICS)


def test_resume_with_last_epoch_needs_initial_lr() -> None:
    with pytest.raises(ValueError, match="no 'initial_lr'"):
        optim.StepLR(make_optimizer(), step_size=2, last_epoch=4)
    opt = make_optimizer()
    optim.StepLR(opt, step_size=2)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5, last_epoch=4)
    assert sched.last_epoch == 5
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.25, 0.03 * 0.25])


def test_load_state_dict_of_another_scheduler_is_rejected() -> None:
    step = optim.StepLR(make_optimizer(), step_size=2)
    cosine = optim.CosineAnnealingLR(make_optimizer(), T_max=5)
    with pytest.raises(ValueError, match="missing keys \\['T_max', 'eta_min'\\]"):
        cosine.load_state_dict(step.state_dict())


def test_state_dict_is_plain_json() -> None:
    opt = make_optimizer("Adam")
    for sched in (optim.OneCycleLR(opt, max_lr=0.1, total_steps=10),
                  optim.LinearWarmup(opt, 2, after=optim.ExponentialLR(opt, 0.9)),
                  optim.ReduceLROnPlateau(opt, mode="max")):
        sd = sched.state_dict()
        assert json.loads(json.dumps(sd, allow_nan=False)) == json.loads(json.dumps(sd))
        assert "optimizer" not in sd


# ---- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda o: optim.StepLR(o, step_size=0), "step_size must be an int >= 1"),
    (lambda o: optim.StepLR(o, step_size=2, gamma=-0.1), "gamma must be a finite number > 0"),
    (lambda o: optim.MultiStepLR(o, milestones=[1, -2]), "milestones must be ints >= 0"),
    (lambda o: optim.ExponentialLR(o, gamma=0.0), "gamma must be"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), "T_max must be"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=-1), "eta_min must be >= 0"),
    (lambda o: optim.LinearWarmup(o, 0), "warmup_steps must be an int >= 1"),
    (lambda o: optim.LinearWarmup(o, 5, start_factor=2.0), r"start_factor must be in \[0, 1\]"),
    (lambda o: optim.LinearWarmup(o, 5, after=optim.ReduceLROnPlateau(o)), "closed-form"),
    (lambda o: optim.LinearWarmup(o, 5, after=optim.StepLR(make_optimizer(), 2)),
     "different optimizer"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0), "give total_steps"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=0), "total_steps must be"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), "pct_start"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp"),
     "anneal_strategy"),
    (lambda o: optim.OneCycleLR(o, max_lr=[1.0], total_steps=9), "max_lr has 1 values"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="lowest"), "mode must be 'min' or 'max'"),
    (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), r"factor must be in \(0, 1\)"),
    (lambda o: optim.ReduceLROnPlateau(o, patience=-1), "patience must be"),
    (lambda o: optim.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: optim.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr has 1 values"),
])
def test_bad_arguments_raise_value_error(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(make_optimizer())


def test_needs_a_chainrule_optimizer() -> None:
    with pytest.raises(TypeError, match="needs a chainrule Optimizer"):
        optim.StepLR(object(), step_size=2)


def test_group_added_after_scheduler_is_reported() -> None:
    opt = make_optimizer()
    sched = optim.ExponentialLR(opt, gamma=0.9)
    opt.add_param_group({"params": [nn.Parameter(np.zeros(1))]})
    with pytest.raises(ValueError, match="3 param groups but the scheduler has 2 lrs"):
        sched.step()
