"""``chainrule train`` on data files that used to train on a lie: either the right result or
one line on stderr naming the file (issue 11). Real subprocesses, as in test_cli.py."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

QUICK = ["--model", "linear", "--epochs", "1", "--no-plots", "-q"]


def chainrule(*args: str | os.PathLike, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)


def one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode != 0, done.stdout[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def _rows(n: int, target: list[str] | None = None) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    ys = target or [f"{v:.4f}" for v in x @ [1.5, -2.0]]
    return "a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{t}\n" for (a, b), t in zip(x, ys))


@pytest.mark.parametrize("target, needles", [
    # a NaN cell was the third class of ['0', '1', 'nan']
    ([str(i % 2) for i in range(59)] + ["nan"], ["line 61, column 'y'", "'nan'", "finite"]),
    # one inf turned a float regression target into a 61-class classification
    ([f"{i * 0.37:.2f}" for i in range(60)] + ["inf"], ["line 62, column 'y'", "'inf'"]),
    ([f"{i * 0.37:.2f}" for i in range(59)] + ["NA"], ["line 61, column 'y'", "'NA' is text",
                                                        "--task classification"]),
    ([str(i % 2) for i in range(59)] + [""], ["line 61, column 'y'", "empty target"]),
])
def test_bad_targets_stop_train_with_one_line(tmp_path: Path, target: list[str],
                                              needles: list[str]) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(_rows(len(target), target))
    done = chainrule("train", "--data", f"csv:{data}", *QUICK, "--out", tmp_path / "run")
    one_line_error(done, "bad.csv", *needles)
    assert not (tmp_path / "run").exists()


def test_feature_outside_float32_stops_train(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    lines = _rows(40).splitlines()
    lines[2] = "1e39,0.5,1.25"  # finite as float64, inf as float32
    data.write_text("\n".join(lines) + "\n")
    done = chainrule("train", "--data", f"csv:{data}", *QUICK, "--out", tmp_path / "run")
    one_line_error(done, "big.csv, line 3, column 'a'", "float32")


def test_task_flag_is_used_recorded_and_shown(tmp_path: Path) -> None:
    counts = [str(i % 30) for i in range(150)]  # 30 whole-number values: auto says regression
    data = tmp_path / "counts.csv"
    data.write_text(_rows(150, counts))
    out = ok(chainrule("train", "--data", f"csv:{data}", *QUICK, "--out", tmp_path / "auto"))
    assert "input (2,), regression" in out.splitlines()[0]
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["task"] == "auto"

    out = ok(chainrule("train", "--data", f"csv:{data}", "--task", "classification", *QUICK,
                       "--out", tmp_path / "cls"))
    assert "input (2,), classification, 30 classes" in out.splitlines()[0]
    config = json.loads((tmp_path / "cls" / "config.json").read_text())
    summary = json.loads((tmp_path / "cls" / "summary.json").read_text())
    assert config["task"] == "classification" and summary["task"] == "classification"
    evaluated = json.loads(ok(chainrule("evaluate", tmp_path / "cls" / "model.safetensors",
                                        "--json")))  # with the task it was trained for
    assert evaluated["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    # the run folder's config.json reruns with the same task
    again = ok(chainrule("train", "--config", tmp_path / "cls" / "config.json", "--out",
                         tmp_path / "again", "-q", "--no-plots"))
    assert "classification, 30 classes" in again

    text = tmp_path / "species.csv"
    text.write_text(_rows(20, ["setosa", "virginica"] * 10))
    done = chainrule("train", "--data", f"csv:{text}", "--task", "regression", *QUICK)
    one_line_error(done, "species.csv, line 2, column 'y'", "regression target must be numeric")
    fractions = tmp_path / "fractions.csv"
    fractions.write_text(_rows(20))
    done = chainrule("train", "--data", f"csv:{fractions}", "--task", "classification", *QUICK)
    one_line_error(done, "fractions.csv, line 2, column 'y'", "not a whole number")


@pytest.mark.parametrize("args, needle", [
    (["--data", "moons", "--task", "regression"], "moons is a classification data set"),
    (["--data", "moons", "--task", "classes"], "--task"),
])
def test_task_that_does_not_apply(tmp_path: Path, args: list[str], needle: str) -> None:
    one_line_error(chainrule("train", *args, *QUICK, cwd=tmp_path), needle)
    assert not (tmp_path / "runs").exists()


def _idx_folder(folder: Path, train_labels: np.ndarray) -> None:
    from chainrule.data import write_idx

    rng = np.random.default_rng(0)
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (3, 4, 4), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", train_labels)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (2, 4, 4), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([0, 1], np.uint8))


@pytest.mark.parametrize("labels, needle", [
    (np.array([0, -1, 1], np.int8), "label -1 at position 1 is negative"),
    (np.array([0, 1.5, 1], np.float32), "labels are stored as float32"),
])
def test_bad_idx_labels_stop_train(tmp_path: Path, labels: np.ndarray, needle: str) -> None:
    _idx_folder(tmp_path / "idx", labels)
    done = chainrule("train", "--data", f"idx:{tmp_path / 'idx'}", *QUICK)
    one_line_error(done, "train-labels-idx1-ubyte", needle)


def test_idx_gzip_bomb_stops_train(tmp_path: Path) -> None:
    _idx_folder(tmp_path / "idx", np.array([0, 1, 0], np.uint8))
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte").unlink()
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 2 labels declared, 256 MiB behind them
    parts = [z.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 2))]
    parts += [z.compress(bytes(1 << 20)) for _ in range(256)]
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"".join(parts) + z.flush())
    # run it under a parent that reports the child's peak resident memory (KiB on Linux)
    measure = ("import resource, subprocess, sys; done = subprocess.run([sys.executable, '-m', "
               "'chainrule', *sys.argv[1:]]); print(resource.getrusage("
               "resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")
    env = {**os.environ}
    env.pop("CHAINRULE_DEBUG", None)
    done = subprocess.run([sys.executable, "-c", measure, "train", "--data",
                           f"idx:{tmp_path / 'idx'}", *QUICK], env=env, capture_output=True,
                          text=True, timeout=180)
    one_line_error(done, "t10k-labels-idx1-ubyte.gz", "longer than its header says")
    if sys.platform.startswith("linux"):
        peak_mib = int(done.stdout.split()[-1]) / 1024
        assert peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB (inflating the bomb: > 512 MiB)"
