"""A complete training run from a ``TrainConfig``: what ``chainrule train`` does.

``run_training(config)`` loads the data, builds the model, loss, optimizer and schedule,
trains with a ``Trainer`` (checkpointing every epoch, so ``--resume`` continues a killed
run exactly), evaluates on the test split and writes a run folder::

    model.safetensors      the trained model, preprocessing included, + metadata (labels…)
    checkpoint.ckpt.safetensors   the resumable training state
    config.json            the settings used (chainrule train --config config.json reruns)
    history.json, history.csv     one record per epoch
    summary.json           the outcome: parameters, epochs, best/final val, test metrics
    report.html            the run as a page to open in a browser (chainrule.train.report)
    loss.png, accuracy.png, confusion_matrix.png   when matplotlib is installed

The model carries its preprocessing: its first layer (``input``, an ``nn.Standardize``)
maps raw features — CSV values as in the file, digit pixels 0-16, IDX pixels 0-255 — to
mean 0, sd 1 with the training split's statistics, and a regression model's last layer
(``output``) maps its predictions back to the target's units. So ``chainrule.io.load(path)``
applied to raw inputs, or ``chainrule.train.predict``, gives exactly what
``chainrule predict`` prints. Regression losses are computed on the standardised target
(training is as if targets were standardised); metrics (MAE, R²) are in the target's units.

A run folder is locked while a run uses it (a second run on it fails at once), a
non-empty folder is only reused with ``resume`` or ``overwrite``, and a run whose loss or
weights turn NaN/Inf stops with ``TrainingDivergedError``, keeping the last finite
checkpoint and writing no model file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
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
# the checkpoint's record of the settings it was trained with (checked on resume)
CHECKPOINT_RUN_CONFIG = "run_config"
# run/2: the model carries its preprocessing (input/output layers); run/1 kept the
# statistics in the metadata for the reader to apply
METADATA_FORMAT = "chainrule.run/2"
LEGACY_METADATA_FORMAT = "chainrule.run/1"
RUN_FILES = (MODEL_FILE, CHECKPOINT_FILE, CONFIG_FILE, "history.json", "history.csv",
             "summary.json", "loss.png", "accuracy.png", "confusion_matrix.png", "mae.png",
             "r2.png", "report.html")
RUN_FILES += ("tensorboard",)  # the default folder of --tensorboard


@dataclass
class RunResult:
    """What ``run_training`` produced: the folder, the outcome and the live objects."""

    out_dir: Path
    summary: dict[str, Any]
    history: Any
    model: Any
    trainer: Any


class TrainingDivergedError(RuntimeError):
    """The loss or the weights became NaN/Inf; the message says where and what to try."""


# ---- building blocks (each a small function the CLI, tests and users can call) -----------

# the losses a run accepts, by task (aliases after the name they stand for)
TASK_LOSS_NAMES = {"classification": ("cross_entropy", "ce"),
                   "regression": ("mse", "huber", "l1", "mae")}


def build_loss(name: str | None, task: str, label_smoothing: float = 0.0) -> Any:
    """The loss module for ``name`` (default by task: cross-entropy or MSE).

    Classification takes ``cross_entropy`` (alias ``ce``) with class-index targets;
    regression takes ``mse``, ``huber`` or ``l1`` (alias ``mae``). ``label_smoothing``
    applies to cross-entropy only (0, PyTorch's default, means none).

    Example:
        >>> build_loss(None, "classification", 0.1).label_smoothing
        0.1
        >>> type(build_loss(None, "regression")).__name__
        'MSELoss'
    """
    from chainrule.losses import LOSSES, CrossEntropyLoss

    accepted = TASK_LOSS_NAMES.get(task, TASK_LOSS_NAMES["regression"])
    key = (name or default_loss(task)).lower().replace("-", "_")
    if key not in accepted:
        other = "regression" if task == "classification" else "classification"
        fits_other = key in TASK_LOSS_NAMES[other]
        why = f"it is a {other} loss, " if fits_other else ""
        raise ValueError(f"loss {name!r} does not fit this {task} task ({why}known for "
                         f"{task}: {', '.join(accepted)})")
    cls = LOSSES[key]
    smoothing = 0.0 if label_smoothing is None else float(label_smoothing)
    if cls is CrossEntropyLoss:
        return cls(label_smoothing=smoothing)
    if smoothing:
        raise ValueError("label smoothing applies to the cross_entropy loss only")
    return cls()


def describe_loss(loss: Any) -> str:
    """The loss as the run banner shows it, e.g. ``CrossEntropyLoss(label_smoothing=0)``."""
    if isinstance(loss, StandardizedTargetLoss):
        return f"{describe_loss(loss.loss)} on the standardised target"
    name = type(loss).__name__
    if hasattr(loss, "label_smoothing"):
        return f"{name}(label_smoothing={loss.label_smoothing:g})"
    return name


class StandardizedTargetLoss:
    """A regression loss computed on the standardised scale, for a model whose last layer
    (``output``, an ``nn.Standardize(invert=True)``) gives the target's own units.

    ``loss((prediction - mean) / std, (target - mean) / std)``: training behaves as if
    the targets had been standardised (a learning rate fits any target scale) while the
    model, its metrics and its predictions speak the target's units.

    Args:
        loss: the loss on standardised values (``MSELoss()``, ``HuberLoss()``…).
        output_layer: the model's ``Standardize(invert=True)`` layer (its mean and std).

    Example:
        >>> from chainrule import nn
        >>> from chainrule.losses import MSELoss
        >>> out = nn.Standardize(mean=[100.0], std=[10.0], invert=True)
        >>> lossf = StandardizedTargetLoss(MSELoss(), out)
        >>> import chainrule as cr
        >>> float(lossf(cr.tensor([[110.0]]), np.array([[100.0]], np.float32)).item())
        1.0
    """

    def __init__(self, loss: Any, output_layer: Any) -> None:
        self.loss = loss
        self.layer = output_layer

    def __call__(self, prediction: Any, target: Any) -> Any:
        from chainrule.tensor import raw

        layer = self.layer
        z = (prediction - layer.mean) / layer.std
        return self.loss(z, layer.standardize(raw(target)))

    def __repr__(self) -> str:
        return f"StandardizedTargetLoss({self.loss!r})"


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


# schedules whose course does not depend on the planned number of epochs: a resumed run
# may train for more epochs under them (the others would run past their planned end)
OPEN_ENDED_SCHEDULERS = ("none", "exponential", "plateau")


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


# ---- data in the units of its files -------------------------------------------------------

# data sets whose loader divides raw pixel values by their maximum (digits 0-16, IDX 0-255)
_PIXEL_MAXIMUM = {"digits": 16, "idx": 255, "mnist": 255, "fashion-mnist": 255, "cifar10": 255}


def raw_features(bundle: Any, parts: tuple[str, ...] = ("train", "val", "test")
                 ) -> tuple[list[np.ndarray], float | None]:
    """The features of ``bundle``'s ``parts`` in the units of the data's files, and the
    scale the loader had applied (raw × scale = what ``load_dataset`` gave; None if none).

    ``load_dataset`` standardises CSV features and scales digit/IDX pixels into [0, 1];
    a model that carries its preprocessing takes the raw values, so this undoes both
    (pixels exactly; CSV values to float32 rounding).

    Example:
        >>> from chainrule.data import load_dataset
        >>> [X], scale = raw_features(load_dataset("digits"), ("test",))
        >>> float(X.max()), scale
        (16.0, 0.0625)
    """
    from chainrule.data import Standardizer

    arrays = [bundle.split(p)[0] for p in parts]
    state = bundle.info.get("standardizer")
    if state is not None:
        scaler = Standardizer.from_state_dict(state)
        arrays = [scaler.inverse_transform(X) for X in arrays]
    top = _PIXEL_MAXIMUM.get(bundle.name.split(":", 1)[0].lower())
    if top is None or state is not None:
        return [np.asarray(X, np.float32) for X in arrays], None
    pixels = [np.rint(np.asarray(X, np.float64) * top) for X in arrays]
    # only when the values are pixel/top as the loader computed them (an IDX file of
    # floats is not scaled by it)
    exact = all(P.min(initial=0) >= 0 and P.max(initial=0) <= top
                and np.allclose(P / top, X, rtol=0, atol=1e-6) for P, X in zip(pixels, arrays))
    if not exact:
        return [np.asarray(X, np.float32) for X in arrays], None
    return [P.astype(np.float32) for P in pixels], 1 / top


@dataclass
class PreparedData:
    """The raw arrays a run trains on, the preprocessing layers fitted to them, and the
    facts needed to predict (``metadata``)."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    bundle: Any
    input_shape: tuple[int, ...]
    metadata: dict[str, Any]
    input_layer: Any = None    # nn.Standardize for raw features, or None
    output_layer: Any = None   # nn.Standardize(invert=True) for regression targets, or None


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load ``config.data`` in raw units, shape it for ``config.model`` and fit the
    preprocessing layers (standardisation with the training split's statistics, the
    pixel scale) that the model will carry."""
    from chainrule import nn
    from chainrule.data import Standardizer, load_dataset
    from chainrule.models import parse_spec

    if config.target is not None and not config.data.lower().startswith("csv:"):
        raise ValueError("--target applies to csv: data only")
    bundle = load_dataset(config.data, seed=config.seed, target=config.target,
                          task=config.task)
    info = bundle.info
    kind, _ = parse_spec(config.model)
    shape = tuple(bundle.input_shape)
    if kind == "cnn":
        if bundle.image_shape is None:
            raise ValueError(f"cnn models need image data; {bundle.name} has samples of "
                             f"shape {shape}: use an mlp model")
        shape = tuple(bundle.image_shape)
    (Xtr, Xva, Xte), input_scale = raw_features(bundle)

    input_layer = None
    if config.standardize:
        scaler = Standardizer().fit(Xtr.reshape(len(Xtr), -1))
        input_layer = nn.Standardize(shape, mean=scaler.mean.reshape(shape),
                                     std=scaler.std.reshape(shape))
    elif input_scale is not None:  # at least the loader's pixel scale, as it trained before
        input_layer = nn.Standardize(shape, std=np.full(shape, 1 / input_scale))
    output_layer = None
    if bundle.task == "regression" and config.standardize:
        # targets of any scale (prices, counts) train well at mean 0, sd 1; the model's
        # last layer maps back, so it predicts in the target's units
        target_scaler = Standardizer().fit(bundle.y_train.reshape(len(bundle.y_train), -1))
        output_layer = nn.Standardize(mean=target_scaler.mean, std=target_scaler.std,
                                      invert=True)

    def arrays(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(X.reshape((len(X), *shape)), dtype=np.float32), y

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
        # what the model takes: raw values (raw × input_scale = what the data set gave)
        "input_scale": input_scale,
        # the model's own layers that do it: "input" standardises (or only scales) raw
        # features, "output" maps standardised predictions to the target's units
        "preprocessing": {
            "input": None if input_layer is None else (
                "standardize" if config.standardize else "scale"),
            "output": None if output_layer is None else "unstandardize"},
    }
    return PreparedData(arrays(Xtr, bundle.y_train), arrays(Xva, bundle.y_val),
                        arrays(Xte, bundle.y_test), bundle, shape, metadata,
                        input_layer, output_layer)


def build_run_model(config: TrainConfig, data: PreparedData) -> Any:
    """The run's model: ``config.model`` between ``data``'s preprocessing layers."""
    from chainrule.models import build_model, with_preprocessing

    body = build_model(config.model, data.input_shape, data.bundle.num_outputs,
                       activation=config.activation, dropout=config.dropout,
                       batch_norm=config.batch_norm, residual=config.residual)
    if config.sync_batch_norm:  # one process alone reduces over itself: the same numbers
        from chainrule.nn import SyncBatchNorm

        body = SyncBatchNorm.convert_sync_batchnorm(body)
    return with_preprocessing(body, data.input_layer, data.output_layer)


# ---- run folders ---------------------------------------------------------------------------

def _slug(spec: str) -> str:
    kind, _, arg = spec.partition(":")
    name = f"{kind}-{Path(arg).stem}" if arg else kind
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]


def _claim_default_dir(config: TrainConfig) -> Path:
    """Create ``runs/<time>-<data>[-n]``, a name no other run has (mkdir is the claim)."""
    base = Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(config.data)}"
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def _contents(folder: Path) -> list[str]:
    from chainrule.train.lock import LOCK_NAME

    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)


def check_out_folder(folder: Path, overwrite: bool) -> None:
    """Refuse to train into a non-empty folder unless ``overwrite`` (``--overwrite``)."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"--out {folder} is a file, not a folder")
    names = _contents(folder)
    if names and not overwrite:
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise FileExistsError(f"run folder {folder} is not empty ({shown}); continue that "
                              f"run with --resume {folder}, replace it with --overwrite, or "
                              "choose another --out")


def _previous_run_files(folder: Path) -> list[str]:
    """The files the previous run's ``summary.json`` lists (plots named after its metrics),
    plain names in ``folder`` only."""
    try:
        files = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(files, list):
        return []
    return [f for f in files if isinstance(f, str) and f == Path(f).name
            and not f.startswith(".") and f.endswith((".png", ".json", ".csv"))]


def _clear_run_files(folder: Path) -> None:
    """``--overwrite``: remove the previous run's files (only those a run writes), so that
    none of them (a plot of a metric the new run does not have) is left beside the new
    run's."""
    listed = _previous_run_files(folder)  # before summary.json goes
    for name in RUN_FILES:
        path = folder / name
        if path.is_file() or path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    for name in listed:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            path.unlink()


def _remove_stale_temporaries(folder: Path) -> None:
    # chainrule.io.atomic's cleanup of temporary files a killed run left behind; a no-op
    # with a chainrule.io that does not have it yet
    try:
        from chainrule.io.atomic import remove_stale_temporaries  # type: ignore[attr-defined]
    except ImportError:
        return
    remove_stale_temporaries(folder)


# ---- resuming ------------------------------------------------------------------------------

# settings a resumed run may change freely: how it reports and computes, not what it learns
# (threads change the last bits of results: the Trainer warns when they differ)
RESUME_FREE = ("quiet", "plots", "threads", "monitor", "allow_nonfinite", "verify")
# the compiled optimizer kernels give NumPy's bits; others warn where they do not
RESUME_FREE += ("fast",)
RESUME_FREE += ("tensorboard",)  # where to log; the step numbers continue either way
RESUME_FREE += ("distributed",)  # the Trainer checks the number of ranks against the file


def resume_config(path: str | os.PathLike, changes: dict[str, Any] | None = None,
                  source: str = "command line") -> tuple[TrainConfig, Path, Path]:
    """``(config, run folder, checkpoint)`` of a run to resume: ``path`` is the run folder
    or its checkpoint file; the settings come from the folder's ``config.json``.

    ``changes`` (e.g. the command's flags) may change what does not alter the run's
    course — ``quiet``, ``plots``, ``threads``, ``monitor``, ``allow_nonfinite`` — and
    ``epochs`` under a schedule that does not depend on it (none, exponential, plateau).
    Any other setting that differs from the recorded one is refused by name: the
    checkpoint was trained with the recorded values, and config.json must stay true. So
    is a ``config.json`` edited after the run began: the checkpoint records the settings
    it was trained with, and they must match the file's.

    Example:
        >>> # config, folder, ckpt = resume_config("runs/moons", {"epochs": 60})
    """
    p = Path(path)
    if p.is_dir():
        run_dir, ckpt = p, p / CHECKPOINT_FILE
    else:
        run_dir, ckpt = p.parent, p
    if not ckpt.exists():
        raise FileNotFoundError(f"cannot resume {path}: no checkpoint {ckpt}")
    recorded_file = run_dir / CONFIG_FILE
    if not recorded_file.is_file():
        raise FileNotFoundError(f"cannot resume {path}: no {recorded_file} (the settings the "
                                "checkpoint was trained with)")
    config = TrainConfig().updated(read_config_file(recorded_file), str(recorded_file))
    verify = (changes or {}).get("verify", True) is not False
    _check_recorded_config(config, recorded_file, ckpt, verify)
    for key, value in (changes or {}).items():
        name = key.replace("-", "_")
        if name in ("resume", "config"):
            continue
        if name == "out":
            if Path(value).resolve() != run_dir.resolve():
                raise ValueError(f"--resume continues the run in its own folder {run_dir}; "
                                 f"drop --out {value}")
            continue
        if name == "overwrite":
            if value:
                raise ValueError("--resume continues a run and --overwrite replaces it: "
                                 "choose one")
            continue
        wanted = config.updated({name: value}, source)
        if name in RESUME_FREE:
            config = wanted
            continue
        old, new = getattr(config, name), getattr(wanted, name)
        if old == new:
            continue
        flag = "--" + name.replace("_", "-")
        if name == "epochs" and config.scheduler.lower() in OPEN_ENDED_SCHEDULERS:
            config = wanted
            continue
        if name == "epochs":
            raise ValueError(f"--epochs {new}: the run's {config.scheduler} schedule was "
                             f"planned for {old} epochs ({recorded_file}) and cannot be "
                             "stretched exactly; resume with its own --epochs, or start a "
                             "new run")
        raise ValueError(f"{flag} {new!r} differs from the run's {name} {old!r} "
                         f"({recorded_file}): a resumed run keeps the settings its "
                         "checkpoint was trained with; start a new run (--out) to change it")
    return dataclasses.replace(config, out=str(run_dir), resume=str(ckpt)), run_dir, ckpt


def _check_recorded_config(config: TrainConfig, recorded_file: Path, ckpt: Path,
                           verify: bool) -> None:
    """Refuse a ``config.json`` whose settings differ from those the checkpoint records
    it was trained with (the file was edited after the run began): resuming would train
    on the checkpoint's settings (its optimizer's learning rate, say) while the file, the
    banner and the model's metadata claimed the edited ones."""
    from chainrule import io

    trained = io.read_metadata(ckpt, verify=verify).get(CHECKPOINT_RUN_CONFIG)
    if not isinstance(trained, dict):
        return  # a checkpoint of an earlier chainrule, or of a plain Trainer
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        trained_config = TrainConfig().updated(
            {k: v for k, v in trained.items() if k in known}, str(ckpt))
    except ValueError as err:
        raise ValueError(f"{ckpt}: damaged run settings ({err})") from None
    for name in sorted(set(trained) & known):
        if name in RESUME_FREE or (name == "epochs" and config.scheduler.lower()
                                   in OPEN_ENDED_SCHEDULERS):
            continue
        old, new = getattr(trained_config, name), getattr(config, name)
        if old != new:
            raise ValueError(f"{recorded_file} says {name} {new!r} but the checkpoint {ckpt} "
                             f"was trained with {name} {old!r}: config.json was changed after "
                             f"the run began; put {old!r} back to resume, or start a new run "
                             "(--out) with the new settings")


# ---- the run -------------------------------------------------------------------------------

def _say(stream: IO[str] | None, text: str | None) -> None:
    if stream is not None and text is not None:
        stream.write(text + "\n")
        stream.flush()


def choose_threads(config: TrainConfig, group: Any = None) -> tuple[int, str]:
    """``(threads, why)`` for a run: ``config.threads``, else ``default_num_threads()``
    (in a distributed run: rank 0's choice, shared by the ranks on each machine)."""
    from chainrule import backend

    if config.threads is not None:
        return config.threads, "configured"
    if group is not None:
        local = _local_ranks()
        threads, why = choose_threads(config) if group.rank == 0 else (0, "")
        threads = max(1, threads // local)
        if local > 1:
            why = f"{why}, shared by {local} ranks on this machine"
        threads, why = group.bcast_json([threads, why])
        return threads, why
    n = backend.default_num_threads()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name, "").strip().isdigit():
            return n, f"from {name}"
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        load = ""
    return n, f"auto: {backend.available_cores()} cores{load}"


def _nonfinite_message(div: Any, out: Path, ckpt: Path, config: TrainConfig,
                       first_epoch: int) -> str:
    from chainrule import io

    kept = f"no checkpoint was written in {out} before it"
    if ckpt.exists():
        try:
            epoch = int(io.read_metadata(ckpt).get("epoch", 0))
            kept = f"kept {ckpt} (after epoch {epoch}, finite)"
        except (OSError, ValueError):
            kept = f"kept {ckpt}"
    saved = ("left the run's model file as it was" if (out / MODEL_FILE).exists()
             else "wrote no model file")
    tries = [f"a lower --lr (e.g. {config.lr / 10:g})"]
    if config.clip_norm is None:
        tries.append("--clip-norm 1.0")
    if not config.monitor:
        tries.append("--monitor to see which layer's gradients explode")
    where = "resumed " if first_epoch > 0 else ""
    # a resumed run keeps its settings: the remedies are for a new run
    return (f"training diverged: {div} of the {where}run; {kept} and {saved}. Try a new "
            f"run (another --out, or --overwrite) with {', '.join(tries)}; or "
            "--allow-nonfinite to keep training and save anyway")


def run_training(config: TrainConfig, stream: IO[str] | None = sys.stdout) -> RunResult:
    """Train as ``config`` says and write the run folder (see the module docstring).

    Args:
        config: the settings (``config.resume`` set: continue that run's checkpoint in its
            folder; ``config.out``: the folder, else ``runs/<time>-<data>``; a non-empty
            ``out`` needs ``config.overwrite``).
        stream: where the summary goes (``None``: silent). Progress goes to stderr.

    Uses ``config.threads`` BLAS threads (else ``chainrule.backend.default_num_threads()``)
    for the run's duration and records the count in ``config.json``: the
    weights are bitwise reproducible for one seed, machine, thread count and set of
    chainrule/NumPy/BLAS versions.

    Returns:
        a ``RunResult`` (folder, summary dict, history, model, trainer).

    Raises:
        TrainingDivergedError: the loss or weights became NaN/Inf (unless
            ``config.allow_nonfinite``); the last finite checkpoint is kept.
        RunFolderBusyError: another run holds the folder.
        FileExistsError: ``out`` is not empty and neither resume nor overwrite was asked.

    Example:
        >>> # run_training(TrainConfig(data="moons", epochs=20, out="runs/moons"))
    """
    from chainrule import fast
    from chainrule.backend import get_num_threads, set_num_threads

    config.validate()
    started = time.perf_counter()
    group = _process_group(config)
    threads, threads_why = choose_threads(config, group)
    before = get_num_threads()
    set_num_threads(threads)
    fast_before = fast.enabled
    if config.fast:
        fast.use_fast(True)  # without numba: one warning, and the run goes on with NumPy
    try:
        return _run(dataclasses.replace(config, threads=threads), threads_why, started,
                    stream if group is None or group.rank == 0 else None, group)
    finally:
        set_num_threads(before)
        if config.fast and not fast_before:
            fast.use_fast(False)


# ---- distributed runs (--distributed): rank 0 owns the folder and the output ------------------

def _process_group(config: TrainConfig) -> Any:
    """The MPI process group of a ``--distributed`` run (None otherwise); an ImportError
    with the install hint when mpi4py is missing."""
    if not config.distributed:
        return None
    from chainrule.distributed.training import process_group

    return process_group()


def _local_ranks() -> int:
    """How many ranks of the job share this machine (the launcher says; else 1)."""
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE",
                 "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return 1


def _prepare_data_in_turn(config: TrainConfig, group: Any) -> PreparedData:
    """``prepare_data``: rank 0 first (it downloads and caches), then the others read the
    cache."""
    if group is not None and group.rank != 0:
        group.barrier()
    data = prepare_data(config)
    if group is not None and group.rank == 0:
        group.barrier()
    return data


def _run(config: TrainConfig, threads_why: str, started: float,
         stream: IO[str] | None, group: Any = None) -> RunResult:
    import chainrule as cr
    from chainrule import io
    from chainrule.train.lock import RunFolderLock

    data = _prepare_data_in_turn(config, group)
    task = data.bundle.task
    cr.manual_seed(config.seed)
    model = build_run_model(config, data)
    try:
        io.to_spec(model)  # fail now, not after training, if the model cannot be saved
    except ValueError as err:
        raise ValueError(f"model {config.model!r} cannot be saved to a model file: {err}"
                         ) from None
    loss = build_loss(config.loss, task, config.label_smoothing)
    if data.output_layer is not None:
        loss = StandardizedTargetLoss(loss, data.output_layer)
    optimizer = build_optimizer(config.optimizer, list(model.parameters()), config.lr,
                                config.weight_decay, config.momentum)
    ranks = 1 if group is None else group.size
    # each rank takes its shard of the epoch (a DistributedSampler pads it to n / ranks)
    steps = math.ceil(math.ceil(len(data.train[0]) / ranks) / config.batch_size)
    scheduler, interval = build_scheduler(config.scheduler, optimizer, config.epochs, steps,
                                          config.lr)
    train_args = (config, data, model, loss, optimizer, scheduler, interval, steps,
                  threads_why, started, stream, group)
    if group is not None and group.rank != 0:  # rank 0 says which folder, once it is ready
        return _train_in_folder(Path(group.bcast_json(None)), *train_args)

    if config.resume:
        out = Path(config.out) if config.out else Path(config.resume).parent
    elif config.out:
        out = Path(config.out)
        check_out_folder(out, config.overwrite)
    else:
        out = _claim_default_dir(config)
    with RunFolderLock(out):
        if not config.resume:
            check_out_folder(out, config.overwrite)  # again: another run may have finished
            if config.overwrite:
                _clear_run_files(out)
        _remove_stale_temporaries(out)
        if group is not None:
            group.bcast_json(str(out))
        return _train_in_folder(out, *train_args)


def _train_in_folder(out: Path, config: TrainConfig, data: PreparedData, model: Any,
                     loss: Any, optimizer: Any, scheduler: Any, interval: str, steps: int,
                     threads_why: str, started: float, stream: IO[str] | None,
                     group: Any = None) -> RunResult:
    from chainrule import io
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ProgressBar, TerminateOnNaN
    from chainrule.train.trainer import Trainer

    task, meta = data.bundle.task, data.metadata
    main = group is None or group.rank == 0  # the process that writes the run's files
    resumed_at = None
    if config.resume:
        resumed_at = int(io.read_metadata(config.resume, verify=config.verify).get("epoch", 0))
        if config.epochs < resumed_at:
            raise ValueError(f"--epochs {config.epochs}: the run {out} has already trained "
                             f"{resumed_at} epochs")
    recorded = config
    if config.resume and (out / CONFIG_FILE).is_file():
        # config.json keeps the thread count the run began with (a resume under another
        # count is warned about, not recorded as if the whole run had used it)
        threads = read_config_file(out / CONFIG_FILE).get("threads")
        if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1:
            recorded = dataclasses.replace(config, threads=threads)
    if main:
        recorded.to_json(out / CONFIG_FILE)  # first, so a killed run can be resumed from it

    callbacks: list[Any] = [ProgressBar(quiet=config.quiet), CSVLogger(out / "history.csv")]
    stopper = None
    if config.patience is not None:
        stopper = EarlyStopping("val_loss", patience=config.patience,
                                restore_best_weights=True)
        callbacks.append(stopper)
    monitor = _gradient_monitor(model) if config.monitor else None
    if monitor is not None:
        callbacks.append(monitor)
    if not config.allow_nonfinite:
        callbacks.append(TerminateOnNaN())
    tensorboard = _tensorboard_callback(config, out)
    if tensorboard is not None:
        callbacks.append(tensorboard)  # last: the others keep their checkpoint keys
    metric_names = ["accuracy"] if task == "classification" else ["mae", "r2"]
    trainer = Trainer(model, loss, optimizer, metrics=metric_names, callbacks=callbacks,
                      scheduler=scheduler, scheduler_interval=interval,
                      clip_norm=config.clip_norm, seed=config.seed,
                      distributed=config.distributed)
    trainer.checkpoint_extra[CHECKPOINT_RUN_CONFIG] = config.experiment()

    n_params = model.num_parameters()
    split = {k: len(v[0]) for k, v in (("train", data.train), ("val", data.val),
                                        ("test", data.test))}
    classes = f", {data.bundle.num_classes} classes" if data.bundle.num_classes else ""
    _say(stream, f"data    {data.bundle.name}: {split['train']} train / {split['val']} val / "
                 f"{split['test']} test, input {tuple(data.input_shape)}, {task}{classes}")
    _say(stream, f"model   {config.model} ({n_params:,} parameters), {describe_loss(loss)}, "
                 f"{config.optimizer} lr {config.lr:g}, {config.scheduler} schedule, "
                 f"{config.epochs} epochs x {steps} batches of {config.batch_size}")
    _say(stream, "prep    " + _describe_preprocessing(data))
    _say(stream, f"threads {config.threads} ({threads_why})")
    _say(stream, f"kernels {_kernels_line(config)}")
    if group is not None:
        _say(stream, f"ranks   {group.size} processes ({group.backend}), batch "
                     f"{config.batch_size} per rank = {config.batch_size * group.size} per "
                     "step, gradients averaged, " + (
                         "BatchNorm statistics over all ranks, " if config.sync_batch_norm
                         else "") + "rank 0 writes")
    if config.resume:
        _say(stream, f"resume  {config.resume} (after epoch {resumed_at})")
    _say(stream, _tensorboard_line(config, tensorboard))

    ckpt = out / CHECKPOINT_FILE
    train_started = time.perf_counter()
    # NumPy's overflow warnings would only repeat what TerminateOnNaN reports in one line
    quiet_fp = (np.errstate(over="ignore", invalid="ignore", divide="ignore")
                if not config.allow_nonfinite else contextlib.nullcontext())
    with quiet_fp:
        history = trainer.fit(data.train, validation=data.val, epochs=config.epochs,
                              batch_size=config.batch_size, checkpoint=ckpt,
                              checkpoint_min_interval=1.0, resume=config.resume,
                              verify=config.verify)
    train_seconds = time.perf_counter() - train_started
    if trainer.diverged is not None:
        if not main:  # rank 0 says why, once, and ends the job with its exit status
            return RunResult(out, {}, history, model, trainer)
        message = _nonfinite_message(trainer.diverged, out, ckpt, config, resumed_at or 0)
        _write_report(out, model=model, data=data, history=history, monitor=monitor,
                      diverged=message)
        raise TrainingDivergedError(message)
    if not config.allow_nonfinite:
        from chainrule.train.callbacks import _nonfinite_tensor

        bad = _nonfinite_tensor(model)
        if bad is not None and not main:
            return RunResult(out, {}, history, model, trainer)
        if bad is not None:  # a callback of the user's own put NaN back, say
            message = (f"the trained model's {bad} holds NaN/Inf; wrote no model file "
                       "(--allow-nonfinite saves it anyway)")
            _write_report(out, model=model, data=data, history=history, monitor=monitor,
                          diverged=message)
            raise TrainingDivergedError(message)

    test = trainer.evaluate(data.test)  # every rank evaluates its share
    if not main:
        return RunResult(out, {}, history, model, trainer)
    confusion = test_logits = None
    if task == "classification":
        from chainrule.train.metrics import confusion_matrix

        test_logits = trainer.predict(data.test[0])
        confusion = confusion_matrix(test_logits, data.test[1], data.bundle.num_classes)
    test_report = {k: float(v) for k, v in test.items()}
    meta = {**meta, "test": test_report, "epochs_trained": len(history),
            "config": config.experiment()}

    io.save(model, out / MODEL_FILE, metadata=meta)
    history.to_json(out / "history.json")
    history.to_csv(out / "history.csv")
    files = [MODEL_FILE, CHECKPOINT_FILE, CONFIG_FILE, "history.json", "history.csv",
             "summary.json", "report.html"]
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
        "threads": config.threads, "kernels": _fast_status(), "out_dir": str(out),
        "files": files,
    }
    if group is not None:
        summary["ranks"] = group.size
    if data.output_layer is not None:
        summary["loss_scale"] = "standardised target (mae and r2 are in the target's units)"
    if confusion is not None:
        summary["test"]["confusion_matrix"] = confusion.tolist()
    if monitor is not None:
        summary["gradient_monitor"] = {"findings": [str(f) for f in monitor.findings],
                                       "summary": monitor.summary()}
    from chainrule.train.history import _atomic_write
    from chainrule.train.report import summary_extras

    summary.update(summary_extras(data, monitor))  # what report.html is rebuilt from
    _atomic_write(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    _write_report(out, model=model, data=data, test_logits=test_logits, history=history,
                  monitor=monitor)
    _print_summary(stream, summary, task, history, plot_note)
    return RunResult(out, summary, history, model, trainer)


def _kernels_line(config: TrainConfig) -> str:
    """The banner's word on the update path: ``chainrule.fast.status()``, and why it is
    NumPy when ``--fast`` was asked for."""
    from chainrule import fast

    status = fast.status()
    if config.fast and status == "numpy":
        return "numpy (--fast asked, but numba is unavailable: see the warning)"
    return status


def _fast_status() -> str:
    from chainrule import fast

    return fast.status()  # at the end: a kernel that failed to build switched it off


def _write_report(out: Path, **live: Any) -> None:
    """report.html of the run (chainrule.train.report); a failure there is a warning, never
    the loss of a run whose model and summary are already written."""
    from chainrule.train.report import write_report

    try:
        write_report(out, **live)
    except Exception as err:  # noqa: BLE001  (the run's files are written; say what failed)
        import warnings

        warnings.warn(f"{out / 'report.html'} was not written: {type(err).__name__}: "
                      f"{err}", RuntimeWarning, stacklevel=2)


def _describe_preprocessing(data: PreparedData) -> str:
    scale = data.metadata.get("input_scale")
    raw = f"raw values (0-{round(1 / scale)})" if scale else "raw feature values"
    how = data.metadata["preprocessing"]["input"]
    if how is None:
        text = f"the model takes {raw}, unscaled"
    elif how == "scale":
        text = f"the model takes {raw}; its 'input' layer divides by {round(1 / scale)}"
    else:
        text = (f"the model takes {raw}; its 'input' layer standardises them with the "
                "train split's mean and sd")
    if data.output_layer is not None:
        text += "; its 'output' layer gives the target's units"
    return text


# ---- TensorBoard (--tensorboard [DIR]) -------------------------------------------------------

def _tensorboard_callback(config: TrainConfig, out: Path) -> Any:
    """The ``TensorBoard`` callback of ``--tensorboard`` (DIR, or ``<out>/tensorboard``)."""
    if config.tensorboard is None:
        return None
    from chainrule.train.tensorboard import TensorBoard

    folder = Path(config.tensorboard) if config.tensorboard else out / "tensorboard"
    return TensorBoard(folder, config=config.experiment())


def _tensorboard_line(config: TrainConfig, callback: Any) -> str | None:
    """The banner line: where the events go, or, resuming a run that logged without
    ``--tensorboard`` now, where it logged (the flag is not remembered: it is runtime)."""
    if callback is not None:
        return (f"events  {callback.log_dir} (view with: tensorboard --logdir "
                f"{callback.log_dir})")
    if not config.resume:
        return None
    from chainrule import io

    try:
        states = io.read_metadata(config.resume, verify=False).get("callbacks", {})
    except (OSError, ValueError):
        return None
    for key, state in states.items():
        if key.endswith(":TensorBoard") and isinstance(state, dict) and state.get("log_dir"):
            return (f"note    this run logged to TensorBoard in {state['log_dir']}; add "
                    f"--tensorboard {state['log_dir']} to go on logging there")
    return None


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
        scale = " (standardised)" if "loss_scale" in s else ""
        _say(stream, f"test    loss{scale} {t['loss']:.4g}, mae {t['mae']:.4g}, "
                     f"r2 {t['r2']:.4f}")
    if "gradient_monitor" in s:
        findings = s["gradient_monitor"]["findings"]
        _say(stream, "monitor " + ("no gradient-flow problems found" if not findings
                                   else f"{len(findings)} finding(s):"))
        for f in findings:
            _say(stream, f"  - {f}")
    _say(stream, f"files   {s['out_dir']}/  " + " ".join(s["files"]))
    if plot_note:
        _say(stream, f"note    {plot_note}")


__all__ = ["RunResult", "StandardizedTargetLoss", "TrainingDivergedError", "build_loss",
           "build_optimizer", "build_run_model", "build_scheduler", "check_out_folder",
           "prepare_data", "raw_features", "resume_config", "run_training"]
