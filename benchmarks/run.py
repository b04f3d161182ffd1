"""chainrule vs PyTorch eager on the CPU: the benchmark suite.

    python benchmarks/run.py                 # every workload, 5 alternating repeats
    python benchmarks/run.py tiny_mlp lenet  # some workloads
    python benchmarks/run.py --repeats 3 --seconds 0.5
    python benchmarks/run.py --fast          # also chainrule with CHAINRULE_FAST=1

Each workload runs in two worker processes (one per framework) built from the same
architecture, initial weights, optimizer and batch; the parent alternates timed rounds
between them and reports medians of steps/s, the ratio chainrule ÷ PyTorch, each side's peak
RSS, and for matmul-bound MLPs the GFLOP/s reached against NumPy's own GEMM throughput on
the same shapes. ``--fast`` adds a third worker, chainrule with its compiled kernels
(``CHAINRULE_FAST=1``, needs numba), in the same alternating rounds. Threads: BLAS and
torch use every core. OPENBLAS_* variables are left as they are (see README).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import SPECS, WORKLOADS, mlp_flops  # noqa: E402

SETTLE_SECONDS = 0.5
TARGETS = {"tiny_mlp": 3.0, "mnist_mlp": 1.0, "lenet": 0.8, "char_lstm": 0.8,
           "tiny_transformer": 0.8}


class Worker:
    """One framework's side of a workload in its own process (``_worker.py``); ``env``
    replaces the process environment (``ab.py`` points ``PYTHONPATH`` at a source tree)."""

    def __init__(self, framework: str, name: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_worker.py"), framework, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        first = self.proc.stdout.readline().strip()
        self.error = None if first == "ready" else json.loads(first or '{"error": "died"}')[
            "error"]

    def run(self, n: int) -> float:
        self.proc.stdin.write(f"run {n}\n")
        return float(self.proc.stdout.readline())

    def close(self) -> float | None:
        if self.error:
            self.proc.wait()
            return None
        self.proc.stdin.write("quit\n")
        peak = json.loads(self.proc.stdout.readline())["peak_rss_mib"]
        self.proc.wait()
        return peak


def gemm_seconds(sizes: list[int], batch: int, repeats: int = 9) -> float:
    """NumPy's time for exactly the GEMMs of one MLP training step (the ceiling)."""
    rng = np.random.default_rng(0)
    mats = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        x = rng.standard_normal((batch, a)).astype(np.float32)
        w = rng.standard_normal((b, a)).astype(np.float32)
        g = rng.standard_normal((batch, b)).astype(np.float32)
        mats.append((x, w, g, i > 0))

    def once() -> None:
        for x, w, g, input_grad in mats:
            _ = x @ w.T
            _ = g.T @ x
            if input_grad:
                _ = g @ w

    for _ in range(3):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name: str, repeats: int, seconds: float, with_fused: bool,
          with_fast: bool = False) -> dict:
    frameworks = ["chainrule", "torch"] + (["torch_fused"] if with_fused else []) + (
        ["chainrule_fast"] if with_fast else [])
    workers = {f: Worker(f, name) for f in frameworks}
    live = {f: w for f, w in workers.items() if w.error is None}
    row: dict = {"workload": name, "errors": {f: w.error for f, w in workers.items()
                                              if w.error}}
    counts = {}
    for f, w in live.items():  # calibrate steps per round to ~`seconds`
        time.sleep(SETTLE_SECONDS)
        n, t = 1, w.run(1)
        while t < seconds / 4 and n < 100000:
            n *= 4
            t = w.run(n)
        counts[f] = max(1, int(n * seconds / max(t, 1e-9)))
    times: dict[str, list[float]] = {f: [] for f in live}
    for _ in range(repeats):  # alternate: each round runs every framework once
        for f, w in live.items():
            # BLAS/OpenMP worker threads spin for a while after their last call; on a
            # 2-core machine the idle peer's spinning threads would halve this side's
            # speed (and wreck OpenMP barriers), so let them fall asleep first.
            time.sleep(SETTLE_SECONDS)
            times[f].append(w.run(counts[f]) / counts[f])
    for f, w in workers.items():
        peak = w.close()
        if f in live:
            row[f] = {"steps_per_s": 1 / statistics.median(times[f]), "peak_rss_mib": peak}
    spec = SPECS[name]
    if "sizes" in spec and "chainrule" in row:
        flops = mlp_flops(spec["sizes"], spec["batch"])
        row["gflops"] = flops * row["chainrule"]["steps_per_s"] / 1e9
        gemm = gemm_seconds(spec["sizes"], spec["batch"])
        row["numpy_gemm_gflops"] = flops / gemm / 1e9
    return row


def import_cost(module: str) -> dict | None:
    code = (f"import sys, time; sys.path.insert(0, {HERE!r}); from memory import rss_mib; "
            f"t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t, rss_mib())")
    samples = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            return None
        t, rss = map(float, out.stdout.split())
        samples.append((t, rss))
    return {"seconds": statistics.median(s[0] for s in samples),
            "rss_mib": statistics.median(s[1] for s in samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", default=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per timed round")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--fast", action="store_true",
                        help="also time chainrule with its compiled kernels (numba)")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: showing chainrule alone "
              "(pip install torch==2.13.0 for the comparison)")
    rows = []
    fast_head = f"{'fast st/s':>11}{'fast ratio':>11}" if args.fast else ""
    print(f"{'workload':<17}{'chainrule st/s':>15}{'torch st/s':>12}{'ratio':>8}"
          f"{fast_head}{'target':>8}{'cr MiB':>8}{'pt MiB':>8}   notes")
    for name in args.workloads:
        row = bench(name, args.repeats, args.seconds,
                    with_fused=have_torch and SPECS[name]["opt"] in ("adam", "adamw"),
                    with_fast=args.fast)
        rows.append(row)
        cr, pt = row.get("chainrule"), row.get("torch")
        ratio = cr["steps_per_s"] / pt["steps_per_s"] if cr and pt else float("nan")
        row["ratio"] = ratio
        notes = []
        if "gflops" in row:
            frac = row["gflops"] / row["numpy_gemm_gflops"]
            notes.append(f"{row['gflops']:.0f} GFLOP/s = {frac:.0%} of NumPy GEMM "
                         f"({row['numpy_gemm_gflops']:.0f})")
        if "torch_fused" in row and cr:
            notes.append(f"vs fused: {cr['steps_per_s'] / row['torch_fused']['steps_per_s']:.2f}x")
        for f, e in row["errors"].items():
            notes.append(f"{f} unavailable: {e}")
        target = TARGETS.get(name)
        fast_cols = ""
        if args.fast:
            fa = row.get("chainrule_fast")
            row["fast_ratio"] = fa["steps_per_s"] / pt["steps_per_s"] if fa and pt else \
                float("nan")
            fast_cols = (f"{fa['steps_per_s'] if fa else float('nan'):>11.1f}"
                         f"{row['fast_ratio']:>11.2f}")
        print(f"{name:<17}{cr['steps_per_s'] if cr else float('nan'):>15.1f}"
              f"{pt['steps_per_s'] if pt else float('nan'):>12.1f}{ratio:>8.2f}{fast_cols}"
              f"{(f'>={target}' if target else '-'):>8}"
              f"{cr['peak_rss_mib'] if cr else float('nan'):>8.0f}"
              f"{pt['peak_rss_mib'] if pt else float('nan'):>8.0f}   {'; '.join(notes)}",
              flush=True)
    imports = {"chainrule": import_cost("chainrule")}
    if have_torch:
        imports["torch"] = import_cost("torch")
    for mod, res in imports.items():
        if res:
            print(f"import {mod:<10} {res['seconds']:.3f} s, RSS after import "
                  f"{res['rss_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "imports": imports}, fh, indent=2)


if __name__ == "__main__":
    main()
