"""Issue 11: a run never silently lies, loses work or overwrites it — through the CLI.

Each test drives ``python -m chainrule`` in real subprocesses on small, fast data.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import io

FAST = ["--data", "moons", "--model", "mlp:16,16", "--epochs", "4", "--batch-size", "64",
        "--lr", "0.01", "--no-plots", "-q"]


def chainrule(*args: str | os.PathLike, cwd: Path | None = None,
              timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def fails(done: subprocess.CompletedProcess, *needles: str) -> str:
    """Non-zero exit, one line on stderr, no traceback, every needle in that line."""
    assert done.returncode != 0, done.stdout[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _houses(path: Path, columns: tuple[str, ...] = ("rooms", "area", "price")) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * [1.0, 50.0] + [0.0, 300.0]
    values = {"rooms": X[:, 0], "area": X[:, 1],
              "price": 1000 * X[:, 0] + 20 * X[:, 1] + rng.normal(size=200)}
    path.write_text(",".join(columns) + "\n" + "".join(
        ",".join(f"{values[c][i]:.4f}" for c in columns) + "\n" for i in range(200)))
    return path


@pytest.fixture(scope="module")
def houses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, data file) of a linear regression on a house-price CSV."""
    base = tmp_path_factory.mktemp("houses")
    data = _houses(base / "houses.csv")
    out = base / "run"
    ok(chainrule("train", "--data", f"csv:{data}", "--target", "price", "--model", "linear",
                 "--epochs", "60", "--lr", "0.05", "--out", out, "-q", "--no-plots"))
    return out, data


# ---- silent wrong results -------------------------------------------------------------------

def test_evaluate_matches_columns_by_name_and_refuses_another_target(
        houses: tuple[Path, Path], tmp_path: Path) -> None:
    out, data = houses
    model = out / "model.safetensors"
    same = json.loads(ok(chainrule("evaluate", model, "--json")))
    assert same["r2"] > 0.99
    reordered = _houses(tmp_path / "reordered.csv", ("price", "area", "rooms"))
    moved = json.loads(ok(chainrule("evaluate", model, "--data", f"csv:{reordered}",
                                    "--json")))
    assert moved["samples"] == same["samples"]
    assert moved["r2"] == pytest.approx(same["r2"], abs=1e-5)
    assert moved["mae"] == pytest.approx(same["mae"], rel=1e-4)
    fails(chainrule("evaluate", model, "--target", "area"), "'price'", "'area'")
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("rooms,price\n" + "".join(f"{i % 3},{i * 1.5}\n" for i in range(30)))
    fails(chainrule("evaluate", model, "--data", f"csv:{lacking}"), "'area'", "lacking.csv")


def test_a_trained_model_carries_its_preprocessing(tmp_path: Path) -> None:
    """io.load(path)(raw) and chainrule.train.predict give chainrule predict's numbers."""
    from chainrule.data import load_digits
    from chainrule.train import predict

    out = tmp_path / "digits"
    ok(chainrule("train", "--model", "mlp:32", "--epochs", "6", "--out", out, "-q",
                 "--no-plots"))
    summary = json.loads((out / "summary.json").read_text())
    X, y = load_digits(scale=False)  # raw pixel values 0-16
    rows = tmp_path / "digits.csv"
    rows.write_text("".join(",".join(str(int(v)) for v in r) + "\n" for r in X))
    cli = list(csv.DictReader(ok(chainrule("predict", out / "model.safetensors",
                                           rows)).splitlines()))
    model = io.load(out / "model.safetensors")
    assert list(model.state_dict())[:4] == ["input.mean", "input.std", "0.weight", "0.bias"]
    logits = model(cr.tensor(np.asarray(X, np.float32))).numpy()
    assert np.array_equal(predict(model, X), logits)
    assert [int(r["prediction"]) for r in cli] == logits.argmax(axis=1).tolist()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    cli_probs = np.array([[float(r[f"prob_{k}"]) for k in range(10)] for r in cli])
    np.testing.assert_allclose(cli_probs, probs, rtol=1e-5, atol=1e-7)
    assert (logits.argmax(axis=1) == y).mean() >= 0.9  # was 78 % before the fix
    # the test split, through the file, gives the run's own test accuracy
    from chainrule.data import load_dataset
    from chainrule.train.run import raw_features

    bundle = load_dataset("digits", seed=0)
    [X_test], scale = raw_features(bundle, ("test",))
    assert scale == 1 / 16 and X_test.max() == 16
    test_acc = (predict(model, X_test).argmax(axis=1) == bundle.y_test).mean()
    assert test_acc == pytest.approx(summary["test"]["accuracy"])


def test_regression_model_answers_in_the_target_units(houses: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    from chainrule.train import predict

    out, _ = houses
    model = io.load(out / "model.safetensors")
    assert isinstance(model.output, cr.nn.Standardize) and model.output.invert
    raw = np.array([[0.0, 300.0], [1.0, 350.0]], np.float32)  # rooms, area
    values = predict(model, raw).ravel()
    assert values[0] == pytest.approx(6000, abs=150) and values[1] == pytest.approx(8000,
                                                                                    abs=150)
    new = tmp_path / "new.csv"
    new.write_text("area,rooms\n300,0\n350,1\n")
    cli = [float(v) for v in ok(chainrule("predict", out / "model.safetensors",
                                          new)).splitlines()[1:]]
    np.testing.assert_allclose(cli, values, rtol=1e-5)
    # item 4: per-epoch and test MAE in the same units (the price's)
    summary = json.loads((out / "summary.json").read_text())
    last = json.loads((out / "history.json").read_text())["records"][-1]
    assert 0.3 < summary["test"]["mae"] < 3  # noise sd 1, in price units
    assert summary["test"]["mae"] / 3 < last["val_mae"] < summary["test"]["mae"] * 3
    assert summary["test"]["mae"] / 3 < last["mae"] < summary["test"]["mae"] * 3


def test_label_smoothing_is_visible_and_recorded(tmp_path: Path) -> None:
    stdout = ok(chainrule("train", *FAST, "--out", tmp_path / "a"))
    assert "CrossEntropyLoss(label_smoothing=0)" in stdout
    assert json.loads((tmp_path / "a" / "config.json").read_text())["label_smoothing"] == 0.0
    stdout = ok(chainrule("train", *FAST, "--label-smoothing", "0.1", "--out", tmp_path / "b"))
    assert "CrossEntropyLoss(label_smoothing=0.1)" in stdout
    assert json.loads((tmp_path / "b" / "config.json").read_text())["label_smoothing"] == 0.1


def test_no_hidden_model_and_only_accepted_losses(tmp_path: Path) -> None:
    for spec in ("mlp:", "mlp"):
        fails(chainrule("train", *FAST, "--model", spec, cwd=tmp_path), "widths")
    line = fails(chainrule("train", *FAST, "--loss", "foo", cwd=tmp_path), "'foo'",
                 "cross_entropy")
    for refused in ("bce", "nll", "mse"):
        assert refused not in line.split("known for")[1]
    fails(chainrule("train", *FAST, "--loss", "bce", cwd=tmp_path), "'bce'", "cross_entropy")
    fails(chainrule("train", *FAST, "--data", "regression", "--loss", "ce", cwd=tmp_path),
          "regression", "mse, huber, l1")
    assert not (tmp_path / "runs").exists()


# ---- work lost or overwritten ---------------------------------------------------------------

DIVERGING = ["--data", "regression", "--model", "linear", "--optimizer", "sgd", "--momentum",
             "0", "--scheduler", "none", "--lr", "1.5", "--no-plots", "-q"]


def _finite(path: Path) -> bool:
    return all(np.isfinite(a).all() for a in io.load_state_dict_file(path).values()
               if a.dtype.kind == "f")


def test_a_diverging_run_stops_and_saves_no_nan(tmp_path: Path) -> None:
    out = tmp_path / "huge-lr"
    line = fails(chainrule("train", "--data", "moons", "--model", "mlp:16", "--optimizer",
                           "sgd", "--lr", "1e6", "--epochs", "5", "--no-plots", "-q", "--out",
                           out), "diverged", "epoch 1", "--lr", "--clip-norm", str(out))
    assert "nan" in line or "inf" in line
    assert not (out / "model.safetensors").exists()
    ckpt = out / "checkpoint.ckpt.safetensors"
    assert not ckpt.exists() or _finite(ckpt)
    # explicitly allowed: trains on and saves what results
    out = tmp_path / "allowed"
    ok(chainrule("train", *DIVERGING, "--epochs", "20", "--allow-nonfinite", "--out", out))
    assert not _finite(out / "model.safetensors")


def test_a_resumed_run_that_diverges_keeps_the_good_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    ok(chainrule("train", *DIVERGING, "--epochs", "3", "--out", out))  # still finite
    model_bytes = (out / "model.safetensors").read_bytes()
    fails(chainrule("train", "--resume", out, "--epochs", "40", "-q"), "diverged",
          "resumed run", "kept", "--clip-norm")
    assert (out / "model.safetensors").read_bytes() == model_bytes  # not overwritten
    ckpt = io.load_checkpoint(out / "checkpoint.ckpt.safetensors")
    assert ckpt.extra["epoch"] >= 3 and _finite(out / "checkpoint.ckpt.safetensors")


def test_a_non_empty_out_folder_is_refused_unless_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    ok(chainrule("train", *FAST, "--out", out))
    first = (out / "model.safetensors").read_bytes()
    fails(chainrule("train", *FAST, "--seed", "1", "--out", out), str(out), "not empty",
          "--resume", "--overwrite")
    assert (out / "model.safetensors").read_bytes() == first
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("my notes")
    fails(chainrule("train", *FAST, "--out", other), "notes.txt")
    ok(chainrule("train", *FAST, "--seed", "1", "--out", out, "--overwrite"))
    assert (out / "model.safetensors").read_bytes() != first
    assert json.loads((out / "config.json").read_text())["seed"] == 1


def test_two_runs_on_one_folder_the_second_fails_at_once(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    env = {**os.environ}
    env.pop("CHAINRULE_DEBUG", None)
    first = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--data", "xor",
                              "--model", "mlp:4", "--epochs", "1000000", "--no-plots", "-q",
                              "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "history.csv").exists():  # training, so the lock is held
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        # refused while the first still runs (it trains for a million epochs), not after
        second = chainrule("train", "--data", "xor", "--model", "mlp:4", "--epochs", "2",
                           "--no-plots", "-q", "--out", out, "--overwrite")
        fails(second, str(out), "in use", str(first.pid))
        fails(chainrule("train", "--resume", out, "-q"), "in use")
        assert first.poll() is None  # the first run goes on undisturbed
    finally:
        first.terminate()
        first.wait(timeout=60)
    # the operating system released the lock with the process
    ok(chainrule("train", *FAST, "--out", out, "--overwrite"))


def test_resume_honours_free_flags_and_refuses_the_rest_by_name(tmp_path: Path) -> None:
    cosine = tmp_path / "cosine"
    ok(chainrule("train", *FAST, "--threads", "1", "--out", cosine))
    before = (cosine / "config.json").read_text()
    fails(chainrule("train", "--resume", cosine, "--lr", "0.5"), "--lr", "0.01", "0.5")
    fails(chainrule("train", "--resume", cosine, "--epochs", "8"), "--epochs", "cosine")
    fails(chainrule("train", "--resume", cosine, "--batch-size", "32"), "--batch-size")
    fails(chainrule("train", "--resume", cosine, "--label-smoothing", "0.1"),
          "--label-smoothing")
    fails(chainrule("train", "--resume", cosine, "--out", tmp_path / "elsewhere"), "--out")
    fails(chainrule("train", "--resume", cosine, "--overwrite"), "--overwrite")
    assert (cosine / "config.json").read_text() == before  # refused: nothing written
    # free: reporting, plots, the same values again, threads (with a warning)
    ok(chainrule("train", "--resume", cosine, "--quiet", "--no-plots", "--lr", "0.01",
                 "--epochs", "4"))
    assert (cosine / "config.json").read_text() == before
    done = chainrule("train", "--resume", cosine, "-q", "--threads", "2")
    ok(done)
    assert "warning" in done.stderr and "threads 1 -> 2" in done.stderr
    assert json.loads((cosine / "config.json").read_text())["threads"] == 1
    # more epochs where the schedule does not depend on them: honoured and recorded
    flat = tmp_path / "flat"
    ok(chainrule("train", *FAST, "--scheduler", "none", "--out", flat))
    ok(chainrule("train", "--resume", flat, "--epochs", "6", "-q"))
    assert json.loads((flat / "config.json").read_text())["epochs"] == 6
    assert len(json.loads((flat / "history.json").read_text())["records"]) == 6
    fails(chainrule("train", "--resume", flat, "--epochs", "5"), "already trained 6")


def test_stale_temporaries_are_cleaned_when_io_provides_it(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from chainrule.io import atomic
    from chainrule.train import TrainConfig, run_training

    cleaned: list[Path] = []
    monkeypatch.setattr(atomic, "remove_stale_temporaries", cleaned.append, raising=False)
    out = tmp_path / "xor"
    threads = cr.get_num_threads()
    run_training(TrainConfig(data="xor", model="mlp:4", epochs=2, out=str(out), plots=False,
                             quiet=True, threads=1), stream=None)
    assert cleaned == [out]
    assert cr.get_num_threads() == threads  # a library call leaves the thread count alone


# ---- threads and reproducibility ------------------------------------------------------------

def test_threads_flag_banner_config_and_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "one"
    stdout = ok(chainrule("train", *FAST, "--threads", "1", "--out", out))
    assert "threads 1 (configured)" in stdout
    assert json.loads((out / "config.json").read_text())["threads"] == 1
    env = io.load_checkpoint(out / "checkpoint.ckpt.safetensors").extra["environment"]
    assert env["threads"] == 1 and env["numpy"] == np.__version__ and env["blas"]
    stdout = ok(chainrule("train", *FAST, "--out", tmp_path / "auto"))
    auto = json.loads((tmp_path / "auto" / "config.json").read_text())["threads"]
    assert isinstance(auto, int) and auto >= 1 and f"threads {auto} (" in stdout
    fails(chainrule("train", *FAST, "--threads", "0", cwd=tmp_path), "threads")
    assert "accuracy" in ok(chainrule("evaluate", out / "model.safetensors", "--threads",
                                      "1"))


def test_set_num_threads_and_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule import backend

    before = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
        assert backend.environment()["threads"] == 1
    finally:
        cr.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        cr.set_num_threads(0)
    for name in backend._THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backend, "available_cores", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (6.2, 0.0, 0.0))
    assert backend.default_num_threads() == 2   # 8 cores, about 6 busy
    monkeypatch.setattr(os, "getloadavg", lambda: (30.0, 0.0, 0.0))
    assert backend.default_num_threads() == 1   # never below 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert backend.default_num_threads() == 8   # idle: every core
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert backend.default_num_threads() == 3   # the user's choice wins


def test_a_resume_under_another_environment_warns(tmp_path: Path) -> None:
    from chainrule.train import Trainer
    from chainrule.train.trainer import ReproducibilityWarning

    X = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    ckpt = tmp_path / "t.ckpt.safetensors"

    def trainer() -> Trainer:
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(2, 2))
        return Trainer(model, "cross_entropy", cr.optim.SGD(model.parameters(), lr=0.1))

    trainer().fit((X, y), epochs=1, checkpoint=ckpt)
    ckpt_state = io.load_checkpoint(ckpt)
    env = dict(ckpt_state.extra["environment"], threads=ckpt_state.extra["environment"][
        "threads"] + 7, numpy="0.0")
    io.save_checkpoint(ckpt, model=trainer().model,
                       optimizer=ckpt_state.optimizer_state, scheduler=None,
                       extra={**ckpt_state.extra, "environment": env})
    with pytest.warns(ReproducibilityWarning, match=r"threads \d+ -> \d+, numpy 0.0 ->"):
        trainer().fit((X, y), epochs=2, resume=ckpt)


def test_experiments_never_run_from_the_working_directory(tmp_path: Path) -> None:
    folder = tmp_path / "examples" / "experiments"
    folder.mkdir(parents=True)
    marker = tmp_path / "ran.txt"
    (folder / "planted.py").write_text(f'"""planted"""\nopen({str(marker)!r}, "w").write("x")\n')
    done = chainrule("experiment", "planted", cwd=tmp_path)
    assert done.returncode != 0 and "planted" in done.stderr
    assert not marker.exists()
    listing = chainrule("experiment", cwd=tmp_path)
    assert "planted" not in listing.stdout


def test_terminate_on_nan_in_a_plain_trainer(tmp_path: Path) -> None:
    from chainrule.train import TerminateOnNaN, Trainer

    X = np.random.default_rng(0).normal(size=(64, 1)).astype(np.float32) * 10
    y = X * 3
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(1, 1))
    stop = TerminateOnNaN()
    ckpt = tmp_path / "c.ckpt.safetensors"
    trainer = Trainer(model, "mse", cr.optim.SGD(model.parameters(), lr=1.0),
                      callbacks=[stop])
    with np.errstate(all="ignore"):
        history = trainer.fit((X, y), epochs=50, batch_size=8, checkpoint=ckpt)
    assert trainer.diverged is stop.divergence is not None
    assert all(math.isfinite(r["loss"]) for r in history.records)  # no NaN epoch recorded
    assert len(history) == trainer.diverged.epoch - 1 < 50
    assert not ckpt.exists() or _finite(ckpt)
