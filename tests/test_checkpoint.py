"""Checkpoints: model + optimizer + scheduler + trainer state, bit-exact and resumable."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.io import (
    Checkpoint,
    ModelFileError,
    inspect_file,
    load_checkpoint,
    read_metadata,
    save,
    save_checkpoint,
    to_spec,
)


def assert_exact(a: Any, b: Any, where: str = "value") -> None:
    """Equal in type, structure, order, dtype and every bit (NaN equals NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_exact(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_exact(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(6, 2))


def _fake_optimizer_state(rng: np.random.Generator) -> dict:
    """PyTorch's optimizer.state_dict() layout, with every kind of value it may hold."""
    return {
        "state": {
            0: {"step": 12, "exp_avg": rng.normal(size=(6, 4)).astype(np.float32),
                "exp_avg_sq": rng.random((6, 4)).astype(np.float32)},
            1: {"step": np.array(12, np.int64), "exp_avg": rng.normal(size=6),
                "exp_avg_sq": rng.random(6)},  # float64 moments, 0-d int64 step
            3: {"step": np.float32(3.0), "momentum_buffer": np.array(0.5, np.float64)},
        },
        "param_groups": [
            {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False, "initial_lr": 0.01, "params": [0, 1]},
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "params": [2, 3]},
        ],
    }


def _rng_states() -> dict:
    gen = cr.Generator(2024)
    gen.normal((5,))
    pcg = np.random.default_rng(7)
    pcg.random(3)
    mt = np.random.Generator(np.random.MT19937(11))
    mt.random(2)
    legacy = np.random.RandomState(5)
    legacy.random_sample(4)
    philox = np.random.Generator(np.random.Philox(3))
    return {"chainrule": gen.get_state(), "pcg64": pcg.bit_generator.state,
            "mt19937": mt.bit_generator.state, "legacy": legacy.get_state(),
            "philox": philox.bit_generator.state,
            "seed_sequence_entropy": np.random.SeedSequence(1).entropy}


class FakeOptimizer:
    def __init__(self, state: dict | None = None) -> None:
        self.state = state
        self.loaded: dict | None = None

    def state_dict(self) -> dict:
        return self.state

    def load_state_dict(self, state: dict) -> None:
        if len(state["param_groups"]) != 2:
            raise ValueError("expected 2 param groups")
        self.loaded = state


class FakeScheduler:
    def __init__(self) -> None:
        self.loaded: dict | None = None

    def state_dict(self) -> dict:
        return {"last_epoch": 7, "base_lrs": [0.01, 0.1], "_last_lr": [0.005, 0.05],
                "milestones": {30: 1, 80: 1}, "gamma": 0.5}

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    model = _model()
    model(cr.tensor(rng.normal(size=(8, 4)).astype(np.float32)))  # move running stats
    optim_state = _fake_optimizer_state(rng)
    extra = {
        "epoch": 3, "step": 2**40 + 1, "rng": _rng_states(),
        "history": {"loss": [1.5, 0.75, float("nan"), float("inf")], "acc": [0.1, 1 / 3]},
        "loader": {"order": rng.permutation(10), "position": 4, "shuffle": True},
        "best": np.float64(0.1 + 0.2), "note": None, "shape": (3, (4, 5)), "raw": b"\x00\xff",
        "per_class": {0: 0.5, 1: 0.25}, "__tuple__": "a key that looks like a tag",
    }
    path = tmp_path / "run.ckpt.safetensors"
    save_checkpoint(path, model=model, optimizer=FakeOptimizer(optim_state),
                    scheduler=FakeScheduler(), extra=extra)
    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert_exact(ckpt.model_state, {k: v for k, v in model.state_dict().items()}, "model")
    assert_exact(ckpt.optimizer_state, optim_state, "optimizer")
    assert_exact(ckpt.scheduler_state, FakeScheduler().state_dict(), "scheduler")
    assert_exact(ckpt.extra, extra, "extra")
    assert ckpt.architecture == to_spec(model)
    assert ckpt.chainrule_version == cr.__version__
    assert ckpt.path == str(path)


def test_rng_states_restore_the_same_random_streams(tmp_path: Path) -> None:
    states = _rng_states()
    path = tmp_path / "rng.ckpt.safetensors"
    save_checkpoint(path, model=nn.Linear(1, 1), extra={"rng": states})
    got = load_checkpoint(path).extra["rng"]
    gen = cr.Generator(0)
    gen.set_state(got["chainrule"])
    ref = cr.Generator(2024)
    ref.normal((5,))
    assert gen.normal((4,)).tobytes() == ref.normal((4,)).tobytes()
    for name, bitgen in (("pcg64", np.random.PCG64), ("mt19937", np.random.MT19937),
                         ("philox", np.random.Philox)):
        a, b = bitgen(), bitgen()
        a.state, b.state = got[name], states[name]
        assert np.random.Generator(a).random(5).tobytes() == \
            np.random.Generator(b).random(5).tobytes(), name
    legacy = np.random.RandomState()
    legacy.set_state(got["legacy"])
    ref_legacy = np.random.RandomState(5)
    ref_legacy.random_sample(4)
    assert legacy.random_sample(3).tobytes() == ref_legacy.random_sample(3).tobytes()


def test_optimizer_arrays_are_tensors_of_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "o.ckpt.safetensors"
    save_checkpoint(path, model=nn.Linear(4, 6), optimizer=_fake_optimizer_state(rng))
    tensors = inspect_file(path).tensors
    assert tensors["optim.0.exp_avg"] == ("F32", (6, 4))
    assert tensors["optim.1.exp_avg_sq"] == ("F64", (6,))
    assert tensors["optim.1.step"] == ("I64", ())
    assert tensors["model.weight"] == ("F32", (6, 4))


def test_restore_loads_model_optimizer_and_scheduler(tmp_path: Path) -> None:
    cr.manual_seed(1)
    model = _model()
    opt_state = _fake_optimizer_state(np.random.default_rng(2))
    path = tmp_path / "r.ckpt.safetensors"
    save_checkpoint(path, model=model, optimizer=FakeOptimizer(opt_state),
                    scheduler=FakeScheduler(), extra={"epoch": 9})
    cr.manual_seed(99)
    fresh, opt, sched = _model(), FakeOptimizer(), FakeScheduler()
    extra = load_checkpoint(path).restore(fresh, opt, sched)
    assert extra == {"epoch": 9}
    assert_exact(dict(fresh.state_dict()), dict(model.state_dict()), "model")
    assert_exact(opt.loaded, opt_state, "optimizer")
    assert sched.loaded == FakeScheduler().state_dict()
    assert read_metadata(path) == {"epoch": 9}


def test_restore_into_the_wrong_architecture_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.ckpt.safetensors"
    save_checkpoint(path, model=_model())
    ckpt = load_checkpoint(path)
    other = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*does not fit"):
        ckpt.restore(other)
    with pytest.raises(ModelFileError, match="no optimizer state"):
        ckpt.restore(_model(), optimizer=FakeOptimizer())
    bad = tmp_path / "bad_optim.ckpt.safetensors"
    state = _fake_optimizer_state(np.random.default_rng(0))
    state["param_groups"].pop()
    save_checkpoint(bad, model=_model(), optimizer=state)
    with pytest.raises(ModelFileError, match="optimizer state does not fit"):
        load_checkpoint(bad).restore(_model(), optimizer=FakeOptimizer())


def test_unregistered_models_still_checkpoint(tmp_path: Path) -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 3)

    model = Custom()
    path = tmp_path / "c.ckpt.safetensors"
    save_checkpoint(path, model=model)
    ckpt = load_checkpoint(path)
    assert ckpt.architecture is None and ckpt.optimizer_state is None
    assert ckpt.scheduler_state is None and ckpt.extra == {}
    fresh = Custom()
    ckpt.restore(fresh)
    assert fresh.fc.weight.numpy().tobytes() == model.fc.weight.numpy().tobytes()


def test_values_that_cannot_be_stored_exactly_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt.safetensors"
    with pytest.raises(ValueError, match=r"extra\['history'\]\[1\].*object"):
        save_checkpoint(path, model=nn.Linear(1, 1), extra={"history": [1, object()]})
    with pytest.raises(ValueError, match=r"Tensor.*\.numpy()"):
        save_checkpoint(path, model=nn.Linear(1, 1), extra={"w": cr.ones(2)})
    with pytest.raises(ValueError, match="layout"):
        save_checkpoint(path, model=nn.Linear(1, 1), optimizer={"lr": 0.1})
    assert not path.exists()


def test_model_files_are_not_checkpoints_and_damage_is_reported(tmp_path: Path) -> None:
    model_path = tmp_path / "m.safetensors"
    save(_model(), model_path)
    with pytest.raises(ModelFileError, match="not a chainrule checkpoint.*load"):
        load_checkpoint(model_path)
    ckpt_path = tmp_path / "c.ckpt.safetensors"
    save_checkpoint(ckpt_path, model=_model(), extra={"epoch": 1})
    cut = tmp_path / "cut.ckpt.safetensors"
    cut.write_bytes(ckpt_path.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match=re.escape(str(cut)) + ".*truncated"):
        load_checkpoint(cut)
    with pytest.raises(ModelFileError, match="no such file"):
        load_checkpoint(tmp_path / "missing.ckpt.safetensors")


def _real_optim() -> tuple[Any, Any, Any]:
    adam = pytest.importorskip("chainrule.optim.adam")
    sgd = pytest.importorskip("chainrule.optim.sgd")
    sched = pytest.importorskip("chainrule.optim.lr_scheduler")
    return adam, sgd, sched


def _train(model: nn.Module, opt: Any, sched: Any, steps: range, data: np.ndarray,
           target: np.ndarray) -> None:
    for i in steps:
        xb = cr.tensor(data[i % 4 * 8:(i % 4 + 1) * 8])
        yb = cr.tensor(target[i % 4 * 8:(i % 4 + 1) * 8])
        opt.zero_grad()
        loss = ((model(xb) - yb) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("which", ["adam", "sgd"])
def test_resume_with_real_optimizers_matches_an_uninterrupted_run(tmp_path: Path,
                                                                  which: str) -> None:
    adam, sgd, sched_mod = _real_optim()
    rng = np.random.default_rng(0)
    data = rng.normal(size=(32, 4)).astype(np.float32)
    target = rng.normal(size=(32, 2)).astype(np.float32)

    def make() -> tuple[nn.Module, Any, Any]:
        cr.manual_seed(5)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))
        if which == "adam":
            opt = adam.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99))
        else:
            opt = sgd.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        return model, opt, sched_mod.StepLR(opt, step_size=2, gamma=0.5)

    straight, opt, sched = make()
    _train(straight, opt, sched, range(6), data, target)

    first, opt1, sched1 = make()
    _train(first, opt1, sched1, range(3), data, target)
    path = tmp_path / f"{which}.ckpt.safetensors"
    save_checkpoint(path, model=first, optimizer=opt1, scheduler=sched1,
                    extra={"step": 3, "rng": cr.default_generator.get_state()})
    ckpt = load_checkpoint(path)
    assert_exact(ckpt.optimizer_state, opt1.state_dict(), "optimizer")

    resumed, opt2, sched2 = make()
    extra = ckpt.restore(resumed, opt2, sched2)
    cr.default_generator.set_state(extra["rng"])
    assert_exact(opt2.state_dict(), opt1.state_dict(), "restored optimizer")
    assert sched2.get_last_lr() == sched1.get_last_lr()
    _train(resumed, opt2, sched2, range(extra["step"], 6), data, target)
    assert_exact(dict(resumed.state_dict()), dict(straight.state_dict()), "weights")
    assert not math.isnan(float(resumed[0].weight.numpy().sum()))
