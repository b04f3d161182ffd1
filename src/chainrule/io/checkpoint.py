"""Training checkpoints: model, optimizer, scheduler and trainer state in one atomic file.

A checkpoint is one safetensors file:

    tensors   ``model.<state_dict key>``            the model's parameters and buffers
              ``optim.<param index>.<name>``        the optimizer's per-parameter arrays
    metadata  "format": "chainrule.checkpoint", "checkpoint_version": "1", "chainrule_version",
              "architecture" (JSON spec, or "null" for unregistered models),
              "model_keys", "optimizer", "scheduler", "extra" (exact JSON, see ``_json``)

Everything round-trips bit-exactly: arrays keep dtype and bytes (0-d arrays too),
Python ints of any size stay ints (NumPy bit-generator states), tuples stay tuples and
integer dict keys stay integers (PyTorch's optimizer ``state`` is keyed by int). The
write is atomic, so a run killed while saving still has its previous checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.io import _json
from chainrule.io._file import (
    FORMAT_CHECKPOINT,
    ModelFileError,
    chainrule_version,
    kind_of,
    parse_json_field,
    read_header,
    read_tensors,
    write_tensors,
)
from chainrule.io.architecture import to_spec
from chainrule.nn.module import Module

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

PathLike = str | os.PathLike

CHECKPOINT_VERSION = 1  # of the layout below; bump when it changes incompatibly

# dtypes safetensors stores natively; anything else (complex128, …) is written inline.
_TENSOR_KINDS = "biuf"


def _state_of(obj: Any, what: str) -> dict:
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    if not isinstance(state, dict):
        raise TypeError(f"{what} must have a state_dict() returning a dict (or be that dict), "
                        f"got {type(state).__name__}")
    return state


def _optimizer_sink(tensors: dict[str, np.ndarray]) -> _json.ArraySink:
    # Per-parameter arrays (state[index][name]) become tensors optim.<index>.<name>, so
    # the bulk of the state is raw bytes, not base64 in the header.
    def sink(arr: np.ndarray, path: tuple) -> str | None:
        if arr.dtype.kind not in _TENSOR_KINDS or arr.dtype.itemsize > 8:
            return None
        parts = path[1:] if path and path[0] == "state" else path
        key = "optim." + ".".join(str(p) for p in parts)
        if key in tensors:
            return None
        tensors[key] = arr
        return key

    return sink


def save_checkpoint(path: PathLike, *, model: Module, optimizer: Any = None,
                    scheduler: Any = None, extra: dict | None = None) -> None:
    """Write everything needed to resume training to ``path``, atomically.

    Args:
        path: the checkpoint file (conventionally ``*.ckpt.safetensors``).
        model: the model (its ``state_dict()``; its architecture when it is registered).
        optimizer: an optimizer (or its ``state_dict()``): PyTorch's layout
            ``{"state": {index: {"step": ..., name: array}}, "param_groups": [...]}``.
        scheduler: an LR scheduler (or its ``state_dict()``), JSON-like.
        extra: the trainer's own state — epoch, step, RNG states
            (``Generator.get_state()``, ``bit_generator.state``), history, data-loader
            position. JSON-like values plus tuples, bytes, NumPy arrays and scalars.

    Raises:
        ValueError: a value that cannot be stored exactly (names where it is).

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> net = cr.nn.Linear(3, 1)
        >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt.safetensors")
        >>> save_checkpoint(path, model=net, extra={"epoch": 4,
        ...                 "rng": cr.default_generator.get_state()})
        >>> ckpt = load_checkpoint(path)
        >>> ckpt.extra["epoch"]
        4
        >>> _ = ckpt.restore(net)
    """
    if not isinstance(model, Module):
        raise TypeError(f"save_checkpoint(model=...) takes a chainrule Module, got "
                        f"{type(model).__name__}")
    state = model.state_dict()
    tensors: dict[str, np.ndarray] = {f"model.{k}": v for k, v in state.items()}
    try:
        architecture = json.dumps(to_spec(model), separators=(",", ":"))
    except ValueError:
        architecture = "null"  # a model of unregistered layers still checkpoints
    optim_json = "null"
    if optimizer is not None:
        optim_state = _state_of(optimizer, "optimizer")
        if not isinstance(optim_state.get("state"), dict) or not isinstance(
                optim_state.get("param_groups"), list):
            raise ValueError("optimizer state must be PyTorch's layout: a dict with 'state' "
                             "(dict) and 'param_groups' (list)")
        optim_tensors: dict[str, np.ndarray] = {}
        optim_json = _json.dumps(optim_state, "optimizer state", _optimizer_sink(optim_tensors))
        tensors.update(optim_tensors)
    sched_json = "null"
    if scheduler is not None:
        sched_json = _json.dumps(_state_of(scheduler, "scheduler"), "scheduler state")
    metadata = {
        "format": FORMAT_CHECKPOINT,
        "checkpoint_version": str(CHECKPOINT_VERSION),
        "chainrule_version": chainrule_version(),
        "architecture": architecture,
        "model_keys": json.dumps(list(state)),
        "optimizer": optim_json,
        "scheduler": sched_json,
        "extra": _json.dumps({} if extra is None else extra, "extra"),
    }
    write_tensors(path, tensors, metadata)


@dataclass
class Checkpoint:
    """A loaded checkpoint (see :func:`load_checkpoint`).

    Attributes:
        path: the file it came from.
        model_state: ``state_dict`` key → array, in the saved order.
        optimizer_state: PyTorch's optimizer ``state_dict`` layout, or None.
        scheduler_state: the scheduler's state dict, or None.
        extra: the trainer's ``extra`` dict, exactly as saved.
        architecture: the model's architecture spec, or None if it was not registered.
        chainrule_version: the version that wrote the file.
    """

    path: str
    model_state: dict[str, np.ndarray]
    optimizer_state: dict | None = None
    scheduler_state: dict | None = None
    extra: dict = field(default_factory=dict)
    architecture: dict | None = None
    chainrule_version: str | None = None

    def restore(self, model: Module, optimizer: Any = None, scheduler: Any = None) -> dict:
        """Load the saved state into ``model`` (strictly) and, when given, ``optimizer``
        and ``scheduler``. Returns :attr:`extra` for the trainer to resume from.

        Raises:
            ModelFileError: naming the file, when a state does not fit (other
                architecture, optimizer over other parameters) or was not saved.
        """
        try:
            model.load_state_dict(self.model_state, strict=True)
        except (KeyError, ValueError) as err:
            raise ModelFileError(self.path, f"the checkpoint's model state does not fit "
                                 f"this model: {err}") from None
        for obj, state, what in ((optimizer, self.optimizer_state, "optimizer"),
                                 (scheduler, self.scheduler_state, "scheduler")):
            if obj is None:
                continue
            if state is None:
                raise ModelFileError(self.path, f"the checkpoint holds no {what} state "
                                     f"(it was saved without {what}=)")
            try:
                obj.load_state_dict(state)
            except (KeyError, ValueError, TypeError, IndexError) as err:
                raise ModelFileError(self.path, f"the checkpoint's {what} state does not "
                                     f"fit this {what}: {err}") from None
        return self.extra


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        ModelFileError: missing, truncated or corrupted file, or not a checkpoint.

    Example:
        >>> ckpt = load_checkpoint("run.ckpt.safetensors")  # doctest: +SKIP
        >>> extra = ckpt.restore(model, optimizer, scheduler)  # doctest: +SKIP
    """
    _, metadata = read_header(path)
    kind = kind_of(metadata)
    if kind != "checkpoint":
        hint = {"model": "it is a model file; use chainrule.io.load(path)",
                "state_dict": "it holds only weights; use chainrule.io.load_state_dict_file",
                "foreign": "it is a safetensors file not written by chainrule"}[kind]
        raise ModelFileError(path, f"not a chainrule checkpoint: {hint}")
    version = metadata.get("checkpoint_version", "1")
    if not version.isdigit() or int(version) > CHECKPOINT_VERSION:
        raise ModelFileError(path, f"checkpoint layout version {version!r} is newer than this "
                             f"chainrule reads ({CHECKPOINT_VERSION}); upgrade chainrule")
    tensors = read_tensors(path)
    keys = parse_json_field(path, metadata, "model_keys")
    if not isinstance(keys, list) or any(f"model.{k}" not in tensors for k in keys):
        raise ModelFileError(path, "corrupted checkpoint: 'model_keys' does not match the "
                             "stored tensors")
    model_state = {k: tensors[f"model.{k}"] for k in keys}
    optim_tensors = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    try:
        optimizer_state = _json.loads(metadata.get("optimizer", "null"), optim_tensors)
        scheduler_state = _json.loads(metadata.get("scheduler", "null"))
        extra = _json.loads(metadata.get("extra", "{}"))
        architecture = json.loads(metadata.get("architecture", "null"))
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise ModelFileError(path, f"corrupted checkpoint metadata ({err})") from None
    return Checkpoint(path=os.fspath(path), model_state=model_state,
                      optimizer_state=optimizer_state, scheduler_state=scheduler_state,
                      extra=extra, architecture=architecture,
                      chainrule_version=metadata.get("chainrule_version"))
