"""Model files: one safetensors file with the weights, the architecture and your metadata.

The tensors are exactly ``model.state_dict()`` (PyTorch's keys and shapes), so
``safetensors.torch.load_file`` reads a chainrule file and ``torch_model.load_state_dict``
accepts it for the same architecture. The safetensors ``__metadata__`` holds strings:

    "format"             "chainrule"
    "chainrule_version"  the version that wrote the file
    "architecture"       JSON of ``chainrule.io.to_spec(model)``
    "user"               JSON of the ``metadata`` you passed (class names, scaling, task…)
    "data_sha256"        SHA-256 of the tensor bytes
    "header_sha256"      SHA-256 of the tensor table and the entries above

Nothing is pickled; loading builds registered layers from JSON and reads arrays, so a
file can never run code. Loading checks everything before trusting it: the header
against the file, the checksums (``verify=False`` skips them), and the architecture's
declared shapes against the file's tensors *before* anything is allocated — the model is
built from placeholders (``nn.init.meta_init``) and takes the file's arrays as they are
read. Writes are atomic: a crash mid-save leaves the old file intact.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.io import _json
from chainrule.io._file import (
    FORMAT_MODEL,
    FORMAT_STATE_DICT,
    Header,
    ModelFileError,
    chainrule_version,
    numpy_dtype,
    parse_json_field,
    read_header,
    read_tensors,
    typo_of_chainrule,
    verify_data,
    warn_unverified,
    write_tensors,
)
from chainrule.io.architecture import check_declared_sizes, from_spec, to_spec
from chainrule.nn.init import MetaBudgetError, meta_init
from chainrule.nn.module import Module

__all__ = ["FileInfo", "ModelFileError", "inspect_file", "load", "load_state_dict_file",
           "load_with_metadata", "read_metadata", "save", "save_state_dict", "verify_file"]

PathLike = str | os.PathLike


def _check_rebuilds(model: Module, spec: dict) -> None:
    # A wrong get_kwargs in some registration would otherwise only show when the file
    # is loaded — too late. Rebuild now and compare keys and shapes before writing.
    try:
        with meta_init():  # shapes only: no memory, no random draws
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
        "saved": "it was written by chainrule.save; read it with chainrule.load(path)",
        "foreign": "it is a safetensors file not written by chainrule (it has no "
                   "architecture); load its tensors with chainrule.io.load_state_dict_file"
                   "(path) and pass them to model.load_state_dict",
    }
    return ModelFileError(path, f"not a {wanted}: {hints[kind]}")


def _user_metadata(path: PathLike, metadata: dict[str, str], key: str = "user") -> dict:
    if key not in metadata:
        return {}
    try:
        user = _json.loads(metadata[key])
    except ValueError as err:
        raise ModelFileError(path, f"corrupted metadata: {key!r} cannot be read ({err})"
                             ) from None
    if not isinstance(user, dict):
        raise ModelFileError(path, f"corrupted metadata: {key!r} should hold an object, "
                             f"it holds a {type(user).__name__}")
    tag = user.get("format")
    if isinstance(tag, str) and typo_of_chainrule(tag):  # the user's own tags are theirs
        raise ModelFileError(path, f"corrupted metadata: unknown format tag {tag!r} in "
                             f"{key!r} (a damaged chainrule tag)")
    return user


def _state_problems(model: Module, header: Header, prefix: str) -> list[str]:
    """Where the model's state (placeholders) and the file's tensors disagree."""
    own = model._state_tensors()
    theirs = {name[len(prefix):]: (name, e) for name, e in header.tensors.items()
              if name.startswith(prefix)}
    problems = []
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    if missing:
        problems.append(f"missing tensors {missing[:10]}" + (" ..." if len(missing) > 10
                                                              else ""))
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:10]}"
                        + (" ..." if len(unexpected) > 10 else ""))
    for k, t in own.items():
        if k not in theirs:
            continue
        name, e = theirs[k]
        if tuple(t._data.shape) != e.shape:
            problems.append(f"{name}: the architecture needs shape {tuple(t._data.shape)}, "
                            f"the file holds {e.shape}")
            continue
        given = numpy_dtype(header.path, name, e)
        groups = ("fc", "iu", "b")
        if not any(given.kind in g and t._data.dtype.kind in g for g in groups):
            problems.append(f"{name}: the architecture needs {t._data.dtype}, the file "
                            f"holds {given}")
    return problems


def build_for_file(header: Header, spec: Any, prefix: str = "") -> Module:
    """The model ``spec`` describes, built from placeholders after checking that it
    declares exactly the tensors of the file that start with ``prefix`` (names, shapes,
    kinds of dtype). Nothing the size of a weight is allocated before that check.

    Raises:
        ModelFileError: naming the file, for a spec that does not rebuild or does not
            fit the tensors (damaged, crafted, or another model's).
    """
    path = header.path
    ours = [e for name, e in header.tensors.items() if name.startswith(prefix)]
    values = sum(e.numel for e in ours)
    try:
        check_declared_sizes(spec, values)
        # Placeholders cost nothing; the budget stops a build that would never end (a
        # layer with millions of sub-layers) long before the shape check, and leaves
        # room for near misses so that those are reported tensor by tensor.
        with meta_init(max_elements=2 * values + (1 << 20), max_tensors=2 * len(ours) + 1024):
            model = from_spec(spec)
    except MetaBudgetError:
        raise ModelFileError(path, f"the architecture declares far more weights than the "
                             f"{values:,} values the file holds; the file is damaged or "
                             "crafted") from None
    except MemoryError as err:  # NumPy's, for a layer too large to even reserve
        raise ModelFileError(path, f"the architecture declares a layer too large to build "
                             f"({err}); the file is damaged or crafted") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as err:
        raise ModelFileError(path, f"cannot rebuild the architecture: {err}") from None
    problems = _state_problems(model, header, prefix)
    if problems:
        raise ModelFileError(path, "the weights do not fit the architecture: "
                             + "; ".join(problems))
    return model


def _load_into(model: Module, header: Header, state: dict[str, np.ndarray]) -> None:
    """``model.load_state_dict(state, assign=True)``, its errors and warnings naming the
    file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except (KeyError, ValueError) as err:
            raise ModelFileError(header.path, f"the weights do not fit the architecture: "
                                 f"{err}") from None
    for w in caught:
        warnings.warn_explicit(f"{header.path}: {w.message}", w.category, w.filename,
                               w.lineno)


def load_with_metadata(path: PathLike, *, verify: bool = True) -> tuple[Module, dict]:
    """Rebuild the model saved in ``path`` and return it with the saved ``metadata``.

    The architecture's shapes are checked against the file's tensors before anything
    is allocated; the weights are then read (and checked against the file's SHA-256
    checksum in the same pass) straight into the model, every key, shape and dtype as
    saved. The model is returned in eval mode, ready for prediction; call ``.train()``
    to fine-tune. Weights holding NaN or inf load with a ``RuntimeWarning`` naming them.

    Args:
        path: a file written by :func:`save`.
        verify: check the checksums (default). ``False`` reads a file that another tool
            changed on purpose, or that is damaged, as it is.

    Raises:
        ModelFileError: missing, truncated, corrupted or damaged file; a safetensors file
            not written by ``chainrule.io.save``; weights that do not fit the
            architecture.

    Example:
        >>> model, meta = load_with_metadata("iris.safetensors")  # doctest: +SKIP
    """
    header = read_header(path, verify)
    if header.kind != "model":
        raise _wrong_kind(path, header.kind, "chainrule model file")
    spec = parse_json_field(path, header.metadata, "architecture")
    user = _user_metadata(path, header.metadata)
    model = build_for_file(header, spec)
    _load_into(model, header, read_tensors(header, verify=verify))
    model.eval()
    if verify:
        warn_unverified(header)
    return model, user


def load(path: PathLike, *, verify: bool = True) -> Module:
    """Rebuild the model saved in ``path`` by :func:`save` (in eval mode); see
    :func:`load_with_metadata`.

    Example:
        >>> model = load("iris.safetensors")  # doctest: +SKIP
    """
    return load_with_metadata(path, verify=verify)[0]


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


def load_state_dict_file(path: PathLike, *, verify: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a writable NumPy array, by name.

    Reads any safetensors file (chainrule's, PyTorch's, Hugging Face's) whose dtypes
    NumPy has. Keys come in the order they were saved when chainrule wrote the file,
    whose checksums are checked unless ``verify=False``.

    Raises:
        ModelFileError: missing, truncated, corrupted or damaged file, or a dtype NumPy
            lacks.
    """
    header = read_header(path, verify)
    names = list(header.tensors)
    if "keys" in header.metadata:
        saved = parse_json_field(path, header.metadata, "keys")
        if isinstance(saved, list) and sorted(saved) == sorted(names):
            names = saved
    tensors = read_tensors(header, names, verify=verify)
    if verify:
        warn_unverified(header)
    return tensors


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


def _info(header: Header) -> FileInfo:
    path, metadata, kind = header.path, header.metadata, header.kind
    architecture = None
    if kind in ("model", "checkpoint") and metadata.get("architecture", "null") != "null":
        architecture = parse_json_field(path, metadata, "architecture")
        if not isinstance(architecture, dict):
            raise ModelFileError(path, "corrupted metadata: 'architecture' should hold an "
                                 f"object, it holds a {type(architecture).__name__}")
    if kind == "foreign":
        user = dict(metadata)
    else:
        user = _user_metadata(path, metadata, "extra" if kind == "checkpoint" else "user")
    tensors = {name: (e.dtype, e.shape) for name, e in header.tensors.items()}
    return FileInfo(kind, metadata.get("chainrule_version") if kind != "foreign" else None,
                    architecture, user, tensors, dict(metadata))


def inspect_file(path: PathLike, *, verify: bool = True) -> FileInfo:
    """Describe a model file, state-dict file, checkpoint or any safetensors file by
    reading its header only (cheap whatever the file's size).

    With ``verify`` (default) the header's own checksum is checked; the tensor data is
    not read — :func:`verify_file` checks everything.

    Example:
        >>> info = inspect_file("iris.safetensors")  # doctest: +SKIP
        >>> info.kind, info.tensors["0.weight"]  # doctest: +SKIP
        ('model', ('F32', (8, 4)))
    """
    header = read_header(path, verify)
    info = _info(header)
    if verify:
        warn_unverified(header)
    return info


def verify_file(path: PathLike, *, checksums: bool = True) -> FileInfo:
    """Check a file completely without loading it, and describe it (:class:`FileInfo`).

    Checks the header against the file, both checksums (one pass over the data, memory
    bounded by a small buffer), the metadata entries, and for model files and
    checkpoints that the recorded architecture rebuilds with exactly the file's tensors
    (built from placeholders, so a file declaring huge layers costs nothing). A file
    that passes loads, unless a layer type it names is not registered.

    Args:
        path: any safetensors file.
        checksums: check the checksums (default); ``False`` checks everything else, for
            a file that is read with ``verify=False``.

    Raises:
        ModelFileError: naming the file and the first problem found.

    Example:
        >>> info = verify_file("iris.safetensors")  # doctest: +SKIP
    """
    from chainrule.io.checkpoint import check_checkpoint_header

    header = read_header(path, verify=checksums)
    info = _info(header)
    if checksums:
        verify_data(header)
    if header.kind == "checkpoint":
        check_checkpoint_header(header)
    if info.architecture is not None:
        build_for_file(header, info.architecture,
                       "model." if header.kind == "checkpoint" else "")
    elif header.kind == "model":
        raise ModelFileError(path, "metadata has no architecture")
    elif header.kind == "state_dict" and "keys" in header.metadata:
        keys = parse_json_field(path, header.metadata, "keys")
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(header.tensors):
            raise ModelFileError(path, "corrupted metadata: 'keys' does not list the "
                                 "file's tensors")
    for name, entry in header.tensors.items():
        if header.kind != "foreign":
            numpy_dtype(path, name, entry)  # chainrule writes only dtypes NumPy has
    if checksums:
        warn_unverified(header)
    return info


def read_metadata(path: PathLike, *, verify: bool = True) -> dict:
    """The ``metadata`` saved with a model or state dict, read from the header only
    (its checksum checked unless ``verify=False``).

    For a checkpoint, its ``extra`` (epoch, step, …); for a safetensors file chainrule
    did not write, its raw ``__metadata__`` strings.

    Example:
        >>> read_metadata("iris.safetensors")["classes"]  # doctest: +SKIP
        ['setosa', 'versicolor', 'virginica']
    """
    return inspect_file(path, verify=verify).metadata
