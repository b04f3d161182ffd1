"""Reading and writing safetensors files safely: header checks, clear errors, atomic writes.

Shared by model files and checkpoints. A safetensors file is an 8-byte little-endian
header length, a JSON header (tensor name → dtype, shape, byte offsets, plus an optional
``__metadata__`` object of string → string) and the raw tensor bytes. The header is
checked here first, so a damaged file is reported as *truncated* or *corrupted* with the
file name instead of a bare low-level message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from chainrule.io.atomic import atomic_path
from chainrule.tensor import Tensor

# A header larger than this is not a header: the first 8 bytes were something else.
_MAX_HEADER_BYTES = 256 * 1024 * 1024

# What each chainrule writer puts in metadata["format"].
FORMAT_MODEL = "chainrule"
FORMAT_STATE_DICT = "chainrule.state_dict"
FORMAT_CHECKPOINT = "chainrule.checkpoint"


class ModelFileError(ValueError):
    """A model file or checkpoint that cannot be read: missing, truncated, corrupted,
    not written by chainrule, or holding weights that do not fit its architecture.

    ``path`` is the file and ``problem`` what was wrong with it.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def chainrule_version() -> str:
    from chainrule import __version__  # late: chainrule/__init__ may be importing us

    return __version__


def read_header(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, str]]:
    """``(tensor entries, metadata)`` from the header alone, after checking it fits the file.

    Raises:
        ModelFileError: missing/unreadable file, truncated file, corrupted header.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except OSError as err:
        raise ModelFileError(path, f"cannot open: {err.strerror or err}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise ModelFileError(path, f"the file is {size} bytes long, too short for a "
                                 "safetensors file (empty or truncated)")
        n = int.from_bytes(head, "little")
        if n > _MAX_HEADER_BYTES:
            raise ModelFileError(path, "not a safetensors file (its first 8 bytes do not "
                                 "give a plausible header length)")
        if n > size - 8:
            raise ModelFileError(path, f"truncated: the header should be {n} bytes but "
                                 f"only {size - 8} bytes follow the length field")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(path, f"corrupted header (not valid JSON: {err})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "corrupted header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelFileError(path, "corrupted header (__metadata__ must map strings to "
                             "strings)")
    end = 0
    for name, entry in header.items():
        try:
            start, stop = entry["data_offsets"]
            shape = entry["shape"]
            ok = (isinstance(entry["dtype"], str) and isinstance(shape, list)
                  and all(isinstance(d, int) and d >= 0 for d in shape)
                  and isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ModelFileError(path, f"corrupted header (bad entry for tensor {name!r})")
        end = max(end, stop)
    data_bytes = size - 8 - n
    if end > data_bytes:
        raise ModelFileError(path, f"truncated: the tensors need {end} bytes of data but "
                             f"the file holds {data_bytes}")
    if end < data_bytes:
        raise ModelFileError(path, f"corrupted: {data_bytes - end} unexpected bytes after "
                             "the last tensor")
    return header, metadata


def read_tensors(path: str | os.PathLike, names: list[str] | None = None
                 ) -> dict[str, np.ndarray]:
    """Tensors of the file as writable NumPy arrays (all, or ``names`` in that order)."""
    try:
        with safetensors.safe_open(os.fspath(path), framework="np") as f:
            keys = list(f.keys()) if names is None else names
            out: dict[str, np.ndarray] = {}
            for key in keys:
                try:
                    out[key] = f.get_tensor(key)
                except TypeError as err:  # a dtype NumPy lacks, such as bfloat16
                    raise ModelFileError(path, f"tensor {key!r}: {err}") from None
            return out
    except safetensors.SafetensorError as err:
        raise ModelFileError(path, f"corrupted safetensors data ({err})") from None
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None


def _contiguous(name: str, value: Any) -> np.ndarray:
    data = value.data if isinstance(value, Tensor) else value
    if not isinstance(data, np.ndarray):
        raise ValueError(f"tensor {name!r} is a {type(value).__name__}, not an array")
    # safetensors copies raw memory: a strided view would be written as wrong numbers.
    # (Not np.ascontiguousarray: it turns 0-d arrays such as num_batches_tracked into 1-d.)
    return data if data.flags.c_contiguous else data.copy(order="C")


def write_tensors(path: str | os.PathLike, tensors: dict[str, Any],
                  metadata: dict[str, str]) -> None:
    """Write ``tensors`` (arrays or Tensors) and string ``metadata`` atomically to ``path``.

    Raises:
        ValueError: a value is not an array, or has a dtype safetensors cannot store.
    """
    arrays = {name: _contiguous(name, value) for name, value in tensors.items()}
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf" or arr.dtype.itemsize > 8:
            raise ValueError(f"tensor {name!r} has dtype {arr.dtype}, which safetensors "
                             "cannot store (use bool, int, uint or float up to 64 bits)")
    with atomic_path(Path(os.fspath(path))) as tmp:
        safetensors.numpy.save_file(arrays, tmp, metadata=metadata)


def parse_json_field(path: str | os.PathLike, metadata: dict[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise ModelFileError(path, f"metadata has no {key!r} entry") from None
    except json.JSONDecodeError as err:
        raise ModelFileError(path, f"corrupted metadata: {key!r} is not valid JSON "
                             f"({err})") from None


def kind_of(metadata: dict[str, str]) -> str:
    """``"model"``, ``"state_dict"``, ``"checkpoint"`` or ``"foreign"``."""
    return {FORMAT_MODEL: "model", FORMAT_STATE_DICT: "state_dict",
            FORMAT_CHECKPOINT: "checkpoint"}.get(metadata.get("format", ""), "foreign")
