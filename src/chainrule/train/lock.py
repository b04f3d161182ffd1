"""An exclusive lock on a run folder, held for the life of a training run.

Two runs writing one folder would interleave their checkpoints, histories and model files.
``RunFolderLock`` takes an operating-system lock on ``<folder>/.chainrule.lock`` without
waiting: a second run on the same folder fails at once, naming the folder and the process
that holds it. The OS drops the lock when the process ends, however it ends (a kill, a
crash), so a stale lock never blocks the next run.

- POSIX: ``fcntl.flock`` (advisory, on the open lock file).
- Windows: ``msvcrt.locking`` on the lock file's first byte.
- Elsewhere: the lock file is created exclusively (``O_EXCL``) and removed at the end; a
  run that was killed leaves it behind, and the error says to delete it.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

LOCK_NAME = ".chainrule.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt  # type: ignore[import-not-found]
except ImportError:
    msvcrt = None  # type: ignore[assignment]


class RunFolderBusyError(RuntimeError):
    """Another process holds the run folder's lock."""


class RunFolderLock:
    """Hold ``folder``'s lock (``with RunFolderLock(folder): ...``); creates the folder.

    Raises:
        RunFolderBusyError: another process holds it (the message names the folder and its pid).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with RunFolderLock(folder):
        ...     pass
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._file: IO[Any] | None = None
        self._exclusive_file = False

    def acquire(self) -> RunFolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None and msvcrt is None:
            return self._acquire_by_creation()
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while locked
        try:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            holder = self._holder()
            f.close()
            raise RunFolderBusyError(f"run folder {self.folder} is in use by another chainrule run"
                                f"{holder}; wait for it to end or choose another --out"
                                ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def _acquire_by_creation(self) -> RunFolderLock:  # pragma: no cover - exotic platforms
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise RunFolderBusyError(f"run folder {self.folder} is in use by another chainrule run"
                                f"{self._holder()}; if no run is active, delete "
                                f"{self.path}") from None
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        self._exclusive_file = True
        return self

    def _holder(self) -> str:
        try:
            pid = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""
        return f" (process {pid})" if pid.isdigit() else ""

    def release(self) -> None:
        if self._file is not None:
            # the lock file stays: removing it while another process waits to open it
            # would let two processes lock two different files of the same name
            try:
                if fcntl is not None:
                    fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                elif msvcrt is not None:  # pragma: no cover - Windows
                    self._file.seek(0)
                    msvcrt.locking(self._file.fileno(), msvcrt.LK_UNLCK, 1)
            finally:
                self._file.close()
                self._file = None
        if self._exclusive_file:  # pragma: no cover - exotic platforms
            self._exclusive_file = False
            try:
                self.path.unlink()
            except OSError:
                pass

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


__all__ = ["LOCK_NAME", "RunFolderBusyError", "RunFolderLock"]
