"""Exact resume: a run killed with SIGKILL mid-epoch and resumed ends bit-identical.

A child process trains (dropout on, batch norm, a per-batch LR schedule, Adam) with a
checkpoint every few steps; the test kills it with SIGKILL right after a mid-epoch
checkpoint, resumes in a fresh process and compares the final weights, buffers and
history with an uninterrupted run (which never wrote a checkpoint) using ``np.array_equal``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import load_dataset
    from chainrule.train import Callback, EarlyStopping, Trainer

    mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
    PAUSE_AFTER = int(sys.argv[4]) if len(sys.argv) > 4 else -1

    class PauseAfterCheckpoint(Callback):
        # Sleeps in the step after checkpoint PAUSE_AFTER was written: the parent kills us
        # there, mid-epoch, with the in-memory state one step ahead of the checkpoint.
        def on_after_step(self, trainer, step):
            if step == PAUSE_AFTER:
                time.sleep(120)

    b = load_dataset("spirals", seed=0)
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(32, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    epochs, batch = 5, 32
    steps = -(-len(b.X_train) // batch)
    sched = optim.OneCycleLR(opt, max_lr=2e-2, total_steps=epochs * steps)
    callbacks = [EarlyStopping("val_loss", patience=50, restore_best_weights=True)]
    if PAUSE_AFTER >= 0:
        callbacks.append(PauseAfterCheckpoint())
    trainer = Trainer(model, "cross_entropy", opt, metrics=["accuracy"], callbacks=callbacks,
                      scheduler=sched, scheduler_interval="batch", clip_norm=5.0, seed=0)
    kwargs = {}
    if mode != "plain":
        kwargs = dict(checkpoint=ckpt, checkpoint_every=7,
                      resume=ckpt if mode == "resume" else None)
    history = trainer.fit((b.X_train, b.y_train), validation=(b.X_val, b.y_val),
                          epochs=epochs, batch_size=batch, **kwargs)
    np.savez(out, **model.state_dict())
    records = [{k: v for k, v in r.items() if k != "time"} for r in history.records]
    with open(out + ".json", "w") as f:
        json.dump({"records": records, "steps": trainer.global_step}, f)
""")


def _run(script: Path, *args: str, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _checkpoint_step(path: Path) -> int | None:
    from chainrule.io import read_metadata

    if not path.exists():
        return None
    return int(read_metadata(path)["global_step"])


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path: Path) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ckpt = tmp_path / "run.ckpt.safetensors"

    _run(script, "plain", str(ckpt), str(tmp_path / "plain.npz"), env=env)

    # 700 samples / 32 = 22 steps per epoch; a checkpoint every 7 steps. The one after
    # step 35 is 13 steps into the second epoch; the child then sleeps inside step 35.
    pause_after = 35
    child = subprocess.Popen([sys.executable, str(script), "fresh", str(ckpt),
                              str(tmp_path / "killed.npz"), str(pause_after)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while _checkpoint_step(ckpt) != pause_after:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            if time.monotonic() > deadline:  # a hang guard, not a speed check
                pytest.fail("the child never wrote the checkpoint")
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.npz").exists()

    from chainrule.io import read_metadata

    extra = read_metadata(ckpt)
    assert extra["epoch"] == 1 and extra["batch_in_epoch"] == 13, extra["batch_in_epoch"]

    _run(script, "resume", str(ckpt), str(tmp_path / "resumed.npz"), env=env)

    with np.load(tmp_path / "plain.npz", allow_pickle=False) as a, \
            np.load(tmp_path / "resumed.npz", allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files)
        assert any("running_mean" in k for k in a.files)
        for key in a.files:
            assert a[key].dtype == b[key].dtype, key
            assert np.array_equal(a[key], b[key]), f"{key} differs after resume"
    plain = json.loads((tmp_path / "plain.npz.json").read_text())
    resumed = json.loads((tmp_path / "resumed.npz.json").read_text())
    assert plain == resumed  # every loss, metric and lr of every epoch, exactly


def test_resume_of_finished_run_trains_no_further(tmp_path: Path) -> None:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import load_dataset
    from chainrule.train import Trainer

    b = load_dataset("moons", seed=0)

    def make() -> Trainer:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2))
        return Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                       metrics=["accuracy"])

    ckpt = tmp_path / "c.ckpt.safetensors"
    first = make()
    first.fit((b.X_train, b.y_train), epochs=3, batch_size=64, checkpoint=ckpt)
    again = make()
    history = again.fit((b.X_train, b.y_train), epochs=3, batch_size=64, checkpoint=ckpt,
                        resume=True)
    assert len(history) == 3 and again.global_step == first.global_step
    for (k, v), w in zip(first.model.state_dict().items(),
                         again.model.state_dict().values()):
        assert np.array_equal(v, w), k
    # asking for more epochs continues the same run
    more = again.fit((b.X_train, b.y_train), epochs=5, batch_size=64, checkpoint=ckpt,
                     resume=ckpt)
    assert [r["epoch"] for r in more] == [1, 2, 3, 4, 5]


def test_resume_errors_name_the_problem(tmp_path: Path) -> None:
    import chainrule as cr
    from chainrule import io, nn, optim
    from chainrule.train import Trainer

    cr.manual_seed(0)
    model = nn.Linear(2, 2)
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1))
    X, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int64)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trainer.fit((X, y), epochs=1, resume=tmp_path / "missing.ckpt")
    plain = tmp_path / "plain.ckpt.safetensors"
    io.save_checkpoint(plain, model=model)
    with pytest.raises(ValueError, match="not a Trainer checkpoint"):
        trainer.fit((X, y), epochs=1, resume=plain)
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint path"):
        trainer.fit((X, y), epochs=1, checkpoint_every=3)
