"""TFRecord files (TensorBoard's event files) with a CRC-32C computed by NumPy.

A record is ``length (uint64 LE) · masked CRC of length · data · masked CRC of data``.
tensorboardX computes CRC-32C byte by byte in Python unless the compiled ``crc32c``
package is installed (~0.2 µs a byte: a quarter of a millisecond for one histogram).
Here the checksum is one vectorised lookup: CRC-32C is linear over GF(2), so the register
after ``n`` bytes is the XOR of one table entry per byte, chosen by the byte's value and
its distance from the end (``_tables``), and of the initial register moved ``n`` steps.

Example:
    >>> hex(crc32c(b"123456789"))  # the standard check value of CRC-32C
    '0xe3069283'
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MAX_TABLE = 4096   # longer records (graphs, long texts) and short ones use a byte loop


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1)
    return table.astype(np.uint32)


_T = _byte_table()
_TABLE = _T.tolist()
_positions: np.ndarray = _T[None, :]          # _positions[k, v]: byte v, k bytes from the end
_zeros: np.ndarray = np.array([0xFFFFFFFF], np.uint32)  # _zeros[k]: the start moved k bytes


def _step(c: np.ndarray) -> np.ndarray:
    """The register after one zero byte: ``T[c & 0xff] ^ (c >> 8)`` (linear in c)."""
    return _T[c & 0xFF] ^ (c >> 8)


def _tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Position tables for messages of up to ``n`` bytes (grown by doubling, kept)."""
    global _positions, _zeros
    have = len(_positions)
    if have < n:
        size = min(max(n, 2 * have), _MAX_TABLE)
        rows, zeros = [_positions], [_zeros]
        p, z = _positions[-1], _zeros[-1:]
        for _ in range(size - have):
            p, z = _step(p), _step(z)
            rows.append(p[None, :])
            zeros.append(z)
        _positions, _zeros = np.concatenate(rows), np.concatenate(zeros)
    return _positions, _zeros


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (as ``crc32c.crc32c`` and tensorboardX compute it)."""
    n = len(data)
    if n <= 48 or n >= _MAX_TABLE:  # headers: the loop beats NumPy's call overhead
        c = 0xFFFFFFFF
        table = _TABLE
        for b in data:
            c = table[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF
    positions, zeros = _tables(n + 1)
    values = np.frombuffer(data, dtype=np.uint8)
    terms = positions[np.arange(n - 1, -1, -1), values]
    # the bytes' terms plus the start register 0xFFFFFFFF moved n bytes on (linearity)
    return int(np.bitwise_xor.reduce(terms, initial=zeros[n])) ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum of ``data``."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_file_name(folder: str | os.PathLike, suffix: str = "") -> Path:
    """``events.out.tfevents.<seconds>.<host><suffix>``: TensorBoard reads the files of a
    folder in name order, so the name starts with the time."""
    return Path(folder) / (f"events.out.tfevents.{int(time.time()):010d}."
                           f"{socket.gethostname()}{suffix}")


class RecordFile:
    """Append TFRecords to a new file (buffered; ``flush`` pushes them to the disk).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = RecordFile(Path(d) / "x.tfrecord")
        ...     f.write(b"hello")
        ...     f.close()
        ...     len((Path(d) / "x.tfrecord").read_bytes())
        21
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "xb")  # never overwrite another run's file

    def write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", masked_crc32c(header)) + data
                         + struct.pack("<I", masked_crc32c(data)))

    def flush(self, sync: bool = True) -> None:
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()


__all__ = ["RecordFile", "crc32c", "event_file_name", "masked_crc32c"]
