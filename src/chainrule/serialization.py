"""``save(obj, f)`` / ``load(f)``: PyTorch's ``torch.save``/``torch.load`` for tensors and
state dicts, stored as safetensors — never pickle, so loading a file runs no code.

What can be saved: a Tensor, a NumPy array, or dicts (str or int keys), lists and tuples
of them, nested to any depth, with plain numbers, strings, bools and None among them —
a ``state_dict``, an optimizer's ``state_dict``, or a checkpoint dict such as
``{"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict()}``.

The arrays are the file's tensors, named by their key path (``model.0.weight``), so the
file is an ordinary safetensors file: a flat state dict saved here loads with any
safetensors reader, PyTorch's included. The structure around them (nesting, key types,
plain values, which entries were Tensors and which arrays) is JSON in the file's
metadata. ``load`` also reads plain safetensors files written elsewhere, as a dict of
Tensors.
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from chainrule.io._file import FORMAT_SAVED as FORMAT
from chainrule.tensor import Tensor

_SCALARS = (bool, int, float, str, type(None))

_SUPPORTED = (
    "chainrule.save stores a Tensor, a NumPy array, or dicts (str or int keys), lists and "
    "tuples of them with plain numbers, strings, bools and None among them (a state_dict, "
    "or {'epoch': 3, 'model': model.state_dict(), 'optimizer': opt.state_dict()}). It "
    "never pickles other objects: save a model's weights with model.state_dict(), or the "
    "model with its architecture with chainrule.io.save(model, path)"
)


class _Packer:
    """Walks the object, collecting arrays under unique key-path names and returning the
    JSON description of the structure."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def name_for(self, path: list[str]) -> str:
        base = ".".join(path) or "tensor"
        name, k = base, 1
        while name in self.arrays:
            name, k = f"{base}#{k}", k + 1
        return name

    def pack(self, obj: Any, path: list[str]) -> Any:
        if isinstance(obj, Tensor):
            name = self.name_for(path)
            self.arrays[name] = obj._data
            return {"tensor": name, "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            name = self.name_for(path)
            self.arrays[name] = obj
            return {"array": name}
        if isinstance(obj, np.generic):
            name = self.name_for(path)
            self.arrays[name] = np.asarray(obj)
            return {"scalar": name}
        if isinstance(obj, _SCALARS):
            return {"value": obj}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"{_SUPPORTED}; got a dict key {key!r} of type "
                                    f"{type(key).__name__} at {_where(path)}")
                items.append([key, self.pack(value, path + [str(key)])])
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {kind: items}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {kind: [self.pack(v, path + [str(i)]) for i, v in enumerate(obj)]}
        raise TypeError(f"{_SUPPORTED}; got {type(obj).__module__}.{type(obj).__name__} "
                        f"at {_where(path)}")


def _where(path: list[str]) -> str:
    return "obj" + "".join(f"[{p!r}]" for p in path)


def save(obj: Any, f: str | os.PathLike | io.IOBase) -> None:
    """Write ``obj`` (see the module docstring for what it may hold) to ``f``, a path or
    a binary file object, as safetensors. A path is written atomically.

    Raises:
        TypeError: ``obj`` holds something other than the supported types; the message
            says where.
        ValueError: an array has a dtype safetensors cannot store.

    Example:
        >>> import os, tempfile
        >>> import chainrule as cr
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> cr.save({"w": cr.ones(2), "step": 3}, path)
        >>> cr.load(path)
        {'w': tensor([1., 1.]), 'step': 3}
    """
    packer = _Packer()
    tree = packer.pack(obj, [])
    metadata = {"format": FORMAT, "tree": json.dumps(tree)}
    if hasattr(f, "write"):
        import safetensors.numpy

        arrays = {k: np.ascontiguousarray(v) if v.ndim else v for k, v in packer.arrays.items()}
        f.write(safetensors.numpy.save(arrays, metadata=metadata))
        return
    from chainrule.io._file import write_tensors

    write_tensors(f, packer.arrays, metadata)


def _unpack(node: Any, arrays: dict[str, np.ndarray], source: str) -> Any:
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise ValueError(f"{source}: corrupted chainrule.save structure ({node!r:.80})")
    kind = next(iter(node))
    body = node[kind]
    try:
        if kind == "tensor":
            t = Tensor._make(arrays[body], False, None)
            if node.get("requires_grad") and t._data.dtype.kind == "f":
                t.requires_grad = True
            return t
        if kind == "array":
            return arrays[body]
        if kind == "scalar":
            return arrays[body][()]
    except KeyError:
        raise ValueError(f"{source}: the file lists a tensor {body!r} it does not "
                         "contain") from None
    if kind == "value":
        return body
    if kind in ("dict", "odict"):
        pairs = ((k, _unpack(v, arrays, source)) for k, v in body)
        return OrderedDict(pairs) if kind == "odict" else dict(pairs)
    if kind == "list":
        return [_unpack(v, arrays, source) for v in body]
    if kind == "tuple":
        return tuple(_unpack(v, arrays, source) for v in body)
    raise ValueError(f"{source}: corrupted chainrule.save structure (unknown entry {kind!r})")


def _check_map_location(map_location: Any) -> None:
    """Accept what means "the CPU": None, "cpu", a device whose str is "cpu", a dict
    mapping to "cpu", or a function (PyTorch's ``lambda storage, loc: storage``)."""
    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, dict):
        if all(str(v) == "cpu" for v in map_location.values()):
            return
    elif str(map_location) == "cpu":
        return
    raise ValueError(f"load: map_location={map_location!r} is not supported; chainrule "
                     "keeps tensors in main memory (use map_location='cpu' or leave it out)")


def load(f: str | os.PathLike | io.IOBase, map_location: Any = None, *,
         weights_only: bool | None = None, **kwargs: Any) -> Any:
    """Read what ``save`` wrote (or any safetensors file, as a dict of Tensors).

    Args:
        f: a path or a binary file object.
        map_location: accepted for PyTorch compatibility when it means the CPU
            (``"cpu"``, ``None``); anything else raises ``ValueError``.
        weights_only: accepted and ignored: loading never runs code here.

    Raises:
        chainrule.io.ModelFileError: the file is missing, truncated or corrupted.
    """
    _check_map_location(map_location)
    if kwargs:
        raise TypeError(f"load() got unexpected arguments {sorted(kwargs)}")
    if hasattr(f, "read"):
        import safetensors.numpy

        blob = f.read()
        n = int.from_bytes(blob[:8], "little")
        try:
            header = json.loads(blob[8:8 + n].decode("utf-8"))
            metadata = header.get("__metadata__") or {}
            arrays = safetensors.numpy.load(blob)
        except Exception as err:  # a damaged stream: say so, whatever the parser hit
            raise ValueError(f"load: not a readable safetensors stream ({err})") from None
        source = "<stream>"
    else:
        from chainrule.io._file import read_header, read_tensors

        header = read_header(f)
        metadata = header.metadata
        arrays = read_tensors(header)
        source = os.fspath(f)
    if metadata.get("format") != FORMAT:
        return {name: Tensor._make(arr, False, None) for name, arr in arrays.items()}
    try:
        tree = json.loads(metadata["tree"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{source}: corrupted chainrule.save metadata ({err})") from None
    return _unpack(tree, arrays, source)


__all__ = ["load", "save"]
