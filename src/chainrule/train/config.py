"""``TrainConfig``: every setting of a ``chainrule train`` run, with defaults and checks.

A config comes from defaults, then a file (TOML or the ``config.json`` a run wrote), then
command-line flags, each overriding the one before. Keys use underscores; dashes are
accepted too (``batch-size = 64``). A TOML file may put them at the top level or in a
``[train]`` table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

TASK_LOSSES = {"classification": "cross_entropy", "regression": "mse"}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULERS = ("none", "step", "exponential", "cosine", "onecycle", "plateau", "warmup")
# settings of one invocation, not of the experiment: never written to config.json
RUNTIME_KEYS = ("out", "quiet", "resume", "plots", "overwrite", "allow_nonfinite", "verify",
                "tensorboard")
# how many processes train is a fact of the launch (the checkpoint records it and refuses
# a resume with another count), not a setting of the experiment
RUNTIME_KEYS += ("distributed",)


@dataclass
class TrainConfig:
    """The settings of a training run (the defaults train the bundled digits to ≥ 97 %).

    Example:
        >>> TrainConfig(data="moons", epochs=5).model
        'mlp:256,128'
    """

    data: str = "digits"
    target: str | None = None
    task: str = "auto"                 # auto, classification, regression (csv: data)
    model: str = "mlp:256,128"
    activation: str = "relu"
    dropout: float = 0.1
    batch_norm: bool = False
    residual: bool = False
    loss: str | None = None            # None: cross_entropy or mse, by the data's task
    label_smoothing: float = 0.0       # cross-entropy only (PyTorch's default, 0)
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    momentum: float = 0.9              # SGD and RMSprop only
    clip_norm: float | None = None
    scheduler: str = "cosine"
    epochs: int = 40
    batch_size: int = 64
    seed: int = 0
    standardize: bool = True           # scale features (and regression targets) to mean 0, sd 1
    patience: int | None = None        # early stopping on val_loss; None: off
    monitor: bool = False              # gradient-flow monitor (chainrule.diagnostics)
    threads: int | None = None         # BLAS threads; None: backend.default_num_threads()
    fast: bool = False                 # compiled kernels (chainrule[fast], numba); same bits
    out: str | None = None
    quiet: bool = False
    resume: str | None = None
    plots: bool = True
    overwrite: bool = False            # replace the run in a non-empty ``out`` folder
    allow_nonfinite: bool = False      # train on through NaN/Inf and save what results
    verify: bool = True                # check the resumed checkpoint's checksums
    tensorboard: str | None = None     # TensorBoard event folder ("": <out>/tensorboard)
    distributed: bool = False          # data parallel over the ranks of an MPI job
    sync_batch_norm: bool = False      # BatchNorm statistics over every rank's batch

    def validate(self) -> TrainConfig:
        """Check ranges and names; raises ``ValueError`` naming the setting."""
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(isinstance(self.epochs, int) and self.epochs >= 1,
             f"epochs must be a whole number >= 1, got {self.epochs!r}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1,
             f"batch size must be a whole number >= 1, got {self.batch_size!r}")
        need(isinstance(self.lr, (int, float)) and self.lr > 0,
             f"learning rate must be > 0, got {self.lr!r}")
        need(isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0,
             f"weight decay must be >= 0, got {self.weight_decay!r}")
        need(isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1,
             f"momentum must be in [0, 1), got {self.momentum!r}")
        need(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1,
             f"dropout must be in [0, 1), got {self.dropout!r}")
        need(isinstance(self.label_smoothing, (int, float))
             and 0 <= self.label_smoothing < 1,
             f"label smoothing must be in [0, 1), got {self.label_smoothing!r}")
        need(self.threads is None or (isinstance(self.threads, int)
                                      and not isinstance(self.threads, bool)
                                      and self.threads >= 1),
             f"threads must be a whole number >= 1, got {self.threads!r}")
        need(self.clip_norm is None or (isinstance(self.clip_norm, (int, float))
                                        and self.clip_norm > 0),
             f"clip norm must be > 0, got {self.clip_norm!r}")
        need(self.patience is None or (isinstance(self.patience, int) and self.patience >= 0),
             f"patience must be a whole number >= 0, got {self.patience!r}")
        need(isinstance(self.seed, int), f"seed must be a whole number, got {self.seed!r}")
        need(self.optimizer.lower() in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        need(self.scheduler.lower() in SCHEDULERS,
             f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        from chainrule.data.csv import TASKS
        from chainrule.models import parse_spec

        need(self.task in TASKS, f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        need(not self.sync_batch_norm or self.batch_norm,
             "sync_batch_norm shares the statistics of BatchNorm layers: it needs batch_norm "
             "(--batch-norm)")

        parse_spec(self.model)
        return self

    def experiment(self) -> dict[str, Any]:
        """The settings that define the experiment (what ``config.json`` holds)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_KEYS}

    def to_json(self, path: str | os.PathLike) -> None:
        from chainrule.train.history import _atomic_write

        _atomic_write(path, json.dumps(self.experiment(), indent=1) + "\n")

    def updated(self, values: dict[str, Any], source: str) -> TrainConfig:
        """A copy with ``values`` applied (unknown keys are an error naming ``source``)."""
        known = {f.name: f for f in fields(self)}
        changes = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ValueError(f"{source}: unknown setting {key!r}; known: "
                                 f"{', '.join(sorted(known))}")
            changes[name] = _coerce(name, value, known[name].type, source)
        return dataclasses.replace(self, **changes)


def _coerce(name: str, value: Any, annotation: Any, source: str) -> Any:
    """Values from files keep their type; ints where floats are expected are fine."""
    text = str(annotation)
    if value is None:
        if "None" in text:
            return None
        if name == "label_smoothing":  # config.json of chainrule <= 0.1.0 wrote null
            raise ValueError(f"{source}: label_smoothing is null, which older chainrule "
                             "versions read as 0.1 for cross-entropy; write the value to use "
                             "(0.1 as then, or 0)")
        raise ValueError(f"{source}: setting {name!r} cannot be empty")
    if text.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{source}: setting {name!r} must be true or false, got {value!r}")
        return value
    if text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{source}: setting {name!r} must be a whole number, got "
                             f"{value!r}")
        return value
    if text.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{source}: setting {name!r} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{source}: setting {name!r} must be text, got {value!r}")
    return value


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a ``.toml`` file or a ``.json`` file (a run's ``config.json``)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    else:
        data = parse_toml(text, str(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table of settings")
    if isinstance(data.get("train"), dict):
        top = {k: v for k, v in data.items() if k != "train"}
        data = {**top, **data["train"]}
    return data


def parse_toml(text: str, source: str = "<config>") -> dict[str, Any]:
    """Parse TOML with ``tomllib`` (Python 3.11+) or ``tomli``; else a tiny fallback that
    reads ``key = value`` lines (strings, numbers, booleans) and ``[table]`` headers."""
    loader = None
    if sys.version_info >= (3, 11):
        import tomllib

        loader = tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as loader  # type: ignore[no-redef]
        except ImportError:
            loader = None
    if loader is not None:
        try:
            return loader.loads(text)
        except Exception as err:  # noqa: BLE001 - tomllib/tomli raise their own class
            raise ValueError(f"{source}: invalid TOML: {err}") from None
    return _parse_simple_toml(text, source)


def _parse_simple_toml(text: str, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    table = out
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if '"' not in raw else raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            table = out.setdefault(line[1:-1].strip(), {})
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise ValueError(f"{source}:{lineno}: expected 'key = value', got {raw.strip()!r} "
                             "(install 'tomli' for full TOML support on Python 3.10)")
        table[key.strip()] = _simple_value(value.strip(), source, lineno)
    return out


def _simple_value(v: str, source: str, lineno: int) -> Any:
    if v.startswith('"'):
        end = v.find('"', 1)
        if end < 0:
            raise ValueError(f"{source}:{lineno}: unterminated string")
        return v[1:end]
    if v.startswith("'") and v.count("'") >= 2:
        return v[1:v.index("'", 1)]
    if v in ("true", "false"):
        return v == "true"
    try:
        return int(v.replace("_", ""))
    except ValueError:
        pass
    try:
        return float(v.replace("_", ""))
    except ValueError:
        raise ValueError(f"{source}:{lineno}: cannot read value {v!r} (install 'tomli' for "
                         "full TOML support on Python 3.10)") from None


def default_loss(task: str) -> str:
    return TASK_LOSSES.get(task, "mse")


__all__ = ["OPTIMIZERS", "SCHEDULERS", "TrainConfig", "parse_toml", "read_config_file"]
