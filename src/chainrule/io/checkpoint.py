"""Training checkpoints: model, optimizer, scheduler and trainer state in one atomic file.

A checkpoint is one safetensors file:

    tensors   ``model.<state_dict key>``            the model's parameters and buffers
              ``optim.<param index>.<name>``        the optimizer's per-parameter arrays
    metadata  "format": "chainrule.checkpoint", "checkpoint_version": "1", "chainrule_version",
              "architecture" (JSON spec, or "null" for unregistered models),
              "model_keys", "optimizer", "scheduler", "extra" (exact JSON, see ``_json``),
              "data_sha256", "header_sha256" (checksums, checked when it is read)

Everything round-trips bit-exactly: arrays keep dtype and bytes (0-d arrays too),
Python ints of any size stay ints (NumPy bit-generator states), tuples stay tuples and
integer dict keys stay integers (PyTorch's optimizer ``state`` is keyed by int). The
write is atomic, so a run killed while saving still has its previous checkpoint.

Reading checks the file (checksums, every metadata entry's type) and restoring names the
file and the part (model, optimizer, scheduler, trainer state) that failed, so a damaged
checkpoint is never a bare ``'int' object is not subscriptable``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.io import _json
from chainrule.io._file import (
    FORMAT_CHECKPOINT,
    Header,
    ModelFileError,
    chainrule_version,
    parse_json_field,
    read_header,
    read_tensors,
    warn_unverified,
    write_tensors,
)
from chainrule.io.architecture import to_spec
from chainrule.nn.module import Module

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]

# What restoring may raise on damaged or mismatched state (RecursionError: absurdly deep
# values a hand-made file could hold).
_RESTORE_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError,
                   OverflowError, RecursionError)

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
            ModelFileError: naming the file and the part, when a state does not fit
                (other architecture, optimizer over other parameters), is damaged, or
                was not saved.
        """
        with self.restoring("model state"):
            model.load_state_dict(self.model_state, strict=True)
        for obj, state, what in ((optimizer, self.optimizer_state, "optimizer"),
                                 (scheduler, self.scheduler_state, "scheduler")):
            if obj is None:
                continue
            if state is None:
                raise ModelFileError(self.path, f"the checkpoint holds no {what} state "
                                     f"(it was saved without {what}=)")
            with self.restoring(f"{what} state"):
                obj.load_state_dict(state)
        return self.extra

    @contextlib.contextmanager
    def restoring(self, part: str) -> Iterator[None]:
        """Turn any error raised while restoring ``part`` of this checkpoint into a
        :class:`ModelFileError` naming the file and the part (errors that already name
        the file pass through).

        Example:
            >>> ckpt = Checkpoint("run.ckpt.safetensors", {}, extra={"epoch": "x"})
            >>> try:
            ...     with ckpt.restoring("trainer state"):
            ...         epoch = int(ckpt.extra["epoch"])
            ... except ModelFileError as err:
            ...     print(err)
            run.ckpt.safetensors: the checkpoint's trainer state does not fit (or is \
damaged): invalid literal for int() with base 10: 'x'
        """
        try:
            yield
        except ModelFileError:
            raise
        except _RESTORE_ERRORS as err:
            text = str(err) if not isinstance(err, KeyError) else f"missing entry {err}"
            if self.path in text:
                raise
            raise ModelFileError(self.path, f"the checkpoint's {part} does not fit (or is "
                                 f"damaged): {text or type(err).__name__}") from None


def _check_optimizer(path: str, state: Any) -> None:
    if state is None:
        return
    problem = None
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict) \
            or not isinstance(state.get("param_groups"), list):
        problem = "expected an object with 'state' (object) and 'param_groups' (list)"
    elif not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                 and all(type(i) is int for i in g["params"]) for g in state["param_groups"]):
        problem = "each param group must be an object with a 'params' list of indices"
    elif not all(isinstance(v, dict) for v in state["state"].values()):
        problem = "the state of each parameter must be an object"
    if problem:
        raise ModelFileError(path, f"damaged checkpoint: optimizer state: {problem}")


def _check_parts(header: Header) -> tuple[list[str], dict[str, Any]]:
    """The checked ``model_keys`` and the JSON entries, parsed (tensors not resolved)."""
    path, metadata = header.path, header.metadata
    version = metadata.get("checkpoint_version", "1")
    if not version.isdigit() or len(version) > 6:
        raise ModelFileError(path, f"damaged checkpoint: checkpoint_version {version!r}")
    if int(version) > CHECKPOINT_VERSION:
        raise ModelFileError(path, f"checkpoint layout version {version!r} is newer than this "
                             f"chainrule reads ({CHECKPOINT_VERSION}); upgrade chainrule")
    keys = parse_json_field(path, metadata, "model_keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) \
            or len(set(keys)) != len(keys):
        raise ModelFileError(path, "damaged checkpoint: 'model_keys' must be a list of "
                             "distinct names")
    stored = {n[len("model."):] for n in header.tensors if n.startswith("model.")}
    if set(keys) != stored:
        raise ModelFileError(path, "damaged checkpoint: 'model_keys' does not match the "
                             f"stored model tensors (listed only: "
                             f"{sorted(set(keys) - stored)[:5]}, stored only: "
                             f"{sorted(stored - set(keys))[:5]})")
    parsed = {}
    for key, default, types in (("optimizer", "null", (dict, type(None))),
                                ("scheduler", "null", (dict, type(None))),
                                ("extra", "{}", (dict,)),
                                ("architecture", "null", (dict, type(None)))):
        value = parse_json_field(path, metadata, key, default)
        if not isinstance(value, types):
            raise ModelFileError(path, f"damaged checkpoint: {key!r} holds a "
                                 f"{type(value).__name__}, not an object")
        parsed[key] = value
    return keys, parsed


def check_checkpoint_header(header: Header) -> None:
    """Check a checkpoint's metadata without reading its tensors (for ``verify_file``):
    every entry parses, has the right type, and the tensors it refers to exist."""
    _, parsed = _check_parts(header)
    optim = {n: np.zeros(0) for n in header.tensors if n.startswith("optim.")}
    try:
        optimizer = _json.decode(parsed["optimizer"], optim)
        _json.decode(parsed["scheduler"])
        _json.decode(parsed["extra"])
    except (ValueError, TypeError) as err:
        raise ModelFileError(header.path, f"corrupted checkpoint metadata ({err})") from None
    _check_optimizer(header.path, optimizer)


def load_checkpoint(path: PathLike, *, verify: bool = True) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        verify: check the checksums (default); ``False`` reads a damaged file as it is.

    Raises:
        ModelFileError: missing, truncated, corrupted or damaged file, or not a
            checkpoint.

    Example:
        >>> ckpt = load_checkpoint("run.ckpt.safetensors")  # doctest: +SKIP
        >>> extra = ckpt.restore(model, optimizer, scheduler)  # doctest: +SKIP
    """
    header = read_header(path, verify)
    if header.kind != "checkpoint":
        hint = {"model": "it is a model file; use chainrule.io.load(path)",
                "state_dict": "it holds only weights; use chainrule.io.load_state_dict_file",
                "saved": "it was written by chainrule.save; read it with chainrule.load(path)",
                "foreign": "it is a safetensors file not written by chainrule"}[header.kind]
        raise ModelFileError(path, f"not a chainrule checkpoint: {hint}")
    keys, parsed = _check_parts(header)
    tensors = read_tensors(header, verify=verify)
    model_state = {k: tensors[f"model.{k}"] for k in keys}
    optim_tensors = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    try:
        optimizer_state = _json.decode(parsed["optimizer"], optim_tensors)
        scheduler_state = _json.decode(parsed["scheduler"])
        extra = _json.decode(parsed["extra"])
    except (ValueError, TypeError) as err:
        raise ModelFileError(path, f"corrupted checkpoint metadata ({err})") from None
    _check_optimizer(os.fspath(path), optimizer_state)
    if verify:
        warn_unverified(header)
    return Checkpoint(path=os.fspath(path), model_state=model_state,
                      optimizer_state=optimizer_state, scheduler_state=scheduler_state,
                      extra=extra, architecture=parsed["architecture"],
                      chainrule_version=header.metadata.get("chainrule_version"))
