"""Read CIFAR-10 from its binary archive (``cifar-10-binary.tar.gz``), without pickle.

The archive (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html) holds, in
``cifar-10-batches-bin/``, five training files ``data_batch_1.bin`` … ``data_batch_5.bin``
and ``test_batch.bin``. Each is a run of 3,073-byte records: one label byte (0-9), then
the 32×32 image as 1,024 red, 1,024 green and 1,024 blue bytes, row by row. So a record's
3,072 pixel bytes are already an image in (channel, row, column) order.

The archive's members are read in place (nothing is extracted, so no path from the
archive is ever written), and each is checked before it is trusted: a regular file, a
whole number of records, at most ``MAX_BATCH_BYTES``, labels below 10. The python
version of the archive (``cifar-10-python.tar.gz``) is a pickle and is not read.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

RECORD_BYTES = 1 + 3 * 32 * 32
IMAGE_SHAPE = (3, 32, 32)
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
FOLDER = "cifar-10-batches-bin"
MAX_BATCH_BYTES = 64 * 2**20
"""A batch file larger than this is refused (the real ones are 30,730,000 bytes)."""

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def _records(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one batch file."""
    rows = np.frombuffer(data, np.uint8).reshape(-1, RECORD_BYTES)
    labels = rows[:, 0].astype(np.int64)
    if labels.size and labels.max() >= len(CLASSES):
        i = int(np.argmax(labels >= len(CLASSES)))
        raise ValueError(f"{where}: record {i} has label {int(labels[i])}; CIFAR-10 labels "
                         "are 0-9")
    return rows[:, 1:].reshape(-1, *IMAGE_SHAPE).copy(), labels


def read_cifar10_binary(path: str | os.PathLike
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four arrays of CIFAR-10 from ``cifar-10-binary.tar.gz``.

    Args:
        path: the archive (gzip-compressed tar, as published).

    Returns:
        ``(X_train, y_train, X_test, y_test)``: images uint8 ``(N, 3, 32, 32)`` (50,000
        and 10,000 of them in the published archive), labels int64 ``(N,)`` in 0-9
        (``CLASSES`` names them).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a gzip tar archive, a batch file missing, not a regular file, of a
            size that is no whole number of records or over ``MAX_BATCH_BYTES``, or a
            label over 9 (the message names the archive and the member).

    Example:
        >>> # X, y, X_test, y_test = read_cifar10_binary("cifar-10-binary.tar.gz")
        >>> # X.shape, X.dtype -> (50000, 3, 32, 32), dtype('uint8')
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive not found: {p}")
    wanted = {f"{FOLDER}/{name}" for name in TRAIN_FILES + TEST_FILES}
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        # members are read in archive order while streaming through it once
        with tarfile.open(p, "r:gz") as tar:
            for member in tar:
                name = member.name.lstrip("./")
                if name not in wanted:
                    continue
                where = f"{p} member {member.name}"
                if not member.isreg():
                    raise ValueError(f"{where} is not a regular file")
                if member.size % RECORD_BYTES or member.size > MAX_BATCH_BYTES:
                    raise ValueError(f"{where} is {member.size:,} bytes: not a whole number "
                                     f"of {RECORD_BYTES}-byte records up to "
                                     f"{MAX_BATCH_BYTES:,} bytes")
                f = tar.extractfile(member)
                assert f is not None  # a regular file
                data = f.read(member.size)
                if len(data) != member.size:
                    raise ValueError(f"{where} is truncated")
                parts[name.rsplit("/", 1)[1]] = _records(data, where)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{p}: not a readable gzip tar archive ({e}); download "
                         "cifar-10-binary.tar.gz again") from None
    missing = [n for n in TRAIN_FILES + TEST_FILES if n not in parts]
    if missing:
        raise ValueError(f"{p}: the archive has no {', '.join(f'{FOLDER}/{n}' for n in missing)}"
                         "; is it cifar-10-binary.tar.gz (not the python or matlab version)?")
    X_train = np.concatenate([parts[n][0] for n in TRAIN_FILES])
    y_train = np.concatenate([parts[n][1] for n in TRAIN_FILES])
    X_test, y_test = parts[TEST_FILES[0]]
    return X_train, y_train, X_test, y_test


def write_cifar10_binary(path: str | os.PathLike, X_train: np.ndarray, y_train: np.ndarray,
                         X_test: np.ndarray, y_test: np.ndarray) -> None:
    """Write arrays as a CIFAR-10 binary archive (the training part in five batch files);
    the inverse of ``read_cifar10_binary``, for tests and for converting other copies.

    Example:
        >>> # write_cifar10_binary("small.tar.gz", X[:50], y[:50], X[:10], y[:10])
    """
    import io

    def records(X: np.ndarray, y: np.ndarray) -> bytes:
        X = np.asarray(X, np.uint8).reshape(len(X), -1)
        if X.shape[1] != RECORD_BYTES - 1:
            raise ValueError(f"CIFAR-10 images are {IMAGE_SHAPE}, got {X.shape[1]} values each")
        return np.concatenate([np.asarray(y, np.uint8)[:, None], X], axis=1).tobytes()

    files = {name: records(Xs, ys) for name, Xs, ys in zip(
        TRAIN_FILES, np.array_split(X_train, 5), np.array_split(y_train, 5))}
    files[TEST_FILES[0]] = records(X_test, y_test)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


__all__ = ["CLASSES", "read_cifar10_binary", "write_cifar10_binary"]
