"""``Trainer``: the training loop, with callbacks, metrics, history and exact resume.

One training step, in the order the data flows (``Trainer._train_epoch``)::

    zero_grad → forward → loss → backward → on_after_backward → clip → on_before_step
              → optimizer.step() → on_after_step → on_batch_end

A checkpoint holds everything the rest of the run depends on: model (parameters and
buffers), optimizer and scheduler state, the epoch and the batch within it, the random
generators (the default one, which dropout draws from, any generator a layer owns, and the
data loader's shuffling state), the running sums of the current epoch, the history and
the callbacks' state. ``fit(..., resume=path)`` therefore continues a run killed at any
moment and ends with the same weights, bit for bit, as the run that was never stopped.

Reproducibility, exactly: with the same seed, data and settings, a run gives the same
weights bit for bit on the same machine (CPU architecture) with the same chainrule, NumPy
and BLAS versions and the same number of BLAS threads (``chainrule.set_num_threads``).
Change any of those and the last bits of matrix products may change, which training can
amplify. Checkpoints record them (``extra["environment"]``) and resuming under different
ones issues a ``ReproducibilityWarning``.
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.backend import Generator, default_generator, environment, get_default_dtype
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, raw
from chainrule.train.callbacks import HOOKS, EarlyStopping, LRSchedulerCallback, implements
from chainrule.train.history import History
from chainrule.train.metrics import Metric, get_metric

CHECKPOINT_FORMAT = "chainrule.trainer/1"


class ReproducibilityWarning(UserWarning):
    """A resume under another thread count or library version: the continued run will
    not match an uninterrupted one bit for bit."""


# what the exact numbers depend on (``chainrule.backend.environment``), in message order
_ENVIRONMENT_KEYS = ("threads", "numpy", "chainrule", "blas", "machine")


def environment_changes(saved: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """Human-readable differences between a checkpoint's environment and this one.

    Example:
        >>> environment_changes({"threads": 1}, {"threads": 4})
        ['threads 1 -> 4']
    """
    if not saved:
        return []
    return [f"{k} {saved[k]} -> {now.get(k)}" for k in _ENVIRONMENT_KEYS
            if k in saved and saved[k] != now.get(k)]


def resolve_loss(loss: str | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A loss callable from a name in ``chainrule.losses.LOSSES`` or a callable."""
    if callable(loss):
        return loss
    from chainrule.losses import LOSSES

    key = str(loss).lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; known: {sorted(LOSSES)}")
    return LOSSES[key]()


def _float_array(a: Any) -> np.ndarray:
    """Floating inputs in the default dtype (converted once, here, not per batch)."""
    arr = np.asarray(a._data if isinstance(a, Tensor) else a)
    if arr.dtype.kind == "f" and arr.dtype != get_default_dtype():
        arr = arr.astype(get_default_dtype())
    return arr


def _target_array(a: Any) -> np.ndarray:
    arr = np.asarray(a._data if isinstance(a, Tensor) else a)
    if arr.dtype.kind == "f" and arr.dtype != get_default_dtype():
        arr = arr.astype(get_default_dtype())
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    return arr


def _pair(data: Any, what: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(X, y)`` arrays from a pair, or None when ``data`` is a loader."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = _float_array(data[0]), _target_array(data[1])
        if len(X) != len(y):
            raise ValueError(f"{what}: X has {len(X)} samples but y has {len(y)}")
        if len(X) == 0:
            raise ValueError(f"{what}: no samples")
        return X, y
    if isinstance(data, (tuple, list)):
        raise ValueError(f"{what}: give (X, y) arrays or a DataLoader, got a "
                         f"{type(data).__name__} of {len(data)} items")
    if not isinstance(data, Iterable):
        raise ValueError(f"{what}: give (X, y) arrays or a DataLoader, got "
                         f"{type(data).__name__}")
    return None


def _input(xb: Any) -> Tensor:
    """A batch of inputs (array or Tensor from a loader) as a Tensor in the default float
    dtype."""
    xb = raw(xb)
    if not isinstance(xb, np.ndarray):
        raise TypeError(f"the model's input batch must be a Tensor or an array, got "
                        f"{type(xb).__name__}")
    if xb.dtype.kind == "f" and xb.dtype != get_default_dtype():
        xb = xb.astype(get_default_dtype())
    return Tensor._make(xb, False, None)


def _sharded(loader: Any) -> bool:
    """Whether a loader gives each rank its own share (a ``DistributedSampler``)."""
    return type(getattr(loader, "sampler", None)).__name__ == "DistributedSampler"


def _module_generators(model: Module) -> dict[str, Generator]:
    """Generators owned by layers (dropout with its own ``generator=``), by module name."""
    out = {}
    for name, m in model.named_modules():
        g = m.__dict__.get("generator")
        if isinstance(g, Generator) and g is not default_generator:
            out[name or "<model>"] = g
    return out


class Trainer:
    """Fits a model with an optimizer, reports metrics, calls callbacks, checkpoints.

    Args:
        model: the ``Module`` to train.
        loss: ``loss(prediction, target) -> Tensor`` or a name from
            ``chainrule.losses.LOSSES`` (``'cross_entropy'``, ``'mse'``, …).
        optimizer: a ``chainrule.optim`` optimizer over the model's parameters.
        metrics: names (``'accuracy'``, ``'top5_accuracy'``, ``'mae'``, ``'r2'``) or
            ``Metric`` objects, computed on the training batches (see ``train_metrics``) and
            on validation data.
        callbacks: ``Callback`` objects (or anything with some of the hook methods).
        scheduler: a learning-rate scheduler, stepped after every epoch (``'epoch'``) or
            every optimizer step (``scheduler_interval='batch'``); ReduceLROnPlateau gets
            ``val_loss`` (or ``loss`` without validation data).
        clip_norm: clip the global gradient norm to this value before every step.
        seed: seed of the data loader's shuffling when ``fit`` gets arrays.
        train_metrics: also compute the metrics on the training batches.
        eval_batch_size: batch size of ``evaluate`` and ``predict``.
        distributed: train data-parallel over the ranks of an MPI job (launched with
            ``mpiexec -n N python -m mpi4py script.py``; needs mpi4py): rank 0's weights
            are copied to every rank, arrays given to ``fit`` are sharded by a
            ``DistributedSampler`` (``batch_size`` is per rank), gradients are averaged,
            losses and metrics are reduced over the ranks before callbacks see them,
            ``evaluate`` shards its data, and only rank 0 runs the callbacks that write
            (``main_process_only``) and writes checkpoints. With one process it is the
            same as ``distributed=False``. See ``chainrule.distributed``.

    Example:
        >>> import chainrule as cr
        >>> from chainrule import nn, optim
        >>> model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), 1e-2),
        ...                   metrics=["accuracy"])
        >>> # history = trainer.fit((X, y), validation=(X_val, y_val), epochs=20)
    """

    def __init__(self, model: Module, loss: str | Callable[..., Tensor], optimizer: Any,
                 metrics: Sequence[str | Metric] | None = None,
                 callbacks: Sequence[Any] | None = None, scheduler: Any = None,
                 scheduler_interval: str = "epoch", clip_norm: float | None = None,
                 seed: int | None = 0, train_metrics: bool = True,
                 eval_batch_size: int = 1024, distributed: bool = False) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer needs a chainrule.nn.Module, got {type(model).__name__}")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive, got {clip_norm}")
        self.model = model
        self.loss_fn = resolve_loss(loss)
        self.optimizer = optimizer
        self.metrics: list[Metric] = [get_metric(m) for m in (metrics or [])]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique, got {names}")
        self.callbacks: list[Any] = list(callbacks or [])
        given = [cb.scheduler for cb in self.callbacks if isinstance(cb, LRSchedulerCallback)]
        if len(given) + (scheduler is not None) > 1:
            raise ValueError("give the learning-rate scheduler once: scheduler= or one "
                             "LRSchedulerCallback (it would be stepped twice)")
        self.scheduler = scheduler if scheduler is not None else (given[0] if given else None)
        if scheduler is not None:
            # the scheduler steps first at epoch end, so later callbacks see the new lr
            self.callbacks.insert(0, LRSchedulerCallback(scheduler, scheduler_interval))
        self.clip_norm = clip_norm
        self.seed = seed
        self.train_metrics = train_metrics
        self.eval_batch_size = eval_batch_size
        self.history = History()
        self.stop_training = False
        self.diverged: Any = None  # set by TerminateOnNaN: where the run stopped being finite
        # progress, readable by callbacks
        self.epoch = 0             # current epoch, 0-based
        self.epochs = 0            # epochs this fit runs to
        self.global_step = 0       # optimizer steps taken over the whole run
        self.batch_in_epoch = 0    # batches done in the current epoch
        self.steps_per_epoch: int | None = None
        self.train_loader: Any = None
        self._params: list[Any] = []
        self._running: dict[str, Any] = {}
        self._checkpoint: dict[str, Any] = {}
        # JSON-able entries of your own saved in every checkpoint (chainrule train keeps
        # the run's settings there, to check them on resume); read_metadata returns them
        self.checkpoint_extra: dict[str, Any] = {}
        # data parallel (chainrule.distributed): this process's rank among world_size
        self.distributed = bool(distributed)
        self.rank, self.world_size = 0, 1
        self._sync: Any = None  # a TrainerSync when more than one rank takes part
        if distributed:
            from chainrule.distributed.training import TrainerSync

            sync = TrainerSync(model)
            self.rank, self.world_size = sync.rank, sync.size
            self._sync = sync if sync.active else None

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (and without ``distributed``): the process that writes."""
        return self.rank == 0

    # ---- public API -----------------------------------------------------------------
    def fit(self, train: Any, validation: Any = None, epochs: int = 10, batch_size: int = 32,
            shuffle: bool = True, resume: str | os.PathLike | bool | None = None,
            checkpoint: str | os.PathLike | None = None,
            checkpoint_every: int | str | None = "epoch",
            checkpoint_min_interval: float = 0.0, *, verify: bool = True) -> History:
        """Train for ``epochs`` epochs (in total, counting those of a resumed run).

        Args:
            train: ``(X, y)`` arrays (shuffled into batches of ``batch_size`` with this
                trainer's ``seed``) or a ``chainrule.data.DataLoader``.
            validation: ``(X, y)`` arrays or a loader, evaluated after every epoch
                (``val_loss`` and ``val_<metric>`` in the logs).
            epochs: the epoch to stop after (1-based count of all epochs of the run).
            batch_size: samples per step when ``train`` is arrays.
            shuffle: reshuffle the training arrays every epoch.
            resume: a checkpoint to continue from, or ``True`` for ``checkpoint`` when that
                file exists (a fresh start otherwise).
            checkpoint: file to keep the resumable state in (written atomically).
            checkpoint_every: ``'epoch'`` (after every epoch) or a number of optimizer
                steps (then also after every epoch).
            checkpoint_min_interval: skip an epoch-end checkpoint when the last one is
                younger than this many seconds (many tiny epochs would otherwise spend
                their time writing files); the last epoch is always saved.
            verify: check the resumed checkpoint's checksums (``False``: read a file that
                another tool changed on purpose as it is).

        Returns:
            the ``History``, one record per epoch (also ``trainer.history``).

        Example:
            >>> # trainer.fit((X, y), epochs=30, checkpoint="run.ckpt", checkpoint_every=100)
            >>> # trainer.fit((X, y), epochs=30, checkpoint="run.ckpt", resume=True)
        """
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        every = self._checkpoint_interval(checkpoint, checkpoint_every)
        loader = self._make_loader(train, batch_size, shuffle)
        val = None if validation is None else (_pair(validation, "validation") or validation)
        self.train_loader = loader
        self.epochs = epochs
        self.steps_per_epoch = len(loader) if hasattr(loader, "__len__") else None
        if self._sync is not None:
            self._sync.check_steps(self.steps_per_epoch)
            if loader is train and not _sharded(loader):
                warnings.warn("distributed training with a loader that has no "
                              "DistributedSampler: every rank trains on the same batches "
                              "(correct, but no faster than one process)", stacklevel=2)
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self._checkpoint = {"path": None if checkpoint is None else str(checkpoint),
                            "every": every, "min_interval": float(checkpoint_min_interval),
                            "last": -math.inf}
        self.stop_training = False
        self.diverged = None

        resume_path = self._resume_path(resume, checkpoint)
        if resume_path is not None:
            self._restore(resume_path, loader, verify)
        else:
            self.epoch, self.global_step, self.batch_in_epoch = 0, 0, 0
            self.history = History()
            self._running = {}
            if self._sync is not None:  # each rank its own stream (dropout masks differ)
                self._sync.fork_random_state(
                    [default_generator, *_module_generators(self.model).values()])

        # on ranks other than 0, callbacks that write files or print stay silent
        callbacks = [cb for cb in self.callbacks if self.rank == 0
                     or not getattr(cb, "main_process_only", False)]
        hooks = {h: [cb for cb in callbacks if implements(cb, h)] for h in HOOKS}
        for cb in hooks["on_train_begin"]:
            cb.on_train_begin(self)
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(loader, val, hooks)
        finally:
            for cb in hooks["on_train_end"]:
                cb.on_train_end(self)
        return self.history

    def evaluate(self, data: Any, batch_size: int | None = None) -> dict[str, Any]:
        """Loss and metrics of the model on ``data`` (eval mode, no graph recorded).

        Args:
            data: ``(X, y)`` arrays or a loader yielding ``(x, y)`` batches.

        Returns:
            ``{"loss": float, "<metric>": value, …}`` (a confusion matrix as an array).

        Under ``distributed`` every rank must call it: each evaluates its share of
        arrays (or of a loader with a ``DistributedSampler``) and all get the totals.
        ``predict`` stays local to the rank that calls it.

        Example:
            >>> # trainer.evaluate((X_test, y_test))["accuracy"]
        """
        pair = _pair(data, "evaluate")
        metrics = [copy.deepcopy(m) for m in self.metrics]
        for m in metrics:
            m.reset()
        sync = self._sync
        # under distributed each rank evaluates its share of arrays (or of a loader
        # sharded by a DistributedSampler) and the sums are combined
        shared = sync is not None and (pair is not None or _sharded(data))
        if shared and pair is not None:
            part = sync.shard(len(pair[0]))
            pair = (pair[0][part], pair[1][part])
        if sync is not None:
            sync.before_forward()  # rank 0's running statistics everywhere
        batches = self._batches(pair, batch_size) if pair is not None else data
        loss_sum, count = 0.0, 0
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                for xb, yb in batches:
                    yb = _target_array(yb)
                    out = self.model(_input(xb))
                    n = len(yb)
                    loss_sum += self.loss_fn(out, yb).item() * n
                    count += n
                    for m in metrics:
                        m.update(out._data, yb)
        finally:
            self.model.train(was_training)
        if shared:
            total = sync.reduce_states({"loss_sum": loss_sum, "count": count,
                                        "metrics": [m.state_dict() for m in metrics]})
            loss_sum, count = total["loss_sum"], total["count"]
            for m, state in zip(metrics, total["metrics"]):
                m.load_state_dict(state)
        if count == 0:
            raise ValueError("evaluate: the data has no samples")
        results: dict[str, Any] = {"loss": loss_sum / count}
        for m in metrics:
            results[m.name] = m.compute()
        return results

    def predict(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs for ``X`` (eval mode, batched, no graph): (N, …) array.

        Example:
            >>> # labels = trainer.predict(X_test).argmax(axis=1)
        """
        X = _float_array(X)
        if len(X) == 0:
            raise ValueError("predict: X has no samples")
        size = batch_size or self.eval_batch_size
        was_training = self.model.training
        self.model.eval()
        outs = []
        try:
            with no_grad():
                for start in range(0, len(X), size):
                    outs.append(self.model(_input(X[start:start + size]))._data)
        finally:
            self.model.train(was_training)
        return np.concatenate(outs)

    # ---- one epoch ------------------------------------------------------------------
    def _run_epoch(self, loader: Any, val: Any, hooks: dict[str, list[Any]]) -> None:
        epoch = self.epoch
        run = self._running
        if self.batch_in_epoch == 0 or not run:  # a fresh epoch (not one resumed midway)
            for m in self.metrics:
                m.reset()
            run.clear()
            run.update(loss_sum=0.0, count=0, elapsed=0.0, lr=self._lr())
        started = time.perf_counter() - run["elapsed"]
        self.model.train()
        sampler = getattr(loader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):  # DistributedSampler's order
            sampler.set_epoch(epoch)
        for cb in hooks["on_epoch_begin"]:
            cb.on_epoch_begin(self, epoch)

        self._train_epoch(loader, hooks, started)
        if self.diverged is not None:
            return  # the epoch never finished with finite numbers: record and save nothing

        logs: dict[str, Any] = {"epoch": epoch + 1}
        logs["loss"] = run["loss_sum"] / run["count"] if run["count"] else math.nan
        if self._sync is not None and self.train_metrics:
            self._sync.reduce_metrics(self.metrics)
        if self.train_metrics:
            for m in self.metrics:
                if m.scalar:
                    logs[m.name] = m.compute()
        if val is not None:
            for k, v in self.evaluate(val).items():
                if np.ndim(v) == 0:
                    logs[f"val_{k}"] = float(v)
        logs["lr"] = run["lr"]
        logs["time"] = time.perf_counter() - started
        self.history.append(logs)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        run.clear()
        for cb in hooks["on_epoch_end"]:
            cb.on_epoch_end(self, epoch, logs)
        if self._sync is not None:
            self._agree()
        ckpt = self._checkpoint
        if ckpt["path"] is not None and self.diverged is None:
            last = self.epoch >= self.epochs or self.stop_training
            due = last or time.perf_counter() - ckpt["last"] >= ckpt["min_interval"]
            if self._sync is not None:  # the clock differs between ranks: rank 0 decides
                due = self._sync.rank0_decides(due)
            if due:
                self.save_checkpoint(ckpt["path"])

    def _train_epoch(self, loader: Any, hooks: dict[str, list[Any]], started: float) -> None:
        """The hot loop: one optimizer step per batch, nothing else that scales with N."""
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        after_backward, before_step = hooks["on_after_backward"], hooks["on_before_step"]
        after_step, batch_end = hooks["on_after_step"], hooks["on_batch_end"]
        metrics = self.metrics if self.train_metrics else []
        clip = self._clipper()
        run = self._running
        every = self._checkpoint["every"]
        logs: dict[str, Any] = {"loss": 0.0, "batch": 0, "size": 0}  # reused every batch

        sync = self._sync
        for xb, yb in loader:
            step = self.global_step
            optimizer.zero_grad(set_to_none=True)
            if sync is not None:
                sync.before_forward()
            out = model(_input(xb))
            loss = loss_fn(out, yb)
            if sync is not None:  # the batch's loss over all ranks, summed during backward
                sync.start_loss(loss.item(), len(yb))
            loss.backward()
            if sync is not None:  # gradients averaged (normally backward already waited)
                sync.finish_gradient_sync()
            for cb in after_backward:
                cb.on_after_backward(self, step)
            if clip is not None:
                clip()
            for cb in before_step:
                cb.on_before_step(self, step)
            optimizer.step()
            for cb in after_step:
                cb.on_after_step(self, step)

            if sync is None:
                value, n = loss.item(), len(yb)
            else:
                value, n = sync.loss()
            run["loss_sum"] += value * n
            run["count"] += n
            for m in metrics:
                m.update(out._data, raw(yb))
            self.global_step = step + 1
            self.batch_in_epoch += 1
            if batch_end:
                logs["loss"], logs["batch"], logs["size"] = value, self.batch_in_epoch - 1, n
                for cb in batch_end:
                    cb.on_batch_end(self, step, logs)
            if sync is not None:
                self._agree()
            if every and self.global_step % every == 0 and self.diverged is None:
                run["elapsed"] = time.perf_counter() - started
                self.save_checkpoint(self._checkpoint["path"])
            if self.stop_training:
                break

    def _agree(self) -> None:
        """Every rank stops (or has diverged) when one does: a rank leaving the loop alone
        would leave the others waiting in their next allreduce."""
        stop, diverged = self._sync.agree(float(self.stop_training),
                                          float(self.diverged is not None))
        self.stop_training = bool(stop)
        if diverged and self.diverged is None:
            from chainrule.train.callbacks import Divergence

            self.diverged = Divergence(self.epoch + 1, self.global_step,
                                       "another rank found a non-finite value")

    def _clipper(self) -> Callable[[], Any] | None:
        if self.clip_norm is None:
            return None
        from chainrule.optim import clip_grad_norm_

        params, max_norm = self._params, self.clip_norm
        return lambda: clip_grad_norm_(params, max_norm)

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        if groups:
            return float(groups[0]["lr"])
        return None

    # ---- data -----------------------------------------------------------------------
    def _make_loader(self, train: Any, batch_size: int, shuffle: bool) -> Any:
        pair = _pair(train, "train")
        if pair is None:
            return train
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from chainrule.data import DataLoader, TensorDataset

        dataset = TensorDataset(*pair)
        if self._sync is not None:
            from chainrule.data.sampler import DistributedSampler

            sampler = DistributedSampler(dataset, self.world_size, self.rank, shuffle=shuffle,
                                         seed=self._sync.same_seed(self.seed))
            return DataLoader(dataset, batch_size=batch_size, sampler=sampler)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                          drop_last=False, seed=self.seed)

    def _batches(self, pair: tuple[np.ndarray, np.ndarray],
                 batch_size: int | None) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        X, y = pair
        size = batch_size or self.eval_batch_size
        for start in range(0, len(X), size):
            yield X[start:start + size], y[start:start + size]

    # ---- checkpoints ----------------------------------------------------------------
    @staticmethod
    def _checkpoint_interval(checkpoint: Any, every: int | str | None) -> int:
        """Steps between mid-epoch checkpoints (0: only at epoch ends)."""
        if every is None or every == "epoch":
            return 0
        if isinstance(every, str) or not int(every) == every or every < 1:
            raise ValueError(f"checkpoint_every must be 'epoch' or a positive number of "
                             f"steps, got {every!r}")
        if checkpoint is None:
            raise ValueError("checkpoint_every needs a checkpoint path (checkpoint=...)")
        return int(every)

    @staticmethod
    def _resume_path(resume: Any, checkpoint: Any) -> str | None:
        if resume is None or resume is False:
            return None
        if resume is True:
            if checkpoint is None:
                raise ValueError("resume=True needs checkpoint=PATH to resume from")
            return str(checkpoint) if Path(checkpoint).exists() else None
        if not Path(resume).exists():
            raise FileNotFoundError(f"cannot resume: checkpoint {resume} does not exist")
        return str(resume)

    def _callback_key(self, i: int, cb: Any) -> str:
        return f"{i}:{type(cb).__name__}"

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the full resumable state of the run to ``path`` (atomically).

        Mid-epoch this includes the data loader's position and the epoch's running sums;
        at an epoch end (``batch_in_epoch == 0``) the next epoch starts on resume.

        Under ``distributed`` every rank must call it (the Trainer does): each rank's
        random generators, loader position and running metric sums are gathered into
        the file, which rank 0 alone writes.
        """
        from chainrule import io

        run = self._running
        loader_state = None
        if hasattr(self.train_loader, "state_dict"):
            loader_state = self.train_loader.state_dict()
        rng = {"default": default_generator.get_state(),
               "modules": {k: g.get_state() for k, g in _module_generators(self.model).items()}}
        mid_epoch = bool(self.batch_in_epoch and run)
        metric_states = [m.state_dict() for m in self.metrics] if mid_epoch else None
        ranks = None
        if self._sync is not None:
            self._sync.before_forward()  # the file holds rank 0's running statistics
            ranks = self._sync.gather_rank_states({"rng": rng, "loader": loader_state,
                                                   "metrics": metric_states})
            if ranks is None:  # not rank 0: the file is rank 0's to write
                if self._checkpoint:
                    self._checkpoint["last"] = time.perf_counter()
                return
        # EarlyStopping's best weights are arrays; the checkpoint stores them exactly
        callbacks, arrays = {}, {}
        for i, cb in enumerate(self.callbacks):
            key = self._callback_key(i, cb)
            if hasattr(cb, "state_dict") and not isinstance(cb, LRSchedulerCallback):
                callbacks[key] = cb.state_dict()
            if isinstance(cb, EarlyStopping) and cb.best_weights is not None:
                arrays[key] = cb.best_weights
        extra = {
            **self.checkpoint_extra,
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "epochs": self.epochs,
            "stop_training": bool(self.stop_training),
            "rng": rng,
            "loader": loader_state,
            "running": ({"loss_sum": run["loss_sum"], "count": run["count"],
                         "elapsed": run["elapsed"], "lr": run["lr"],
                         "metrics": metric_states}
                        if mid_epoch else None),
            "history": self.history.to_dict(),
            "callbacks": callbacks,
            "callback_arrays": arrays,
            "environment": environment(),
        }
        if ranks is not None:
            extra["distributed"] = {"world_size": self.world_size, "ranks": ranks}
        io.save_checkpoint(path, model=self.model, optimizer=self.optimizer,
                           scheduler=self.scheduler, extra=extra)
        if self._checkpoint:
            self._checkpoint["last"] = time.perf_counter()

    def _restore(self, path: str, loader: Any, verify: bool = True) -> None:
        from chainrule import io

        ckpt = io.load_checkpoint(path, verify=verify)
        extra = ckpt.extra or {}
        if extra.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a Trainer checkpoint (no {CHECKPOINT_FORMAT} "
                             "state); it can still be loaded with chainrule.io.load_checkpoint")
        changes = environment_changes(extra.get("environment"), environment())
        if changes:
            warnings.warn(f"resuming {path} under a different environment ("
                          f"{', '.join(changes)}): the run will not end with the same "
                          "weights, bit for bit, as one that never stopped",
                          ReproducibilityWarning, stacklevel=3)
        ckpt.restore(self.model, self.optimizer, self.scheduler)
        with ckpt.restoring("trainer state"):  # damage names the file, not 'int' object...
            self._restore_extra(path, extra, loader)

    def _restore_extra(self, path: str, extra: dict, loader: Any) -> None:
        saved = extra.get("distributed") or {}
        size = int(saved.get("world_size", 1))
        if size != self.world_size:
            raise ValueError(f"{path} was written by a run of {size} process(es); resume it "
                             f"with {size} (mpiexec -n {size} ...), not {self.world_size}: "
                             "each rank's data shard and random state are in it")
        if saved.get("ranks"):  # this rank's own generators, loader position and sums
            mine = saved["ranks"][self.rank]
            extra = {**extra, "rng": mine["rng"], "loader": mine["loader"]}
            if extra.get("running") is not None:
                extra["running"] = {**extra["running"], "metrics": mine["metrics"]}
        self.epoch = int(extra["epoch"])
        self.batch_in_epoch = int(extra["batch_in_epoch"])
        self.global_step = int(extra["global_step"])
        self.stop_training = bool(extra.get("stop_training", False))
        rng = extra["rng"]
        default_generator.set_state(rng["default"])
        gens = _module_generators(self.model)
        for name, state in rng.get("modules", {}).items():
            if name in gens:
                gens[name].set_state(state)
        if extra.get("loader") is not None:
            if not hasattr(loader, "load_state_dict"):
                raise ValueError(f"{path}: the checkpoint has a data loader position but the "
                                 "training data given to fit cannot restore one")
            loader.load_state_dict(extra["loader"])
        elif self.batch_in_epoch:
            raise ValueError(f"{path}: a mid-epoch checkpoint without the data loader's "
                             "state cannot be resumed exactly")
        running = extra.get("running")
        self._running = {}
        if running is not None:
            self._running = {k: running[k] for k in ("loss_sum", "count", "elapsed", "lr")}
            for m, state in zip(self.metrics, running["metrics"]):
                m.load_state_dict(state)
        self.history = History.from_dict(extra["history"])
        states = extra.get("callbacks", {})
        arrays = extra.get("callback_arrays", {})
        for i, cb in enumerate(self.callbacks):
            key = self._callback_key(i, cb)
            if key in states and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(states[key])
            if isinstance(cb, EarlyStopping) and cb.restore_best_weights and key in arrays:
                cb.best_weights = dict(arrays[key])


__all__ = ["CHECKPOINT_FORMAT", "ReproducibilityWarning", "Trainer", "environment_changes",
           "resolve_loss"]
