"""Plots of a ``GradientMonitor``'s history (matplotlib, an optional extra).

Figures are built with ``matplotlib.figure.Figure`` directly, not ``pyplot``: no global
state, no window, and saving to PNG works on a machine without a display.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from chainrule.diagnostics.monitor import GradientMonitor, MonitorHistory

_METRICS = {
    "grad_norm": "gradient norm ‖∂E/∂w‖",
    "weight_norm": "weight norm ‖w‖",
    "update_ratio": "update ratio ‖Δw‖/‖w‖",
}


def require_matplotlib() -> Any:
    """Import ``matplotlib.figure`` or raise an ImportError with the install hint."""
    try:
        import matplotlib.figure
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install chainrule[plot]") from err
    return matplotlib.figure


def _history(source: GradientMonitor | MonitorHistory) -> MonitorHistory:
    history = source.history if isinstance(source, GradientMonitor) else source
    if len(history.steps) == 0:
        raise ValueError("nothing to plot: the monitor has not sampled any step yet")
    return history


def _metric(history: MonitorHistory, metric: str) -> dict[str, np.ndarray]:
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    return getattr(history, metric)


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    if path is not None:
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        fig.savefig(path, dpi=110)


def plot_grad_norms(source: GradientMonitor | MonitorHistory,
                    path: str | os.PathLike | None = None, metric: str = "grad_norm",
                    layers: list[str] | None = None) -> Any:
    """One line per layer over the sampled steps, log scale: vanishing layers sit far below.

    Args:
        source: a ``GradientMonitor`` or its ``history``.
        path: save the figure there (PNG by extension) when given.
        metric: ``'grad_norm'``, ``'weight_norm'`` or ``'update_ratio'``.
        layers: the layers to draw (default: all).

    Returns:
        the ``matplotlib.figure.Figure``.

    Example:
        >>> plot_grad_norms(monitor, "grad_norms.png")  # doctest: +SKIP
    """
    figure = require_matplotlib()
    history = _history(source)
    values = _metric(history, metric)
    names = layers if layers is not None else history.layers
    fig = figure.Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    cmap = _colormap(len(names))
    for i, name in enumerate(names):
        y = values[name]
        keep = np.isfinite(y) & (y > 0)
        ax.plot(history.steps[keep], y[keep], color=cmap(i), label=name, linewidth=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(_METRICS[metric])
    ax.set_title(f"{_METRICS[metric]} per layer")
    ax.grid(True, which="major", alpha=0.3)
    if len(names) <= 12:
        ax.legend(title="layer", fontsize="small")
    else:
        ax.legend(title="layer", fontsize="x-small", ncol=2, loc="center left",
                  bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_layer_bars(source: GradientMonitor | MonitorHistory, step: int | None = None,
                    path: str | os.PathLike | None = None, metric: str = "grad_norm") -> Any:
    """A bar per layer (input side on the left) at one sampled step, log scale.

    Args:
        source: a ``GradientMonitor`` or its ``history``.
        step: the sampled step to show; the latest sample at or before it (default: last).
        path: save the figure there when given.
        metric: ``'grad_norm'``, ``'weight_norm'`` or ``'update_ratio'``.

    Returns:
        the ``matplotlib.figure.Figure``.
    """
    figure = require_matplotlib()
    history = _history(source)
    values = _metric(history, metric)
    if step is None:
        index = len(history.steps) - 1
    else:
        earlier = np.nonzero(history.steps <= step)[0]
        if len(earlier) == 0:
            raise ValueError(f"no sample at or before step {step}; the first sampled step "
                             f"is {int(history.steps[0])}")
        index = int(earlier[-1])
    names = history.layers
    heights = [float(values[n][index]) for n in names]
    shown = [h if math.isfinite(h) and h > 0 else np.nan for h in heights]
    fig = figure.Figure(figsize=(max(5.0, 0.45 * len(names) + 2), 4.2))
    ax = fig.add_subplot()
    ax.bar(range(len(names)), shown, color="#4c72b0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90 if len(names) > 10 else 0)
    ax.set_yscale("log")
    ax.set_xlabel("layer (input → output)")
    ax.set_ylabel(_METRICS[metric])
    ax.set_title(f"{_METRICS[metric]} at step {int(history.steps[index])}")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _colormap(n: int) -> Any:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return lambda i: cmap(i / max(n - 1, 1))
