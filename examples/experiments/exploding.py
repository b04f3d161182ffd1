"""Exploding gradients in a deep ReLU network with too-large weights, and gradient clipping.

    python examples/experiments/exploding.py            # a few seconds
    python examples/experiments/exploding.py --quick

Ten Linear+ReLU layers of width 64 fit a smooth 2-D function with MSE. With weights drawn
1.5× wider than He initialisation, each layer multiplies the signal by about 1.5 on the
way forward (1.5¹⁰ ≈ 58) and the error signal again on the way back, so the first step
sees a gradient norm in the hundreds of thousands; plain SGD jumps to huge weights and the
loss is NaN after one step. ``clip_grad_norm_`` rescales the gradient to norm 1 before
every step, so each step stays small and training proceeds. Lowering the learning rate
10 000× also avoids the blow-up (1000× is not enough) but learns slowly; He
initialisation removes the cause. A ``GradientMonitor`` flags the explosion at step 0.
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
from chainrule.diagnostics import GradientMonitor  # noqa: E402
from chainrule.losses import mse_loss  # noqa: E402

DEPTH, WIDTH, GAIN, LR, MAX_NORM = 10, 64, 1.5, 0.01, 1.0
CONFIGS = {  # name: (weight gain over He, learning rate, clip max_norm)
    "large_init": (GAIN, LR, None),
    "large_init_clipped": (GAIN, LR, MAX_NORM),
    "large_init_low_lr": (GAIN, LR / 10_000, None),
    "he_init": (1.0, LR, None),
}
LABELS = {"large_init": f"{GAIN}× He init, SGD lr {LR}",
          "large_init_clipped": f"{GAIN}× He init + clip_grad_norm_({MAX_NORM})",
          "large_init_low_lr": f"{GAIN}× He init, lr {LR / 10_000:g}",
          "he_init": "He init (the cure at the source)"}


def task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(2·x₁)·cos(x₂) on x ∈ [−2, 2]²."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:])).astype(np.float32)
    return x, y


def build(gain: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, WIDTH), nn.ReLU()]
    for _ in range(DEPTH - 2):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    layers.append(nn.Linear(WIDTH, 1))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            m.weight.data *= gain
            nn.init.zeros_(m.bias)
    return model


def train(name: str, x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0,
          tick: Any = None) -> dict:
    gain, lr, clip = CONFIGS[name]
    cr.manual_seed(seed)
    model = build(gain)
    params = list(model.parameters())
    monitor = GradientMonitor(model, every=1, verbose=False)
    opt = optim.SGD(params, lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    norms, losses = [], []
    diverged_at = None
    with cr.no_grad():
        initial = mse_loss(model(cr.tensor(x)), cr.tensor(y)).item()
    step = 0
    with np.errstate(all="ignore"):  # the unclipped run overflows: that is the point
        while step < steps and diverged_at is None:
            for idx in U.batches(len(y), 64, rng):
                opt.zero_grad()
                loss = mse_loss(model(cr.tensor(x[idx])), cr.tensor(y[idx]))
                loss.backward()
                monitor.record(step)  # before clipping: the monitor sees the real norm
                norm = optim.clip_grad_norm_(params, clip) if clip else optim.grad_norm(params)
                opt.step()
                monitor.after_step(step)
                norms.append(norm)
                losses.append(loss.item())
                if not (math.isfinite(losses[-1]) and math.isfinite(norm)):
                    diverged_at = step
                    break
                step += 1
                if tick is not None:
                    tick()
                if step >= steps:
                    break
        with cr.no_grad():
            final = mse_loss(model(cr.tensor(x)), cr.tensor(y)).item()
    first = monitor.history.grad_norm[monitor.layers[0]][0]
    last = monitor.history.grad_norm[monitor.layers[-1]][0]
    return {"initial_loss": initial, "final_loss": final, "diverged_at": diverged_at,
            "initial_grad_norm": norms[0], "max_grad_norm": float(np.nanmax(norms)),
            "last_grad_norm": norms[-1], "first_layer_grad_norm": float(first),
            "last_layer_grad_norm": float(last), "norms": norms, "losses": losses,
            "findings": [f.kind for f in monitor.findings],
            "messages": [f.message for f in monitor.findings]}


def run(quick: bool = False, out_dir: str | None = None, progress: bool = False) -> dict:
    """Train every configuration; returns ``{config: figures}`` plus ``'table'``
    (``progress``: a bar with the time left on stderr, when it is a terminal)."""
    steps = 60 if quick else 800
    x, y = task(1024, seed=0)
    bar = U.progress(len(CONFIGS) * steps, "exploding", progress)
    results = {name: train(name, x, y, steps, tick=bar.update)
               for name in U.each(CONFIGS, lambda name: steps, bar, LABELS)}
    rows = []
    for name in CONFIGS:
        r = results[name]
        fate = f"NaN at step {r['diverged_at']}" if r["diverged_at"] is not None else \
            f"{r['final_loss']:.4g}"
        rows.append([LABELS[name], r["first_layer_grad_norm"], r["last_layer_grad_norm"],
                     r["max_grad_norm"], r["initial_loss"], fate])
    text = U.table([f"{DEPTH} ReLU layers, {steps} steps", "‖∂E/∂W₁‖ step 0",
                    "‖∂E/∂W₁₀‖ step 0", "max ‖g‖", "loss before", "loss after"], rows)
    return U.report(results, text, out_dir, plot, "exploding.png",
                    series=lambda k: k in ("norms", "losses"))


def plot(plt: Any, results: dict) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in CONFIGS:
        r = results[name]
        style = {"marker": "x", "markersize": 8} if r["diverged_at"] is not None else {}
        axes[0].semilogy(r["norms"], label=LABELS[name], linewidth=1, **style)
        axes[1].semilogy(r["losses"], label=LABELS[name], linewidth=1, **style)
    axes[0].axhline(MAX_NORM, color="gray", linestyle=":", linewidth=1)
    axes[0].set(xlabel="step", ylabel="gradient norm (before clipping)",
                title="Gradient norm")
    axes[1].set(xlabel="step", ylabel="training loss (batch)", title="Loss")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize="small")
    return fig


def main() -> None:
    U.main(__doc__, run, monitor=("the unclipped run", "large_init"))


if __name__ == "__main__":
    main()
