"""The ``chainrule`` command, driven through real subprocesses (``python -m chainrule``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FAST = ["--data", "moons", "--model", "mlp:16,16", "--epochs", "8", "--batch-size", "64",
        "--lr", "0.01", "--no-plots", "-q"]


def chainrule(*args: str | os.PathLike, cwd: Path | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "moons"
    ok(chainrule("train", *FAST, "--out", out))
    return out


def test_train_writes_a_complete_run_folder(moons_run: Path) -> None:
    for name in ("model.safetensors", "checkpoint.ckpt.safetensors", "config.json",
                 "history.json", "history.csv", "summary.json"):
        assert (moons_run / name).is_file(), name
    summary = json.loads((moons_run / "summary.json").read_text())
    assert summary["epochs"] == 8 and summary["parameters"] == 2 * 16 + 16 + 16 * 16 + 16 + 34
    assert summary["test"]["accuracy"] >= 0.85
    config = json.loads((moons_run / "config.json").read_text())
    assert config["model"] == "mlp:16,16" and config["epochs"] == 8 and "out" not in config
    history = json.loads((moons_run / "history.json").read_text())["records"]
    assert [r["epoch"] for r in history] == list(range(1, 9))


def test_evaluate_predict_info_on_the_trained_model(moons_run: Path, tmp_path: Path) -> None:
    model = moons_run / "model.safetensors"
    summary = json.loads((moons_run / "summary.json").read_text())
    results = json.loads(ok(chainrule("evaluate", model, "--json")))
    assert results["split"] == "test" and results["data"] == "moons"
    assert results["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert "accuracy" in ok(chainrule("evaluate", model, "--split", "val"))

    from chainrule.data import load_dataset

    b = load_dataset("moons", seed=0)
    raw = np.concatenate([b.X_test[:5], b.X_test[-5:]])
    inp = tmp_path / "points.csv"
    inp.write_text("x2,x1\n" + "".join(f"{r[1]},{r[0]}\n" for r in raw))  # columns by name
    out = tmp_path / "pred.csv"
    ok(chainrule("predict", model, inp, "-o", out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10 and list(rows[0]) == ["prediction", "prob_0", "prob_1"]
    for r in rows:
        p0, p1 = float(r["prob_0"]), float(r["prob_1"])
        assert abs(p0 + p1 - 1) < 1e-5 and int(r["prediction"]) == int(p1 > p0)
    headerless = tmp_path / "plain.csv"
    headerless.write_text("".join(f"{r[0]},{r[1]}\n" for r in raw))
    assert ok(chainrule("predict", model, headerless)) == out.read_text()

    info = ok(chainrule("info", model))
    assert "Linear(in_features=2, out_features=16" in info and "total parameters" in info
    assert '"task": "classification"' in info or "task: " in info
    described = json.loads(ok(chainrule("info", model, "--json")))
    assert described["kind"] == "model"
    assert [layer["parameters"] for layer in described["layers"] if layer["parameters"]] == \
        [48, 272, 34]
    ckpt = json.loads(ok(chainrule("info", moons_run / "checkpoint.ckpt.safetensors",
                                   "--json")))
    assert ckpt["kind"] == "checkpoint" and ckpt["metadata"]["epoch"] == 8


def test_config_json_reruns_identically_and_toml_works(moons_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    ok(chainrule("train", "--config", moons_run / "config.json", "--out", again, "-q",
                 "--no-plots"))
    a, b = _tensors(moons_run / "model.safetensors"), _tensors(again / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    toml = tmp_path / "run.toml"
    toml.write_text('# a small run\n[train]\ndata = "xor"\nmodel = "mlp:8"\nepochs = 150\n'
                    'batch-size = 4\nlr = 0.05\nplots = false\n')
    out = tmp_path / "xor"
    stdout = ok(chainrule("train", "--config", toml, "--out", out, "--seed", "1", "-q"))
    assert "xor" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 1 and config["epochs"] == 150 and config["batch_size"] == 4
    assert json.loads((out / "summary.json").read_text())["test"]["accuracy"] == 1.0


def test_resume_continues_a_run_to_the_same_weights(tmp_path: Path) -> None:
    base = ["--data", "circles", "--model", "mlp:16", "--scheduler", "none", "--batch-size",
            "128", "--no-plots", "-q"]
    ok(chainrule("train", *base, "--epochs", "5", "--out", tmp_path / "straight"))
    ok(chainrule("train", *base, "--epochs", "3", "--out", tmp_path / "split"))
    stdout = ok(chainrule("train", "--resume", tmp_path / "split", "--epochs", "5", "-q"))
    assert "resume" in stdout
    a = _tensors(tmp_path / "straight" / "model.safetensors")
    b = _tensors(tmp_path / "split" / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    history = json.loads((tmp_path / "split" / "history.json").read_text())["records"]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]


def test_regression_csv_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * [1.0, 50.0] + [0.0, 300.0]
    price = 1000 * X[:, 0] + 20 * X[:, 1] + rng.normal(size=200)
    data = tmp_path / "houses.csv"
    data.write_text("rooms,area,price\n" + "".join(f"{a:.4f},{b:.4f},{p:.3f}\n"
                                                  for (a, b), p in zip(X, price)))
    out = tmp_path / "run"
    ok(chainrule("train", "--data", f"csv:{data}", "--target", "price", "--model", "linear",
                 "--epochs", "60", "--lr", "0.05", "--out", out, "-q", "--no-plots"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "regression" and summary["test"]["r2"] > 0.99
    new = tmp_path / "new.csv"
    new.write_text("area,rooms\n300,0\n350,1\n")
    pred = ok(chainrule("predict", out / "model.safetensors", new)).splitlines()
    assert pred[0] == "price"
    values = [float(v) for v in pred[1:]]
    # in the target's own units, thanks to the stored target standardisation
    assert values[0] == pytest.approx(6000, abs=150) and values[1] == pytest.approx(8000,
                                                                                    abs=150)
    evaluated = json.loads(ok(chainrule("evaluate", out / "model.safetensors", "--json")))
    assert evaluated["r2"] == pytest.approx(summary["test"]["r2"], rel=1e-5)
    # the explainer walks the trained layers on standardised values, as training saw them
    walk = ok(chainrule("explain", out / "model.safetensors", "--x", "1,300", "--y", "6000"))
    assert "standardises the raw input" in walk and "autograd" in walk


def test_explain_subcommand() -> None:
    pytest.importorskip("chainrule.diagnostics")
    text = ok(chainrule("explain", "--format", "markdown"))
    assert "chain rule" in text.lower()


@pytest.mark.parametrize("command", ["", "train", "evaluate", "predict", "info", "explain",
                                     "experiment"])
def test_help_everywhere(command: str) -> None:
    stdout = ok(chainrule(*([command] if command else []), "--help"))
    assert "usage: chainrule" in stdout


@pytest.mark.parametrize("args, needle", [
    ([], "give a command"),
    (["train", "--epochs", "x"], "--epochs"),
    (["train", "--epochs", "0"], "epochs"),
    (["train", "--bogus"], "--bogus"),
    (["train", "--data", "mnist-ish"], "mnist-ish"),
    (["train", "--model", "mlp:0"], "mlp:0"),
    (["train", "--optimizer", "lion"], "lion"),
    (["train", "--scheduler", "sometimes"], "sometimes"),
    (["train", "--loss", "mse"], "mse"),
    (["train", "--config", "no-such.toml"], "no-such.toml"),
    (["train", "--resume", "no-such-run"], "no-such-run"),
    (["train", "--data", "csv:no-such.csv"], "no-such.csv"),
    (["evaluate", "no-such.safetensors"], "no-such.safetensors"),
    (["info", "no-such.safetensors"], "no-such.safetensors"),
    (["predict", "no-such.safetensors", "x.csv"], "no-such.safetensors"),
])
def test_bad_arguments_give_one_line_and_non_zero_exit(args: list[str], needle: str,
                                                       tmp_path: Path) -> None:
    done = chainrule(*args, cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and needle in lines[0]
    assert lines[0].startswith("chainrule")
    assert not (tmp_path / "runs").exists()  # a failed run leaves no folder behind


def test_bad_files_give_one_line(moons_run: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n1,2,3\n")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("epochs = [\n")
    unknown_key = tmp_path / "unknown.toml"
    unknown_key.write_text("epochz = 3\n")
    cases = [
        (["info", junk], "junk.safetensors"),
        (["evaluate", junk], "junk.safetensors"),
        (["predict", moons_run / "model.safetensors", wrong], "x1"),
        (["predict", moons_run / "model.safetensors", wrong, "-o", tmp_path / "no" / "o.csv"],
         "does not exist"),
        (["evaluate", moons_run / "model.safetensors", "--data", "digits"], "features"),
        (["train", "--config", bad_toml], "bad.toml"),
        (["train", "--config", unknown_key], "epochz"),
    ]
    for args, needle in cases:
        done = chainrule(*args, cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1, (args, done.stderr)
        assert needle in lines[0] and "Traceback" not in done.stderr, (args, lines)


def test_default_train_reaches_97_percent_on_digits(tmp_path: Path) -> None:
    """`chainrule train` with no arguments: the bundled digits, >= 97 % test accuracy."""
    done = chainrule("train", cwd=tmp_path, timeout=300)
    stdout = ok(done)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-digits")
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.97, summary["test"]
    assert "test    accuracy" in stdout and str(runs[0].name) in stdout
    cm = np.array(summary["test"]["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 359
    assert len(done.stderr.strip().splitlines()) == summary["epochs"]  # one line per epoch
    # predict from raw pixel values (0-16), as in the original data files
    from chainrule.data import load_digits

    X, y = load_digits(scale=False)
    rows = tmp_path / "digits.csv"
    rows.write_text("".join(",".join(str(int(v)) for v in r) + "\n" for r in X[:200]))
    lines = ok(chainrule("predict", runs[0] / "model.safetensors", rows)).splitlines()
    assert lines[0].split(",")[:3] == ["prediction", "prob_0", "prob_1"]
    predicted = np.array([int(line.split(",")[0]) for line in lines[1:]])
    assert (predicted == y[:200]).mean() >= 0.95
    pytest.importorskip("matplotlib")
    for plot in ("loss.png", "accuracy.png", "confusion_matrix.png"):
        assert (runs[0] / plot).stat().st_size > 1000, plot


def test_idx_folder_trains(tmp_path: Path) -> None:
    from chainrule.data import load_digits, write_idx

    X, y = load_digits(flatten=False, scale=False)
    images = (np.asarray(X).reshape(-1, 8, 8) * 15).astype(np.uint8)
    labels = np.asarray(y).astype(np.uint8)
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", images[:1500])
    write_idx(folder / "train-labels-idx1-ubyte", labels[:1500])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[1500:])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[1500:])
    out = tmp_path / "run"
    ok(chainrule("train", "--data", f"idx:{folder}", "--model", "mlp:64", "--epochs", "5",
                 "--out", out, "-q", "--no-plots"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] > 0.85
    assert json.loads(ok(chainrule("evaluate", out / "model.safetensors", "--json")))[
        "samples"] == len(images) - 1500


def test_experiment_lists_the_example_scripts() -> None:
    repo = Path(__file__).resolve().parents[1]
    if not (repo / "examples" / "experiments").is_dir():
        pytest.skip("no examples/experiments in this checkout")
    listing = ok(chainrule("experiment", cwd=repo))
    assert "vanishing" in listing
    done = chainrule("experiment", "no-such-experiment", cwd=repo)
    assert done.returncode != 0 and "no-such-experiment" in done.stderr


def test_train_a_cnn_on_the_digit_images_then_evaluate_and_info(tmp_path: Path) -> None:
    out = tmp_path / "cnn"
    ok(chainrule("train", "--model", "cnn:8,16", "--epochs", "12", "--no-plots", "-q",
                 "--out", out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.9
    model = out / "model.safetensors"
    results = json.loads(ok(chainrule("evaluate", model, "--json")))
    assert results["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    info = ok(chainrule("info", model))
    assert "Conv2d(1, 8" in info and "MaxPool2d" in info
