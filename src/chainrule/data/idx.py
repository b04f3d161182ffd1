"""Read and write IDX files, the format of MNIST and Fashion-MNIST (plain or gzip).

An IDX file is a header, then the array's values in big-endian C order::

    bytes 0-1   zero
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then d big-endian uint32 sizes, then the data.

A file is checked before it is trusted: the header's sizes (multiplied as Python ints, so
they cannot wrap around) must match a plain file's size, fit a limit (``MAX_IDX_BYTES``)
and what the gzip data could inflate to, before the array is allocated; decompression is
streamed and stops at the first byte beyond what the header declares.

``load_idx_dir`` reads a folder holding the four files of a data set; to have MNIST or
Fashion-MNIST downloaded, checked and cached, use ``chainrule.data.load("mnist")``.
"""

from __future__ import annotations

import gzip
import math
import os
import sys
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"

FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
WHERE_TO_GET = (
    "Download the four files (gzip or plain) into that folder, for example Fashion-MNIST "
    "from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion), or MNIST "
    "from a mirror such as https://ossci-datasets.s3.amazonaws.com/mnist/ "
    "(originally http://yann.lecun.com/exdb/mnist/)."
)


MAX_IDX_BYTES = 4 * 2**30
"""``read_idx`` refuses a header that declares more data than this (4 GiB) by default."""

MAX_IDX_CLASSES = 65_536
"""``load_idx_dir`` refuses a label of this value or more (a model needs an output per class)."""

_DEFLATE_MAX_RATIO = 1032  # deflate emits at least 2 bits per 258 bytes: no stream inflates more
_CHUNK = 1 << 20


def _read_into(f: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``f`` a chunk at a time; the number of bytes there were."""
    done = 0
    while done < len(view):
        n = f.readinto(view[done:done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _check_size(p: Path, packed: bool, shape: tuple[int, ...], dtype: np.dtype, header: int,
                file_size: int, max_bytes: int | None) -> int:
    """The data bytes the header declares, checked against the file and the limits before
    anything is allocated (Python ints: a product of uint32 sizes cannot wrap around)."""
    nbytes = math.prod(shape) * dtype.itemsize
    expected = header + nbytes
    what = f"header {shape} of {dtype.newbyteorder('=')} needs {expected} bytes"
    if not packed and file_size != expected:
        state = "truncated" if file_size < expected else "longer than its header says"
        raise ValueError(f"{p}: file is {state}: {what}, the file's size is {file_size} bytes")
    if max_bytes is not None and nbytes > max_bytes:
        raise ValueError(f"{p}: {what}, more than the limit of {max_bytes} bytes; if the file "
                         "is genuine, raise it with read_idx(path, max_bytes=...)")
    if packed and expected > _DEFLATE_MAX_RATIO * file_size:
        raise ValueError(f"{p}: {what}, but {file_size} bytes of gzip data cannot inflate to "
                         f"more than {_DEFLATE_MAX_RATIO * file_size}: the file is truncated or "
                         "its header is wrong")
    return nbytes


def read_idx(path: str | os.PathLike, *, max_bytes: int | None = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain, detected from its content).

    The header is checked before any data is read: its sizes must match a plain file's
    size exactly, and fit ``max_bytes`` (and what the gzip data could inflate to). Data is
    then streamed into the array; decompression stops as soon as more bytes arrive than
    the header declares, so a gzip bomb costs no more memory than the header admits.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.
        max_bytes: the most data bytes a header may declare (default ``MAX_IDX_BYTES``,
            4 GiB); ``None``: no limit.

    Returns:
        the array, in native byte order, with the shape and dtype of the header.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file, unknown dtype code, corrupt gzip data, a declared size
            over ``max_bytes``, or a size that does not match the header (the message names
            the file, expected and actual bytes).

    Example:
        >>> # images = read_idx("data/fashion/train-images-idx3-ubyte.gz")  # (60000, 28, 28)
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file not found: {p}")
    file_size = p.stat().st_size
    with open(p, "rb") as f:
        packed = f.read(2) == _GZIP_MAGIC
    try:
        with (gzip.open(p, "rb") if packed else open(p, "rb")) as f:
            return _read_open(p, f, packed, file_size, max_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{p}: the gzip data is truncated or corrupt ({e}); "
                         "download the file again") from None


def _read_open(p: Path, f: BinaryIO, packed: bool, file_size: int,
               max_bytes: int | None) -> np.ndarray:
    size = "decompressed size" if packed else "size"
    start = f.read(4)
    if len(start) < 4 or start[0] != 0 or start[1] != 0:
        raise ValueError(f"{p}: not an IDX file (it must start with two zero bytes, a dtype "
                         "code and the number of dimensions)")
    code, ndim = start[2], start[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise ValueError(f"{p}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    header = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{p}: truncated IDX header: expected at least {header} bytes, the "
                         f"file's {size} is {4 + len(dims)} bytes")
    shape = tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = _DTYPES[code]
    nbytes = _check_size(p, packed, shape, dtype, header, file_size, max_bytes)
    native = dtype.newbyteorder("=")
    arr = np.empty(math.prod(shape), native)
    got = _read_into(f, memoryview(arr.view(np.uint8)))
    if got < nbytes:
        raise ValueError(f"{p}: file is truncated: header {shape} of {native} needs "
                         f"{header + nbytes} bytes, the file's {size} is {header + got} bytes")
    if f.read(1):  # one byte more: stop here, however much more there is
        raise ValueError(f"{p}: file is longer than its header says: header {shape} of "
                         f"{native} needs {header + nbytes} bytes, the file's {size} is "
                         "larger")
    if native.itemsize > 1 and sys.byteorder == "little":
        arr.byteswap(inplace=True)  # the file is big-endian
    return arr.reshape(shape)


def write_idx(path: str | os.PathLike, array: Any) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    Args:
        path: destination file.
        array: array of dtype uint8, int8, int16, int32, float32 or float64, 1 to 255
            dimensions.

    Example:
        >>> # write_idx(tmp / "t10k-labels-idx1-ubyte.gz", np.array([7, 2, 1], np.uint8))
    """
    arr = np.asarray(array)
    dt = arr.dtype.newbyteorder("=")
    if dt not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, "
                         "int32, float32 or float64")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {arr.ndim}")
    code = _CODES[dt]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, _DTYPES[code]).tobytes()
    p = Path(path)
    if p.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    p.write_bytes(payload)


def _find(directory: Path, base: str) -> Path | None:
    """The file for ``base`` in ``directory``: plain, ``.gz``, or with a dot before idx."""
    dotted = base.replace("-idx", ".idx")
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _images(arr: np.ndarray, path: Path, flatten: bool, scale: bool) -> np.ndarray:
    if arr.ndim < 2:
        raise ValueError(f"{path}: expected images (N, rows, cols), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        at = np.unravel_index(int(np.argmin(np.isfinite(arr))), arr.shape)
        raise ValueError(f"{path}: pixel {tuple(int(i) for i in at)} is {arr[at]}: image "
                         "values must be finite numbers")
    X = arr.astype(np.float32)
    if scale and arr.dtype == np.uint8:
        X /= 255.0
    if flatten:
        return X.reshape(len(X), -1)
    return X[:, None] if arr.ndim == 3 else X


def _labels(y: np.ndarray, path: Path) -> np.ndarray:
    """Class labels as int64: whole numbers from 0, from an integer IDX file."""
    if y.ndim != 1:
        raise ValueError(f"{path}: expected labels of shape (N,), got {y.shape}")
    if y.dtype.kind == "f":
        raise ValueError(f"{path}: labels are stored as {y.dtype}; class labels must be "
                         "integers (an IDX file of uint8, int8, int16 or int32)")
    if y.size and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise ValueError(f"{path}: label {int(y[i])} at position {i} is negative; class "
                         "labels must be 0, 1, 2, ...")
    if y.size and y.max() >= MAX_IDX_CLASSES:
        i = int(np.argmax(y))
        raise ValueError(f"{path}: label {int(y[i])} at position {i} would make more than "
                         f"{MAX_IDX_CLASSES} classes; is this a label file?")
    return y.astype(np.int64)


def load_idx_dir(directory: str | os.PathLike, flatten: bool = True,
                 scale: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load an MNIST-style data set from the four IDX files in ``directory``.

    Expects ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or with ``.gz``
    (``train-images.idx3-ubyte`` spellings are accepted too).

    Args:
        directory: the folder.
        flatten: images as rows of ``rows * cols`` pixels; otherwise ``(N, 1, rows, cols)``.
        scale: divide uint8 pixels by 255 into ``[0, 1]``.

    Returns:
        ``(X_train, y_train, X_test, y_test)``: images float32, labels int64 ``(N,)``.

    Raises:
        FileNotFoundError: the folder or a file is missing (the message lists the expected
            file names and where to get them).
        ValueError: a file is malformed, images and labels differ in number, a label is
            not a whole number from 0 (float label files are refused), or a float image
            holds NaN or inf.

    Example:
        >>> # X_train, y_train, X_test, y_test = load_idx_dir("data/fashion")
        >>> # X_train.shape -> (60000, 784)
    """
    d = Path(directory)
    expected = ", ".join(f"{name}[.gz]" for name in FILES.values())
    if not d.is_dir():
        raise FileNotFoundError(f"IDX data folder not found: {d}. It must contain {expected}. "
                                f"{WHERE_TO_GET}")
    paths = {key: _find(d, base) for key, base in FILES.items()}
    missing = [FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"{d}: missing {', '.join(missing)} (plain or .gz); the folder "
                                f"must contain {expected}. {WHERE_TO_GET}")
    out = []
    for part in ("train", "test"):
        xp, yp = paths[f"X_{part}"], paths[f"y_{part}"]
        assert xp is not None and yp is not None
        X = _images(read_idx(xp), xp, flatten, scale)
        y = _labels(read_idx(yp), yp)
        if len(X) != len(y):
            raise ValueError(f"{xp} has {len(X)} images but {yp} has {len(y)} labels")
        out += [X, y]
    return out[0], out[1], out[2], out[3]
