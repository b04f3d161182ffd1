"""A complete training run from a ``TrainConfig``: what ``chainrule train`` does.

``run_training(config)`` loads the data, builds the model, loss, optimizer and schedule,
trains with a ``Trainer`` (checkpointing every epoch, so ``--resume`` continues a killed
run exactly), evaluates on the test split and writes a run folder::

    model.safetensors      the trained model + metadata to predict with (labels, scaling)
    checkpoint.ckpt.safetensors   the resumable training state
    config.json            the settings used (chainrule train --config config.json reruns)
    history.json, history.csv     one record per epoch
    summary.json           the outcome: parameters, epochs, best/final val, test metrics
    loss.png, accuracy.png, confusion_matrix.png   when matplotlib is installed
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule.train.config import TrainConfig, default_loss, read_config_file

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.ckpt.safetensors"
CONFIG_FILE = "config.json"
METADATA_FORMAT = "chainrule.run/1"


@dataclass
class RunResult:
    """What ``run_training`` produced: the folder, the outcome and the live objects."""

    out_dir: Path
    summary: dict[str, Any]
    history: Any
    model: Any
    trainer: Any


# ---- building blocks (each a small function the CLI, tests and users can call) -----------

DEFAULT_LABEL_SMOOTHING = 0.1


def build_loss(name: str | None, task: str, label_smoothing: float | None = None) -> Any:
    """The loss module for ``name`` (default by task: cross-entropy or MSE).

    ``label_smoothing`` None means 0.1 for cross-entropy (a little smoothing regularises
    the bundled digits' MLP measurably) and nothing for other losses.
    """
    from chainrule.losses import LOSSES, CrossEntropyLoss

    key = (name or default_loss(task)).lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    cls = LOSSES[key]
    if task == "classification" and cls is not CrossEntropyLoss:
        raise ValueError(f"loss {name!r} does not fit a classification task with class-index "
                         "targets; use cross_entropy")
    if task == "regression" and cls is CrossEntropyLoss:
        raise ValueError(f"loss {name!r} needs class labels but this data is a regression "
                         "task; use mse, huber or l1")
    if label_smoothing and cls is not CrossEntropyLoss:
        raise ValueError("label smoothing applies to the cross_entropy loss only")
    if label_smoothing is None:
        label_smoothing = DEFAULT_LABEL_SMOOTHING
    return cls(label_smoothing=label_smoothing) if cls is CrossEntropyLoss else cls()


def build_optimizer(name: str, params: list[Any], lr: float, weight_decay: float = 0.0,
                    momentum: float = 0.9) -> Any:
    """An optimizer by name: sgd (with ``momentum``), adam, adamw, rmsprop, adagrad."""
    from chainrule import optim

    key = name.lower()
    if key == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 0.01)
    if key == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd, adam, adamw, rmsprop or adagrad")


def build_scheduler(name: str, optimizer: Any, epochs: int, steps_per_epoch: int,
                    lr: float) -> tuple[Any, str]:
    """``(scheduler or None, 'epoch' | 'batch')`` for a schedule name.

    none; step (×0.1 after every third of the epochs); exponential (×0.95 per epoch);
    cosine (to 0 over the run, per epoch); onecycle (per batch, peak ``lr``); plateau
    (×0.5 after 3 epochs without val_loss progress); warmup (linear over the first epoch,
    then cosine to 0, per batch).
    """
    from chainrule import optim

    key = name.lower()
    total = max(1, epochs * steps_per_epoch)
    if key == "none":
        return None, "epoch"
    if key == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if key == "exponential":
        return optim.ExponentialLR(optimizer, gamma=0.95), "epoch"
    if key == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=max(1, epochs)), "epoch"
    if key == "onecycle":
        return optim.OneCycleLR(optimizer, max_lr=lr, total_steps=total), "batch"
    if key == "plateau":
        return optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=3), "epoch"
    if key == "warmup":
        warm = max(1, min(steps_per_epoch, total - 1))
        after = optim.CosineAnnealingLR(optimizer, T_max=max(1, total - warm))
        return optim.LinearWarmup(optimizer, warmup_steps=warm, after=after), "batch"
    raise ValueError(f"unknown scheduler {name!r}; choose none, step, exponential, cosine, "
                     "onecycle, plateau or warmup")


@dataclass
class PreparedData:
    """The arrays a run trains on, and the facts needed to predict from raw features."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    bundle: Any
    input_shape: tuple[int, ...]
    metadata: dict[str, Any]


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load ``config.data`` and shape it for ``config.model``; standardise features (with the
    training part's statistics) unless the data set did so already."""
    from chainrule.data import Standardizer, load_dataset
    from chainrule.models import parse_spec

    if config.target is not None and not config.data.lower().startswith("csv:"):
        raise ValueError("--target applies to csv: data only")
    bundle = load_dataset(config.data, seed=config.seed, target=config.target,
                          task=config.task)
    info = bundle.info
    scaler_state = info.get("standardizer")
    applied_by = "data" if scaler_state is not None else None
    if scaler_state is None and config.standardize:
        scaler = Standardizer().fit(bundle.X_train)
        bundle.X_train, bundle.X_val, bundle.X_test = (
            scaler.transform(a) for a in (bundle.X_train, bundle.X_val, bundle.X_test))
        scaler_state, applied_by = scaler.state_dict(), "train"
    target_state = None
    if bundle.task == "regression" and config.standardize:
        # targets of any scale (prices, counts) train well once at mean 0, sd 1; predictions
        # are mapped back with these statistics
        target_scaler = Standardizer().fit(bundle.y_train)
        bundle.y_train, bundle.y_val, bundle.y_test = (
            target_scaler.transform(a) for a in (bundle.y_train, bundle.y_val, bundle.y_test))
        target_state = target_scaler.state_dict()
    kind, _ = parse_spec(config.model)
    shape = tuple(bundle.input_shape)
    if kind == "cnn":
        if bundle.image_shape is None:
            raise ValueError(f"cnn models need image data; {bundle.name} has samples of "
                             f"shape {shape}: use an mlp model")
        shape = tuple(bundle.image_shape)

    def arrays(part: str) -> tuple[np.ndarray, np.ndarray]:
        X, y = bundle.split(part)
        X = np.ascontiguousarray(X.reshape((len(X), *shape)), dtype=np.float32)
        return X, y

    # chainrule.data scales bundled images into [0, 1]; predict takes raw pixel values, as
    # in the original files, and applies the same scale
    kind_of_data = config.data.split(":", 1)[0].lower()
    input_scale = {"digits": 1 / 16, "idx": 1 / 255}.get(kind_of_data)
    feature_names = info.get("feature_names") or [f"x{i + 1}" for i in
                                                  range(bundle.num_features)]
    metadata = {
        "format": METADATA_FORMAT,
        "task": bundle.task,
        "data": config.data,
        "target": config.target or info.get("target"),
        "seed": config.seed,
        "num_classes": bundle.num_classes,
        "classes": info.get("classes"),
        "feature_names": list(feature_names),
        "input_shape": list(shape),
        "num_outputs": bundle.num_outputs,
        "input_scale": input_scale,  # raw feature value × input_scale = what the data set gave
        "standardizer": scaler_state,
        "standardized_by": applied_by,
        "target_standardizer": target_state,
    }
    return PreparedData(arrays("train"), arrays("val"), arrays("test"), bundle, shape,
                        metadata)


# ---- the run -----------------------------------------------------------------------------

def _slug(spec: str) -> str:
    kind, _, arg = spec.partition(":")
    name = f"{kind}-{Path(arg).stem}" if arg else kind
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]


def _new_run_dir(config: TrainConfig) -> Path:
    if config.out:
        return Path(config.out)
    base = Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(config.data)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def resume_config(path: str | os.PathLike) -> tuple[TrainConfig, Path, Path]:
    """``(config, run folder, checkpoint)`` of a run to resume: ``path`` is the run folder
    or its checkpoint file; the settings come from the folder's ``config.json``."""
    p = Path(path)
    if p.is_dir():
        run_dir, ckpt = p, p / CHECKPOINT_FILE
    else:
        run_dir, ckpt = p.parent, p
    if not ckpt.exists():
        raise FileNotFoundError(f"cannot resume {path}: no checkpoint {ckpt}")
    config = TrainConfig()
    if (run_dir / CONFIG_FILE).exists():
        config = config.updated(read_config_file(run_dir / CONFIG_FILE), str(run_dir /
                                                                              CONFIG_FILE))
    return dataclasses.replace(config, out=str(run_dir), resume=str(ckpt)), run_dir, ckpt


def _say(stream: IO[str] | None, text: str) -> None:
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()


def run_training(config: TrainConfig, stream: IO[str] | None = sys.stdout) -> RunResult:
    """Train as ``config`` says and write the run folder (see the module docstring).

    Args:
        config: the settings (``config.resume`` set: continue that run's checkpoint in its
            folder; ``config.out``: the folder, else ``runs/<time>-<data>``).
        stream: where the summary goes (``None``: silent). Progress goes to stderr.

    Returns:
        a ``RunResult`` (folder, summary dict, history, model, trainer).

    Example:
        >>> # run_training(TrainConfig(data="moons", epochs=20, out="runs/moons"))
    """
    import chainrule as cr
    from chainrule import io
    from chainrule.models import build_model
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ProgressBar
    from chainrule.train.trainer import Trainer

    config.validate()
    started = time.perf_counter()
    data = prepare_data(config)
    task, meta = data.bundle.task, data.metadata
    cr.manual_seed(config.seed)
    model = build_model(config.model, data.input_shape, data.bundle.num_outputs,
                        activation=config.activation, dropout=config.dropout,
                        batch_norm=config.batch_norm, residual=config.residual)
    try:
        io.to_spec(model)  # fail now, not after training, if the model cannot be saved
    except ValueError as err:
        raise ValueError(f"model {config.model!r} cannot be saved to a model file: {err}"
                         ) from None
    loss = build_loss(config.loss, task, config.label_smoothing)
    optimizer = build_optimizer(config.optimizer, list(model.parameters()), config.lr,
                                config.weight_decay, config.momentum)
    steps = math.ceil(len(data.train[0]) / config.batch_size)
    scheduler, interval = build_scheduler(config.scheduler, optimizer, config.epochs, steps,
                                          config.lr)

    out = Path(config.out) if config.resume else _new_run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    config.to_json(out / CONFIG_FILE)  # first, so a killed run can be resumed from it

    callbacks: list[Any] = [ProgressBar(quiet=config.quiet), CSVLogger(out / "history.csv")]
    stopper = None
    if config.patience is not None:
        stopper = EarlyStopping("val_loss", patience=config.patience,
                                restore_best_weights=True)
        callbacks.append(stopper)
    monitor = _gradient_monitor(model) if config.monitor else None
    if monitor is not None:
        callbacks.append(monitor)
    metric_names = ["accuracy"] if task == "classification" else ["mae", "r2"]
    trainer = Trainer(model, loss, optimizer, metrics=metric_names, callbacks=callbacks,
                      scheduler=scheduler, scheduler_interval=interval,
                      clip_norm=config.clip_norm, seed=config.seed)

    n_params = model.num_parameters()
    split = {k: len(v[0]) for k, v in (("train", data.train), ("val", data.val),
                                        ("test", data.test))}
    classes = f", {data.bundle.num_classes} classes" if data.bundle.num_classes else ""
    _say(stream, f"data    {data.bundle.name}: {split['train']} train / {split['val']} val / "
                 f"{split['test']} test, input {tuple(data.input_shape)}, {task}{classes}")
    _say(stream, f"model   {config.model} ({n_params:,} parameters), {type(loss).__name__}, "
                 f"{config.optimizer} lr {config.lr:g}, {config.scheduler} schedule, "
                 f"{config.epochs} epochs x {steps} batches of {config.batch_size}")
    resumed_at = None
    if config.resume:
        resumed_at = int(io.read_metadata(config.resume).get("epoch", 0))
        _say(stream, f"resume  {config.resume} (after epoch {resumed_at})")

    ckpt = out / CHECKPOINT_FILE
    train_started = time.perf_counter()
    history = trainer.fit(data.train, validation=data.val, epochs=config.epochs,
                          batch_size=config.batch_size, checkpoint=ckpt,
                          checkpoint_min_interval=1.0, resume=config.resume)
    train_seconds = time.perf_counter() - train_started

    test = trainer.evaluate(data.test)
    confusion = None
    if task == "classification":
        from chainrule.train.metrics import confusion_matrix

        confusion = confusion_matrix(trainer.predict(data.test[0]), data.test[1],
                                     data.bundle.num_classes)
    test_report = {k: float(v) for k, v in test.items()}
    if meta.get("target_standardizer") is not None:
        # report test errors in the target's own units (the loss stays in training units)
        from chainrule.data import Standardizer
        from chainrule.train.metrics import mean_absolute_error, r2_score

        scaler = Standardizer.from_state_dict(meta["target_standardizer"])
        pred = scaler.inverse_transform(trainer.predict(data.test[0]))
        truth = scaler.inverse_transform(data.test[1])
        test_report["mae"] = mean_absolute_error(pred, truth)
        test_report["r2"] = r2_score(pred, truth)
    meta = {**meta, "test": test_report, "epochs_trained": len(history),
            "config": config.experiment()}

    io.save(model, out / MODEL_FILE, metadata=meta)
    history.to_json(out / "history.json")
    history.to_csv(out / "history.csv")
    files = [MODEL_FILE, CHECKPOINT_FILE, CONFIG_FILE, "history.json", "history.csv",
             "summary.json"]
    plot_note = None
    if config.plots:
        from chainrule.train.plots import have_matplotlib, plot_run

        if have_matplotlib():
            written = plot_run(history, out, confusion, meta.get("classes"))
            files += [Path(p).name for p in written]
        else:
            plot_note = "plots skipped: pip install matplotlib to get them"

    watch = "val_accuracy" if task == "classification" else "val_loss"
    best_epoch, best_value = history.best(watch)
    summary: dict[str, Any] = {
        "data": config.data, "task": task, "model": config.model, "parameters": n_params,
        "epochs": len(history), "epochs_planned": config.epochs,
        "stopped_early": bool(stopper is not None and stopper.stopped_epoch is not None),
        "resumed_after_epoch": resumed_at,
        "best": {"metric": watch, "epoch": best_epoch, "value": best_value},
        "final": {k: v for k, v in history.records[-1].items() if k.startswith("val_")},
        "test": test_report, "train_seconds": round(train_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "out_dir": str(out), "files": files,
    }
    if confusion is not None:
        summary["test"]["confusion_matrix"] = confusion.tolist()
    if monitor is not None:
        summary["gradient_monitor"] = {"findings": [str(f) for f in monitor.findings],
                                       "summary": monitor.summary()}
    from chainrule.train.history import _atomic_write

    _atomic_write(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    _print_summary(stream, summary, task, history, plot_note)
    return RunResult(out, summary, history, model, trainer)


def _gradient_monitor(model: Any) -> Any:
    try:
        from chainrule.diagnostics import GradientMonitor
    except ImportError:
        raise ValueError("--monitor needs chainrule.diagnostics.GradientMonitor, which this "
                         "install does not have") from None
    return GradientMonitor(model, every=10)


def _print_summary(stream: IO[str] | None, s: dict[str, Any], task: str, history: Any,
                   plot_note: str | None) -> None:
    if stream is None:
        return
    best = s["best"]
    final = s["final"].get(best["metric"])
    stopped = " (stopped early)" if s["stopped_early"] else ""
    done = f"{s['epochs']} epochs"
    if s["resumed_after_epoch"] is not None:
        done += f" ({s['epochs'] - s['resumed_after_epoch']} after resuming)"
    _say(stream, f"trained {done} in {s['train_seconds']:.1f} s{stopped} "
                 f"(total {s['total_seconds']:.1f} s); best {best['metric']} "
                 f"{best['value']:.4f} (epoch {best['epoch']}), final {final:.4f}")
    t = s["test"]
    if task == "classification":
        _say(stream, f"test    accuracy {t['accuracy']:.4f} ({t['accuracy']:.2%}), "
                     f"loss {t['loss']:.4f}")
    else:
        _say(stream, f"test    loss {t['loss']:.4g}, mae {t['mae']:.4g}, r2 {t['r2']:.4f}")
    if "gradient_monitor" in s:
        findings = s["gradient_monitor"]["findings"]
        _say(stream, "monitor " + ("no gradient-flow problems found" if not findings
                                   else f"{len(findings)} finding(s):"))
        for f in findings:
            _say(stream, f"  - {f}")
    _say(stream, f"files   {s['out_dir']}/  " + " ".join(s["files"]))
    if plot_note:
        _say(stream, f"note    {plot_note}")


__all__ = ["RunResult", "build_loss", "build_optimizer", "build_scheduler", "prepare_data",
           "resume_config", "run_training"]
