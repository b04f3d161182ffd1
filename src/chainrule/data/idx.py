"""Read and write IDX files, the format of MNIST and Fashion-MNIST (plain or gzip).

An IDX file is a header, then the array's values in big-endian C order::

    bytes 0-1   zero
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then d big-endian uint32 sizes, then the data.

chainrule never downloads anything: point ``load_idx_dir`` at a folder holding the four
files of the data set.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any

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


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's (decompressed) content and whether it was gzip-compressed."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(f"{path}: the gzip data is truncated or corrupt ({e}); "
                         "download the file again") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain, detected from its content).

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        the array, in native byte order, with the shape and dtype of the header.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file, unknown dtype code, or a size that does not match
            the header (the message names the file, expected and actual bytes).

    Example:
        >>> # images = read_idx("data/fashion/train-images-idx3-ubyte.gz")  # (60000, 28, 28)
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file not found: {p}")
    data, packed = _read_bytes(p)
    size = "decompressed size" if packed else "size"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{p}: not an IDX file (it must start with two zero bytes, a dtype "
                         "code and the number of dimensions)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise ValueError(f"{p}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{p}: truncated IDX header: expected at least {header} bytes, the "
                         f"file's {size} is {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"{p}: file is {what}: header {shape} of {dtype.newbyteorder('=')} "
                         f"needs {expected} bytes, the file's {size} is {len(data)} bytes")
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


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
    X = arr.astype(np.float32)
    if scale and arr.dtype == np.uint8:
        X /= 255.0
    if flatten:
        return X.reshape(len(X), -1)
    return X[:, None] if arr.ndim == 3 else X


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
        ValueError: a file is malformed, or images and labels differ in number.

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
        y = read_idx(yp)
        if y.ndim != 1:
            raise ValueError(f"{yp}: expected labels of shape (N,), got {y.shape}")
        if len(X) != len(y):
            raise ValueError(f"{xp} has {len(X)} images but {yp} has {len(y)} labels")
        out += [X, y.astype(np.int64)]
    return out[0], out[1], out[2], out[3]
