"""Vanishing gradients in a 20-layer sigmoid network, and three cures.

    python examples/experiments/vanishing.py            # about a minute on 2 cores
    python examples/experiments/vanishing.py --quick    # a few seconds

Twenty Linear layers of width 32 on the two-rings task. On the way back every sigmoid
multiplies the gradient by σ'(z) ≤ 0.25, so the first layer's gradient is orders of
magnitude below the last one's and the early layers never learn. The table compares, at
the first step and after training with the same SGD:

- plain sigmoid (PyTorch's default initialisation),
- ReLU with He initialisation (derivative 1 where active; variance kept at 2/fan_in),
- sigmoid with BatchNorm1d before every activation (keeps z where σ' is largest),
- sigmoid residual blocks, y = x + W·σ(x) + b (the identity path carries the gradient
  back: ∂y/∂x = 1 + ∂f/∂x).

All four train with the same SGD (lr 0.03, momentum 0.9, batches of 64).

The gradient norms come from a ``GradientMonitor``, which also explains the baseline's
problem in words.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _experiment_utils as U  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402
from chainrule.diagnostics import GradientMonitor  # noqa: E402
from chainrule.losses import cross_entropy  # noqa: E402

DEPTH, WIDTH, LR = 20, 32, 0.03
VARIANTS = ("sigmoid", "relu_he", "batchnorm", "residual")
LABELS = {"sigmoid": "sigmoid (baseline)", "relu_he": "ReLU + He init",
          "batchnorm": "sigmoid + BatchNorm1d", "residual": "sigmoid residual blocks"}


def build(variant: str) -> nn.Sequential:
    """20 Linear layers: input 2 → 18 hidden layers of width 32 → 2 logits."""
    if variant == "residual":  # 18 pre-activation blocks x + W·σ(x) + b
        blocks = [nn.Residual(nn.Sequential(nn.Sigmoid(), nn.Linear(WIDTH, WIDTH)))
                  for _ in range(DEPTH - 2)]
        return nn.Sequential(nn.Linear(2, WIDTH), *blocks, nn.Sigmoid(), nn.Linear(WIDTH, 2))
    act = nn.ReLU if variant == "relu_he" else nn.Sigmoid
    layers: list[nn.Module] = [nn.Linear(2, WIDTH), act()]
    for _ in range(DEPTH - 2):
        layers.append(nn.Linear(WIDTH, WIDTH))
        if variant == "batchnorm":
            layers.append(nn.BatchNorm1d(WIDTH))
        layers.append(act())
    layers.append(nn.Linear(WIDTH, 2))
    model = nn.Sequential(*layers)
    if variant == "relu_he":
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return model


def train(variant: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          epochs: int, every: int, seed: int = 0, tick: Any = None) -> dict:
    cr.manual_seed(seed)
    model = build(variant)
    monitor = GradientMonitor(model, every=every, verbose=False)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    rng = np.random.default_rng(seed)
    step = 0
    for _ in range(epochs):
        for idx in U.batches(len(y), 64, rng):
            opt.zero_grad()
            loss = cross_entropy(model(cr.tensor(x[idx])), y[idx])
            loss.backward()
            opt.step()
            monitor.step(step)
            step += 1
            if tick is not None:
                tick()
    history = monitor.history
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    first, last = linears[0], linears[-1]
    return {
        "linears": linears,
        "first_grad_norm": float(history.grad_norm[first][0]),
        "last_grad_norm": float(history.grad_norm[last][0]),
        "first_grad_norm_mean": float(np.nanmean(history.grad_norm[first])),
        "train_accuracy": U.accuracy(model, x, y),
        "test_accuracy": U.accuracy(model, x_test, y_test),
        "findings": [f.kind for f in monitor.findings],
        "messages": [f.message for f in monitor.findings],
        "history": history,
    }


def run(quick: bool = False, out_dir: str | None = None, progress: bool = False) -> dict:
    """Train the four variants; returns ``{variant: figures}`` plus ``'table'``
    (``progress``: a bar with the time left on stderr, when it is a terminal)."""
    n, epochs, every = (512, 2, 2) if quick else (2000, 30, 10)
    x, y = U.circles(n, seed=0)
    x_test, y_test = U.circles(1000, seed=1)
    mean, std = x.mean(axis=0), x.std(axis=0)  # standardised inputs, as always
    x, x_test = (x - mean) / std, (x_test - mean) / std
    steps = epochs * -(-n // 64)
    bar = U.progress(len(VARIANTS) * steps, "vanishing", progress)
    results = {v: train(v, x, y, x_test, y_test, epochs, every, tick=bar.update)
               for v in U.each(VARIANTS, lambda v: steps, bar, LABELS)}
    base = results["sigmoid"]["first_grad_norm"]
    rows = []
    for v in VARIANTS:
        r = results[v]
        rows.append([LABELS[v], r["first_grad_norm"], r["last_grad_norm"],
                     r["first_grad_norm"] / r["last_grad_norm"], r["first_grad_norm"] / base,
                     r["test_accuracy"]])
    text = U.table(["20 layers", "‖∂E/∂W₁‖", "‖∂E/∂W₂₀‖", "first/last", "vs baseline",
                    "test accuracy"], rows)
    return U.report(results, text, out_dir, plot, "vanishing.png",
                    series=lambda k: k in ("history", "linears"))


def plot(plt: Any, results: dict) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for v in VARIANTS:
        h = results[v]["history"]
        norms = [h.grad_norm[name][0] for name in results[v]["linears"]]
        axes[0].semilogy(range(1, len(norms) + 1), norms, marker="o", ms=3, label=LABELS[v])
        axes[1].semilogy(h.steps, h.grad_norm[h.layers[0]], label=LABELS[v])
    axes[0].set_xticks(range(1, DEPTH + 1, 2))
    axes[0].set(xlabel="Linear layer (input → output)", ylabel="gradient norm at step 0",
                title="Gradient norm per layer")
    axes[1].set(xlabel="step", ylabel="first layer's gradient norm",
                title="First layer during training")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    return fig


def main() -> None:
    U.main(__doc__, run, monitor=("the baseline", "sigmoid"))


if __name__ == "__main__":
    main()
