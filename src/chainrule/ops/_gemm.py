"""The optional Intel MKL route for float32 matrix products (``pip install "chainrule[mkl]"``).

``matmul`` is what the layers' GEMMs call (Linear, matmul, the convolutions' channel-major
paths, RNN/LSTM/GRU). It *is* ``np.matmul`` until the route is switched on with
``chainrule.backend.use_mkl()`` or ``CHAINRULE_MKL=1`` in the environment; then 2-D and
3-D float32 products whose matrices are stored row- or column-major go to MKL's
``cblas_sgemm`` (``cblas_sgemm_batch_strided`` for stacks, a broadcast operand given a
zero stride; 4-D stacks such as attention's (batch, heads, T, d) viewed as one 3-D stack
when that needs no copy), through ctypes, and everything else (other dtypes, broadcast
4-D stacks, odd strides, vectors, small products) still to NumPy. ``libmkl_rt`` is loaded only then.

Why: on the benchmark workloads' shapes MKL's SGEMM runs 1.1–1.8× OpenBLAS's with one
thread (``benchmarks/gemm_providers.py``), which made whole training steps 5–18 % faster
with one BLAS thread (LeNet 1.18×, the char LSTM 1.14×, a tiny MLP 0.95×); see
``benchmarks/README.md`` for the figures, the two-thread case and why the route stays off
by default.

Thread count: MKL keeps its own pool, set by ``chainrule.set_num_threads`` (threadpoolctl)
or ``MKL_NUM_THREADS``; NumPy's OpenBLAS is held to one thread while the route is on, so
that the two pools do not fight over the cores (``one_numpy_thread``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

INSTALL_HINT = 'pip install "chainrule[mkl]"  (Intel\'s mkl wheel, which ships libmkl_rt)'

# Call sites look this up at each product: np.matmul itself while the route is off.
matmul: Callable[..., np.ndarray] = np.matmul
enabled = False

_sgemm: Any = None
_sgemm_batch: Any = None
_warned = False
_numpy_threads: int | None = None  # NumPy's BLAS thread count before the route took over
_F32 = np.dtype(np.float32)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# Products smaller than this (M·N·K, summed over a stack) stay with NumPy: a call through
# ctypes costs ~6 µs (~1 µs from a plan), and below about a million multiply-adds MKL's
# kernels are no faster than OpenBLAS's anyway (one thread: 0.18× at 32×16×16, 0.9× at
# 128×10×256, 0.88× for a planned 256×32×64; 1.37× for a planned 512×32×128).
_MIN_WORK = 1 << 20


def _mkl_paths() -> list[str]:
    """Where libmkl_rt may be: ``CHAINRULE_MKL_RT``, the environment's lib folder (where
    the mkl wheel puts it), then the system's library search."""
    if os.environ.get("CHAINRULE_MKL_RT"):
        return [os.environ["CHAINRULE_MKL_RT"]]
    found = []
    for folder in (os.path.join(sys.prefix, "lib"), os.path.join(sys.prefix, "Library", "bin")):
        found += sorted(glob.glob(os.path.join(folder, "libmkl_rt.so*")))
        found += sorted(glob.glob(os.path.join(folder, "mkl_rt*.dll")))
    system = ctypes.util.find_library("mkl_rt")
    return found + ([system] if system else [])


def _load() -> str | None:
    """Bind cblas_sgemm and cblas_sgemm_batch_strided; None on success, else why not."""
    global _sgemm, _sgemm_batch
    paths = _mkl_paths()
    if not paths:
        return f"libmkl_rt was not found; {INSTALL_HINT}"
    try:
        lib = ctypes.CDLL(paths[0])
        sgemm, batch = lib.cblas_sgemm, lib.cblas_sgemm_batch_strided
    except (OSError, AttributeError) as exc:
        return f"{paths[0]} could not be used ({exc})"
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p  # LP64: MKL_INT is 32-bit
    sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    sgemm.restype = None
    batch.argtypes = [i, i, i, i, i, i, f, p, i, i, p, i, i, f, p, i, i, i]
    batch.restype = None
    _sgemm, _sgemm_batch = sgemm, batch
    return None


def _numpy_blas(threads: int | None) -> int | None:
    """Limit NumPy's own OpenBLAS to ``threads`` (None: leave it); returns the count it
    had, or None when threadpoolctl finds no OpenBLAS (NumPy built on MKL, say)."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    openblas = threadpoolctl.ThreadpoolController().select(internal_api="openblas")
    counts = [c.num_threads for c in openblas.lib_controllers]
    if not counts:
        return None
    if threads is not None:
        openblas.limit(limits=threads)
    return max(counts)


def one_numpy_thread(restore_to: int | None = None) -> None:
    """While the route is on, NumPy's OpenBLAS (the GEMVs and whatever the route leaves)
    runs on one thread and MKL gets the cores: with both pools at two threads on a
    2-core machine LeNet's step ran at 0.30× the NumPy-only speed, the two sets of
    spinning workers taking turns; with OpenBLAS at one it ran at 1.08× (see README).
    ``restore_to``: the count NumPy's BLAS gets back when the route goes off (default: the
    one it had when the route came on)."""
    global _numpy_threads
    previous = _numpy_blas(1)
    if restore_to is not None:  # a thread count asked for while the route is on
        _numpy_threads = restore_to
    elif _numpy_threads is None:
        _numpy_threads = previous


def use_mkl(on: bool = True) -> bool:
    """Route float32 GEMMs through MKL (True) or NumPy (False); returns whether the MKL
    route is now on: False, after one warning, when libmkl_rt cannot be loaded. While it
    is on, NumPy's own OpenBLAS is held to one thread (``one_numpy_thread``); switching
    the route off gives it back its previous count."""
    global matmul, enabled, _warned, _numpy_threads
    if not on:
        if enabled and _numpy_threads is not None:
            _numpy_blas(_numpy_threads)
        _numpy_threads = None
        matmul, enabled = np.matmul, False
        return False
    if _sgemm is None:
        why = _load()
        if why is not None:
            if not _warned:
                _warned = True
                warnings.warn(f"chainrule MKL route off, using NumPy: {why}", RuntimeWarning,
                              stacklevel=3)
            return False
    matmul, enabled = _mkl_matmul, True
    one_numpy_thread()
    return True


def status() -> str:
    """``'mkl'`` or ``'numpy'``: which library multiplies float32 matrices."""
    return "mkl" if enabled else "numpy"


def _layout(x: np.ndarray) -> tuple[int, int] | None:
    """(CBLAS transpose flag, leading dimension) of the matrices in x's last two axes,
    or None when they are neither row- nor column-major (or have a side of 1, where
    NumPy's strides say nothing)."""
    rows, cols = x.shape[-2:]
    s0, s1 = x.strides[-2:]
    if rows < 2 or cols < 2 or s0 % 4 or s1 % 4:
        return None
    if s1 == 4 and s0 >= 4 * cols:
        return _NO_TRANS, s0 // 4
    if s0 == 4 and s1 >= 4 * rows:
        return _TRANS, s1 // 4
    return None


def _stack3(x: np.ndarray) -> np.ndarray | None:
    """x (P, Q, r, c) viewed as (P·Q, r, c) when its two leading axes step evenly (no copy),
    else None."""
    if x.strides[0] != x.strides[1] * x.shape[1]:
        return None
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])  # a view, given the strides


def _mkl_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)``, by MKL where the operands allow (see the module)."""
    sa, sb = a.shape, b.shape
    if len(sa) == 2 == len(sb) and sa[0] * sa[1] * sb[1] < _MIN_WORK:
        return np.matmul(a, b, out=out)  # first and cheapest: small layers pay ~0.2 µs
    if len(sa) == 4 == len(sb) and out is None and sa[:2] == sb[:2]:
        a3, b3 = _stack3(a), _stack3(b)  # attention's (batch, heads, T, d) as one stack
        if a3 is not None and b3 is not None:
            return _mkl_matmul(a3, b3).reshape(sa[:2] + (sa[2], sb[3]))
        return np.matmul(a, b)
    if (a.dtype != _F32 or b.dtype != _F32 or not 2 <= a.ndim <= 3 or not 2 <= b.ndim <= 3
            or (out is not None and out.dtype != _F32)):
        return np.matmul(a, b, out=out)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if m * n * k * (a.shape[0] if a.ndim == 3 else b.shape[0] if b.ndim == 3 else 1) < _MIN_WORK:
        return np.matmul(a, b, out=out)
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or b.shape[-2] != k:
        return np.matmul(a, b, out=out)
    if out is not None and (np.may_share_memory(out, a) or np.may_share_memory(out, b)):
        return np.matmul(a, b, out=out)  # NumPy copies overlapping operands; MKL would not
    if a.ndim == 2 and b.ndim == 2:
        if out is None:
            out = np.empty((m, n), _F32)
        elif out.shape != (m, n) or out.strides[1] != 4 or out.strides[0] % 4:
            return np.matmul(a, b, out=out)
        _sgemm(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], b.ctypes.data,
               lb[1], 0.0, out.ctypes.data, out.strides[0] // 4)
        return out
    count = a.shape[0] if a.ndim == 3 else b.shape[0]
    if (a.ndim == 3 and a.shape[0] != count) or (b.ndim == 3 and b.shape[0] != count):
        return np.matmul(a, b, out=out)  # broadcasting a stack of 1: NumPy's business
    if out is None:
        out = np.empty((count, m, n), _F32)
    elif (out.shape != (count, m, n) or out.strides[2] != 4 or out.strides[1] != 4 * n
          or out.strides[0] % 4 or out.strides[0] < 0):
        return np.matmul(a, b, out=out)
    stride_a = a.strides[0] if a.ndim == 3 else 0  # a zero stride repeats a 2-D operand
    stride_b = b.strides[0] if b.ndim == 3 else 0
    if stride_a % 4 or stride_b % 4 or stride_a < 0 or stride_b < 0:
        return np.matmul(a, b, out=out)
    _sgemm_batch(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], stride_a // 4,
                 b.ctypes.data, lb[1], stride_b // 4, 0.0, out.ctypes.data, n,
                 out.strides[0] // 4, count)
    return out


def _bound(args: tuple, keep: tuple) -> Callable[[], Any]:
    def run(_f: Any = _sgemm, _args: tuple = args, _keep: tuple = keep) -> None:
        _f(*_args)  # _keep holds the arrays whose pointers _args carries
    return run


def plans(a: np.ndarray, stack: np.ndarray, out: np.ndarray) -> list[Callable[[], Any]]:
    """One callable per matrix of ``stack`` (S, K, N), computing ``a @ stack[s]`` into
    ``out``: for loops that repeat one product on fixed buffers (a recurrent layer's steps).
    On the MKL route the layout checks and ctypes pointers are worked out once for the
    whole stack instead of at every step (they cost ~6 µs of a 30 µs product)."""
    la = _layout(a) if a.ndim == 2 else None
    lb = _layout(stack) if stack.ndim == 3 else None
    if (not enabled or la is None or lb is None or a.dtype != _F32 or stack.dtype != _F32
            or a.shape[0] * a.shape[1] * stack.shape[2] < _MIN_WORK
            or out.dtype != _F32 or out.ndim != 2 or out.strides[1] != 4
            or out.strides[0] % 4 or stack.strides[0] % 4
            or out.shape != (a.shape[0], stack.shape[2]) or a.shape[1] != stack.shape[1]
            or np.may_share_memory(out, a) or np.may_share_memory(out, stack)):
        return [functools.partial(matmul, a, b, out=out) for b in stack]
    (m, k), n = a.shape, stack.shape[2]
    pa, pb, pc, step = a.ctypes.data, stack.ctypes.data, out.ctypes.data, stack.strides[0]
    keep = (a, stack, out)
    return [_bound((_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, pa, la[1], pb + s * step, lb[1],
                    0.0, pc, out.strides[0] // 4), keep) for s in range(stack.shape[0])]


if os.environ.get("CHAINRULE_MKL", "0") not in ("", "0"):
    use_mkl()
