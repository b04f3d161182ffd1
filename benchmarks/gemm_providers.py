"""Which BLAS multiplies the suite's matrices fastest? NumPy's OpenBLAS against the
``blis`` wheel and Intel's ``mkl`` wheel (its CBLAS through ctypes), on the GEMMs the
benchmark workloads really run, float32, with 1 and 2 threads.

    python benchmarks/gemm_providers.py                    # every importable provider
    python benchmarks/gemm_providers.py --threads 1 --rounds 7 --seconds 0.3
    python benchmarks/gemm_providers.py --workloads        # also time each step (NumPy)

Providers: ``numpy`` (always; ``np.matmul``, which calls the OpenBLAS bundled with the
wheel), ``blis`` (``pip install blis``: explosion's cython-blis, ``blis.py.gemm``) and
``mkl`` (``pip install mkl``: ``libmkl_rt`` from the wheel's ``lib/`` folder, or the path
in ``CHAINRULE_MKL_RT``; called through ``cblas_sgemm``, and ``cblas_sgemm_batch_strided``
for the batched rows). Install the missing ones in a virtual environment to compare them.

The shapes are the BLAS calls one training step makes (recorded by interposing NumPy's
OpenBLAS ``cblas_sgemm`` while each workload ran; see ``README.md``), in row-major CBLAS
terms: ``C (M×N) = op(A) @ op(B)`` with ``N``/``T`` saying whether A and B are used as
stored or transposed (``TN`` is a weight gradient ``g.T @ x``, ``NT`` a layer's
``x @ W.T``). A row with ``batch > 1`` is one ``np.matmul`` over stacked matrices (NumPy
loops one GEMM per matrix; MKL gets one batched call; BLIS a Python loop). ``per step``
is how many times one training step makes that call (or batch of calls).

Rounds alternate the providers (each round times every provider on every row, a
``SETTLE`` pause between providers so the previous library's spinning threads go idle);
the table gives medians. ``saved ms/step`` is (NumPy − best provider) × calls per step.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETTLE = 0.25  # seconds between providers: BLAS worker threads spin after their last call

# (workload, what it is, transA, transB, M, N, K, batch, per step)
SHAPES: list[tuple[str, str, str, str, int, int, int, int, int]] = [
    ("mnist_mlp", "fc1 forward x@W.T", "N", "T", 128, 512, 784, 1, 1),
    ("mnist_mlp", "fc1 weight grad g.T@x", "T", "N", 512, 784, 128, 1, 1),
    ("mnist_mlp", "fc2 forward", "N", "T", 128, 256, 512, 1, 1),
    ("mnist_mlp", "fc2 weight grad", "T", "N", 256, 512, 128, 1, 1),
    ("mnist_mlp", "fc2 input grad g@W", "N", "N", 128, 512, 256, 1, 1),
    ("mnist_mlp", "fc3 forward", "N", "T", 128, 10, 256, 1, 1),
    ("wide_mlp", "fc2 forward", "N", "T", 512, 4096, 4096, 1, 1),
    ("wide_mlp", "fc2 weight grad", "T", "N", 4096, 4096, 512, 1, 1),
    ("wide_mlp", "fc2 input grad", "N", "N", 512, 4096, 4096, 1, 1),
    ("lenet", "conv2 input grad (row GEMM)", "N", "N", 30, 8960, 80, 1, 1),
    ("lenet", "conv2 forward W@cols", "N", "N", 16, 6400, 150, 1, 1),
    ("lenet", "conv2 weight grad", "N", "T", 150, 16, 6400, 1, 1),
    ("lenet", "conv1 weight grad, per sample", "N", "T", 6, 25, 784, 64, 1),
    ("lenet", "conv1 forward, per sample", "N", "N", 6, 784, 25, 64, 1),
    ("lenet", "fc1 forward", "N", "T", 64, 120, 400, 1, 1),
    ("lenet", "fc1 input grad", "N", "N", 64, 400, 120, 1, 1),
    ("lenet", "fc1 weight grad", "T", "N", 120, 400, 64, 1, 1),
    ("char_lstm", "recurrent W_hh@h, per time step", "N", "N", 512, 32, 128, 1, 63),
    ("char_lstm", "recurrent grad W_hh.T@d, per step", "N", "N", 128, 32, 512, 1, 64),
    ("char_lstm", "input gates W_ih@x_t, per time step", "N", "T", 512, 32, 64, 64, 1),
    ("char_lstm", "W_hh grad, 8-step chunk", "N", "T", 512, 128, 256, 1, 7),
    ("char_lstm", "input grad gx.T@W_ih, chunk", "T", "N", 256, 64, 512, 1, 8),
    ("char_lstm", "W_ih grad gx@x, chunk", "N", "N", 512, 64, 256, 1, 8),
    ("char_lstm", "decoder forward", "N", "T", 2048, 65, 128, 1, 1),
    ("char_lstm", "decoder weight grad", "T", "N", 65, 128, 2048, 1, 1),
    ("tiny_transformer", "attention q@k.T, per head", "N", "T", 64, 64, 32, 128, 4),
    ("tiny_transformer", "attention p@v, per head", "N", "N", 64, 32, 64, 128, 4),
    ("tiny_transformer", "attention p.T@g, per head", "T", "N", 64, 32, 64, 128, 4),
    ("tiny_transformer", "FFN up forward", "N", "T", 2048, 512, 128, 1, 2),
    ("tiny_transformer", "FFN up weight grad", "T", "N", 512, 128, 2048, 1, 2),
    ("tiny_transformer", "FFN down forward", "N", "T", 2048, 128, 512, 1, 2),
    ("tiny_transformer", "qkv weight grad", "T", "N", 384, 128, 2048, 1, 2),
]


def operands(ta: str, tb: str, m: int, n: int, k: int, batch: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A, B stored as the step stores them (A (K, M) when it is used transposed, ...)
    and an output C; with a leading batch axis when ``batch > 1``."""
    a_shape = (k, m) if ta == "T" else (m, k)
    b_shape = (n, k) if tb == "T" else (k, n)
    lead = (batch,) if batch > 1 else ()
    a = rng.standard_normal(lead + a_shape, dtype=np.float32)
    b = rng.standard_normal(lead + b_shape, dtype=np.float32)
    return a, b, np.empty(lead + (m, n), np.float32)


def _op(x: np.ndarray, t: str) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if t == "T" else x


class NumPy:
    name = "numpy"

    def __init__(self) -> None:
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                      "libscipy_openblas*.so*"))
        self._set = None
        for path in libs:
            lib = ctypes.CDLL(path)
            for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                        "openblas_set_num_threads"):
                if hasattr(lib, sym):
                    self._set = getattr(lib, sym)
                    break

    def set_threads(self, n: int) -> bool:
        if self._set is None:
            return False
        self._set(ctypes.c_int(n))
        return True

    def gemm(self, ta: str, tb: str, a: np.ndarray, b: np.ndarray, c: np.ndarray
             ) -> Callable[[], None]:
        a_op, b_op = _op(a, ta), _op(b, tb)
        return lambda: np.matmul(a_op, b_op, out=c)


class Blis:
    """cython-blis. Its wheel's BLIS runs on the calling thread only (built without a
    threading model), so its "2 threads" row is the 1-thread code again."""

    name = "blis"

    def __init__(self) -> None:
        import blis.py  # type: ignore[import-not-found]

        self._gemm = blis.py.gemm

    def set_threads(self, n: int) -> bool:
        return n == 1

    def gemm(self, ta: str, tb: str, a: np.ndarray, b: np.ndarray, c: np.ndarray
             ) -> Callable[[], None]:
        g, t1, t2 = self._gemm, ta == "T", tb == "T"
        if a.ndim == 2:
            return lambda: g(a, b, out=c, trans1=t1, trans2=t2, beta=0.0)
        triples = list(zip(a, b, c))

        def loop() -> None:
            for x, y, z in triples:
                g(x, y, out=z, trans1=t1, trans2=t2, beta=0.0)
        return loop


def _mkl_path() -> str | None:
    env = os.environ.get("CHAINRULE_MKL_RT")
    if env:
        return env
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    return found[0] if found else None


class MKL:
    """``libmkl_rt`` (LP64: 32-bit integers) through ctypes."""

    name = "mkl"

    def __init__(self) -> None:
        path = _mkl_path()
        if path is None:
            raise ImportError("libmkl_rt not found (pip install mkl, or set CHAINRULE_MKL_RT)")
        lib = ctypes.CDLL(path)
        i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
        self._sgemm = lib.cblas_sgemm
        self._sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
        self._sgemm.restype = None
        self._batch = lib.cblas_sgemm_batch_strided
        self._batch.argtypes = [i, i, i, i, i, i, f, p, i, i, p, i, i, f, p, i, i, i]
        self._batch.restype = None
        self._threads = lib.MKL_Set_Num_Threads
        self._threads.argtypes = [i]

    def set_threads(self, n: int) -> bool:
        self._threads(n)
        return True

    def gemm(self, ta: str, tb: str, a: np.ndarray, b: np.ndarray, c: np.ndarray
             ) -> Callable[[], None]:
        m, n = c.shape[-2:]
        k = a.shape[-2] if ta == "T" else a.shape[-1]
        lda, ldb = a.shape[-1], b.shape[-1]
        cta, ctb = (112 if ta == "T" else 111), (112 if tb == "T" else 111)
        pa, pb, pc = a.ctypes.data, b.ctypes.data, c.ctypes.data
        if a.ndim == 2:
            s = self._sgemm
            return lambda: s(101, cta, ctb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)
        bt, sa, sb, sc = a.shape[0], a[0].size, b[0].size, c[0].size
        bs = self._batch
        return lambda: bs(101, cta, ctb, m, n, k, 1.0, pa, lda, sa, pb, ldb, sb, 0.0,
                          pc, n, sc, bt)


def providers() -> tuple[list, list[str]]:
    found, missing = [NumPy()], []
    for cls, hint in ((Blis, "pip install blis"), (MKL, "pip install mkl")):
        try:
            found.append(cls())
        except (ImportError, OSError, AttributeError) as err:
            missing.append(f"{cls.name}: not available ({err}); {hint}")
    return found, missing


def time_call(fn: Callable[[], None], seconds: float) -> float:
    """Seconds per call, from as many calls as fit in about ``seconds``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(seconds / once))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def measure(provs: list, threads: int, rounds: int, seconds: float
            ) -> dict[tuple[str, int], list[float]]:
    """Alternating rounds: every provider times every shape once per round."""
    rng = np.random.default_rng(0)
    data = [operands(*row[2:8], rng) for row in SHAPES]
    calls = {(p.name, i): p.gemm(row[2], row[3], *data[i])
             for p in provs for i, row in enumerate(SHAPES)}
    ref = {}
    for i, row in enumerate(SHAPES):  # every provider must give NumPy's product
        a, b, c = data[i]
        ref[i] = np.matmul(_op(a, row[2]), _op(b, row[3]))
        for p in provs:
            c[...] = np.nan
            calls[(p.name, i)]()
            np.testing.assert_allclose(c, ref[i], rtol=1e-4, atol=1e-3 * np.sqrt(row[6]))
    times: dict[tuple[str, int], list[float]] = {k: [] for k in calls}
    for r in range(rounds):
        order = provs if r % 2 == 0 else provs[::-1]
        for p in order:
            p.set_threads(threads)
            time.sleep(SETTLE)
            for i in range(len(SHAPES)):
                times[(p.name, i)].append(time_call(calls[(p.name, i)], seconds))
    return times


def table(provs: list, threads: int, times: dict[tuple[str, int], list[float]]) -> str:
    names = [p.name for p in provs]
    head = (f"{'workload':<16} {'GEMM':<36} {'TT':<2} {'M':>5} {'N':>5} {'K':>5} {'batch':>5} "
            f"{'/step':>5} " + " ".join(f"{n + ' GF/s':>11}" for n in names)
            + " " + " ".join(f"{n + '/np':>8}" for n in names[1:]) + f" {'saved ms/step':>13}")
    lines = [f"-- {threads} thread{'s' if threads > 1 else ''} (medians)", head]
    saved_by_workload: dict[str, float] = {}
    gemm_by_workload: dict[str, float] = {}
    for i, (wl, what, ta, tb, m, n, k, batch, per_step) in enumerate(SHAPES):
        med = {p: statistics.median(times[(p, i)]) for p in names}
        flops = 2.0 * m * n * k * batch
        best = min(med.values())
        saved = (med["numpy"] - best) * per_step * 1e3
        saved_by_workload[wl] = saved_by_workload.get(wl, 0.0) + saved
        gemm_by_workload[wl] = gemm_by_workload.get(wl, 0.0) + med["numpy"] * per_step * 1e3
        lines.append(
            f"{wl:<16} {what:<36} {ta + tb:<2} {m:>5} {n:>5} {k:>5} {batch:>5} {per_step:>5} "
            + " ".join(f"{flops / med[p] / 1e9:>11.1f}" for p in names) + " "
            + " ".join(f"{med['numpy'] / med[p]:>8.2f}" for p in names[1:])
            + f" {saved:>13.3f}")
    lines.append("listed GEMMs per step, NumPy ms → ms saved by the best provider per row:")
    for wl in saved_by_workload:
        lines.append(f"  {wl:<16} {gemm_by_workload[wl]:8.3f} ms → {saved_by_workload[wl]:.3f}")
    return "\n".join(lines)


def step_times(threads: int, steps: int = 20) -> str:
    """ms per chainrule training step of each workload (NumPy's BLAS, ``threads``)."""
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, os.pardir, "src"))
    from workloads import build  # type: ignore[import-not-found]

    out = []
    for wl in sorted({row[0] for row in SHAPES}):
        step = build("chainrule", wl)
        n = 3 if wl == "wide_mlp" else steps
        for _ in range(2):
            step()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        out.append(f"  {wl:<16} {(time.perf_counter() - t0) / n * 1e3:8.2f} ms/step")
    return f"chainrule step, NumPy BLAS, {threads} thread(s):\n" + "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=0.15,
                        help="time per provider, shape and round (default 0.15)")
    parser.add_argument("--only", default=None, help="only the rows of this workload")
    parser.add_argument("--workloads", action="store_true",
                        help="also time each workload's whole step with NumPy")
    args = parser.parse_args()
    if args.only:
        SHAPES[:] = [row for row in SHAPES if row[0] == args.only]
    provs, missing = providers()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"providers: {', '.join(p.name for p in provs)}; load average {load:.2f}")
    for line in missing:
        print("  " + line)
    for threads in args.threads:
        times = measure(provs, threads, args.rounds, args.seconds)
        print(table(provs, threads, times))
        if args.workloads:
            provs[0].set_threads(threads)
            print(step_times(threads))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
