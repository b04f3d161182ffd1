"""Plots of a training run: loss and metric curves, the confusion matrix (matplotlib).

matplotlib is optional: ``have_matplotlib()`` says whether it is installed, and the plot
functions raise ``ImportError`` with the install hint when it is not. Figures are drawn
on matplotlib's Agg canvas directly, so no GUI backend is touched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.history import History

INSTALL_HINT = "plots need matplotlib: pip install 'chainrule[plot]' (or pip install matplotlib)"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> str:
    from chainrule.io import atomic_path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png")
    return str(path)


def plot_curves(history: History, key: str, path: str | os.PathLike,
                title: str | None = None) -> str:
    """Plot ``key`` and ``val_<key>`` per epoch (e.g. ``'loss'``) to an image file.

    Example:
        >>> # plot_curves(history, "loss", "runs/x/loss.png")
    """
    fig = _figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    epochs = history["epoch"] if "epoch" in history else list(range(1, len(history) + 1))
    drawn = False
    for name, style in ((key, "-"), (f"val_{key}", "--")):
        if name in history:
            values = np.array([np.nan if v is None else v for v in history[name]], float)
            ax.plot(epochs, values, style, label=name)
            drawn = True
    if not drawn:
        raise ValueError(f"history has no {key!r} column; it has {history.columns}")
    if key == "loss" and all(v is not None and v > 0 for v in history[key]):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(title or key)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_confusion_matrix(cm: np.ndarray, path: str | os.PathLike,
                          labels: Sequence[Any] | None = None,
                          title: str = "confusion matrix (test)") -> str:
    """Draw ``cm[true, predicted]`` as a heat map with the counts written in the cells."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    labels = [str(x) for x in (labels if labels is not None else range(n))]
    size = max(4.0, 0.5 * n + 2)
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=labels)
    ax.set_yticks(range(n), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > threshold else "black")
    return _save(fig, path)


def plot_run(history: History, out_dir: str | os.PathLike,
             confusion: np.ndarray | None = None,
             labels: Sequence[Any] | None = None) -> list[str]:
    """All plots of a run into ``out_dir``: ``loss.png``, one ``<metric>.png`` per
    training metric, ``confusion_matrix.png``. Returns the files written."""
    out = Path(out_dir)
    written = [plot_curves(history, "loss", out / "loss.png")]
    skip = {"epoch", "loss", "lr", "time"}
    for col in history.columns:
        if col not in skip and not col.startswith("val_"):
            written.append(plot_curves(history, col, out / f"{col}.png"))
    if confusion is not None:
        written.append(plot_confusion_matrix(confusion, out / "confusion_matrix.png", labels))
    return written


__all__ = ["have_matplotlib", "plot_confusion_matrix", "plot_curves", "plot_run"]
