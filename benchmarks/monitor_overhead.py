"""What does ``GradientMonitor`` cost? Training steps per second with and without it.

    python benchmarks/monitor_overhead.py                 # 784-512-256-10 MLP, batch 128
    python benchmarks/monitor_overhead.py --every 1 --batch 64

The same model and batch train in alternating timed rounds, plain and monitored (one
``monitor.step()`` per step, sampling every ``--every`` steps, activation hooks on); the
script prints the medians and the overhead ratio. Target: under 10 % at ``--every 10``.
A benchmark, not a test: the figure depends on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import GradientMonitor
from chainrule.losses import cross_entropy


def make_step(model: nn.Module, x: cr.Tensor, y: np.ndarray, lr: float):
    try:
        from chainrule.optim import SGD

        opt = SGD(model.parameters(), lr=lr)
        update = opt.step
    except ImportError:  # the optimizers are optional while the package is assembled
        params = list(model.parameters())

        def update() -> None:
            for p in params:
                p.data -= lr * p.grad.data

    def step() -> None:
        model.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        update()

    return step


CALLS: dict[bool, list[float]] = {True: [], False: []}  # monitor.step() time by "sampled"


def timed(step, monitor: GradientMonitor | None, n: int, start: int) -> float:
    t0 = time.perf_counter()
    for i in range(start, start + n):
        step()
        if monitor is not None:
            c0 = time.perf_counter()
            monitor.step(i)
            CALLS[i % monitor.every == 0].append(time.perf_counter() - c0)
    return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((args.batch, 784)).astype(np.float32))
    y = rng.integers(0, 10, args.batch)
    plain_model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                nn.Linear(256, 10))
    cr.manual_seed(0)
    watched_model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                                  nn.ReLU(), nn.Linear(256, 10))
    monitor = GradientMonitor(watched_model, every=args.every, verbose=False)
    plain = make_step(plain_model, x, y, 0.01)
    watched = make_step(watched_model, x, y, 0.01)
    timed(plain, None, 5, 0)  # warm up both (allocations, BLAS threads)
    timed(watched, monitor, 5, 0)

    base, mon = [], []
    step = 5
    for _ in range(args.repeats):
        base.append(timed(plain, None, args.steps, step))
        mon.append(timed(watched, monitor, args.steps, step))
        step += args.steps
    b, m = statistics.median(base), statistics.median(mon)
    print(f"MLP 784-512-256-10, batch {args.batch}, sampling every {args.every} steps, "
          f"{args.repeats} rounds of {args.steps} steps")
    print(f"  plain step     : {1e3 * b:.3f} ms")
    print(f"  monitored step : {1e3 * m:.3f} ms")
    print(f"  overhead       : {100 * (m / b - 1):+.1f} %  (ratio {m / b:.3f})")
    sampled = statistics.median(CALLS[True])
    other = statistics.median(CALLS[False]) if CALLS[False] else 0.0
    print(f"  monitor.step() : {1e3 * sampled:.3f} ms on a sampled step, {1e6 * other:.1f} µs "
          f"otherwise -> {100 * (sampled + (args.every - 1) * other) / args.every / b:.1f} % "
          "of a step (excluding the activation hooks inside forward)")
    print(f"  samples taken  : {len(monitor.history.steps)}; findings: "
          f"{[f.kind for f in monitor.findings] or 'none'}")


if __name__ == "__main__":
    main()
