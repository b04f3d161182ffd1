"""PyTorch's ``F.pad``: constant, reflect, replicate and circular padding of the last
dimensions, and its backward.

``pad`` lists (before, after) widths from the *last* dimension backwards, PyTorch's
order: ``(left, right)`` pads W, ``(left, right, top, bottom)`` pads W then H. Negative
widths crop. ``chainrule.ops.pad`` keeps NumPy's order (one pair per axis, first axis
first); ``pad`` here accepts that form too.

The non-constant modes are gathers. Along a padded axis of length n, output position o
reads input coordinate ``c = o − before`` mapped into [0, n):

    reflect:    c < 0 → −c,  c ≥ n → 2(n − 1) − c   (the edge itself is not repeated)
    replicate:  clip(c, 0, n − 1)
    circular:   c mod n   (after cropping any negative width: it wraps what is left)

Backward sends every output's gradient to the input element it read: the block of
outputs that read themselves (0 ≤ c < n) is one slice, and only the few padded positions
are scatter-added.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.shape import getitem
from chainrule.ops.shape import pad as _pad_pairs
from chainrule.tensor import Tensor

_MODES = ("constant", "reflect", "replicate", "circular")

# One padded axis: (index read by each output position, before).
AxisPlan = tuple[np.ndarray, int]


def _source_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    c = np.arange(-before, n + after)
    if mode == "reflect":
        c = np.abs(c)
        return np.where(c >= n, 2 * (n - 1) - c, c)
    if mode == "replicate":
        return np.clip(c, 0, n - 1)
    # circular: a negative width crops first, and the rest wraps around what is left
    lo, hi = max(-before, 0), n - max(-after, 0)
    return lo + np.mod(c - lo, hi - lo)


class IndexPad(Function):
    """Reflect, replicate or circular padding of the trailing axes of x, one gather per
    axis (``plans[k]`` is the plan of axis ``x.ndim − len(plans) + k``, or None)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, plans: tuple[AxisPlan | None, ...]) -> np.ndarray:
        first = x.ndim - len(plans)
        y = x
        for k, plan in enumerate(plans):
            if plan is not None:
                y = np.take(y, plan[0], axis=first + k)
        self.saved = (x.shape, plans)
        return y if y is not x else x.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, plans = self.saved
        first = len(shape) - len(plans)
        for k in reversed(range(len(plans))):
            plan = plans[k]
            if plan is None:
                continue
            idx, before = plan
            n, m = shape[first + k], len(idx)
            gm = np.moveaxis(g, first + k, 0)
            out = np.zeros((n,) + gm.shape[1:], g.dtype)
            # outputs o in [o0, o1) read input o − before: a plain slice
            o0, o1 = max(before, 0), min(before + n, m)
            if o1 > o0:
                out[o0 - before:o1 - before] = gm[o0:o1]
            edges = np.r_[0:min(o0, m), max(o1, o0):m]
            if edges.size:
                np.add.at(out, idx[edges], gm[edges])
            g = np.moveaxis(out, 0, first + k)
        return np.ascontiguousarray(g)


# ---- functional wrapper ----------------------------------------------------------------------

def _pairs_last_first(name: str, pad: Any, ndim: int) -> list[tuple[int, int]]:
    """PyTorch's flat (before, after, ...) list, last dimension first, as checked pairs."""
    widths = [int(w) for w in pad]
    if len(widths) % 2:
        raise ValueError(f"{name}: padding length must be divisible by 2, got {len(widths)} "
                         f"values {tuple(widths)}")
    if len(widths) // 2 > ndim:
        raise ValueError(f"{name}: padding length should be less than or equal to two times "
                         f"the input dimension, but got padding length {len(widths)} and an "
                         f"input of dimension {ndim}")
    return [(widths[i], widths[i + 1]) for i in range(0, len(widths), 2)]


def _is_numpy_pairs(pad: Any) -> bool:
    return isinstance(pad, (list, tuple)) and len(pad) > 0 and all(
        isinstance(p, (list, tuple)) for p in pad)


def _constant(x: Tensor, pairs: list[tuple[int, int]], value: float) -> Tensor:
    """Constant padding of the trailing axes (pairs are axis order): crop the negative
    widths, then pad the positive ones."""
    shape = x._data.shape
    first = len(shape) - len(pairs)
    crop = [slice(None)] * len(shape)
    widths = [(0, 0)] * len(shape)
    for k, (lo, hi) in enumerate(pairs):
        n = shape[first + k]
        if n + lo + hi < 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dimension {first + k} (size {n}) "
                             "gives a negative output size")
        crop[first + k] = slice(max(-lo, 0), n - max(-hi, 0))
        widths[first + k] = (max(lo, 0), max(hi, 0))
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        x = getitem(x, tuple(crop))
        if all(w == (0, 0) for w in widths):
            return x
    return _pad_pairs(x, widths, value)


def pad(input: Tensor, pad: Any, mode: str = "constant",  # noqa: A002
        value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions (PyTorch's ``F.pad``).

    Args:
        input: any shape for ``'constant'``; for the other modes a (N, C, W) / (C, W)
            input with 2 widths, (N, C, H, W) / (C, H, W) with 4, (N, C, D, H, W) /
            (C, D, H, W) with 6.
        pad: ``(left, right)``, ``(left, right, top, bottom)``, ... — the last
            dimension first; negative widths crop. NumPy's form, one ``(before, after)``
            pair per axis in axis order, is accepted too (constant mode).
        mode: ``'constant'``, ``'reflect'`` (mirror without repeating the edge; widths
            below the dimension's size), ``'replicate'`` (repeat the edge) or
            ``'circular'`` (wrap around; widths at most the size).
        value: the fill of ``'constant'`` padding (default 0).

    Returns:
        The padded tensor, the input's dtype.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[[1.0, 2.0, 3.0]]])
        >>> pad(x, (2, 1), mode="reflect").tolist()
        [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
        >>> pad(x, (1, 1), value=-1.0).tolist()
        [[[-1.0, 1.0, 2.0, 3.0, -1.0]]]
    """
    name = "pad"
    if not isinstance(input, Tensor):
        input = Tensor(input)  # noqa: A001
    if mode is not None and not isinstance(mode, str):  # chainrule's older pad(x, widths, v)
        mode, value = "constant", mode
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    ndim = input._data.ndim
    if isinstance(pad, (int, float, np.number)) or not hasattr(pad, "__len__"):
        raise TypeError(f"{name}: pad must be a sequence such as (left, right), got {pad!r}")
    if _is_numpy_pairs(pad):
        if mode != "constant":
            raise ValueError(f"{name}: (before, after) pairs per axis are NumPy's form, for "
                             f"constant padding only; for mode {mode!r} give PyTorch's flat "
                             "widths, last dimension first")
        pairs = [(int(a), int(b)) for a, b in pad]
        if len(pairs) != ndim:
            raise ValueError(f"{name}: need {ndim} (before, after) pairs for shape "
                             f"{input.shape}, got {len(pairs)}")
        return _constant(input, pairs, 0.0 if value is None else float(value))
    pairs = list(reversed(_pairs_last_first(name, pad, ndim)))  # now in axis order
    if mode == "constant":
        return _constant(input, pairs, 0.0 if value is None else float(value))
    if value is not None and value != 0:
        raise ValueError(f"{name}: padding mode {mode!r} does not take a value argument")
    k = len(pairs)
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise ValueError(f"{name}: padding size {2 * k} is not supported for a {ndim}-D input "
                         f"with mode {mode!r}; non-constant padding pads the last 1, 2 or 3 "
                         "dimensions of a 2-D/3-D, 3-D/4-D or 4-D/5-D input (widths 2, 4, 6)")
    shape = input._data.shape
    plans: list[AxisPlan | None] = []
    for axis, (lo, hi) in zip(range(ndim - k, ndim), pairs):
        n = shape[axis]
        if mode == "reflect" and not (lo < n and hi < n):
            raise ValueError(f"{name}: reflect padding ({lo}, {hi}) must be less than the "
                             f"size {n} of dimension {axis} of input {input.shape}")
        if mode == "circular" and not (lo <= n and hi <= n):
            raise ValueError(f"{name}: circular padding ({lo}, {hi}) wraps around more than "
                             f"once: at most the size {n} of dimension {axis} of input "
                             f"{input.shape}")
        if n + min(lo, 0) + min(hi, 0) < 1 or n + lo + hi < 1:
            raise ValueError(f"{name}: padding ({lo}, {hi}) of dimension {axis} (size {n}) of "
                             f"input {input.shape} leaves no elements")
        plans.append(None if lo == hi == 0 else (_source_index(n, lo, hi, mode), lo))
    return IndexPad.apply(input, plans=tuple(plans))


__all__ = ["pad"]
