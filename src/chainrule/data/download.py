"""Files of public data sets: downloaded once from a list of mirrors, checked, cached.

``fetch(file, folder)`` returns the path of ``file`` in ``folder`` (by default the cache,
``cache_dir() / <data set>``), downloading it first when it is not there:

- the mirrors are tried in turn; each gets a few attempts, every attempt continuing
  where the last one stopped (an HTTP ``Range`` request; a server that ignores it sends
  the whole file, which then replaces the partial one);
- bytes go to ``<name>.part`` beside the target, never more than the file's known size;
  only when the whole file's size and SHA-256 match the published ones is it renamed
  to ``<name>`` (atomic on one file system). A truncated, corrupted or substituted
  download is therefore never used: it fails the checksum, is deleted, and the next
  mirror is tried. A partial file whose transfer broke off is kept, so the next call
  resumes it;
- a file already in the cache is checked (size and SHA-256) before it is used, so a
  cache hit needs no network;
- when every mirror fails, ``DownloadError`` names each URL with its error, the cache
  folder, and how to place the file there by hand.

Downloads of one file by several processes take turns (a lock file beside it, on
POSIX), so the second finds the first one's file in the cache. Proxies come from the
usual ``http_proxy``/``https_proxy`` variables (urllib's rules).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: downloads are not serialised there
    fcntl = None  # type: ignore[assignment]

CACHE_ENV = "CHAINRULE_CACHE"
DEFAULT_TIMEOUT = 30.0
"""Seconds a connection may wait for the server (to connect, or between bytes)."""

ATTEMPTS_PER_MIRROR = 3
"""Transfers tried per mirror while each one makes progress (a dropped connection resumes)."""

_CHUNK = 1 << 16
_USER_AGENT = "chainrule (+https://pypi.org/project/chainrule)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the cache, its size and SHA-256, where to get it.

    Attributes:
        name: the file name in the cache folder, e.g. ``'train-images-idx3-ubyte.gz'``.
        size: its size in bytes, as published.
        sha256: its SHA-256, 64 lowercase hex digits.
        urls: the mirrors, tried in this order.

    Example:
        >>> f = RemoteFile("a.bin", 3, hashlib.sha256(b"abc").hexdigest(),
        ...                ("https://example.org/a.bin",))
        >>> f.size, f.sha256[:8]
        (3, 'ba7816bf')
    """

    name: str
    size: int
    sha256: str
    urls: tuple[str, ...]


class DownloadError(OSError):
    """No mirror delivered a file whose size and SHA-256 match the published ones.

    Attributes:
        file: the ``RemoteFile``; target: where it should have been saved;
        attempts: ``(url, what went wrong)`` per mirror tried;
        notes: what was left in the cache (a bad cached file, a kept partial download).
    """

    def __init__(self, message: str, file: RemoteFile | None = None,
                 target: Path | None = None, attempts: list[tuple[str, str]] | None = None,
                 notes: str = "") -> None:
        super().__init__(message)
        self.file, self.target, self.attempts = file, target, list(attempts or [])
        self.notes = notes

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def cache_dir() -> Path:
    """Where downloaded data sets are kept: ``$CHAINRULE_CACHE``, else
    ``$XDG_CACHE_HOME/chainrule``, else ``~/.cache/chainrule``.

    Example:
        >>> os.environ.get("CHAINRULE_CACHE") or cache_dir().name
        'chainrule'
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> sha256_of(f.name)[:16]
        'ba7816bf8f01cfea'
        >>> os.remove(f.name)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problem_with(path: Path, file: RemoteFile) -> str | None:
    """Why ``path`` is not ``file`` (its size, then its SHA-256), or None when it is."""
    size = path.stat().st_size
    if size != file.size:
        return f"it is {size:,} bytes, not {file.size:,}"
    digest = sha256_of(path)
    if digest != file.sha256:
        return f"its SHA-256 is {digest}, not {file.sha256}"
    return None


def by_hand(file: RemoteFile, target: Path) -> str:
    """How to put ``file`` into the cache without chainrule's download."""
    return (f"To place it by hand, download {file.urls[0] if file.urls else file.name} "
            f"on a machine with network access and save it as {target} "
            f"({file.size:,} bytes, SHA-256 {file.sha256}); set ${CACHE_ENV} to use another "
            "cache folder.")


def fetch(file: RemoteFile, folder: str | os.PathLike, *, progress: bool | None = None,
          timeout: float = DEFAULT_TIMEOUT, download: bool = True) -> Path:
    """The checked path of ``file`` in ``folder``, downloading it there first if needed.

    Args:
        file: what to get (name, size, SHA-256, mirrors).
        folder: where it is kept, e.g. ``cache_dir() / 'mnist'``; created when missing.
        progress: a tqdm progress bar on stderr: True, False, or None (only when stderr is
            a terminal or in Jupyter).
        timeout: seconds to wait for a server before giving up on it.
        download: False: only look in ``folder`` (``FileNotFoundError`` when it is not
            there).

    Returns:
        ``folder / file.name``, whose size and SHA-256 match ``file``'s.

    Raises:
        DownloadError: no mirror delivered the file (the message lists each URL and its
            error, the cache folder, and how to place the file by hand).
        FileNotFoundError: ``download=False`` and the file is not in ``folder``.

    Example:
        >>> # fetch(RemoteFile("t10k-labels-idx1-ubyte.gz", 4542, "f7ae…", (url,)),
        >>> #       cache_dir() / "mnist")  ->  PosixPath('~/.cache/chainrule/mnist/t10k-…')
    """
    folder = Path(folder).expanduser()
    target = folder / file.name
    if target.is_file() and problem_with(target, file) is None:
        return target
    if not download:
        found = (f"{target} is there but {problem_with(target, file)}" if target.is_file()
                 else f"{target} does not exist")
        raise FileNotFoundError(f"{file.name} is not in the cache: {found}. "
                                f"{by_hand(file, target)}")
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / f".{file.name}.lock"):
        # another process may have fetched it while this one waited for the lock
        bad = problem_with(target, file) if target.is_file() else None
        if target.is_file() and bad is None:
            return target
        cached = f"The cached {target} is not the published file: {bad}. " if bad else ""
        return _fetch_from_mirrors(file, target, progress, timeout, cached)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX ``flock``, waiting for it)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fetch_from_mirrors(file: RemoteFile, target: Path, progress: bool | None,
                        timeout: float, cached: str = "") -> Path:
    part = target.with_name(target.name + ".part")
    errors: list[tuple[str, str]] = []
    for url in file.urls:
        fresh_retry = True  # a resumed file that fails its checksum gets one clean start
        while True:
            resumed = part.is_file() and part.stat().st_size > 0
            try:
                _download(url, part, file, progress, timeout)
            except (OSError, http.client.HTTPException) as e:
                errors.append((url, _reason(e)))
                break
            problem = problem_with(part, file)
            if problem is None:
                _commit(part, target)
                return target
            part.unlink()  # corrupt: never kept, never used
            if resumed and fresh_retry:
                fresh_retry = False  # the kept part may have been the bad piece
                continue
            errors.append((url, f"the download is corrupt: {problem}; deleted"))
            break
    kept = (f"The partial download {part} ({part.stat().st_size:,} bytes) is kept and "
            "resumed next time. " if part.is_file() else "")
    notes = f"{cached}{kept}"
    raise DownloadError(f"could not download {file.name} from any mirror: {tried(errors)}. "
                        f"{notes}Cache folder: {target.parent}. {by_hand(file, target)}",
                        file, target, errors, notes)


def tried(attempts: list[tuple[str, str]]) -> str:
    """``'URL (what went wrong); URL (…)'`` for an error message."""
    return "; ".join(f"{url} ({why})" for url, why in attempts) or "no mirrors listed"


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"cannot connect: {e.reason}"
    return str(e) or type(e).__name__


def _commit(part: Path, target: Path) -> None:
    """Rename the checked ``part`` to ``target``, durably (fsync file, rename, fsync dir)."""
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.replace(part, target)
    with contextlib.suppress(OSError):  # not every system can fsync a folder
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _download(url: str, part: Path, file: RemoteFile, progress: bool | None,
              timeout: float) -> None:
    """Fill ``part`` with ``file.size`` bytes from ``url``, resuming what is there.

    Returns once ``part`` holds ``file.size`` bytes (its checksum is the caller's test).
    Raises OSError when the server fails, sends something of another size, or stops
    ``ATTEMPTS_PER_MIRROR`` times in a row without progress.
    """
    opener = urllib.request.build_opener()  # reads the proxy variables now
    stalled = 0
    while True:
        have = part.stat().st_size if part.is_file() else 0
        if have > file.size:  # not a prefix of this file
            part.unlink()
            have = 0
        if have == file.size:
            return
        got = _transfer(opener, url, part, have, file, progress, timeout)
        if part.stat().st_size == file.size:
            return
        stalled = 0 if got > 0 else stalled + 1
        if stalled >= ATTEMPTS_PER_MIRROR:
            raise OSError(f"the transfer stopped at {part.stat().st_size:,} of "
                          f"{file.size:,} bytes")


def _transfer(opener: Any, url: str, part: Path, have: int, file: RemoteFile,
              progress: bool | None, timeout: float) -> int:
    """One HTTP request: append to ``part`` from byte ``have`` (or rewrite it when the
    server sends the whole file). The number of bytes written; OSError on failure."""
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range does not fit the server's file: start over
            e.close()
            part.unlink()
            return 0
        raise
    with response:
        start = _start_of(response, have)
        if start == 0 and have:
            have = 0  # the server ignored the Range header: it sends the whole file
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and have + int(length) != file.size:
            raise OSError(f"the server sends {have + int(length):,} bytes, but "
                          f"{file.name} is {file.size:,} bytes")
        return _copy(response, part, have, file, progress)


def _start_of(response: Any, have: int) -> int:
    """The byte offset the response's body starts at (0 for a full ``200``)."""
    if response.status != 206:
        return 0
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None or int(match.group(1)) != have:
        raise OSError(f"the server answered a request for bytes {have}- with "
                      f"Content-Range {response.headers.get('Content-Range')!r}")
    return have


def _copy(response: Any, part: Path, have: int, file: RemoteFile,
          progress: bool | None) -> int:
    from chainrule._progress import progress_bar

    written = 0
    bar = progress_bar(file.size, file.name, unit="B", enabled=progress, initial=have,
                       unit_scale=True, unit_divisor=1024, leave=True)
    try:
        with open(part, "ab" if have else "wb") as f:
            while have + written < file.size:
                try:
                    block = response.read(min(_CHUNK, file.size - have - written))
                except (OSError, http.client.HTTPException):
                    if not written:
                        raise
                    break  # it broke off after some progress: the caller resumes
                if not block:
                    break  # the connection closed early: the caller resumes
                f.write(block)
                written += len(block)
                bar.update(len(block))
            if have + written == file.size and response.read(1):
                raise OSError(f"the server sends more than the {file.size:,} bytes of "
                              f"{file.name}")
    finally:
        bar.close()
    return written


__all__ = ["DownloadError", "RemoteFile", "cache_dir", "fetch", "sha256_of"]
