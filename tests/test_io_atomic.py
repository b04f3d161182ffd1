"""Atomic writes: a failure at any point leaves the old file intact and no litter."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.io._file as io_file
from chainrule import nn
from chainrule.io import (
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)


def _litter(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_bytes_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    atomic_write_bytes(path, b"first")
    assert path.read_bytes() == b"first"
    atomic_write_bytes(str(path), b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert _litter(tmp_path) == []


def test_writer_raising_midway_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(path) as f:
            f.write(b"new contents, half writ")
            f.flush()
            raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old contents"
    assert _litter(tmp_path) == []


def test_keyboard_interrupt_is_cleaned_up_too(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path, "w") as f:
            f.write("partial")
            raise KeyboardInterrupt
    assert not path.exists()
    assert _litter(tmp_path) == []


def test_text_mode_and_bad_mode(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    with atomic_write(path, "w") as f:
        f.write("épоch 1\n")
    assert path.read_text(encoding="utf-8") == "épоch 1\n"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(path, "a"):
            pass


def test_atomic_path_for_writers_that_take_a_name(tmp_path: Path) -> None:
    path = tmp_path / "named.bin"
    with atomic_path(path) as tmp:
        assert Path(tmp).parent == tmp_path  # same directory: rename stays atomic
        assert not path.exists()
        Path(tmp).write_bytes(b"abc")
    assert path.read_bytes() == b"abc"


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    atomic_write_bytes(tmp_path / "x.bin", b"123")
    assert "file" in synced and synced[-1] == "dir"


def test_permissions_follow_umask_or_the_replaced_file(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    fresh = tmp_path / "fresh.bin"
    atomic_write_bytes(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"old")
    os.chmod(kept, 0o640)
    atomic_write_bytes(kept, b"new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_missing_directory_is_an_os_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "no" / "such" / "dir.bin", b"x")


def _disk_fills_midway(real: Callable[..., None]) -> Callable[..., None]:
    """The tensor writer with a disk that fills up half-way through the data."""
    def write_all(f: Any, view: memoryview) -> None:
        real(f, view[:len(view) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write_all


def test_model_save_failing_midway_keeps_the_previous_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cr.manual_seed(0)
    first = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    path = tmp_path / "model.safetensors"
    save(first, path)
    before = path.read_bytes()
    second = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    monkeypatch.setattr(io_file, "_write_all", _disk_fills_midway(io_file._write_all))
    with pytest.raises(OSError, match="No space left") as info:
        save(second, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before
    assert _litter(tmp_path) == []
    x = cr.tensor(np.ones((2, 3), np.float32))
    assert load(path)(x).numpy().tobytes() == first.eval()(x).numpy().tobytes()


def test_checkpoint_failing_midway_keeps_the_previous_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = nn.Linear(2, 2)
    path = tmp_path / "run.ckpt.safetensors"
    save_checkpoint(path, model=model, extra={"epoch": 1})
    monkeypatch.setattr(io_file, "_write_all", _disk_fills_midway(io_file._write_all))
    with pytest.raises(OSError) as info:
        save_checkpoint(path, model=model, extra={"epoch": 2})
    assert info.value.filename == str(path)
    assert load_checkpoint(path).extra == {"epoch": 1}
    assert _litter(tmp_path) == []
