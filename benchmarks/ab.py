"""Is a change faster? Two chainrule source trees on one workload, interleaved.

    git worktree add /tmp/before HEAD~1
    python benchmarks/ab.py lenet /tmp/before/src src
    python benchmarks/ab.py char_lstm /tmp/before/src src --rounds 11 --seconds 2
    python benchmarks/ab.py mnist_mlp src src --fast   # NumPy path vs compiled kernels

Each tree gets its own worker process (``PYTHONPATH`` pointing at it); the parent
alternates timed rounds between them, as ``run.py`` does between frameworks, and prints
the median steps/s of each and their ratio B ÷ A with every round's figure. On a shared
machine speed drifts by tens of percent over minutes, so only runs that alternate like
this can tell a 5 % change from the weather: running A, then B, cannot.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import SETTLE_SECONDS, Worker  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def tree_worker(src: str, workload: str, fast: bool = False) -> Worker:
    """A chainrule worker that imports the package from the source tree ``src`` (with its
    compiled kernels switched on when ``fast``)."""
    if not os.path.isdir(os.path.join(src, "chainrule")):
        raise SystemExit(f"ab.py: {src!r} has no chainrule/ package (pass a src folder)")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    env.pop("CHAINRULE_FAST", None)  # A runs on NumPy unless asked otherwise
    worker = Worker("chainrule_fast" if fast else "chainrule", workload, env=env)
    if worker.error:
        raise SystemExit(f"ab.py: the worker for {src} failed: {worker.error}")
    return worker


def steps_per_second(worker: Worker, n: int) -> float:
    return n / worker.run(n)


def compare(workload: str, src_a: str, src_b: str, rounds: int, seconds: float,
            fast_b: bool = False) -> tuple[list[float], list[float]]:
    """Steps/s of trees A and B over alternating rounds of about ``seconds`` each."""
    a, b = tree_worker(src_a, workload), tree_worker(src_b, workload, fast_b)
    try:
        n = max(1, round(seconds * steps_per_second(a, 3)))
        steps_per_second(b, n)  # warm B the same way
        rates_a, rates_b = [], []
        for _ in range(rounds):
            for worker, rates in ((a, rates_a), (b, rates_b)):
                time.sleep(SETTLE_SECONDS)  # let the other process's BLAS threads go idle
                rates.append(steps_per_second(worker, n))
        return rates_a, rates_b
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("src_a", help="source folder holding chainrule/ (the baseline)")
    parser.add_argument("src_b", help="source folder holding chainrule/ (the change)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds each (default 9)")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="length of one round (default 1)")
    parser.add_argument("--fast", action="store_true",
                        help="run B with the compiled kernels (CHAINRULE_FAST=1, numba)")
    args = parser.parse_args()
    rates_a, rates_b = compare(args.workload, args.src_a, args.src_b, args.rounds,
                               args.seconds, args.fast)
    med_a, med_b = statistics.median(rates_a), statistics.median(rates_b)
    # each round's B against the A just before it: a load spike that slows both sides of
    # one round cancels out, which the ratio of the two medians cannot do
    paired = statistics.median(b / a for a, b in zip(rates_a, rates_b))
    print(f"{args.workload}: A {med_a:.1f} steps/s, B {med_b:.1f} steps/s, "
          f"B/A {med_b / med_a:.3f} (median of the rounds' B/A: {paired:.3f})")
    print("  A rounds:", " ".join(f"{r:.1f}" for r in rates_a))
    print("  B rounds:", " ".join(f"{r:.1f}" for r in rates_b))


if __name__ == "__main__":
    main()
