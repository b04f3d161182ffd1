"""Real 2-rank MPI jobs (``mpiexec -n 2 python -m mpi4py tests/mpi_worker.py MODE``), each
under ``timeout``, compared with one process doing the same work.

Skipped when mpi4py or mpiexec is missing (``pip install "chainrule[mpi]"`` brings both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

import chainrule as cr  # noqa: E402
from chainrule import optim  # noqa: E402
from chainrule.data import DataLoader, DistributedSampler, TensorDataset  # noqa: E402
from chainrule.losses import CrossEntropyLoss  # noqa: E402
from chainrule.train import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mpi_worker as W  # noqa: E402


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")


def launch(args: list[str], limit: float = 60, via_mpi4py: bool = True
           ) -> tuple[subprocess.CompletedProcess, float]:
    """``mpiexec -n 2 python -m mpi4py ARGS`` under ``timeout``; (result, seconds)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    src = str(HERE.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [MPIEXEC, "-n", "2", sys.executable, *(["-m", "mpi4py"] if via_mpi4py else []),
           *args]
    if shutil.which("timeout"):  # SIGTERM first, so mpiexec takes its ranks down with it
        cmd = ["timeout", "-k", "5", str(limit), *cmd]
    started = time.perf_counter()
    # its own session: should even timeout fail, the whole job is killed, ranks included
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit + 15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    return result, time.perf_counter() - started


def run_worker(mode: str, out: Path) -> subprocess.CompletedProcess:
    result, _ = launch([str(HERE / "mpi_worker.py"), mode, str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k.replace("/", "."): f[k] for k in f.files}


# ---- training: every rank ends identical, and equal to one process with batch 2B -------------

def test_two_ranks_train_like_one_process_with_the_combined_batch(tmp_path):
    run_worker("train", tmp_path)
    rank0, rank1 = load(tmp_path / "train-0.npz"), load(tmp_path / "train-1.npz")
    for name in rank0:  # bit for bit: the same averaged gradients, the same updates
        assert np.array_equal(rank0[name], rank1[name]), name
    # only rank 0 writes checkpoints
    assert (tmp_path / "ckpt-0.safetensors").exists()
    assert not (tmp_path / "ckpt-1.safetensors").exists()

    # one process, batch 2B, the same global order: rank r's batch i is positions r, r+2,
    # ... of the order's i-th block of 2B, so the union is that block
    model = W.mlp()
    X, y = W.train_data()
    data = TensorDataset(X, y)
    loader = DataLoader(data, batch_size=2 * W.BATCH,
                        sampler=DistributedSampler(data, num_replicas=1, rank=0, seed=0))
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), 0.1, momentum=0.9),
                      metrics=["accuracy"])
    history = trainer.fit(loader, validation=(X[:40], y[:40]), epochs=3)
    for name, p in model.named_parameters():
        assert rank0[name].dtype == np.float32
        np.testing.assert_allclose(rank0[name], p.numpy(), rtol=2e-5, atol=2e-6, err_msg=name)
    # the reported loss and metrics are those of all ranks' samples, as one process's
    reported = [json.loads((tmp_path / f"history-{r}.json").read_text())["records"]
                for r in (0, 1)]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [e[key] for e in reported[0]] == [e[key] for e in reported[1]], key
        np.testing.assert_allclose([e[key] for e in reported[0]], history[key], rtol=1e-5,
                                   err_msg=key)


# ---- gradients: BatchNorm (synchronised) and an LSTM --------------------------------------------

def test_gradient_average_equals_one_process_gradient_bn_lstm(tmp_path):
    run_worker("grads", tmp_path)
    x, y = W.sequence_batch(16)
    net = W.bn_lstm(sync=False)  # one process: plain BatchNorm over the whole batch of 16
    CrossEntropyLoss()(net(cr.tensor(x)), y).backward()
    expected = {n: p.grad.numpy() for n, p in net.named_parameters() if p.grad is not None}
    expected.update({f"buffer.{n}": b.numpy() for n, b in net.named_buffers()})

    synced = [load(tmp_path / f"grads-sync-{r}.npz") for r in (0, 1)]
    for name, want in expected.items():
        assert synced[0][name].dtype == want.dtype == (np.int64 if "tracked" in name
                                                      else np.float64)
        assert np.array_equal(synced[0][name], synced[1][name]), name
        np.testing.assert_allclose(synced[0][name], want, rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    # a parameter no rank used gets zeros (its allreduce still ran, in bucket order)
    assert not np.any(synced[0]["spare.weight"])

    # per-rank BatchNorm (PyTorch's default): each rank normalises with its own half's
    # statistics, so the averaged gradient is not the one-process gradient
    local = load(tmp_path / "grads-local-0.npz")
    assert not np.allclose(local["fc.weight"], expected["fc.weight"], rtol=1e-3)
    assert np.array_equal(local["fc.weight"], load(tmp_path / "grads-local-1.npz")["fc.weight"])


# ---- checkpoints: N ranks resume with N ranks, bit for bit ---------------------------------------

def test_checkpoint_of_two_ranks_resumes_bit_for_bit(tmp_path):
    run_worker("resume", tmp_path)
    for r in (0, 1):
        got = load(tmp_path / f"resume-{r}.npz")
        names = [k[len("whole."):] for k in got if k.startswith("whole.")]
        for name in names:
            assert np.array_equal(got[f"whole.{name}"], got[f"resumed.{name}"]), (r, name)
    first, second = load(tmp_path / "resume-0.npz"), load(tmp_path / "resume-1.npz")
    assert all(np.array_equal(first[k], second[k]) for k in first)
    # the resumed run's history is every epoch once, the same on both ranks
    h0 = json.loads((tmp_path / "resume-history-0.json").read_text())
    assert [r["epoch"] for r in h0["records"]] == [1, 2, 3]


# ---- faults: one rank failing ends the job quickly, non-zero -------------------------------------

@pytest.mark.parametrize("how, via_mpi4py", [("raise", True), ("kill", True),
                                              ("raise", False)])
def test_a_failing_rank_ends_the_job_nonzero_within_seconds(tmp_path, how, via_mpi4py):
    # without python -m mpi4py, init_process_group's excepthook is what aborts the job
    result, seconds = launch([str(HERE / "mpi_worker.py"), how, str(tmp_path)], limit=60,
                             via_mpi4py=via_mpi4py)
    assert (tmp_path / "failing").read_text() == how  # it got as far as failing
    assert result.returncode != 0
    assert result.returncode not in (124, 137, -9), "timeout had to end it"
    assert seconds < 30, seconds
    assert not (tmp_path / "done-0").exists()
    if how == "raise":
        assert "rank 1 fails on purpose" in result.stderr


# ---- the command line -------------------------------------------------------------------------

def test_cli_distributed_train_writes_one_run_folder(tmp_path):
    out = tmp_path / "run"
    result, _ = launch(["-m", "chainrule", "train", "--distributed", "--data", "moons",
                        "--model", "mlp:16", "--epochs", "2", "--scheduler", "none",
                        "--out", str(out), "--no-plots"], limit=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ranks   2 processes") == 1  # rank 0 alone prints
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks"] == 2 and summary["epochs"] == 2
    assert len(json.loads((out / "history.json").read_text())["records"]) == 2
    # resumed with 2 ranks it continues; with one process it is refused by name
    result, _ = launch(["-m", "chainrule", "train", "--distributed", "--resume", str(out),
                        "--epochs", "3"], limit=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((out / "summary.json").read_text())["epochs"] == 3
    from chainrule.cli import main

    assert main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 1


def test_cli_sync_batch_norm_shares_statistics_across_ranks(tmp_path):
    out = tmp_path / "run"
    result, _ = launch(["-m", "chainrule", "train", "--distributed", "--data", "moons",
                        "--model", "mlp:16", "--batch-norm", "--sync-batch-norm",
                        "--epochs", "2", "--scheduler", "none", "--out", str(out),
                        "--no-plots"], limit=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BatchNorm statistics over all ranks" in result.stdout
    assert json.loads((out / "config.json").read_text())["sync_batch_norm"] is True
    from chainrule.io import load
    from chainrule.nn import SyncBatchNorm

    model = load(out / "model.safetensors")  # one process reads it, in eval mode a BatchNorm
    assert any(isinstance(m, SyncBatchNorm) for m in model.modules())
