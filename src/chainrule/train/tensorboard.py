"""``TensorBoard``: a Trainer callback that writes a run's numbers for TensorBoard.

Needs ``tensorboardX`` (``pip install 'chainrule[tensorboard]'``), imported only when the
callback is made. View with ``tensorboard --logdir DIR`` (TensorBoard itself is a separate
install: ``pip install tensorboard``).

What it writes (every event's step is the optimizer step it describes, 0-based, so all
tags share one x-axis and a resumed run continues the numbering)::

    step/loss, step/lr             every ``log_every`` steps: the batch's loss, the
    step/<metric>                  learning rate it used, the epoch's running metrics
    epoch/loss, epoch/<metric>     at each epoch end (at the epoch's last step): the
    epoch/val_loss, epoch/val_<m>  epoch's training and validation figures, the
    epoch/lr, epoch/seconds,       learning rate, wall time and the 1-based epoch
    epoch/number                   number (to read epochs off the step axis)
    weights/<param>, gradients/<param>   histograms, each epoch end or every N steps
    monitor/grad_norm/<layer>      when a GradientMonitor runs: its samples, per layer
    monitor/weight_norm/<layer>, monitor/update_ratio/<layer>,
    monitor/dead_fraction/<relu>, monitor/findings (text)
    model/summary (text), config (text), the graph (Graphs tab), a Custom Scalars layout

Resuming: the Trainer restores its step count, so the numbering continues; the writer
starts with a purge marker at that step, so TensorBoard hides what a killed run logged
after its last checkpoint (the resumed run logs those steps again). A fresh run into a
folder that holds older events hides them the same way (use one folder per run).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.tensor import raw
from chainrule.train.callbacks import Callback

if TYPE_CHECKING:
    from chainrule.train.trainer import Trainer

INSTALL_HINT = "pip install 'chainrule[tensorboard]'"
HISTOGRAM_BINS = 30


def _require_tensorboardx() -> Any:
    try:
        import tensorboardX
    except ImportError:
        raise ImportError("the TensorBoard callback needs tensorboardX, which is not "
                          f"installed: {INSTALL_HINT}") from None
    return tensorboardX


def _has_events(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.startswith("events.out.tfevents.")
                                   for p in folder.iterdir())


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a).reshape(-1)
    if a.dtype.kind not in "fiub":
        return a[:0]
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        return a[np.isfinite(a)]
    return a


class _EventFile:
    """One event file, written in place (``chainrule.train.tfrecord``) from tensorboardX's
    protocol buffers.

    tensorboardX's ``SummaryWriter`` hands every event to a writer thread through a
    bounded ``multiprocessing.Queue`` and checksums it byte by byte in Python: on a busy
    CPU that cost ~1.6 ms per step of the digits run (each hand-over waits for the GIL).
    Written here, an event costs tens of microseconds; the file is flushed to the disk at
    most every ``flush_secs`` and at close.
    """

    def __init__(self, folder: Path, purge_step: int, flush_secs: float) -> None:
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        from chainrule.train.tfrecord import RecordFile, event_file_name

        self._Event = Event
        # the nanosecond suffix keeps two files opened within one second apart and in order
        self._file = RecordFile(event_file_name(folder, f".{time.time_ns()}.chainrule"))
        self.flush_secs = flush_secs
        self._next_flush = time.monotonic() + flush_secs
        self.add(Event(file_version="brain.Event:2"))
        # TensorBoard drops this folder's earlier events at steps >= purge_step (a killed
        # run's steps after its checkpoint, or an older run's)
        self.add(Event(session_log=SessionLog(status=SessionLog.START)), purge_step)

    def add(self, event: Any, step: int | None = None) -> None:
        event.wall_time = time.time()
        if step is not None:
            event.step = int(step)
        self._file.write(event.SerializeToString())
        if time.monotonic() >= self._next_flush:
            self.flush()

    def summary(self, summary: Any, step: int) -> None:
        self.add(self._Event(summary=summary), step)

    def flush(self) -> None:
        self._file.flush()
        self._next_flush = time.monotonic() + self.flush_secs

    def close(self) -> None:
        self._file.close()


class TensorBoard(Callback):
    """Write losses, metrics, learning rate, histograms, the gradient monitor's figures
    and the model graph to ``log_dir`` for TensorBoard.

    Args:
        log_dir: the folder for the event files (created if needed); one folder per run.
        log_every: write the per-step scalars every this many steps (0: none; epoch
            figures are always written).
        histogram_every: weight and gradient histograms per parameter: ``'epoch'`` (at
            each epoch end: the weights then and the last step's gradients), a number of
            steps (the weights after that step and the gradients it used), or 0/None
            (none, and no per-step cost).
        graph: write the model graph, traced from the first training step (no extra
            forward pass), and the model summary as text.
        monitor: a ``GradientMonitor`` whose samples to write; by default the first one
            among the trainer's callbacks, if any.
        config: settings to show in TensorBoard's Text tab (e.g. ``TrainConfig``'s).
        flush_secs: the longest time events wait in memory before they reach the file
            (TensorBoard shows them from then on; also flushed when training ends).

    Only the first ``fit`` into an empty ``log_dir`` writes the graph, summary, config and
    layout (a resumed run has them already).

    Example:
        >>> # from chainrule.train import Trainer, TensorBoard
        >>> # trainer = Trainer(model, "cross_entropy", opt, metrics=["accuracy"],
        >>> #                   callbacks=[TensorBoard("runs/tb/mlp", histogram_every=100)])
        >>> # trainer.fit((X, y), validation=(X_val, y_val), epochs=10)
        >>> # then: tensorboard --logdir runs/tb
    """

    main_process_only = True  # under distributed training, rank 0 alone writes

    def __init__(self, log_dir: str | os.PathLike, log_every: int = 1,
                 histogram_every: int | str | None = "epoch", graph: bool = True,
                 monitor: Any = None, config: dict[str, Any] | None = None,
                 flush_secs: float = 10.0) -> None:
        _require_tensorboardx()  # fail when the callback is made, not mid-run
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 0:
            raise ValueError(f"TensorBoard: log_every must be a whole number >= 0, got "
                             f"{log_every!r}")
        if histogram_every is None:
            histogram_every = 0
        if histogram_every != "epoch" and (isinstance(histogram_every, (bool, str))
                                           or not isinstance(histogram_every, int)
                                           or histogram_every < 0):
            raise ValueError(f"TensorBoard: histogram_every must be 'epoch', a number of "
                             f"steps >= 1, or 0/None, got {histogram_every!r}")
        self.log_dir = Path(log_dir)
        self.log_every = log_every
        self.histogram_every = histogram_every
        self.graph = graph
        self.monitor = monitor
        self.config = config
        self.flush_secs = flush_secs
        self.writer: Any = None
        self._monitor: Any = None
        self._monitor_next = 0       # first monitor step not yet written
        self._findings_written = 0
        self._restored_for: str | None = None
        self._recorder: Any = None
        self._lr: list[float] = []
        # the per-step hooks exist only when they have work: off costs nothing per batch
        if log_every:
            self.on_before_step = self._remember_lr  # type: ignore[method-assign]
            self.on_batch_end = self._write_step  # type: ignore[method-assign]
        if isinstance(histogram_every, int) and histogram_every > 0:
            self.on_after_step = self._histograms_every  # type: ignore[method-assign]

    # ---- opening and closing ---------------------------------------------------------
    def on_train_begin(self, trainer: Trainer) -> None:
        start = int(trainer.global_step)
        fresh_folder = not _has_events(self.log_dir)
        self.close()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = _EventFile(self.log_dir, start, self.flush_secs)
        self._monitor = self.monitor if self.monitor is not None else _find_monitor(trainer)
        if self._restored_for != str(self.log_dir.resolve()):
            # no record of what this folder holds: a fresh folder gets the monitor's whole
            # past (a resumed monitor has one), an old one what comes after the resume point
            first = 0 if fresh_folder else start
            found = getattr(self._monitor, "findings", [])
            self._monitor_next = first
            self._findings_written = sum(1 for f in found if f.step < first)
        self._restored_for = None
        if fresh_folder:
            self._write_once(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        self._flush_monitor()
        self.close()

    def close(self) -> None:
        """Flush and close the event file (the next ``fit`` opens a new one)."""
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _write_once(self, trainer: Trainer) -> None:
        from tensorboardX.summary import custom_scalars, text

        model, step = trainer.model, trainer.global_step
        self.writer.summary(text("model/summary", _model_summary(model)), step)
        if self.config:
            lines = ["| setting | value |", "|---|---|"]
            lines += [f"| {k} | {json.dumps(v)} |" for k, v in self.config.items()]
            self.writer.summary(text("config", "\n".join(lines)), step)
        self.writer.summary(custom_scalars(self._layout(trainer)), step)
        if self.graph:
            from chainrule.train.tensorboard_graph import GraphRecorder

            self._recorder = GraphRecorder(model, self._write_graph, self._graph_failed)

    def _write_graph(self, nodes: list[Any]) -> None:
        from tensorboardX.proto.event_pb2 import Event

        from chainrule.train.tensorboard_graph import to_graph_def

        self._recorder = None
        if self.writer is not None:
            graph = to_graph_def(nodes)
            self.writer.add(Event(graph_def=graph.SerializeToString()))

    def _graph_failed(self, err: BaseException) -> None:
        self._recorder = None
        warnings.warn(f"TensorBoard: could not trace the model graph ({err}); the model "
                      "summary is in the Text tab", RuntimeWarning, stacklevel=2)

    def _layout(self, trainer: Trainer) -> dict[str, Any]:
        """The Custom Scalars tab: training and validation curves on one chart each."""
        names = ["loss"] + [m.name for m in trainer.metrics if m.scalar]
        charts = {f"{n}: train and validation": ["Multiline", [f"epoch/{n}", f"epoch/val_{n}"]]
                  for n in names}
        layout: dict[str, Any] = {"epochs": charts}
        if self._monitor is not None:
            layout["gradient flow"] = {
                "gradient norm per layer": ["Multiline", [r"monitor/grad_norm/.*"]],
                "update/weight ratio per layer": ["Multiline", [r"monitor/update_ratio/.*"]],
            }
        return layout

    # ---- per step ----------------------------------------------------------------------
    def _remember_lr(self, trainer: Trainer, step: int) -> None:
        # the rate this step uses (a per-batch schedule moves it right after the step)
        if step % self.log_every == 0:
            groups = getattr(trainer.optimizer, "param_groups", None) or []
            self._lr = [float(g["lr"]) for g in groups]

    def _write_step(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        if step % self.log_every or self.writer is None:
            return
        values = {"step/loss": logs["loss"]}
        for i, lr in enumerate(self._lr):
            values["step/lr" if i == 0 else f"step/lr_group{i}"] = lr
        if trainer.train_metrics:
            for m in trainer.metrics:
                if m.scalar:
                    values[f"step/{m.name}"] = m.compute()  # the epoch's running value
        self._scalars(values, step)

    def _histograms_every(self, trainer: Trainer, step: int) -> None:
        if step % self.histogram_every == 0:  # type: ignore[operator]
            self._histograms(trainer, step)

    # ---- per epoch ---------------------------------------------------------------------
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = max(int(trainer.global_step) - 1, 0)  # the epoch's last step
        values: dict[str, float] = {}
        for key, value in logs.items():
            if key == "epoch":
                values["epoch/number"] = float(value)
            elif key == "time":
                values["epoch/seconds"] = float(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values[f"epoch/{key}"] = float(value)
        self._scalars(values, step)
        if self.histogram_every == "epoch":
            self._histograms(trainer, step)
        self._flush_monitor()

    # ---- the gradient monitor ------------------------------------------------------------
    def _flush_monitor(self) -> None:
        """Write the monitor's samples and findings not written yet."""
        mon = self._monitor
        if mon is None or self.writer is None:
            return
        h = mon.history_since(self._monitor_next) if hasattr(mon, "history_since") \
            else mon.history
        columns = (("grad_norm", h.grad_norm), ("weight_norm", h.weight_norm),
                   ("update_ratio", h.update_ratio), ("dead_fraction", h.dead_fraction))
        for i, step in enumerate(h.steps):
            if step < self._monitor_next:
                continue
            values = {f"monitor/{what}/{layer}": float(series[i])
                      for what, table in columns for layer, series in table.items()
                      if not math.isnan(series[i])}
            self._scalars(values, int(step))
        if len(h.steps):
            self._monitor_next = max(self._monitor_next, int(h.steps[-1]) + 1)
        from tensorboardX.summary import text

        for f in mon.findings[self._findings_written:]:
            self.writer.summary(text("monitor/findings",
                                     f"**{f.kind}** (step {f.step}): {f.message}"), f.step)
        self._findings_written = len(mon.findings)

    # ---- writing -----------------------------------------------------------------------
    def _scalars(self, values: dict[str, float], step: int) -> None:
        """One event holding all of ``values`` (cheaper than one per tag)."""
        if not values:
            return
        from tensorboardX.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(v))
                                 for tag, v in values.items()])
        self.writer.summary(summary, step)

    def _histograms(self, trainer: Trainer, step: int) -> None:
        if self.writer is None:
            return
        for name, p in trainer.model.named_parameters():
            self._histogram(f"weights/{name}", p._data, step)
            if p.grad is not None:
                self._histogram(f"gradients/{name}", raw(p.grad), step)

    def _histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        """A histogram of the finite values in ``HISTOGRAM_BINS`` equal bins.

        TensorBoard redraws histograms in about 30 bins, so tensorboardX's default of
        several hundred exponential bins would only make every event ten times larger
        (and tensorboardX checksums each byte in Python).
        """
        v = _finite(values).astype(np.float64, copy=False)
        if not v.size:
            return
        from tensorboardX.summary import histogram_raw

        counts, edges = np.histogram(v, bins=HISTOGRAM_BINS)
        # einsum, not BLAS: a threaded dot of a few thousand numbers waits on its threads
        squares = float(np.einsum("i,i->", v, v))
        # TensorBoard reads upper bucket limits: an empty first bucket ends at the minimum
        self.writer.summary(histogram_raw(
            tag, min=float(edges[0]), max=float(edges[-1]), num=int(v.size),
            sum=float(v.sum()), sum_squares=squares, bucket_limits=edges.tolist(),
            bucket_counts=[0] + counts.tolist()), step)

    # ---- resumable state -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What was written of the monitor (so a resume neither repeats nor skips it)."""
        return {"log_dir": str(self.log_dir), "monitor_next": self._monitor_next,
                "findings_written": self._findings_written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # only meaningful for the same folder: a new folder gets the monitor's whole past
        if Path(state.get("log_dir", "")).resolve() == self.log_dir.resolve():
            self._monitor_next = int(state.get("monitor_next", 0))
            self._findings_written = int(state.get("findings_written", 0))
            self._restored_for = str(self.log_dir.resolve())

    def __repr__(self) -> str:
        return (f"TensorBoard(log_dir={str(self.log_dir)!r}, log_every={self.log_every}, "
                f"histogram_every={self.histogram_every!r})")


def _find_monitor(trainer: Trainer) -> Any:
    # a GradientMonitor exists only if its module was imported: no import needed to look
    module = sys.modules.get("chainrule.diagnostics.monitor")
    if module is None:
        return None
    return next((cb for cb in trainer.callbacks if isinstance(cb, module.GradientMonitor)),
                None)


def _model_summary(model: Any) -> str:
    """The model's layer table as Markdown (a code block keeps the columns aligned)."""
    try:
        text = model.summary()
    except Exception:  # noqa: BLE001 - a summary must never stop training
        text = repr(model)
    if not isinstance(text, str):
        text = str(text)
    body = "\n".join("    " + line for line in text.splitlines())
    return f"{type(model).__name__}, {model.num_parameters():,} parameters\n\n{body}"


__all__ = ["HISTOGRAM_BINS", "INSTALL_HINT", "TensorBoard"]
