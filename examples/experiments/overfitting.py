"""Overfitting on a small training set, and three cures: dropout, L2 weight decay, early
stopping.

    python examples/experiments/overfitting.py            # a few seconds
    python examples/experiments/overfitting.py --quick

A wide MLP (2 → 128 → 128 → 2, ReLU) has ~17 000 weights for 60 noisy two-moons points,
so it can memorise them: full-batch SGD drives the training loss towards zero while the
loss on 500 fresh points (the validation set) climbs back up: the train/validation gap.
Dropout (p = 0.5 on both hidden layers) and L2 weight decay (λ‖w‖²/2 added to the error,
i.e. λw added to the gradient) limit how sharply the network can bend around single
points; early stopping stops once the validation loss has not improved for a while and
keeps the weights from its best epoch. The gap column is validation loss minus training loss.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _experiment_utils as U  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402
from chainrule.losses import cross_entropy  # noqa: E402

WIDTH, LR, DROPOUT, WEIGHT_DECAY = 128, 0.05, 0.5, 3e-3
CONFIGS = ("plain", "dropout", "weight_decay", "early_stopping")
LABELS = {"plain": "no regularisation", "dropout": f"dropout p={DROPOUT}",
          "weight_decay": f"L2 weight decay λ={WEIGHT_DECAY:g}",
          "early_stopping": "early stopping (best val. loss)"}


def build(dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, WIDTH), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(WIDTH, 2))
    return nn.Sequential(*layers)


def train(config: str, data: dict, epochs: int, patience: int, seed: int = 0,
          tick: Any = None) -> dict:
    cr.manual_seed(seed)
    model = build(DROPOUT if config == "dropout" else 0.0)
    decay = WEIGHT_DECAY if config == "weight_decay" else 0.0
    opt = optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=decay)
    x, y, xv, yv = data["x"], data["y"], data["x_val"], data["y_val"]
    train_curve, val_curve = [], []
    best = (math.inf, -1, None)
    for epoch in range(epochs):  # full batch: one step per epoch
        model.train()
        opt.zero_grad()
        cross_entropy(model(cr.tensor(x)), y).backward()
        opt.step()
        train_curve.append(U.mean_loss(model, x, y))
        val_curve.append(U.mean_loss(model, xv, yv))
        if tick is not None:
            tick()
        if val_curve[-1] < best[0]:
            best = (val_curve[-1], epoch, {k: v.copy() for k, v in model.state_dict().items()})
        elif config == "early_stopping" and epoch - best[1] >= patience:
            break
    stopped = len(val_curve)
    if config == "early_stopping":
        model.load_state_dict(best[2])
    result = {
        "train_loss": U.mean_loss(model, x, y), "val_loss": U.mean_loss(model, xv, yv),
        "train_accuracy": U.accuracy(model, x, y), "val_accuracy": U.accuracy(model, xv, yv),
        "best_epoch": best[1], "epochs_run": stopped,
        "train_curve": train_curve, "val_curve": val_curve,
    }
    result["gap"] = result["val_loss"] - result["train_loss"]
    result["accuracy_gap"] = result["train_accuracy"] - result["val_accuracy"]
    return result


def run(quick: bool = False, out_dir: str | None = None, progress: bool = False) -> dict:
    """Train the four configurations; returns ``{config: figures}`` plus ``'table'``
    (``progress``: a bar with the time left on stderr, when it is a terminal)."""
    epochs, patience, n_val = (150, 30, 250) if quick else (400, 50, 500)
    x, y = U.moons(60, noise=0.3, seed=0)
    x_val, y_val = U.moons(n_val, noise=0.3, seed=1)
    mean, std = x.mean(axis=0), x.std(axis=0)
    data = {"x": (x - mean) / std, "y": y, "x_val": (x_val - mean) / std, "y_val": y_val}
    bar = U.progress(len(CONFIGS) * epochs, "overfitting", progress)
    results = {c: train(c, data, epochs, patience, tick=bar.update)
               for c in U.each(CONFIGS, lambda c: epochs, bar, LABELS)}
    rows = []
    for c in CONFIGS:
        r = results[c]
        epoch = f"{r['best_epoch'] + 1} of {r['epochs_run']}" if c == "early_stopping" else \
            str(r["epochs_run"])
        rows.append([LABELS[c], r["train_loss"], r["val_loss"], r["gap"],
                     r["train_accuracy"], r["val_accuracy"], epoch])
    text = U.table([f"60 training points, {epochs} epochs", "train loss", "val. loss",
                    "gap", "train acc.", "val. acc.", "epochs"], rows)
    return U.report(results, text, out_dir, plot, "overfitting.png",
                    series=lambda k: k.endswith("_curve"))


def plot(plt: Any, results: dict) -> Any:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = dict(zip(CONFIGS, ("C0", "C1", "C2", "C3")))
    for c in ("plain", "dropout", "weight_decay"):
        r = results[c]
        ax.semilogy(r["train_curve"], color=colors[c], linestyle="--", linewidth=1)
        ax.semilogy(r["val_curve"], color=colors[c], label=LABELS[c], linewidth=1.5)
    stop = results["early_stopping"]["best_epoch"]
    ax.axvline(stop, color=colors["early_stopping"], linestyle=":",
               label=f"early stopping keeps epoch {stop + 1}")
    ax.set(xlabel="epoch", ylabel="loss (dashed: training, solid: validation)",
           title="The train/validation gap and its cures")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def main() -> None:
    U.main(__doc__, run)


if __name__ == "__main__":
    main()
