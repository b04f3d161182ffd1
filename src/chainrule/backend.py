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
    ``get_state``/``set_state`` so checkpoints can restore it exactly. PyTorch's
    ``Generator(device="cpu")`` (or ``Generator("cpu")``) works too: ``device`` must name
    the CPU, as everywhere in chainrule.

    Example:
        >>> g = Generator(0)
        >>> g.normal((2, 3)).shape
        (2, 3)
        >>> Generator(device="cpu").manual_seed(0).initial_seed()
        0
    """

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int | None = None, device: Any = None) -> None:
        from chainrule.devices import check_device
        from chainrule.devices import device as device_type

        if isinstance(seed, (str, device_type)):  # torch.Generator("cpu"): a device first
            seed, device = None, seed
        check_device(device, "Generator")
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reset the generator to the start of the stream for ``seed``."""
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    @property
    def device(self) -> Any:
        """Where its numbers are made: always the CPU."""
        from chainrule.devices import CPU

        return CPU

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


# ---- threads ------------------------------------------------------------------------------
#
# NumPy's matrix products run on a BLAS (OpenBLAS, MKL, Accelerate) with its own thread
# pool, sized to every core by default. BLAS threads busy-wait for work, so when other
# programs already occupy the cores, a pool that size fights them for every core and a run
# gets several times slower (measured 4-15x on a loaded machine against one thread).

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_limits: Any = None  # the active threadpoolctl limiter (kept so it is never collected)


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError("setting the thread count needs threadpoolctl: pip install "
                          "'threadpoolctl>=3'") from None
    return threadpoolctl


def _blas_pools() -> list[dict[str, Any]]:
    return [p for p in _threadpoolctl().threadpool_info() if p.get("user_api") == "blas"]


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for NumPy's linear algebra (the BLAS and any OpenMP pool).

    Applies to the whole process until changed, like ``torch.set_num_threads``.

    Reproducibility: a run with a fixed seed is bitwise reproducible on the same machine
    with the same chainrule, NumPy and BLAS versions **and the same thread count**. The
    BLAS splits a matrix product differently for another number of threads, which changes
    the last bits of sums, and training amplifies them; checkpoints record the thread count
    and library versions so a resume that changes them warns.

    Args:
        n: threads, >= 1.

    Example:
        >>> import chainrule as cr
        >>> before = cr.get_num_threads()
        >>> cr.set_num_threads(1)
        >>> cr.get_num_threads()
        1
        >>> cr.set_num_threads(before)
    """
    global _limits
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of threads must be a whole number >= 1, got {n!r}")
    _limits = _threadpoolctl().threadpool_limits(limits=int(n))
    from chainrule.ops import _gemm

    if _gemm.enabled:  # the MKL route's pool gets n; NumPy's OpenBLAS stays at one
        _gemm.one_numpy_thread(restore_to=int(n))


def get_num_threads() -> int:
    """Threads NumPy's BLAS uses now (1 when no BLAS thread pool was found).

    Example:
        >>> get_num_threads() >= 1
        True
    """
    pools = _blas_pools()
    return max((int(p.get("num_threads") or 1) for p in pools), default=1)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """The thread count ``chainrule train`` uses when not told: the cores that are idle.

    ``OMP_NUM_THREADS`` (or ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``…) wins when set.
    Otherwise: the cores this process may use minus the one-minute load average (the
    number of runnable processes already competing for them), at least 1. On an idle
    machine that is every core; on a busy one it falls towards 1 thread, where BLAS threads
    would otherwise spin against the other programs (see ``set_num_threads``).

    Example:
        >>> 1 <= default_num_threads() <= available_cores() or "OMP_NUM_THREADS" in os.environ
        True
    """
    for name in _THREAD_ENV:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return cores
    return max(1, min(cores, cores - int(round(load))))


def blas_description() -> str:
    """The BLAS NumPy computes with, e.g. ``'openblas 0.3.27 (Haswell, pthreads)'``."""
    try:
        pools = _blas_pools()
    except ImportError:
        return "unknown"
    if not pools:
        return "none found"
    parts = []
    for p in pools:
        detail = ", ".join(str(p[k]) for k in ("architecture", "threading_layer") if p.get(k))
        parts.append(f"{p.get('internal_api', '?')} {p.get('version') or '?'}"
                     + (f" ({detail})" if detail else ""))
    return "; ".join(parts)


def environment() -> dict[str, Any]:
    """What a run's exact numbers depend on besides its seed and settings: the thread
    count, chainrule's, NumPy's and the BLAS's versions, and the CPU architecture.

    Example:
        >>> sorted(environment())
        ['blas', 'chainrule', 'machine', 'numpy', 'threads']
    """
    import platform

    from chainrule import __version__

    try:
        threads = get_num_threads()
    except ImportError:
        threads = None
    return {"threads": threads, "chainrule": __version__, "numpy": np.__version__,
            "blas": blas_description(), "machine": platform.machine()}


def use_fast(on: bool = True) -> bool:
    """Switch the optional compiled (numba) kernels on or off; see ``chainrule.fast``.

    Returns whether they are on: False, after one warning, when numba is missing.
    """
    from chainrule import fast

    return fast.use_fast(on)


def use_mkl(on: bool = True) -> bool:
    """Multiply float32 matrices with Intel MKL (``pip install "chainrule[mkl]"``) instead of
    NumPy's BLAS, or go back to NumPy with ``on=False``; ``CHAINRULE_MKL=1`` in the
    environment switches it on at import. See ``chainrule.ops._gemm`` for what is routed.

    Returns whether the MKL route is on: False, after one warning, when libmkl_rt cannot be
    loaded (NumPy then does every product, as without the switch).

    Example:
        >>> import chainrule as cr
        >>> cr.backend.use_mkl(False)
        False
    """
    from chainrule.ops import _gemm

    return _gemm.use_mkl(on)
