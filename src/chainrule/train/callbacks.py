"""Callbacks: code the ``Trainer`` calls at fixed points of the loop.

The hooks, in the order one epoch meets them::

    on_train_begin(trainer)
    on_epoch_begin(trainer, epoch)
        for each batch:   zero_grad → forward → loss → backward
            on_after_backward(trainer, step)     gradients are fresh (not yet clipped)
                          clip
            on_before_step(trainer, step)        gradients as the optimizer will see them
                          optimizer.step()
            on_after_step(trainer, step)         weights updated
            on_batch_end(trainer, step, logs)    logs: {"loss": float, "batch": i, "size": n}
    on_epoch_end(trainer, epoch, logs)           logs: loss, metrics, val_*, lr, time
    on_train_end(trainer)

``epoch`` is 0-based; ``step`` counts optimizer steps over the whole run (0-based). The
``logs`` dict of ``on_batch_end`` is reused from batch to batch: copy it to keep it.

Under distributed training (``Trainer(..., distributed=True)``) every rank runs the
callbacks, with the same logs (losses and metrics reduced over the ranks), except those
whose class sets ``main_process_only = True`` (the ones that write files or print):
they run on rank 0 only.

The Trainer only calls a hook on callbacks that define it (a ``Callback`` subclass that
does not override a hook costs nothing per batch), and any object with some of these
methods works as a callback (``chainrule.diagnostics.GradientMonitor`` is one).

A callback whose progress must survive a resume implements ``state_dict()`` and
``load_state_dict(state)`` with JSON-serialisable data; the Trainer puts it in checkpoints.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from chainrule.train.history import History, infer_mode

if TYPE_CHECKING:
    from chainrule.train.trainer import Trainer

HOOKS = ("on_train_begin", "on_epoch_begin", "on_after_backward", "on_before_step",
         "on_after_step", "on_batch_end", "on_epoch_end", "on_train_end")


class Callback:
    """Base class with a no-op for every hook; override the ones you need.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, trainer, epoch, logs):
        ...         print(epoch, round(logs["loss"], 3))
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        pass

    def on_after_backward(self, trainer: Trainer, step: int) -> None:
        pass

    def on_before_step(self, trainer: Trainer, step: int) -> None:
        pass

    def on_after_step(self, trainer: Trainer, step: int) -> None:
        pass

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass


def implements(callback: Any, hook: str) -> bool:
    """Whether ``callback`` does something in ``hook`` (not just inherits the no-op)."""
    if hook in getattr(callback, "__dict__", {}):  # bound on the instance
        return callable(callback.__dict__[hook])
    method = getattr(type(callback), hook, None)
    if method is None:
        return False
    return method is not getattr(Callback, hook, None)


def _format_logs(logs: dict[str, Any]) -> str:
    parts = []
    for k, v in logs.items():
        if k in ("epoch", "time") or v is None:
            continue
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
    return "  ".join(parts)


# ---- progress ----------------------------------------------------------------------------

class ProgressBar(Callback):
    """A tqdm bar per epoch on a terminal or in Jupyter; one line per epoch otherwise;
    nothing if quiet.

    In a Jupyter notebook the bar is tqdm's widget (``tqdm.notebook``) when ipywidgets is
    installed, and tqdm's text bar without it.

    Args:
        quiet: print nothing at all.
        stream: where to write (default ``sys.stderr``); the bar is used only when it is a
            terminal (or in a notebook), so logs redirected to a file get one plain line
            per epoch.
        force_bar: use the tqdm bar even when the stream is not a terminal.

    Example:
        >>> bar = ProgressBar(quiet=True)
    """

    main_process_only = True  # under distributed training, rank 0 alone writes

    def __init__(self, quiet: bool = False, stream: IO[str] | None = None,
                 force_bar: bool = False) -> None:
        self.quiet = quiet
        self.stream = stream
        self.force_bar = force_bar
        self._bar: Any = None
        self._epochs = 0
        self._use_bar = False

    def _out(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stderr

    def on_train_begin(self, trainer: Trainer) -> None:
        self._epochs = trainer.epochs
        out = self._out()
        from chainrule._progress import wanted

        self._use_bar = not self.quiet and (self.force_bar or wanted(None, out))
        if self._use_bar:
            try:
                import tqdm  # noqa: F401
            except ImportError:
                self._use_bar = False

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if not self._use_bar:
            return
        from chainrule._progress import tqdm_class

        tqdm = tqdm_class()  # the notebook widget in Jupyter (with ipywidgets)
        total = trainer.steps_per_epoch
        self._bar = tqdm(total=total, initial=trainer.batch_in_epoch, file=self._out(),
                         desc=f"epoch {epoch + 1}/{self._epochs}", unit="batch",
                         leave=False, mininterval=0.2, dynamic_ncols=True)

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        bar = self._bar
        if bar is not None:
            bar.update(1)
            # formatting the postfix is the costly part: only when the bar will redraw
            if bar.n % 10 == 0:
                bar.set_postfix_str(f"loss {logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        width = len(str(self._epochs))
        line = (f"epoch {epoch + 1:>{width}}/{self._epochs}  {_format_logs(logs)}  "
                f"({logs.get('time', 0.0):.2f}s)")
        out = self._out()
        out.write(line + "\n")
        out.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# ---- early stopping ----------------------------------------------------------------------

class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; optionally put back the weights of the best epoch at the end.

    Args:
        monitor: a key of the epoch logs (``'val_loss'``, ``'val_accuracy'``, ``'loss'``…).
        patience: epochs without improvement to tolerate.
        min_delta: the smallest change that counts as an improvement.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy-like names).
        restore_best_weights: when training ends (stopped early or not), load the weights
            (parameters and buffers) of the best epoch back into the model.

    Example:
        >>> stop = EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = infer_mode(monitor) if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but the epoch logs "
                             f"have only {sorted(k for k in logs if k != 'epoch')}; pass "
                             "validation data for val_* keys")
        if isinstance(value, float) and math.isnan(value):
            value = math.inf if self.mode == "min" else -math.inf
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: np.array(v, copy=True)
                                     for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        # best weights are arrays: the Trainer stores them in the checkpoint's tensors
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.stopped_epoch = state.get("stopped_epoch")

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"mode={self.mode!r}, best={self.best})")


# ---- divergence -------------------------------------------------------------------------

@dataclass
class Divergence:
    """Where and how a run stopped being finite (``trainer.diverged``).

    Attributes:
        epoch: the epoch it happened in (1-based).
        step: optimizer steps taken when it was found (``trainer.global_step``).
        what: what was not finite, e.g. ``"the training loss is nan"``.
    """

    epoch: int
    step: int
    what: str

    def __str__(self) -> str:
        return f"{self.what} at epoch {self.epoch}, step {self.step}"


def _nonfinite_tensor(model: Any) -> str | None:
    """Name of the first parameter or buffer holding NaN/Inf, or None."""
    for name, t in model.named_parameters():
        if not np.isfinite(t._data).all():
            return f"parameter {name}"
    for name, b in model.named_buffers():
        if b is not None and b._data.dtype.kind == "f" and not np.isfinite(b._data).all():
            return f"buffer {name}"
    return None


class TerminateOnNaN(Callback):
    """Stop training at the first non-finite loss or weight, as Keras's ``TerminateOnNaN``,
    and keep the NaN out of every checkpoint.

    Checks the loss of every batch (free: it is already a float), and at each epoch end
    (and before each mid-epoch checkpoint) the epoch's losses and every parameter and
    buffer. On a hit it sets ``trainer.diverged`` (a ``Divergence``) and
    ``trainer.stop_training``; the ``Trainer`` then ends the epoch without recording it
    and writes no more checkpoints, so the last checkpoint on disk is the last finite one.

    Example:
        >>> stop = TerminateOnNaN()
        >>> # trainer = Trainer(..., callbacks=[stop]); trainer.fit(...)
        >>> # if trainer.diverged: print(trainer.diverged)
    """

    def __init__(self) -> None:
        self.divergence: Divergence | None = None

    def _stop(self, trainer: Trainer, what: str, epoch: int) -> None:
        if self.divergence is None:
            self.divergence = Divergence(epoch + 1, trainer.global_step, what)
        trainer.diverged = self.divergence
        trainer.stop_training = True

    def on_train_begin(self, trainer: Trainer) -> None:
        self.divergence = None

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        loss = logs["loss"]
        if not math.isfinite(loss):
            self._stop(trainer, f"the training loss is {loss}", trainer.epoch)
            return
        every = trainer._checkpoint.get("every") if trainer._checkpoint else 0
        if every and trainer.global_step % every == 0:  # a checkpoint is about to be written
            bad = _nonfinite_tensor(trainer.model)
            if bad is not None:
                self._stop(trainer, f"{bad} holds NaN/Inf", trainer.epoch)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        for key in ("loss", "val_loss"):
            value = logs.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                name = "training loss" if key == "loss" else "validation loss"
                self._stop(trainer, f"the {name} of the epoch is {value}", epoch)
                return
        bad = _nonfinite_tensor(trainer.model)
        if bad is not None:
            self._stop(trainer, f"{bad} holds NaN/Inf", epoch)


# ---- model files -------------------------------------------------------------------------

class ModelCheckpoint(Callback):
    """Save the model (``chainrule.io.save``: safetensors + architecture) after epochs.

    Args:
        path: file to write; may contain ``{epoch}`` (1-based) and any log key, e.g.
            ``"ckpt/model-{epoch:03d}-{val_loss:.3f}.safetensors"``.
        monitor: log key deciding which epoch is best.
        save_best_only: write only when ``monitor`` improves (else after every epoch).
        mode: ``'min'``, ``'max'`` or ``'auto'``.
        metadata: extra JSON metadata stored in the file (e.g. feature scaling).

    Example:
        >>> ckpt = ModelCheckpoint("best.safetensors", monitor="val_accuracy")
    """

    main_process_only = True  # under distributed training, rank 0 alone writes

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss",
                 save_best_only: bool = True, mode: str = "auto",
                 metadata: dict[str, Any] | None = None) -> None:
        self.path = str(path)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = infer_mode(monitor) if mode == "auto" else mode
        self.metadata = metadata
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.last_saved: str | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if self.save_best_only:
            if value is None:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r} but the epoch "
                                 f"logs have only {sorted(logs)}")
            if isinstance(value, float) and math.isnan(value):
                return
            better = self.best is None or (value < self.best if self.mode == "min"
                                           else value > self.best)
            if not better:
                return
            self.best, self.best_epoch = float(value), epoch
        from chainrule import io

        fields = {k: v for k, v in logs.items() if k != "epoch"}
        path = self.path.format(epoch=epoch + 1, **fields)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.metadata or {})
        meta.setdefault("epoch", epoch + 1)
        if value is not None:
            meta.setdefault(self.monitor, value)
        io.save(trainer.model, path, metadata=meta)
        self.last_saved = path

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "last_saved": self.last_saved}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.last_saved = state.get("last_saved")


# ---- learning-rate schedules -------------------------------------------------------------

def _is_plateau(scheduler: Any) -> bool:
    return type(scheduler).__name__ == "ReduceLROnPlateau"


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler after every epoch or after every optimizer step.

    ``ReduceLROnPlateau`` is stepped per epoch with the value of ``monitor``.

    Args:
        scheduler: a ``chainrule.optim`` scheduler (anything with ``step()``).
        interval: ``'epoch'`` or ``'batch'`` (``'step'`` is an alias).
        monitor: the log key ReduceLROnPlateau watches (falls back to ``loss`` when the
            run has no validation data).

    Example:
        >>> # sched = optim.CosineAnnealingLR(opt, T_max=100)
        >>> # Trainer(..., callbacks=[LRSchedulerCallback(sched, interval="batch")])
    """

    def __init__(self, scheduler: Any, interval: str = "epoch",
                 monitor: str = "val_loss") -> None:
        interval = "batch" if interval == "step" else interval
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', "
                             f"got {interval!r}")
        if _is_plateau(scheduler) and interval == "batch":
            raise ValueError("ReduceLROnPlateau steps once per epoch on a monitored value; "
                             "use interval='epoch'")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        # bind the per-step hook only when needed, so epoch schedules cost nothing per batch
        if interval == "batch":
            self.on_after_step = self._step_batch  # type: ignore[method-assign]

    def _step_batch(self, trainer: Trainer, step: int) -> None:
        self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.interval != "epoch":
            return
        if _is_plateau(self.scheduler):
            value = logs.get(self.monitor)
            if value is None:
                value = logs.get("loss")
            self.scheduler.step(value)
        else:
            self.scheduler.step()


# ---- logging -----------------------------------------------------------------------------

class CSVLogger(Callback):
    """Keep a CSV file with one row per epoch (the whole history, rewritten atomically each
    epoch, so a resumed run's file has every epoch exactly once).

    Example:
        >>> logger = CSVLogger("history.csv")
    """

    main_process_only = True  # under distributed training, rank 0 alone writes

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        history: History = trainer.history
        history.to_csv(self.path)


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=fn)``."""

    def __init__(self, **hooks: Any) -> None:
        for name, fn in hooks.items():
            if name not in HOOKS:
                raise ValueError(f"unknown callback hook {name!r}; known: {HOOKS}")
            setattr(self, name, fn)


__all__ = [
    "CSVLogger", "Callback", "EarlyStopping", "HOOKS", "LRSchedulerCallback",
    "LambdaCallback", "ModelCheckpoint", "ProgressBar", "implements",
]
__all__ += ["Divergence", "TerminateOnNaN"]
