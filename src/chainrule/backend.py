"""Which array library chainrule computes with, its default dtype, and random generators.

This is the only module that names an array library. Everything else asks for ``xp``
so that a later CuPy backend swaps in here without touching ops or layers.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

import numpy as np

xp = np


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed activation buffers instead of returning them to the OS.

    A training step allocates the same few-MiB arrays every step. By default glibc serves
    blocks above 128 KiB with mmap and trims freed memory eagerly, so every step page-faults
    its activations in again (measured: about half of a LeNet step). Raising the mmap and
    trim thresholds keeps those pages mapped for reuse, which is what PyTorch's caching
    allocator achieves. Set CHAINRULE_KEEP_FREED_MEMORY=0 to leave malloc alone.
    """
    if not sys.platform.startswith("linux") or os.environ.get(
            "CHAINRULE_KEEP_FREED_MEMORY", "1") == "0":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's maximum, 32 MiB
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        pass


_keep_freed_memory()

_default_dtype: np.dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors and parameters get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype used for new tensors and parameters.

    Args:
        dtype: ``float32`` or ``float64`` (anything ``numpy.dtype`` accepts).
    """
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"default dtype must be a floating type, got {dt}")
    _default_dtype = dt


class Generator:
    """A seedable source of random numbers, passed explicitly to whatever needs one.

    Wraps ``numpy.random.Generator`` (PCG64). Its state is JSON-serialisable through
    ``get_state``/``set_state`` so checkpoints can restore it exactly.

    Example:
        >>> g = Generator(0)
        >>> g.normal((2, 3)).shape
        (2, 3)
    """

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reset the generator to the start of the stream for ``seed``."""
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    @property
    def rng(self) -> np.random.Generator:
        """The underlying NumPy generator."""
        return self._rng

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        """The generator's state as plain Python data (JSON-serialisable)."""
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        dt = np.dtype(dtype) if dtype is not None else _default_dtype
        return self._rng.standard_normal(shape, dtype=np.float64).astype(dt, copy=False)

    def uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0,
                dtype: Any = None) -> np.ndarray:
        dt = np.dtype(dtype) if dtype is not None else _default_dtype
        return self._rng.uniform(low, high, shape).astype(dt, copy=False)

    def random(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        """Uniform floats in [0, 1) drawn in the requested dtype directly (cheap for masks)."""
        dt = np.dtype(dtype) if dtype is not None else _default_dtype
        if dt in (np.float32, np.float64):
            return self._rng.random(shape, dtype=dt)
        return self._rng.random(shape).astype(dt)

    def permutation(self, n: int) -> np.ndarray:
        return self._rng.permutation(n)

    def integers(self, low: int, high: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        return self._rng.integers(low, high, shape)


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (used by initialisers, dropout and constructors).

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0)
    """
    return default_generator.manual_seed(seed)


def resolve_generator(generator: Generator | None) -> Generator:
    return default_generator if generator is None else generator
