"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The recipe: write a temporary file in the target's directory (same file system, so the
rename is atomic), flush and ``fsync`` it, ``os.replace`` it over the target, then
``fsync`` the directory so the rename itself survives a power cut. If anything fails
before the rename, the temporary file is removed and the old file is untouched, and an
``OSError`` (full disk, file too large, no permission) names the target file.

A process killed mid-write cannot remove its temporary file. Temporary files are named
``.{target}.pid{PID}-{HOST}.{random}.tmp``, so :func:`remove_stale_temporaries` (run
once per folder per process by the first atomic write there, and by ``chainrule train``
on its run folder) can tell abandoned ones (their process is gone) from a concurrent
writer's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "remove_stale_temporaries"]

# ---- temporary files and their clean-up -------------------------------------------------

_OURS = re.compile(r"^\.(?P<target>.+)\.pid(?P<pid>[0-9]{1,10})-(?P<host>[A-Za-z0-9_-]{0,40})"
                   r"\.[A-Za-z0-9_]{1,16}\.tmp$")
# What earlier versions wrote (no process id): ``.{target}.{8 random characters}.tmp``.
_LEGACY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")

# A temporary file whose writer cannot be checked (another host, or an earlier version
# that did not record it) is abandoned once it has not changed for this long: a live
# writer keeps modifying it. A live process id on this host may be a reused one, so such
# a file is abandoned after a day.
UNKNOWN_WRITER_AGE_S = 3600.0
LIVE_WRITER_AGE_S = 86400.0

_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40]


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but belongs to someone else, or cannot be asked: keep
    return True


def _abandoned(name: str, age: float, host: str) -> bool:
    ours = _OURS.match(name)
    if ours is not None:
        if ours["host"] == host:
            return not _process_alive(int(ours["pid"])) or age > LIVE_WRITER_AGE_S
        return age > UNKNOWN_WRITER_AGE_S
    if _LEGACY.match(name) is not None:
        return age > UNKNOWN_WRITER_AGE_S
    return False


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary files that interrupted atomic writes left in ``folder``.

    Only files named as :func:`atomic_path` names them are candidates, and only
    abandoned ones go: on this host, those whose writing process no longer exists (or
    that are older than a day, for a reused process id); from another host or from an
    earlier chainrule version, those unchanged for an hour. A concurrent writer's file
    is never touched. Errors (a folder that does not exist, a file another cleaner
    removed first) are ignored.

    Args:
        folder: the folder to clean (not recursive).

    Returns:
        The files removed.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> left = os.path.join(folder, ".model.safetensors.pid999999999-x.abc123.tmp")
        >>> open(left, "wb").close()
        >>> old = os.path.getmtime(left) - 2 * UNKNOWN_WRITER_AGE_S
        >>> os.utime(left, (old, old))
        >>> [p.name for p in remove_stale_temporaries(folder)]
        ['.model.safetensors.pid999999999-x.abc123.tmp']
    """
    return _remove_stale(folder)


def _remove_stale(folder: str | os.PathLike) -> list[Path]:
    removed: list[Path] = []
    host, now = _host(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if _abandoned(entry.name, now - info.st_mtime, host):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _clean_once(directory: Path) -> None:
    key = os.path.realpath(directory)
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    _remove_stale(directory)


def _temp_prefix(target: Path) -> str:
    prefix = f".{target.name}.pid{os.getpid()}-{_host()}."
    if len(prefix.encode()) + 12 > 255:  # keep under the usual file-name limit
        prefix = f".{target.name}.pid{os.getpid()}-."
    return prefix


def _naming(err: OSError, target: Path, creating: bool = False) -> OSError:
    """``err`` as the same kind of OSError naming the target instead of the temporary
    file (``PermissionError`` stays one), saying that the old file is unchanged."""
    if err.errno is None:
        return err
    why = err.strerror or os.strerror(err.errno)
    if creating and err.errno == errno.ENOENT:
        why = f"cannot write it: folder {target.parent} does not exist"
    else:
        why = f"{why} (cannot write it; any previous version is unchanged)"
    return OSError(err.errno, why, os.fspath(target))


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
    ``path`` keeps its old contents, and the exception propagates; an ``OSError`` without
    a file name or naming the temporary file (a full disk) is re-raised as the same kind
    of ``OSError`` naming ``path``. The first write into a folder also removes temporary
    files abandoned there by killed writers (:func:`remove_stale_temporaries`).

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
    _clean_once(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=directory)
    except OSError as err:
        raise _naming(err, target, creating=True) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(target))
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename in (None, tmp):
            raise _naming(err, target) from None
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
