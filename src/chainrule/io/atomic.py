"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The recipe: write a temporary file in the target's directory (same file system, so the
rename is atomic), flush and ``fsync`` it, ``os.replace`` it over the target, then
``fsync`` the directory so the rename itself survives a power cut. If anything fails
before the rename, the temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes"]


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable. Not possible on Windows (directories cannot be opened),
    # and some file systems refuse it; the rename is still atomic there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _final_mode(target: Path) -> int:
    # mkstemp creates 0600 files; the result should look like any file the user writes:
    # keep the mode of the file being replaced, or 0666 minus the umask for a new one.
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on a clean exit it replaces ``path``.

    For writers that take a file *name* (such as ``safetensors``' ``serialize_file``).
    The file written there is fsynced, renamed over ``path`` and the directory fsynced.
    On any exception (``KeyboardInterrupt`` included) the temporary file is removed,
    ``path`` keeps its old contents, and the exception propagates.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> with atomic_path(target) as tmp:
        ...     with open(tmp, "w") as f:
        ...         _ = f.write("done")
        >>> open(target).read()
        'done'
    """
    target = Path(os.fspath(path))
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(target))
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb",
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` atomically on success.

    Args:
        path: the file to (re)write.
        mode: ``"wb"`` (default) or ``"w"`` for text.
        encoding: text encoding for ``mode="w"`` (default UTF-8).

    On any exception inside the block the temporary file is deleted and ``path`` is
    left exactly as it was.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "log.txt")
        >>> with atomic_write(target, "w") as f:
        ...     _ = f.write("epoch 1\\n")
        >>> open(target).read()
        'epoch 1\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, fsync dir).

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "blob.bin")
        >>> atomic_write_bytes(target, b"\\x00\\x01")
        >>> open(target, "rb").read()
        b'\\x00\\x01'
    """
    with atomic_write(path, "wb") as f:
        f.write(data)
