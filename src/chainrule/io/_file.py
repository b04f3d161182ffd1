"""Reading and writing safetensors files safely: header checks, checksums, clear errors.

Shared by model files and checkpoints. A safetensors file is an 8-byte little-endian
header length, a JSON header (tensor name → dtype, shape, byte offsets, plus an optional
``__metadata__`` object of string → string) and the raw tensor bytes. Every file is
checked here before it is trusted:

- the header: plausible length, valid JSON without duplicate keys, known dtypes, each
  tensor's byte range exactly its shape's size, ranges that tile the data section
  without gaps or overlaps, and the file's length — before any tensor is allocated;
- the format tag: a chainrule-looking ``format`` that is not one chainrule writes is an
  error, never a silent "foreign file";
- the checksums chainrule writes into ``__metadata__``:

      "data_sha256"     SHA-256 of the data section (all tensor bytes, in file order)
      "header_sha256"   SHA-256 of the tensor table and every other metadata entry
                        (canonical JSON, see :func:`header_digest`)

  The header's is checked whenever the header is read (it is small); the data's while
  the tensors are read, in the same pass. ``verify=False`` skips both (for a file
  another tool changed on purpose). Files written before checksums existed load with an
  :class:`UnverifiedFileWarning`.

Writes go through :func:`chainrule.io.atomic_path`, so a failed write (a full disk)
raises an ``OSError`` naming the file and leaves the previous file as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.io import _json
from chainrule.io.atomic import atomic_path
from chainrule.nn.init import is_placeholder
from chainrule.tensor import Tensor

# A header larger than this is not a header: the first 8 bytes were something else.
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit; parsing costs ~15x the size
# Tensor bytes are read and hashed in pieces of this size (cache-friendly, bounded).
_CHUNK = 8 * 1024 * 1024

# What each chainrule writer puts in metadata["format"].
FORMAT_MODEL = "chainrule"
FORMAT_STATE_DICT = "chainrule.state_dict"
FORMAT_CHECKPOINT = "chainrule.checkpoint"
FORMAT_SAVED = "chainrule.saved"  # chainrule.save(obj, path): tensors in a JSON tree
KINDS = {FORMAT_MODEL: "model", FORMAT_STATE_DICT: "state_dict",
         FORMAT_CHECKPOINT: "checkpoint", FORMAT_SAVED: "saved"}

DATA_SHA256 = "data_sha256"
HEADER_SHA256 = "header_sha256"

# The metadata entries of each kind of file before checksums were added: a file without
# checksums but with other entries had its checksum entry damaged, not left out.
_LEGACY_KEYS = {
    "model": {"format", "chainrule_version", "architecture", "user"},
    "state_dict": {"format", "chainrule_version", "keys", "user"},
    "checkpoint": {"format", "checkpoint_version", "chainrule_version", "architecture",
                   "model_keys", "optimizer", "scheduler", "extra"},
}

# safetensors dtype → (NumPy dtype, or None where NumPy has none; bits per element).
_DTYPES: dict[str, tuple[str | None, int]] = {
    "BOOL": ("|b1", 8), "U8": ("|u1", 8), "I8": ("|i1", 8),
    "U16": ("<u2", 16), "I16": ("<i2", 16), "F16": ("<f2", 16), "BF16": (None, 16),
    "U32": ("<u4", 32), "I32": ("<i4", 32), "F32": ("<f4", 32),
    "U64": ("<u8", 64), "I64": ("<i8", 64), "F64": ("<f8", 64),
    "F8_E5M2": (None, 8), "F8_E4M3": (None, 8), "F8_E8M0": (None, 8),
    "F6_E2M3": (None, 6), "F6_E3M2": (None, 6), "F4": (None, 4),
}
_NUMPY_LACKS = {"BF16": "bfloat16", "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3",
                "F8_E8M0": "float8_e8m0", "F6_E2M3": "float6_e2m3",
                "F6_E3M2": "float6_e3m2", "F4": "float4"}
# (NumPy kind, item size) → safetensors dtype, for writing.
_BY_NUMPY = {(np.dtype(np_name).kind, np.dtype(np_name).itemsize): name
             for name, (np_name, _) in _DTYPES.items() if np_name is not None}


class ModelFileError(ValueError):
    """A model file or checkpoint that cannot be read: missing, truncated, corrupted,
    damaged (checksum mismatch), not written by chainrule, or holding weights that do
    not fit its architecture.

    ``path`` is the file and ``problem`` what was wrong with it.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnverifiedFileWarning(UserWarning):
    """A chainrule file written before checksums existed: it is read, but damage to it
    cannot be detected. Saving it again adds the checksums."""


def _outside_chainrule() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside
    chainrule, however deep inside the library it is raised."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def chainrule_version() -> str:
    from chainrule import __version__  # late: chainrule/__init__ may be importing us

    return __version__


@dataclass(frozen=True)
class Entry:
    """One tensor of the header: safetensors dtype, shape and byte range in the data."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    stop: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Header:
    """A checked header. ``tensors`` is in file order; ``kind`` is ``"model"``,
    ``"state_dict"``, ``"checkpoint"`` or ``"foreign"``."""

    path: str
    tensors: dict[str, Entry]
    metadata: dict[str, str]
    data_start: int
    kind: str

    @property
    def checked(self) -> bool:
        """Whether the file carries checksums (chainrule wrote it, with checksums)."""
        return self.kind != "foreign" and DATA_SHA256 in self.metadata


# ---- the header --------------------------------------------------------------------------

def read_header(path: str | os.PathLike, verify: bool = True) -> Header:
    """The file's header after checking it against the file (see the module docstring);
    with ``verify`` also its checksum, or a warning when a chainrule file has none.

    Raises:
        ModelFileError: missing/unreadable file, truncated file, corrupted or damaged
            header, unknown chainrule format tag.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "is a folder, not a file") from None
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
        header = _json.parse(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ModelFileError(path, f"corrupted header (not valid UTF-8: {err})") from None
    except ValueError as err:
        raise ModelFileError(path, f"corrupted header (not valid JSON: {err})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "corrupted header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ModelFileError(path, "corrupted header (__metadata__ must map strings to "
                             "strings)")
    tensors = _check_table(path, header, size - 8 - n)
    result = Header(os.fspath(path), tensors, metadata, 8 + n, _classify(path, metadata))
    if verify:
        _check_header_checksum(result)
    return result


def _entry(path: str | os.PathLike, name: str, raw: Any) -> Entry:
    try:
        ok = isinstance(raw, dict) and set(raw) == {"dtype", "shape", "data_offsets"}
        start, stop = raw["data_offsets"]
        shape = raw["shape"]
        dtype = raw["dtype"]
        ok = (ok and isinstance(dtype, str) and isinstance(shape, list)
              and all(type(d) is int and d >= 0 for d in shape)
              and type(start) is int and type(stop) is int and 0 <= start <= stop)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ModelFileError(path, f"corrupted header (bad entry for tensor {name!r})")
    if dtype not in _DTYPES:
        raise ModelFileError(path, f"corrupted header (tensor {name!r} has unknown dtype "
                             f"{dtype!r})")
    entry = Entry(dtype, tuple(shape), start, stop)
    bits = entry.numel * _DTYPES[dtype][1]  # Python ints: a product cannot overflow
    if bits % 8 or bits // 8 != stop - start:
        raise ModelFileError(path, f"corrupted header (tensor {name!r} of shape "
                             f"{entry.shape} and dtype {dtype} needs {bits / 8:.0f} bytes, "
                             f"its byte range holds {stop - start})")
    return entry


def _check_table(path: str | os.PathLike, header: dict, data_bytes: int
                 ) -> dict[str, Entry]:
    entries = {name: _entry(path, name, raw) for name, raw in header.items()}
    ordered = sorted(entries.items(), key=lambda kv: (kv[1].start, kv[1].stop))
    end, last = 0, None
    for name, e in ordered:
        if e.start < end:
            raise ModelFileError(path, f"corrupted header (the bytes of tensors {last!r} "
                                 f"and {name!r} overlap)")
        if e.start > end:
            raise ModelFileError(path, f"corrupted header ({e.start - end} bytes before "
                                 f"tensor {name!r} belong to no tensor)")
        end, last = e.stop, name
    if end > data_bytes:
        raise ModelFileError(path, f"truncated: the tensors need {end} bytes of data but "
                             f"the file holds {data_bytes}")
    if end < data_bytes:
        raise ModelFileError(path, f"corrupted: {data_bytes - end} unexpected bytes after "
                             "the last tensor")
    return dict(ordered)


def looks_like_chainrule(tag: str) -> bool:
    """Whether a format tag was meant to be one of chainrule's (so that an unknown one is
    damage or a newer version, not a file of another tool): it mentions chainrule, or is
    a :func:`typo_of_chainrule`."""
    return "chainrule" in tag.lower() or typo_of_chainrule(tag)


def typo_of_chainrule(tag: str) -> bool:
    """Whether the first word of ``tag`` is one or two typos (a flipped bit, a dropped or
    swapped letter) away from ``chainrule`` without being it: ``chaierule.run/1``."""
    word = re.split(r"[./:\s]", tag.lower(), maxsplit=1)[0]
    return word != "chainrule" and _edit_distance(word[:20], "chainrule") <= 2


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _classify(path: str | os.PathLike, metadata: dict[str, str]) -> str:
    tag = metadata.get("format")
    if tag in KINDS:
        return KINDS[tag]
    ours = any(k in metadata for k in (DATA_SHA256, HEADER_SHA256, "chainrule_version"))
    if tag is None and not ours:
        return "foreign"
    if tag is None:
        raise ModelFileError(path, "damaged: chainrule metadata without its 'format' entry")
    if ours or looks_like_chainrule(tag):
        raise ModelFileError(path, f"unknown format tag {tag!r} (chainrule writes "
                             f"{', '.join(map(repr, KINDS))}): the file is damaged, or was "
                             "written by a newer chainrule")
    return "foreign"


def kind_of(metadata: dict[str, str]) -> str:
    """``"model"``, ``"state_dict"``, ``"checkpoint"``, ``"saved"`` or ``"foreign"`` by the
    tag alone."""
    return KINDS.get(metadata.get("format", ""), "foreign")


def header_digest(tensors: dict[str, Entry], metadata: dict[str, str]) -> str:
    """SHA-256 (hex) of the tensor table and every metadata entry but ``header_sha256``,
    as canonical JSON: sorted keys, no spaces, ASCII, entries as
    ``{"metadata": {...}, "tensors": {name: [dtype, shape, [start, stop]]}}``."""
    table = {name: [e.dtype, list(e.shape), [e.start, e.stop]] for name, e in tensors.items()}
    meta = {k: v for k, v in metadata.items() if k != HEADER_SHA256}
    text = json.dumps({"metadata": meta, "tensors": table}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SKIP_HINT = ("; it was changed or corrupted after chainrule wrote it (pass verify=False "
              "to read it anyway)")


def _check_header_checksum(header: Header) -> None:
    if header.kind == "foreign":
        return
    path, metadata = header.path, header.metadata
    stored = metadata.get(HEADER_SHA256)
    if stored is None:
        extra = sorted(set(metadata) - _LEGACY_KEYS[header.kind])
        if extra:
            raise ModelFileError(path, f"damaged: the header has no {HEADER_SHA256!r} "
                                 f"entry but has {extra}" + _SKIP_HINT)
        return  # an earlier chainrule's file: warn_unverified once it has been read
    if not _HEX64.match(stored) or stored != header_digest(header.tensors, metadata):
        raise ModelFileError(path, "damaged: the header (tensor table, architecture or "
                             "metadata) does not match its SHA-256 checksum" + _SKIP_HINT)
    if not _HEX64.match(metadata.get(DATA_SHA256, "")):
        raise ModelFileError(path, f"damaged: the header has no valid {DATA_SHA256!r} "
                             "entry" + _SKIP_HINT)


def warn_unverified(header: Header) -> None:
    """Warn (:class:`UnverifiedFileWarning`) that a chainrule file has no checksums.
    Called once a file has been read successfully, so a file that fails to load reports
    only its error."""
    if header.kind != "foreign" and HEADER_SHA256 not in header.metadata:
        warnings.warn(f"{header.path}: written by an earlier chainrule without checksums, "
                      "so damage to it cannot be detected; save it again to add them",
                      UnverifiedFileWarning, stacklevel=_outside_chainrule())


def _data_mismatch(header: Header) -> ModelFileError:
    return ModelFileError(header.path, "damaged: the tensor data does not match its SHA-256 "
                          "checksum" + _SKIP_HINT)


# ---- the tensors -------------------------------------------------------------------------

def numpy_dtype(path: str | os.PathLike, name: str, entry: Entry) -> np.dtype:
    np_name = _DTYPES[entry.dtype][0]
    if np_name is None:
        raise ModelFileError(path, f"tensor {name!r} has dtype {entry.dtype} "
                             f"({_NUMPY_LACKS[entry.dtype]}), which NumPy cannot hold")
    return np.dtype(np_name)


def _read_exactly(f: Any, view: memoryview, digest: Any, path: str) -> None:
    pos = 0
    while pos < len(view):
        got = f.readinto(view[pos:pos + _CHUNK])
        if not got:
            raise ModelFileError(path, "truncated while reading (did the file change?)")
        if digest is not None:
            digest.update(view[pos:pos + got])
        pos += got


def read_tensors(header: Header, names: list[str] | None = None, verify: bool = True
                 ) -> dict[str, np.ndarray]:
    """Tensors of the file as writable NumPy arrays: all, or ``names`` in that order.

    One pass over the data: each tensor is read straight into its array, and with
    ``verify`` the bytes are hashed as they arrive and checked against ``data_sha256``
    (every tensor is read then, and the requested ones returned).

    Raises:
        ModelFileError: a dtype NumPy lacks, a file that changed, damaged data.
    """
    path = header.path
    wanted = list(header.tensors) if names is None else names
    for name in wanted:
        if name not in header.tensors:
            raise ModelFileError(path, f"holds no tensor {name!r}")
    digest = hashlib.sha256() if verify and header.checked else None
    keep = set(wanted)
    out: dict[str, np.ndarray] = {}
    try:
        f = open(path, "rb", buffering=0)
    except OSError as err:
        raise ModelFileError(path, f"cannot open: {err.strerror or err}") from None
    with f:
        f.seek(header.data_start)
        scratch = None
        for name, entry in header.tensors.items():
            if name in keep:
                arr = np.empty(entry.shape, numpy_dtype(path, name, entry))
                _read_exactly(f, memoryview(arr.reshape(-1)).cast("B"), digest, path)
                out[name] = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder())
            elif digest is not None:
                scratch = scratch if scratch is not None else bytearray(_CHUNK)
                _hash_range(f, entry.stop - entry.start, scratch, digest, path)
            else:
                f.seek(entry.stop - entry.start, os.SEEK_CUR)
    if digest is not None and digest.hexdigest() != header.metadata[DATA_SHA256]:
        raise _data_mismatch(header)
    return {name: out[name] for name in wanted}


def _hash_range(f: Any, count: int, scratch: bytearray, digest: Any, path: str) -> None:
    view = memoryview(scratch)
    while count > 0:
        got = f.readinto(view[:min(count, len(view))])
        if not got:
            raise ModelFileError(path, "truncated while reading (did the file change?)")
        digest.update(view[:got])
        count -= got


def verify_data(header: Header) -> None:
    """Check the data section against ``data_sha256`` without keeping any tensor
    (one pass, memory bounded by the chunk size). Nothing to check on files without it."""
    if not header.checked:
        return
    digest = hashlib.sha256()
    size = sum(e.stop - e.start for e in header.tensors.values())
    try:
        f = open(header.path, "rb", buffering=0)
    except OSError as err:
        raise ModelFileError(header.path, f"cannot open: {err.strerror or err}") from None
    with f:
        f.seek(header.data_start)
        _hash_range(f, size, bytearray(min(_CHUNK, max(size, 1))), digest, header.path)
    if digest.hexdigest() != header.metadata[DATA_SHA256]:
        raise _data_mismatch(header)


# ---- writing -----------------------------------------------------------------------------

def _contiguous(name: str, value: Any) -> np.ndarray:
    data = value._data if isinstance(value, Tensor) else value
    if not isinstance(data, np.ndarray):
        raise ValueError(f"tensor {name!r} is a {type(value).__name__}, not an array")
    if is_placeholder(data):
        raise ValueError(f"tensor {name!r} is a placeholder without values (a model built "
                         "under nn.init.meta_init() whose weights were never loaded)")
    if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:
        raise ValueError(f"tensor {name!r} has dtype {data.dtype}, which safetensors "
                         "cannot store (use bool, int, uint or float up to 64 bits)")
    if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and not
                                       np.little_endian):
        data = data.astype(data.dtype.newbyteorder("<"))  # safetensors is little-endian
    # The bytes are written as they lie in memory: a strided view must be copied first.
    # (Not np.ascontiguousarray: it turns 0-d arrays such as num_batches_tracked into 1-d.)
    return data if data.flags.c_contiguous else data.copy(order="C")


def _bytes_of(arr: np.ndarray) -> memoryview:
    return memoryview(arr.reshape(-1)).cast("B")


def _write_all(f: Any, view: memoryview) -> None:
    """Write ``view`` to ``f`` in pieces (the seam tests use to fail a write midway)."""
    for pos in range(0, len(view), _CHUNK):
        f.write(view[pos:pos + _CHUNK])


def write_tensors(path: str | os.PathLike, tensors: dict[str, Any],
                  metadata: dict[str, str]) -> None:
    """Write ``tensors`` (arrays or Tensors) and string ``metadata``, plus the checksums,
    atomically to ``path`` as a safetensors file.

    Tensors are laid out by decreasing item size (so each is aligned to it, as
    safetensors itself does), in the given order within a size.

    Raises:
        ValueError: a value is not an array, or has a dtype safetensors cannot store.
        OSError: the file cannot be written (names it; the previous file is unchanged).
    """
    for name in tensors:
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"tensor name {name!r} cannot be stored (a non-empty string "
                             "other than '__metadata__' is needed)")
    arrays = {name: _contiguous(name, value) for name, value in tensors.items()}
    order = sorted(arrays, key=lambda name: -arrays[name].dtype.itemsize)  # stable
    table: dict[str, Entry] = {}
    offset = 0
    data_digest = hashlib.sha256()
    for name in order:
        arr = arrays[name]
        table[name] = Entry(_BY_NUMPY[arr.dtype.kind, arr.dtype.itemsize], tuple(arr.shape),
                            offset, offset + arr.nbytes)
        offset += arr.nbytes
        view = _bytes_of(arr)
        for pos in range(0, len(view), _CHUNK):
            data_digest.update(view[pos:pos + _CHUNK])
    meta = {k: str(v) for k, v in metadata.items()}
    meta[DATA_SHA256] = data_digest.hexdigest()
    meta[HEADER_SHA256] = header_digest(table, meta)
    header: dict[str, Any] = {"__metadata__": meta}
    header.update({name: {"dtype": e.dtype, "shape": list(e.shape),
                          "data_offsets": [e.start, e.stop]} for name, e in table.items()})
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # pad so the data starts 8-byte aligned
    with atomic_path(Path(os.fspath(path))) as tmp, open(tmp, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for name in order:
            _write_all(f, _bytes_of(arrays[name]))


def parse_json_field(path: str | os.PathLike, metadata: dict[str, str], key: str,
                     default: str | None = None) -> Any:
    """The JSON in metadata entry ``key`` (``default`` when absent, an error when that is
    None), parsed with depth and duplicate-key limits."""
    text = metadata.get(key, default)
    if text is None:
        raise ModelFileError(path, f"metadata has no {key!r} entry")
    try:
        return _json.parse(text)
    except ValueError as err:
        raise ModelFileError(path, f"corrupted metadata: {key!r} is not valid JSON "
                             f"({err})") from None
