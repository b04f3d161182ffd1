"""The learning rate: too low learns slowly, too high diverges.

    python examples/experiments/learning_rate.py            # a few seconds
    python examples/experiments/learning_rate.py --quick

The same small MLP (2 → 32 → 32 → 2, ReLU) learns the two-moons task with plain SGD,
``w ← w − α ∂E/∂w``, at learning rates α from 1e-4 to 100. Each step moves the weights by
α times the gradient: with α too small the loss barely moves in the step budget; in a
middle range it falls fast; past a threshold the steps overshoot the valley, the loss
grows from step to step and ends in Inf/NaN. The table lists each rate's loss before and
after, the steps it took to halve the loss, and the verdict.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _experiment_utils as U  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402
from chainrule.losses import cross_entropy  # noqa: E402

RATES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def build() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 2))


def train(lr: float, x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0,
          tick: Any = None) -> dict:
    cr.manual_seed(seed)
    model = build()
    opt = optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    initial = U.mean_loss(model, x, y)
    curve = [initial]
    step = 0
    with np.errstate(all="ignore"):  # the largest rates overflow: that is the point
        while step < steps:
            for idx in U.batches(len(y), 64, rng):
                opt.zero_grad()
                loss = cross_entropy(model(cr.tensor(x[idx])), y[idx])
                loss.backward()
                opt.step()
                step += 1
                if tick is not None:
                    tick()
                if step % 10 == 0 or step == steps:
                    curve.append(U.mean_loss(model, x, y))
                if step >= steps or not math.isfinite(curve[-1]):
                    break
            if not math.isfinite(curve[-1]):
                break
        accuracy = U.accuracy(model, x, y) if math.isfinite(curve[-1]) else float("nan")
    final = curve[-1]
    halved = next((10 * i for i, v in enumerate(curve) if v <= initial / 2), None)
    if not math.isfinite(final) or final > initial:
        verdict = "diverged"
    elif final > 0.9 * initial:
        verdict = "too low: barely moved"
    else:
        verdict = "learns"
    return {"initial_loss": initial, "final_loss": final, "steps_to_halve": halved,
            "accuracy": accuracy,
            "verdict": verdict, "curve": curve}


def run(quick: bool = False, out_dir: str | None = None, progress: bool = False) -> dict:
    """Sweep the learning rates; returns ``{lr: figures}`` plus ``'table'``
    (``progress``: a bar with the time left on stderr, when it is a terminal)."""
    steps = 150 if quick else 1500
    x, y = U.moons(1000, seed=0)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    bar = U.progress(len(RATES) * steps, "learning_rate", progress)
    results = {lr: train(lr, x, y, steps, tick=bar.update)
               for lr in U.each(RATES, lambda lr: steps, bar, {r: f"lr {r:g}" for r in RATES})}
    rows = [[f"{lr:g}", r["initial_loss"], r["final_loss"],
             "-" if r["steps_to_halve"] is None else r["steps_to_halve"], r["accuracy"],
             r["verdict"]] for lr, r in results.items()]
    text = U.table([f"SGD lr ({steps} steps)", "loss before", "loss after",
                    "steps to halve", "accuracy", "verdict"], rows)
    return U.report(results, text, out_dir, plot, "learning_rate.png",
                    series=lambda k: k == "curve")


def plot(plt: Any, results: dict) -> Any:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for lr, r in results.items():
        curve = np.array(r["curve"], dtype=np.float64)
        steps = 10 * np.arange(len(curve))
        ax.semilogy(steps, np.where(np.isfinite(curve), curve, np.nan), label=f"lr {lr:g}",
                    marker="x" if r["verdict"] == "diverged" else None)
    ax.set(xlabel="step", ylabel="training loss (whole set)",
           title="Too low learns slowly, too high diverges")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def main() -> None:
    U.main(__doc__, run)


if __name__ == "__main__":
    main()
