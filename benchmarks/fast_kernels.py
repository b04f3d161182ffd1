"""What the compiled path (``chainrule[fast]``) costs and gains, apart from whole models.

    python benchmarks/fast_kernels.py steps            # optimizer steps, NumPy vs compiled
    python benchmarks/fast_kernels.py compile          # first-run compile, cached start-up
    python benchmarks/fast_kernels.py import BASE_SRC  # import chainrule: this tree vs BASE

``steps`` times ``optimizer.step()`` alone on one process, switching the fast path off and
on between rounds (alternating, as ``ab.py`` does between trees), and prints each side's
median per step. ``compile`` runs two fresh processes against an empty numba cache folder:
the first compiles the optimizer kernels a default run of each optimizer uses, the second
loads them. ``import`` alternates ``import chainrule`` between this tree and another (e.g.
``git archive <commit> src | tar -x -C /tmp/base``) and checks numba stays unimported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

TINY = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]  # tiny_mlp's parameters
MILLION = [(1000, 1000)]
CASES = {  # name: (optimizer, keyword arguments, parameter shapes, steps per round)
    "Adam 1M": ("Adam", {}, MILLION, 40),
    "AdamW amsgrad 1M": ("AdamW", {"amsgrad": True}, MILLION, 40),
    "SGD momentum 1M": ("SGD", {"lr": 0.01, "momentum": 0.9}, MILLION, 40),
    "SGD plain 1M": ("SGD", {"lr": 0.01}, MILLION, 40),
    "RMSprop 1M": ("RMSprop", {}, MILLION, 40),
    "RMSprop centered+mom 1M": ("RMSprop", {"centered": True, "momentum": 0.9}, MILLION, 40),
    "Adam tiny_mlp (6 params)": ("Adam", {}, TINY, 2000),
    "SGD plain tiny_mlp": ("SGD", {"lr": 0.1}, TINY, 5000),
    "SGD momentum tiny_mlp": ("SGD", {"lr": 0.1, "momentum": 0.9}, TINY, 3000),
}


def steps(rounds: int) -> None:
    import chainrule as cr
    from chainrule import fast

    if not fast.use_fast(True):
        raise SystemExit("the fast path is off (numba missing?)")
    print(f"{'optimizer step':<26}{'NumPy µs':>11}{'fast µs':>11}{'speed-up':>10}")
    for name, (opt_name, kw, shapes, n) in CASES.items():
        rng = np.random.default_rng(0)
        params = [cr.nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        opt = getattr(cr.optim, opt_name)(params, **kw)
        for p in params:
            p.grad = cr.Tensor(rng.standard_normal(p.shape).astype(np.float32) * 1e-3)
        for on in (True, False, True):  # builds state and compiles before any timing
            fast.use_fast(on)
            opt.step()
            opt.step()
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for on in (False, True):
                fast.use_fast(on)
                t0 = time.perf_counter()
                for _ in range(n):
                    opt.step()
                times[on].append((time.perf_counter() - t0) / n * 1e6)
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name:<26}{a:>11.1f}{b:>11.1f}{a / b:>9.2f}x", flush=True)
    fast.use_fast(False)


COMPILE = """
import time
t0 = time.perf_counter()
import numpy as np, chainrule as cr
from chainrule import fast
t1 = time.perf_counter()
fast.use_fast(True)
t2 = time.perf_counter()
p = cr.nn.Parameter(np.ones((4, 4), np.float32))
for opt in (cr.optim.Adam([p]), cr.optim.AdamW([p]), cr.optim.SGD([p], lr=0.1),
            cr.optim.SGD([p], lr=0.1, momentum=0.9), cr.optim.RMSprop([p])):
    for _ in range(2):  # SGD's momentum kernel runs from the second step
        p.grad = cr.Tensor(np.ones((4, 4), np.float32))
        opt.step()
t3 = time.perf_counter()
assert len(fast._kernels) == 5, fast._kernels
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def compile_times(repeats: int) -> None:
    rows = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, PYTHONPATH=SRC, NUMBA_CACHE_DIR=cache)
            env.pop("CHAINRULE_FAST", None)
            runs = []
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", COMPILE], env=env, check=True,
                                     capture_output=True, text=True).stdout.split()
                runs.append([float(x) for x in out])
            rows.append(runs)
    print("five kernels (Adam, AdamW, SGD plain, SGD momentum, RMSprop), median of "
          f"{repeats} pairs of fresh processes:")
    for i, label in enumerate(("first run (empty cache)", "second run (cached)")):
        imp, numba, kernels = (statistics.median(r[i][j] for r in rows) for j in range(3))
        print(f"  {label:<24} import chainrule {imp:.3f} s, use_fast (imports numba) "
              f"{numba:.3f} s, kernels {kernels:.3f} s")


IMPORT = ("import sys, time; sys.path.insert(0, {here!r}); from memory import rss_mib; "
          "t = time.perf_counter(); import chainrule; t = time.perf_counter() - t; "
          "assert 'numba' not in sys.modules; print(t, rss_mib())")


def import_cost(base: str, rounds: int) -> None:
    code = IMPORT.format(here=HERE)
    results: dict[str, list[tuple[float, float]]] = {SRC: [], base: []}
    for _ in range(rounds):
        for src in (base, SRC):
            env = dict(os.environ, PYTHONPATH=src)
            env.pop("CHAINRULE_FAST", None)
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            results[src].append((float(out[0]), float(out[1])))
    for label, src in (("base", base), ("this tree", SRC)):
        t = statistics.median(r[0] for r in results[src])
        rss = statistics.median(r[1] for r in results[src])
        print(f"import chainrule, {label:<10} {t:.3f} s, RSS {rss:.1f} MiB  ({src})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("steps", "compile", "import"))
    parser.add_argument("base", nargs="?", help="with import: the other tree's src folder")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    if args.what == "steps":
        sys.path.insert(0, SRC)
        steps(args.rounds)
    elif args.what == "compile":
        compile_times(max(1, args.rounds // 3))
    else:
        if not args.base:
            raise SystemExit("import needs the other tree's src folder")
        import_cost(os.path.abspath(args.base), args.rounds)


if __name__ == "__main__":
    main()
