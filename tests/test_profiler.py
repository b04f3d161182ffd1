"""``diagnostics.profile``: every op and optimizer step is counted and timed, shapes can
be told apart, profiling changes no result, and the switch is restored on exit."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import _State
from chainrule.diagnostics import profile


def _setup(seed: int = 0):
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    x = cr.tensor(np.random.default_rng(seed).standard_normal((8, 3)), dtype=cr.float32)
    y = cr.tensor(np.arange(8) % 2)
    return model, opt, x, y


def _step(model, opt, x, y) -> None:
    opt.zero_grad()
    cr.functional.cross_entropy(model(x), y).backward()
    opt.step()


def test_counts_every_op_and_optimizer_step() -> None:
    model, opt, x, y = _setup()
    with profile() as prof:
        for _ in range(3):
            _step(model, opt, x, y)
    rows = {r.name: r for r in prof.rows()}
    assert rows["Linear"].calls == 6  # two layers, three steps
    assert rows["Tanh"].calls == 3
    assert rows["Adam.step"].calls == 3
    assert rows["Linear"].forward_s > 0 and rows["Linear"].backward_s > 0
    assert rows["Adam.step"].backward_s == 0
    assert prof.wall_s >= sum(r.total_s for r in prof.rows())
    ordered = [r.total_s for r in prof.rows()]
    assert ordered == sorted(ordered, reverse=True)


def test_by_shape_keeps_one_row_per_input_shapes() -> None:
    model, opt, x, y = _setup()
    with profile(by_shape=True) as prof:
        _step(model, opt, x, y)
    linear = [r for r in prof.rows() if r.name == "Linear"]
    assert sorted(r.shapes for r in linear) == [((8, 3), (5, 3), (5,)),
                                                ((8, 5), (2, 5), (2,))]
    assert all(r.calls == 1 and r.backward_s > 0 for r in linear)


def test_profiling_changes_no_result() -> None:
    weights = []
    for profiled in (False, True):
        model, opt, x, y = _setup(seed=3)
        if profiled:
            with profile():
                for _ in range(4):
                    _step(model, opt, x, y)
        else:
            for _ in range(4):
                _step(model, opt, x, y)
        weights.append([p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_switch_is_restored_even_after_an_error_and_when_nested() -> None:
    with profile() as outer:
        with pytest.raises(ValueError):
            with profile():
                raise ValueError("boom")
        assert _State.profiler is outer
    assert _State.profiler is None


def test_table_reports_per_step_milliseconds_and_the_outside_time() -> None:
    model, opt, x, y = _setup()
    with profile() as prof:
        for _ in range(2):
            _step(model, opt, x, y)
    text = prof.table(steps=2)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["op", "calls"]
    linear_line = next(line for line in lines if line.startswith("Linear"))
    assert linear_line.split()[1] == "2.0"  # calls per step
    assert "outside them" in text and lines[-1].startswith("wall")
    wall_ms = float(lines[-1].split()[-1])
    assert wall_ms == pytest.approx(prof.wall_s * 1e3 / 2, rel=1e-3, abs=1e-3)
    assert len(prof.table(top=1).splitlines()) == 2 + 1 + 3
    with pytest.raises(ValueError, match="steps"):
        prof.table(steps=0)
