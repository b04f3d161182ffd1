"""One rank of the 2-rank jobs of ``tests/test_distributed_mpi.py``.

Run as ``mpiexec -n 2 python -m mpi4py tests/mpi_worker.py MODE OUT_DIR``; each rank
writes what it ended with to ``OUT_DIR`` (``.npz`` files, never pickles) for the test to
compare with a one-process run. The models and data are built here and in the test by
the same functions, so both sides start from the same numbers.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

N_TRAIN, BATCH = 96, 8  # per-rank batch 8: 6 steps per epoch on each of 2 ranks


def train_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_TRAIN, 6)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] * X[:, 2]) > 0).astype(np.int64)
    return X, y


def mlp(dropout: float = 0.0):
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Dropout(dropout), nn.Linear(32, 16),
                         nn.ReLU(), nn.Linear(16, 2))


def sequence_batch(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 5, 3))
    y = rng.integers(0, 3, n)
    return x, y


def bn_lstm(sync: bool):
    """An LSTM over (N, 5, 3) sequences, then Linear → BatchNorm → ReLU → Linear, in
    float64; a spare Linear that forward never uses."""
    import chainrule as cr
    from chainrule import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.fc = nn.Linear(8, 8)
            self.bn = nn.BatchNorm1d(8)
            self.head = nn.Linear(8, 3)
            self.spare = nn.Linear(2, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(self.bn(self.fc(out[:, -1])).relu())

    cr.manual_seed(3)
    net = Net().to(cr.float64)
    return nn.SyncBatchNorm.convert_sync_batchnorm(net) if sync else net


def save(out: Path, name: str, arrays: dict) -> None:
    np.savez(out / name, **{k.replace(".", "/"): np.asarray(v) for k, v in arrays.items()})


def params_of(model) -> dict:
    return {name: p.numpy() for name, p in model.named_parameters()}


# ---- modes --------------------------------------------------------------------------------

def mode_train(out: Path, rank: int) -> None:
    """Trainer(distributed=True) from arrays: SGD with momentum, 3 epochs."""
    from chainrule import optim
    from chainrule.train import Trainer

    model = mlp()
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), 0.1, momentum=0.9),
                      metrics=["accuracy"], distributed=True)
    X, y = train_data()
    history = trainer.fit((X, y), validation=(X[:40], y[:40]), epochs=3, batch_size=BATCH,
                          checkpoint=out / f"ckpt-{rank}.safetensors")
    save(out, f"train-{rank}", params_of(model))
    (out / f"history-{rank}.json").write_text(json.dumps(history.to_dict()))


def mode_grads(out: Path, rank: int) -> None:
    """One backward of the BN + LSTM model on this rank's half of the batch, through
    DistributedDataParallel (small buckets: several allreduces), with SyncBatchNorm and
    with per-rank BatchNorm."""
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.losses import CrossEntropyLoss

    x, y = sequence_batch(16)
    half = slice(8 * rank, 8 * (rank + 1))
    for sync in (True, False):
        net = bn_lstm(sync)
        ddp = dist.DistributedDataParallel(net, bucket_cap_mb=0.0005)
        assert len(ddp.reducer.buckets) > 2
        loss = CrossEntropyLoss()(ddp(cr.tensor(x[half])), y[half])
        loss.backward()
        grads = {n: p.grad.numpy() for n, p in net.named_parameters()}
        stats = {f"buffer.{n}": b.numpy() for n, b in net.named_buffers()}
        save(out, f"grads-{'sync' if sync else 'local'}-{rank}", {**grads, **stats})
        ddp.reducer.remove()


def mode_resume(out: Path, rank: int) -> None:
    """With dropout (per-rank random streams): a run checkpointed mid-epoch, stopped and
    resumed, against the same run uninterrupted."""
    from chainrule import optim
    from chainrule.train import Callback, Trainer

    class Crash(Callback):
        def on_batch_end(self, trainer, step, logs):
            if step == 8:
                raise KeyboardInterrupt("simulated crash")

    def run(stop: bool, resume: bool, path: Path):
        model = mlp(dropout=0.3)
        trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), 1e-2),
                          metrics=["accuracy"], distributed=True,
                          callbacks=[Crash()] if stop else [])
        X, y = train_data()
        try:
            trainer.fit((X, y), epochs=3, batch_size=BATCH, checkpoint=path,
                        checkpoint_every=4, resume=path if resume else None)
        except KeyboardInterrupt:
            assert stop
        return model, trainer

    whole, _ = run(False, False, out / "whole.safetensors")
    run(True, False, out / "cut.safetensors")
    resumed, trainer = run(False, True, out / "cut.safetensors")
    save(out, f"resume-{rank}", {**{f"whole.{k}": v for k, v in params_of(whole).items()},
                                 **{f"resumed.{k}": v for k, v in params_of(resumed).items()}})
    (out / f"resume-history-{rank}.json").write_text(json.dumps(trainer.history.to_dict()))


def mode_fault(out: Path, rank: int, how: str) -> None:
    """Rank 1 fails at its third step (an exception, or SIGKILL); rank 0 goes on."""
    from chainrule import optim
    from chainrule.train import Callback, Trainer

    class Fail(Callback):
        def on_after_backward(self, trainer, step):
            if rank == 1 and step == 2:
                (out / "failing").write_text(how)
                if how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError("rank 1 fails on purpose")

    model = mlp()
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), 0.1),
                      distributed=True, callbacks=[Fail()])
    X, y = train_data()
    trainer.fit((X, y), epochs=1000, batch_size=BATCH)  # would run for minutes


if __name__ == "__main__":
    import chainrule.distributed as dist

    mode, folder = sys.argv[1], Path(sys.argv[2])
    dist.init_process_group()
    r = dist.get_rank()
    assert dist.get_world_size() == 2, dist.get_world_size()
    if mode == "train":
        mode_train(folder, r)
    elif mode == "grads":
        mode_grads(folder, r)
    elif mode == "resume":
        mode_resume(folder, r)
    elif mode in ("raise", "kill"):
        mode_fault(folder, r, mode)
    else:
        raise SystemExit(f"unknown mode {mode}")
    (folder / f"done-{r}").write_text("ok")
