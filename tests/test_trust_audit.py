"""Issue 11, audited on the merged code: the holes left between the io, data and run
branches, each reproduced through the CLI (or the library where it is a library matter).

- layers that start at a constant (norms, ``Standardize``, ``PReLU``) and computed tables
  (sinusoidal positions) allocated before a crafted file's shapes were checked;
- the CLI had no ``--no-verify`` for files another tool changed on purpose;
- a ``config.json`` edited after a run began was trusted on resume (the checkpoint's
  learning rate was used while the file and the banner claimed the edited one);
- ``--overwrite`` left the previous run's metric plots beside the new run's files;
- ``predict -o`` / ``explain -o`` could write over the model or the input they read;
- damaged run metadata ended in ``'int' object is not iterable``; NaN outputs were only
  NumPy's anonymous warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import chainrule as cr
from chainrule import nn
from chainrule.io import ModelFileError, _file, load
from chainrule.nn.init import MetaBudgetError, is_placeholder, meta_init, reserve_computed

SRC = Path(cr.__file__).resolve().parents[1]
TINY = ["--data", "moons", "--model", "mlp:8", "--epochs", "2", "--batch-size", "64",
        "--no-plots", "-q"]


def chainrule(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=180)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done


def one_line(done: subprocess.CompletedProcess, kind: str, *needles: str) -> str:
    """Exactly one line on stderr, ``chainrule CMD: KIND: ...``, holding every needle."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("chainrule ") and f": {kind}: " in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def fails(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    return one_line(done, "error", *needles)


def recraft(src: Path, dst: Path, edit: Callable[[dict, dict], None]) -> Path:
    """Rewrite a chainrule file after ``edit(metadata, tensors)`` with valid checksums:
    what an attacker or another tool can write (checksums detect damage, not intent)."""
    header = _file.read_header(src)
    tensors = _file.read_tensors(header)
    meta = {k: v for k, v in header.metadata.items()
            if k not in (_file.DATA_SHA256, _file.HEADER_SHA256)}
    edit(meta, tensors)
    _file.write_tensors(dst, tensors, meta)
    return dst


def edit_user(**entries: object) -> Callable[[dict, dict], None]:
    def edit(meta: dict, tensors: dict) -> None:
        meta["user"] = json.dumps({**json.loads(meta["user"]), **entries})
    return edit


def flip_last_byte(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[-3] ^= 0x04  # one bit of the last tensor
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "run"
    ok(chainrule("train", *TINY, "--out", out))
    return out


@pytest.fixture()
def points(tmp_path: Path) -> Path:
    path = tmp_path / "points.csv"
    path.write_text("x1,x2\n0.5,0.2\n-1.0,0.3\n")
    return path


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- crafted files: nothing the size of a declared layer before the shape check ----------

@pytest.mark.parametrize("build", [
    lambda n: nn.BatchNorm1d(n), lambda n: nn.LayerNorm(n), lambda n: nn.GroupNorm(1, n),
    lambda n: nn.RMSNorm(n), lambda n: nn.InstanceNorm1d(n, affine=True,
                                                        track_running_stats=True),
    lambda n: nn.PReLU(n), lambda n: nn.Standardize(n),
], ids=["BatchNorm1d", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm1d", "PReLU",
        "Standardize"])
def test_layers_that_start_at_a_constant_commit_no_memory_under_meta_init(build) -> None:
    n = 1 << 25  # 128 MiB of float32 per array if filled for real
    layers = []
    peak = _peak_bytes(lambda: layers.append(_built(build, n)))
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB"
    state = layers[0].state_dict()
    assert state and all(is_placeholder(v) or v.size <= 1 for v in state.values())
    small = build(3)  # outside meta_init: the real starting values
    for name, value in small.state_dict().items():
        expected = 1 if name in ("weight", "running_var", "std") else 0
        if name == "weight" and isinstance(small, nn.PReLU):
            expected = 0.25
        np.testing.assert_array_equal(value, np.full(value.shape, expected, value.dtype))
        assert value.dtype == (np.int64 if name == "num_batches_tracked" else np.float32)


def _built(build: Callable[[int], nn.Module], n: int) -> nn.Module:
    with meta_init():
        return build(n)


def test_a_computed_table_is_charged_before_it_is_computed() -> None:
    with meta_init(max_elements=1000), pytest.raises(MetaBudgetError, match="sinusoidal"):
        nn.PositionalEmbedding(1 << 20, 64, kind="sinusoidal")
    with meta_init(max_elements=1000):  # small tables are computed as before
        pe = nn.PositionalEmbedding(16, 8, kind="sinusoidal")
    assert not is_placeholder(pe.weight) and pe.weight.shape == (16, 8)
    with meta_init(max_elements=10):
        reserve_computed(1 << 21, "a table")
        with pytest.raises(MetaBudgetError):  # the allowance is for all tables together
            reserve_computed(1 << 21 + 1, "another table")
    reserve_computed(10**12, "anything")  # outside meta_init: nothing to check


def test_a_file_declaring_a_huge_sinusoidal_table_is_refused_before_computing_it(
        run: Path, tmp_path: Path) -> None:
    """16M positions x 64: 1 GB of float64 was computed before the tensors were checked."""
    def edit(meta: dict, tensors: dict) -> None:
        arch = json.loads(meta["architecture"])
        children = arch["model"]["children"]
        children[[name for name, _ in children].index("0")][1] = {
            "type": "PositionalEmbedding",
            "kwargs": {"context": 1 << 18, "d_model": 64, "kind": "sinusoidal"}}
        meta["architecture"] = json.dumps(arch)

    crafted = recraft(run / "model.safetensors", tmp_path / "table.safetensors", edit)
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            load(crafted)
        except ModelFileError as err:
            errors.append(err)

    peak = _peak_bytes(attempt)
    assert errors and str(crafted) in str(errors[0]) and "declares far more" in str(errors[0])
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB"  # was 128 MiB for the table alone
    fails(chainrule("info", crafted), str(crafted), "declares far more")


# ---- --no-verify: files another tool changed on purpose ----------------------------------

def test_no_verify_reads_a_changed_file_through_the_cli(run: Path, tmp_path: Path,
                                                        points: Path) -> None:
    changed = flip_last_byte(run / "model.safetensors", tmp_path / "changed.safetensors")
    for args, shows in ((("info", changed), "parameters"), (("evaluate", changed), "accuracy"),
                        (("predict", changed, points), "prediction,")):
        fails(chainrule(*args), str(changed), "SHA-256", "--no-verify")
        assert shows in ok(chainrule(*args, "--no-verify")).stdout
    fails(chainrule("train", *TINY, "--out", tmp_path / "new", "--no-verify"),
          "--no-verify", "--resume")
    assert not (tmp_path / "new").exists()
    # a checkpoint changed by hand: refused, then read as it is when asked
    resumable = tmp_path / "resumable"
    ok(chainrule("train", *TINY, "--scheduler", "none", "--out", resumable))
    ckpt = resumable / "checkpoint.ckpt.safetensors"
    flip_last_byte(ckpt, ckpt)
    fails(chainrule("train", "--resume", resumable, "--epochs", "3", "-q"), str(ckpt),
          "--no-verify")
    ok(chainrule("train", "--resume", resumable, "--epochs", "3", "-q", "--no-verify"))
    assert len(json.loads((resumable / "history.json").read_text())["records"]) == 3


def test_cli_warnings_are_one_line_naming_the_file(run: Path, tmp_path: Path,
                                                   points: Path) -> None:
    """A file from before checksums warns; the warning is one ``chainrule CMD: warning:``
    line (not ``<frozen runpy>:88: UnverifiedFileWarning: ...`` and its source line)."""
    header = _file.read_header(run / "model.safetensors")
    legacy = tmp_path / "legacy.safetensors"
    meta = {k: v for k, v in header.metadata.items()
            if k not in (_file.DATA_SHA256, _file.HEADER_SHA256)}
    safetensors.numpy.save_file(_file.read_tensors(header), str(legacy), metadata=meta)
    for args in (("info", legacy), ("evaluate", legacy), ("predict", legacy, points)):
        done = ok(chainrule(*args))
        line = one_line(done, "warning", str(legacy), "without checksums")
        assert line.startswith(f"chainrule {args[0]}: warning: ") and "runpy" not in line


# ---- damaged run metadata and outputs that are not finite --------------------------------

@pytest.mark.parametrize("entries,needle", [
    ({"feature_names": 7}, "'feature_names' should be a list of column names, it holds 7"),
    ({"classes": 5}, "'classes' should be a list of labels"),
    ({"input_shape": "abc"}, "'input_shape' should be a list of sizes"),
    ({"config": {"loss": 5}}, "'config' should be an object of settings"),
    ({"task": "banana"}, "'task' should be 'classification' or 'regression'"),
    ({"format": "chainrule.run/1", "standardizer": {"mean": "x"}},
     "'standardizer' cannot be read"),
])
def test_damaged_run_metadata_names_the_file_and_the_entry(run: Path, tmp_path: Path,
                                                           points: Path, entries: dict,
                                                           needle: str) -> None:
    crafted = recraft(run / "model.safetensors", tmp_path / "meta.safetensors",
                      edit_user(**entries))
    fails(chainrule("evaluate", crafted), str(crafted), needle)
    fails(chainrule("predict", crafted, points), str(crafted), needle)


def test_outputs_that_are_not_finite_warn_naming_the_file(run: Path, tmp_path: Path,
                                                          points: Path) -> None:
    def zero_std(meta: dict, tensors: dict) -> None:
        tensors["input.std"][0] = 0.0  # finite, so load_state_dict has nothing to say

    crafted = recraft(run / "model.safetensors", tmp_path / "zero.safetensors", zero_std)
    done = ok(chainrule("predict", crafted, points))
    one_line(done, "warning", str(crafted), "NaN or inf for 2 of 2 samples")
    done = ok(chainrule("evaluate", crafted))
    one_line(done, "warning", str(crafted), "NaN or inf")
    done = ok(chainrule("predict", run / "model.safetensors", points))
    assert done.stderr == ""


# ---- run folders: config.json, --overwrite, -o --------------------------------------------

def test_a_config_json_edited_after_the_run_began_is_refused_on_resume(
        tmp_path: Path) -> None:
    """It used to resume at the checkpoint's learning rate while config.json, the banner
    and the model's metadata said the edited one (and a cosine schedule ran past its
    end when the epochs were edited)."""
    out = tmp_path / "run"
    ok(chainrule("train", *TINY, "--lr", "0.01", "--out", out))
    config = out / "config.json"
    ckpt = (out / "checkpoint.ckpt.safetensors").read_bytes()
    good = config.read_text()
    for key, value, old in (("lr", 0.5, "0.01"), ("epochs", 4, "2")):
        config.write_text(json.dumps({**json.loads(good), key: value}))
        fails(chainrule("train", "--resume", out, "-q"), str(config), f"{key} {value}",
              f"trained with {key} {old}", "changed after the run began")
        assert (out / "checkpoint.ckpt.safetensors").read_bytes() == ckpt
    config.write_text(good)  # put back: resumes (nothing left to train) and records it
    ok(chainrule("train", "--resume", out, "-q"))
    assert json.loads(config.read_text())["lr"] == 0.01
    # where the schedule does not depend on them, more epochs in config.json are honoured
    flat = tmp_path / "flat"
    ok(chainrule("train", *TINY, "--scheduler", "none", "--out", flat))
    edited = {**json.loads((flat / "config.json").read_text()), "epochs": 3}
    (flat / "config.json").write_text(json.dumps(edited))
    ok(chainrule("train", "--resume", flat, "-q"))
    assert len(json.loads((flat / "history.json").read_text())["records"]) == 3


def test_overwrite_leaves_no_file_of_the_previous_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    houses = tmp_path / "houses.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    houses.write_text("a,b,price\n" + "".join(f"{a:.4f},{b:.4f},{3 * a - b:.4f}\n"
                                              for a, b in X))
    ok(chainrule("train", "--data", f"csv:{houses}", "--target", "price", "--model", "mlp:4",
                 "--epochs", "2", "-q", "--out", out))
    assert {"mae.png", "r2.png"} <= {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")
    ok(chainrule("train", *TINY, "--out", out, "--overwrite"))
    left = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    summary = json.loads((out / "summary.json").read_text())
    assert left == set(summary["files"]) | {"notes.txt"}, left
    assert (out / "notes.txt").read_text() == "mine"


def test_output_never_overwrites_what_the_command_reads(run: Path, tmp_path: Path,
                                                       points: Path) -> None:
    model = run / "model.safetensors"
    kept = {p: p.read_bytes() for p in (model, run / "checkpoint.ckpt.safetensors", points)}
    fails(chainrule("predict", model, points, "-o", points), "input file", "-o")
    fails(chainrule("predict", model, points, "-o", model), str(model), "-o")
    fails(chainrule("predict", model, points, "-o", run / "checkpoint.ckpt.safetensors"),
          "model file or checkpoint")
    fails(chainrule("explain", "-o", model), str(model), "model file or checkpoint")
    assert all(p.read_bytes() == data for p, data in kept.items())
    written = tmp_path / "predictions.csv"
    ok(chainrule("predict", model, points, "-o", written))
    assert written.read_text().startswith("prediction,")


# ---- interrupted and diverging runs in a run folder ---------------------------------------

LONG = ["--data", "moons", "--model", "mlp:16", "--scheduler", "none", "--epochs", "120",
        "--batch-size", "64", "--threads", "1", "--no-plots", "-q"]


def _tensors(path: Path) -> dict[str, np.ndarray]:
    return cr.io.load_state_dict_file(path)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("straight") / "run"
    ok(chainrule("train", *LONG, "--out", out))
    return out


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_an_interrupted_cli_run_resumes_to_the_same_bits(straight: Path, tmp_path: Path,
                                                         how: str) -> None:
    import signal
    import time

    out = tmp_path / "cut"
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("CHAINRULE_DEBUG", None)
    child = subprocess.Popen([sys.executable, "-m", "chainrule", "train", *LONG, "--out",
                              str(out)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.ckpt.safetensors").exists() and child.poll() is None:
            assert time.monotonic() < deadline  # a hang guard, not a speed check
            time.sleep(0.01)
        child.send_signal(getattr(signal, how))
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # interrupted after its first checkpoint, long before its 120th epoch
    assert not (out / "model.safetensors").exists()
    if how == "SIGINT":
        assert child.returncode == 130 and err.strip() == "chainrule train: interrupted"
    else:
        assert child.returncode == -signal.SIGKILL
    assert cr.io.read_metadata(out / "checkpoint.ckpt.safetensors")["epoch"] < 120
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    ok(chainrule("train", "--resume", out, "-q"))  # the lock died with the process
    a, b = _tensors(straight / "model.safetensors"), _tensors(out / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    records = [json.loads((d / "history.json").read_text())["records"] for d in (straight, out)]
    assert [{k: v for k, v in r.items() if k != "time"} for r in records[0]] == \
        [{k: v for k, v in r.items() if k != "time"} for r in records[1]]


def test_a_diverging_run_cleans_stale_temporaries_and_releases_its_lock(
        tmp_path: Path) -> None:
    from chainrule.io.atomic import _host

    out = tmp_path / "run"
    ok(chainrule("train", *TINY, "--out", out))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = out / f".model.safetensors.pid{dead}-{_host()}.abc123.tmp"
    stale.write_bytes(b"half a model")
    foreign = out / ".notes.txt.tmp"  # not named as chainrule names its temporaries
    foreign.write_text("mine")
    diverging = ["--data", "regression", "--model", "linear", "--optimizer", "sgd",
                 "--momentum", "0", "--scheduler", "none", "--lr", "1e6", "--epochs", "5",
                 "--no-plots", "-q"]
    fails(chainrule("train", *diverging, "--out", out, "--overwrite"), "diverged",
          "new run", "--lr")
    assert not stale.exists() and foreign.read_text() == "mine"
    assert not (out / "model.safetensors").exists()
    ok(chainrule("train", *TINY, "--out", out, "--overwrite"))  # not locked, not refused


def test_a_model_too_large_to_run_fails_in_one_line(run: Path, tmp_path: Path,
                                                    points: Path) -> None:
    """Layers that grow their input (a crafted Upsample) end in one line, not a
    ``numpy._core._exceptions._ArrayMemoryError`` traceback."""
    def edit(meta: dict, tensors: dict) -> None:
        arch = json.loads(meta["architecture"])
        children = arch["model"]["children"]
        at = [name for name, _ in children].index("0")
        children[at:at] = [
            ["u1", {"type": "Unflatten",
                    "kwargs": {"dim": 1, "unflattened_size": {"__tuple__": [1, 2, 1]}}}],
            ["u2", {"type": "Upsample", "kwargs": {"scale_factor": 1e6, "mode": "nearest"}}],
            ["u3", {"type": "Flatten", "kwargs": {}}]]
        meta["architecture"] = json.dumps(arch)

    crafted = recraft(run / "model.safetensors", tmp_path / "grows.safetensors", edit)
    fails(chainrule("predict", crafted, points), str(crafted), "out of memory",
          "--batch-size")
