"""Shared pieces of the experiments: synthetic data, a training loop, tables, plots.

Each experiment is a script (``python examples/experiments/vanishing.py``) and a module
with ``run(quick=False) -> dict``; this file keeps them short. Data come from
``chainrule.data``; the optimizers from ``chainrule.optim``, with a minimal inline SGD
as the fallback where only the core is installed.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.losses import cross_entropy

# ---- data -----------------------------------------------------------------------------


def circles(n: int, noise: float = 0.08, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings (``chainrule.data.make_circles``): not linearly separable.

    Returns x (n, 2) float32 and y (n,) int64.
    """
    from chainrule.data import make_circles

    return make_circles(n, noise=noise, factor=0.5, seed=seed)


def moons(n: int, noise: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (``chainrule.data.make_moons``)."""
    from chainrule.data import make_moons

    return make_moons(n, noise=noise, seed=seed)


# ---- optimisation -----------------------------------------------------------------------


class _InlineSGD:
    """``w ← w − α (g + λw)`` with optional momentum: the fallback when chainrule.optim is
    not installed."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                b = self.buffers[i]
                self.buffers[i] = g.copy() if b is None else self.momentum * b + g
                g = self.buffers[i]
            p.data -= self.lr * g


def sgd(params: Iterable[Any], lr: float, momentum: float = 0.0,
        weight_decay: float = 0.0) -> Any:
    """``chainrule.optim.SGD`` when available, else the inline fallback (same update)."""
    try:
        from chainrule.optim import SGD
    except ImportError:
        return _InlineSGD(params, lr, momentum, weight_decay)
    return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def clip_grad_norm(params: Iterable[Any], max_norm: float) -> float:
    """``chainrule.optim.clip_grad_norm_`` when available; returns the norm before clipping."""
    params = list(params)
    try:
        from chainrule.optim import clip_grad_norm_
    except ImportError:
        clip_grad_norm_ = None
    if clip_grad_norm_ is not None:
        return float(clip_grad_norm_(params, max_norm))
    total = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                          for p in params if p.grad is not None))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * np.asarray(scale, p.grad.dtype)
    return total


def grad_norm(params: Iterable[Any]) -> float:
    return math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                         for p in params if p.grad is not None))


def batches(n: int, size: int, rng: np.random.Generator) -> Iterable[np.ndarray]:
    order = rng.permutation(n)
    for start in range(0, n, size):
        yield order[start:start + size]


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    was_training = model.training
    model.eval()
    with cr.no_grad():
        pred = model(cr.tensor(x)).numpy().argmax(axis=1)
    model.train(was_training)
    return float((pred == y).mean())


def mean_loss(model: nn.Module, x: np.ndarray, y: np.ndarray,
              loss_fn: Callable = cross_entropy) -> float:
    was_training = model.training
    model.eval()
    with cr.no_grad():
        value = loss_fn(model(cr.tensor(x)), y).item()
    model.train(was_training)
    return float(value)


# ---- output -----------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table; floats get 4 significant digits (scientific when tiny/huge)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v or v in (math.inf, -math.inf):
                return str(v)
            return f"{v:.3e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5) else f"{v:.4g}"
        return str(v)

    cells = [headers] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(fig: Any, out_dir: str, name: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def cli(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few seconds, fewer steps")
    parser.add_argument("--out", default="experiments_out",
                        help="directory for the plot (default: experiments_out)")
    return parser.parse_args()
