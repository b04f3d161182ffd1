"""Model files: one safetensors file with the weights, the architecture and your metadata.

The tensors are exactly ``model.state_dict()`` (PyTorch's keys and shapes), so
``safetensors.torch.load_file`` reads a chainrule file and ``torch_model.load_state_dict``
accepts it for the same architecture. The safetensors ``__metadata__`` holds strings:

    "format"             "chainrule"
    "chainrule_version"  the version that wrote the file
    "architecture"       JSON of ``chainrule.io.to_spec(model)``
    "user"               JSON of the ``metadata`` you passed (class names, scaling, task…)

Nothing is pickled; loading builds registered layers from JSON and copies arrays, so a
file can never run code. Writes are atomic: a crash mid-save leaves the old file intact.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.io import _json
from chainrule.io._file import (
    FORMAT_MODEL,
    FORMAT_STATE_DICT,
    ModelFileError,
    chainrule_version,
    kind_of,
    parse_json_field,
    read_header,
    read_tensors,
    write_tensors,
)
from chainrule.io.architecture import from_spec, to_spec
from chainrule.nn.module import Module

__all__ = ["FileInfo", "ModelFileError", "inspect_file", "load", "load_state_dict_file",
           "load_with_metadata", "read_metadata", "save", "save_state_dict"]

PathLike = str | os.PathLike


def _check_rebuilds(model: Module, spec: dict) -> None:
    # A wrong get_kwargs in some registration would otherwise only show when the file
    # is loaded — too late. Rebuild now and compare keys and shapes before writing.
    try:
        rebuilt = from_spec(spec)
    except ValueError as err:
        raise ValueError(f"the architecture recorded for {type(model).__name__} cannot "
                         f"rebuild it: {err}") from err
    own = {k: v.shape for k, v in model.state_dict().items()}
    new = {k: v.shape for k, v in rebuilt.state_dict().items()}
    if own != new:
        diff = [f"{k}: model {own.get(k)}, rebuilt {new.get(k)}"
                for k in list(own) + [k for k in new if k not in own] if own.get(k) != new.get(k)]
        raise ValueError(f"the architecture recorded for {type(model).__name__} does not "
                         f"rebuild the same parameters ({'; '.join(diff[:5])}); the "
                         "get_kwargs registered for one of its layers is probably wrong, "
                         "or a layer was changed after construction. Save the weights with "
                         "chainrule.io.save_state_dict instead")


def save(model: Module, path: PathLike, metadata: dict | None = None) -> None:
    """Write ``model`` (architecture + weights) and ``metadata`` to one safetensors file.

    Args:
        model: a model built from registered layers (all of ``chainrule.nn``; see
            ``chainrule.io.register_architecture`` for your own).
        path: the file to write, conventionally ``*.safetensors``. Written atomically.
        metadata: anything JSON-like to keep with the model — class names, input
            standardisation (NumPy arrays are kept bit-exactly), the task. Returned by
            ``load_with_metadata`` and ``read_metadata``.

    Raises:
        ValueError: the model contains an unregistered layer (use ``save_state_dict``),
            or ``metadata`` holds values that cannot be stored.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
        >>> path = os.path.join(tempfile.mkdtemp(), "iris.safetensors")
        >>> save(net, path, metadata={"classes": ["setosa", "versicolor", "virginica"]})
        >>> model, meta = load_with_metadata(path)
        >>> meta["classes"][0]
        'setosa'
    """
    if not isinstance(model, Module):
        raise TypeError(f"save takes a chainrule Module, got {type(model).__name__}; "
                        "for a dict of arrays use save_state_dict")
    spec = to_spec(model)
    _check_rebuilds(model, spec)
    header = {
        "format": FORMAT_MODEL,
        "chainrule_version": chainrule_version(),
        "architecture": json.dumps(spec, separators=(",", ":")),
        "user": _json.dumps({} if metadata is None else metadata, "metadata"),
    }
    write_tensors(path, model.state_dict(), header)


def _wrong_kind(path: PathLike, kind: str, wanted: str) -> ModelFileError:
    hints = {
        "state_dict": "it holds only weights (written by save_state_dict); build the model "
                      "and use model.load_state_dict(chainrule.io.load_state_dict_file(path))",
        "checkpoint": "it is a training checkpoint; use chainrule.io.load_checkpoint(path)",
        "model": "it is a model file; use chainrule.io.load(path)",
        "foreign": "it is a safetensors file not written by chainrule (it has no "
                   "architecture); load its tensors with chainrule.io.load_state_dict_file"
                   "(path) and pass them to model.load_state_dict",
    }
    return ModelFileError(path, f"not a {wanted}: {hints[kind]}")


def _user_metadata(path: PathLike, metadata: dict[str, str], key: str = "user") -> dict:
    if key not in metadata:
        return {}
    try:
        return _json.loads(metadata[key])
    except ValueError as err:
        raise ModelFileError(path, f"corrupted metadata: {key!r} cannot be read ({err})"
                             ) from None


def load_with_metadata(path: PathLike) -> tuple[Module, dict]:
    """Rebuild the model saved in ``path`` and return it with the saved ``metadata``.

    The weights are loaded strictly (every key, shape and dtype as saved) and the model
    is returned in eval mode, ready for prediction; call ``.train()`` to fine-tune.

    Raises:
        ModelFileError: missing, truncated or corrupted file; a safetensors file not
            written by ``chainrule.io.save``; weights that do not fit the architecture.

    Example:
        >>> model, meta = load_with_metadata("iris.safetensors")  # doctest: +SKIP
    """
    _, metadata = read_header(path)
    kind = kind_of(metadata)
    if kind != "model":
        raise _wrong_kind(path, kind, "chainrule model file")
    spec = parse_json_field(path, metadata, "architecture")
    try:
        model = from_spec(spec)
    except ValueError as err:
        raise ModelFileError(path, f"cannot rebuild the architecture: {err}") from None
    tensors = read_tensors(path)
    try:
        model.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError) as err:
        raise ModelFileError(path, f"the weights do not fit the architecture: {err}"
                             ) from None
    # load_state_dict casts to each parameter's dtype; keep the file's dtype instead so a
    # model with mixed precision comes back exactly as saved.
    own = model._state_tensors()
    for key, arr in tensors.items():
        if own[key].data.dtype != arr.dtype:
            own[key].data = arr
    model.eval()
    return model, _user_metadata(path, metadata)


def load(path: PathLike) -> Module:
    """Rebuild the model saved in ``path`` by :func:`save` (in eval mode).

    Example:
        >>> model = load("iris.safetensors")  # doctest: +SKIP
    """
    return load_with_metadata(path)[0]


def save_state_dict(state: dict[str, Any], path: PathLike, metadata: dict | None = None
                    ) -> None:
    """Write a dict of arrays (or Tensors), e.g. ``model.state_dict()``, atomically.

    For models with layers of your own that are not registered: the file holds only
    weights; rebuild the model in code and load them with :func:`load_state_dict_file`.
    The file is plain safetensors that PyTorch reads as well.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_state_dict({"fc.weight": np.ones((2, 3), np.float32)}, path)
        >>> load_state_dict_file(path)["fc.weight"].shape
        (2, 3)
    """
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise TypeError("save_state_dict takes a dict with string keys "
                        "(for a Module use save, or pass model.state_dict())")
    header = {
        "format": FORMAT_STATE_DICT,
        "chainrule_version": chainrule_version(),
        "keys": json.dumps(list(state)),
        "user": _json.dumps({} if metadata is None else metadata, "metadata"),
    }
    write_tensors(path, state, header)


def load_state_dict_file(path: PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a writable NumPy array, by name.

    Reads any safetensors file (chainrule's, PyTorch's, Hugging Face's) whose dtypes
    NumPy has. Keys come in the order they were saved when chainrule wrote the file.

    Raises:
        ModelFileError: missing, truncated or corrupted file, or a dtype NumPy lacks.
    """
    header, metadata = read_header(path)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    if "keys" in metadata:
        saved = parse_json_field(path, metadata, "keys")
        if isinstance(saved, list) and sorted(saved) == sorted(names):
            names = saved
    return read_tensors(path, names)


@dataclass
class FileInfo:
    """What :func:`inspect_file` found in a file's header.

    Attributes:
        kind: ``"model"``, ``"state_dict"``, ``"checkpoint"`` or ``"foreign"``.
        chainrule_version: the version that wrote it (None for foreign files).
        architecture: the architecture spec (model files and checkpoints) or None.
        metadata: the user metadata (``read_metadata``); a checkpoint's ``extra``.
        tensors: name → (safetensors dtype, shape) for every tensor.
        raw_metadata: the safetensors ``__metadata__`` strings as stored.
    """

    kind: str
    chainrule_version: str | None
    architecture: dict | None
    metadata: dict
    tensors: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    raw_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def num_parameters(self) -> int:
        """Total number of elements over all tensors."""
        return sum(int(np.prod(shape)) for _, shape in self.tensors.values())


def inspect_file(path: PathLike) -> FileInfo:
    """Describe a model file, state-dict file, checkpoint or any safetensors file by
    reading its header only (cheap whatever the file's size).

    Example:
        >>> info = inspect_file("iris.safetensors")  # doctest: +SKIP
        >>> info.kind, info.tensors["0.weight"]  # doctest: +SKIP
        ('model', ('F32', (8, 4)))
    """
    header, metadata = read_header(path)
    kind = kind_of(metadata)
    architecture = None
    if kind in ("model", "checkpoint") and metadata.get("architecture", "null") != "null":
        architecture = parse_json_field(path, metadata, "architecture")
    if kind == "foreign":
        user = dict(metadata)
    else:
        user = _user_metadata(path, metadata, "extra" if kind == "checkpoint" else "user")
    tensors = {name: (entry["dtype"], tuple(entry["shape"]))
               for name, entry in sorted(header.items(),
                                         key=lambda kv: kv[1]["data_offsets"][0])}
    return FileInfo(kind, metadata.get("chainrule_version") if kind != "foreign" else None,
                    architecture, user, tensors, dict(metadata))


def read_metadata(path: PathLike) -> dict:
    """The ``metadata`` saved with a model or state dict, read from the header only.

    For a checkpoint, its ``extra`` (epoch, step, …); for a safetensors file chainrule
    did not write, its raw ``__metadata__`` strings.

    Example:
        >>> read_metadata("iris.safetensors")["classes"]  # doctest: +SKIP
        ['setosa', 'versicolor', 'virginica']
    """
    return inspect_file(path).metadata
