"""Shared pieces of the experiments: synthetic data, a training loop, tables, plots.

Each experiment is a script (``python examples/experiments/vanishing.py``) and a module
with ``run(quick=False) -> dict``; this file keeps them short. Data come from
``chainrule.data``; the optimizers and clipping from ``chainrule.optim``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
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


# ---- training ----------------------------------------------------------------------


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


def progress(total: int, name: str, enabled: bool) -> Any:
    """One tqdm bar over all of an experiment's training steps, with the time left, on
    stderr: only when ``enabled`` (the command line; ``--quiet`` turns it off) and stderr
    is a terminal, so ``run()`` called from code or tests stays silent."""
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="step", file=sys.stderr, leave=False,
                disable=None if enabled else True, dynamic_ncols=True, mininterval=0.5)


def each(configs: Iterable[Any], steps: Callable[[Any], int], bar: Any,
         labels: dict | None = None) -> Iterable[Any]:
    """The configurations in turn; after each, the bar stands at the steps planned so far
    (a run that diverged or stopped early skips the rest of its share)."""
    planned = 0
    for config in configs:
        bar.set_postfix_str(str((labels or {}).get(config, config)), refresh=False)
        planned += steps(config)
        yield config
        bar.update(planned - bar.n)
    bar.close()


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


def report(results: dict, table_text: str, out_dir: str | None,
           plot: Callable[[Any, dict], Any], name: str,
           series: Callable[[str], bool]) -> dict:
    """What an experiment's ``run`` returns: each configuration's figures without its
    per-step series (the keys ``series`` picks), the table, and, given an output folder
    and matplotlib, the path of the figure ``plot(plt, results)`` draws, saved as ``name``.
    """
    out: dict = {key: {k: v for k, v in r.items() if not series(k)}
                 for key, r in results.items()}
    out["table"] = table_text
    plt = pyplot() if out_dir is not None else None
    if plt is not None:
        out["plot"] = save_figure(plot(plt, results), out_dir, name)
    return out


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
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (it goes to stderr, only on a terminal)")
    return parser.parse_args()


def main(doc: str, run: Callable[..., dict], monitor: tuple[str, str] | None = None) -> None:
    """The experiments' command line: run, print the title, the table, the gradient
    monitor's findings on one configuration (``(label, key of out)``) and the plot path."""
    title = " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())
    args = cli(title)
    out = run(quick=args.quick, out_dir=args.out, progress=not args.quiet)
    print(title)
    print()
    print(out["table"])
    if monitor is not None:
        label, key = monitor
        print()
        print(f"GradientMonitor on {label}:")
        for message in out[key]["messages"]:
            print(" -", message)
    if out.get("plot"):
        print(f"\nplot: {out['plot']}")
