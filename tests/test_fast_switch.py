"""The fast-path switch (``chainrule.fast``): optional, and never the reason a run stops.

Whatever goes wrong (numba missing, a kernel that does not compile, no writable cache
folder) ends in at most one ``RuntimeWarning`` and training on NumPy. The checks that
depend on what a fresh process imports run in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import fast

SRC = str(Path(__file__).resolve().parents[1] / "src")

# a few Adam steps, printed as the parameter's bytes, so a subprocess can show it trained
TRAIN = """
import numpy as np, chainrule as cr
p = cr.nn.Parameter(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
opt = cr.optim.Adam([p], lr=0.1)
for _ in range(3):
    p.grad = cr.Tensor(np.cos(p.numpy()))
    opt.step()
print("weights", p.numpy().tobytes().hex())
"""


def python(*code: str, **env: str | None) -> subprocess.CompletedProcess:
    """Run the ``code`` pieces (each dedented) in a fresh interpreter importing this tree's
    chainrule, with ``env`` changes (None removes a variable)."""
    full = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    full.pop("CHAINRULE_FAST", None)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    source = "\n".join(textwrap.dedent(piece) for piece in code)
    done = subprocess.run([sys.executable, "-c", source], env=full,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def numpy_weights() -> str:
    return python(TRAIN).stdout.split("weights ")[1].strip()


pytestmark = pytest.mark.usefixtures("fast_reset")  # see tests/conftest.py


def test_plain_import_does_not_import_numba():
    out = python("""
        import sys, chainrule, chainrule.optim, chainrule.fast, chainrule.backend
        print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('numba.')))
        print(chainrule.fast.enabled, chainrule.fast.status())
    """).stdout.splitlines()
    assert out == ["[]", "False numpy"]


def test_without_numba_use_fast_warns_once_and_training_goes_on():
    out = python("""
        import sys, warnings
        sys.modules["numba"] = None  # what a missing package looks like to import
        from chainrule import backend, fast
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(backend.use_fast(True), fast.use_fast(True), fast.enabled)
        print(len(caught), caught[0].category.__name__, "|", caught[0].message)
    """, TRAIN)
    lines = out.stdout.splitlines()
    assert lines[0] == "False False False"
    assert lines[1].startswith("1 RuntimeWarning | ")
    assert fast.INSTALL_HINT in lines[1]
    assert lines[2] == "weights " + numpy_weights()


def test_env_variable_switches_it_on():
    pytest.importorskip("numba")
    out = python("""
        import sys, chainrule
        from chainrule import fast
        print(fast.enabled, "numba" in sys.modules, fast.status().split(" (")[0])
    """, TRAIN, CHAINRULE_FAST="1").stdout.splitlines()
    assert out[0] == "True True fast"
    assert out[1] == "weights " + numpy_weights()  # bit for bit
    off = python("from chainrule import fast; print(fast.enabled)", CHAINRULE_FAST="0")
    assert off.stdout.strip() == "False"


def test_unwritable_cache_folders_still_work(tmp_path: Path):
    """No writable folder anywhere (a file sits where each folder would be made): the
    kernels compile in memory, with no warning, and train the same bits."""
    pytest.importorskip("numba")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # mkdir under a file fails, even for root
    bad = str(blocker / "sub")
    out = python(f"""
        import tempfile, warnings
        tempfile.tempdir = {bad!r}  # as if TMPDIR and every fallback were unwritable too
        warnings.simplefilter("error", RuntimeWarning)
        from chainrule import fast
        print(fast.use_fast(True), fast.cache_enabled(), fast.status())
    """, TRAIN, "print(sorted(k[0] for k in fast._kernels))",
                 NUMBA_CACHE_DIR=bad, HOME=bad, CHAINRULE_CACHE=bad, TMPDIR=bad
                 ).stdout.splitlines()
    assert out[0].startswith("True False fast (numba ")
    assert "memory only" in out[0]
    assert out[1] == "weights " + numpy_weights()
    assert out[2] == "['adam']"


def test_unwritable_numba_cache_dir_falls_back_to_ours(tmp_path: Path):
    pytest.importorskip("numba")
    blocker = tmp_path / "file"
    blocker.write_text("")
    ours = tmp_path / "ours"
    out = python("""
        from chainrule import fast
        print(fast.use_fast(True), fast.cache_enabled())
        import os; print(os.environ["NUMBA_CACHE_DIR"])
    """, TRAIN, NUMBA_CACHE_DIR=str(blocker / "x"), CHAINRULE_CACHE=str(ours)
    ).stdout.splitlines()
    assert out[:2] == ["True True", str(ours / "numba")]
    assert out[2] == "weights " + numpy_weights()
    assert any((ours / "numba").rglob("*.nbi"))  # the kernel was cached there


def test_a_kernel_that_fails_to_compile_warns_once_and_numpy_runs(monkeypatch):
    numba = pytest.importorskip("numba")
    import chainrule.fast.optim as kernels

    def broken(*flags):
        # a typing error: numba raises while compiling, as a real kernel bug would
        return numba.njit("void(float32[::1])")(lambda p: p.no_such_attribute)

    monkeypatch.setattr(kernels, "build_adam", broken)

    def train():
        p = cr.nn.Parameter(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
        opt = cr.optim.Adam([p], lr=0.1)
        for _ in range(3):
            p.grad = cr.Tensor(np.cos(p.numpy()))
            opt.step()
        return p.numpy()

    expected = train()
    assert fast.use_fast(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = train()
        train()
    assert np.array_equal(got, expected)
    assert len(caught) == 1 and caught[0].category is RuntimeWarning
    assert "'adam'" in str(caught[0].message) and "NumPy" in str(caught[0].message)
    assert not fast.enabled and fast.status() == "numpy"


def test_call_reports_a_lazy_compile_error_as_false(monkeypatch):
    numba = pytest.importorskip("numba")
    assert fast.use_fast(True)
    bad = numba.njit(lambda p: p.no_such_attribute)  # compiles (and fails) on first call
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fast.call(bad, np.zeros(3, np.float32)) is False
    assert len(caught) == 1 and not fast.enabled
    with pytest.raises(ZeroDivisionError):  # errors of the caller's own are not swallowed
        fast.call(lambda: 1 / 0)


def test_switching_off_and_on_in_one_process():
    pytest.importorskip("numba")
    assert fast.use_fast(True) is True and fast.enabled
    assert fast.status().startswith("fast (numba ")
    assert fast.use_fast(False) is False and not fast.enabled
    assert fast.status() == "numpy"
    assert cr.backend.use_fast(True) is True and fast.enabled


def test_train_fast_flag_banner_records_and_same_weights(tmp_path: Path):
    """``chainrule train --fast``: the banner and the run's files say which path ran, the
    weights are those of the NumPy run, and a resume may switch the path either way."""
    pytest.importorskip("numba")
    args = ["-m", "chainrule", "train", "--data", "moons", "--model", "mlp:16,16",
            "--epochs", "2", "--batch-size", "64", "--optimizer", "adamw", "--no-plots", "-q"]
    env = {**os.environ, "PYTHONPATH": SRC, "CHAINRULE_CACHE": str(tmp_path / "cache")}
    env.pop("CHAINRULE_FAST", None)

    def train(*extra: str) -> str:
        done = subprocess.run([sys.executable, *args, *extra], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    fast_out = train("--fast", "--out", str(tmp_path / "fast"))
    numpy_out = train("--out", str(tmp_path / "numpy"))
    assert "kernels fast (numba " in fast_out and "kernels numpy" in numpy_out
    import json

    config = json.loads((tmp_path / "fast" / "config.json").read_text())
    summary = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert config["fast"] is True and summary["kernels"].startswith("fast (numba ")
    assert summary["environment"]["kernels"] == summary["kernels"]
    assert "update kernels" in (tmp_path / "fast" / "report.html").read_text()
    from chainrule import io

    a = io.load(tmp_path / "fast" / "model.safetensors").state_dict()
    b = io.load(tmp_path / "numpy" / "model.safetensors").state_dict()
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    resumed = train("--resume", str(tmp_path / "numpy"), "--fast")
    assert "kernels fast (numba " in resumed


def test_train_fast_without_numba_says_so_and_trains(tmp_path: Path):
    out = python(f"""
        import sys
        sys.modules["numba"] = None
        from chainrule.cli import main
        sys.exit(main(["train", "--data", "moons", "--model", "mlp:8", "--epochs", "1",
                       "--no-plots", "-q", "--fast", "--out", {str(tmp_path / "run")!r}]))
    """)
    assert "kernels numpy (--fast asked, but numba is unavailable" in out.stdout
    assert out.stderr.count("fast path off") == 1  # one warning, one line
    assert fast.INSTALL_HINT.split()[0] in out.stderr
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_numba_imported_first_still_caches_in_our_folder(tmp_path: Path):
    """A user's code (or a library, or pytest's importorskip) that imported numba before
    the switch: the kernels are still cached on disk, not compiled in every process."""
    pytest.importorskip("numba")
    out = python("""
        import numba
        from chainrule import fast
        print(fast.use_fast(True), fast.cache_enabled(), numba.config.CACHE_DIR)
    """, TRAIN, NUMBA_CACHE_DIR=None, CHAINRULE_CACHE=str(tmp_path)).stdout.splitlines()
    assert out[0] == f"True True {tmp_path / 'numba'}"
    assert out[1] == "weights " + numpy_weights()
    assert any((tmp_path / "numba").rglob("*.nbi"))
