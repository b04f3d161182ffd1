"""The compiled float32 LayerNorm (``chainrule.fast.normalization``) against the NumPy
LayerNorm, with the rest of the fast path on in both arms.

    OPENBLAS_NUM_THREADS=1 python benchmarks/layernorm_ab.py            # 9 rounds
    python benchmarks/layernorm_ab.py --rounds 7 --steps 10

One process; the arms differ only in whether ``ops.normalization`` finds the LayerNorm
kernels. Rounds alternate the order (kernel first on odd rounds). Timed: the op alone at
tiny_transformer's shape (32×64×128 float32, weight and bias, forward + backward; and
forward alone under no_grad), and one whole ``build("chainrule", "tiny_transformer")``
step. Medians over the rounds, wall clock, and the median of each round's own gain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import build  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.functional as F  # noqa: E402
from chainrule import fast  # noqa: E402
from chainrule.ops import normalization as norm_ops  # noqa: E402

_KERNELS = norm_ops._layer_norm_kernels


def _use_kernel(on: bool) -> None:
    fast.use_fast(True)
    norm_ops._layer_norm_kernels = _KERNELS if on else (lambda: None)


def _per_call_ms(fn: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20, help="steps timed per round")
    args = parser.parse_args()
    if not fast.use_fast(True):
        sys.exit("numba is needed")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 128)).astype(np.float32)
    w = cr.tensor(rng.standard_normal(128).astype(np.float32), requires_grad=True)
    b = cr.tensor(rng.standard_normal(128).astype(np.float32), requires_grad=True)
    g = cr.tensor(rng.standard_normal(x.shape).astype(np.float32))

    def op() -> None:
        xt = cr.tensor(x, requires_grad=True)
        F.layer_norm(xt, (128,), w, b).backward(g)

    def forward() -> None:
        with cr.no_grad():
            F.layer_norm(cr.tensor(x), (128,), w, b)

    step = build("chainrule", "tiny_transformer")
    for on in (False, True, False, True):  # compile, warm caches
        _use_kernel(on)
        op()
        step()
    cases = {"op fwd+bwd": (op, 100), "op fwd": (forward, 100), "step": (step, args.steps)}
    times: dict[str, dict[bool, list[float]]] = {k: {False: [], True: []} for k in cases}
    for r in range(args.rounds):
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            _use_kernel(on)
            for name, (fn, n) in cases.items():
                times[name][on].append(_per_call_ms(fn, n))
    _use_kernel(True)
    print(f"load {os.getloadavg()[0]:.2f}, rounds {args.rounds}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    print(f"{'case':12s} {'NumPy LN ms':>12s} {'kernel ms':>10s} {'speed-up':>9s} {'gain':>6s}"
          f" {'paired gain (min–max)':>24s}")
    for name, t in times.items():
        a, k = statistics.median(t[False]), statistics.median(t[True])
        # the same round's two arms, which saw the same load
        paired = sorted(1 - tk / ta for ta, tk in zip(t[False], t[True]))
        print(f"{name:12s} {a:12.3f} {k:10.3f} {a / k:8.2f}× {(a - k) / a:6.1%} "
              f"{statistics.median(paired):8.1%} ({paired[0]:.1%}–{paired[-1]:.1%})")


if __name__ == "__main__":
    main()
