"""Where a training step's time goes, op by op: ``profile``.

Inside ``with profile() as prof:`` every op's forward and backward and every optimizer
step are timed; ``prof.table(steps=n)`` prints milliseconds per step, heaviest first,
with what was spent outside ops (Python glue, data, loss bookkeeping) as its own line::

    >>> import chainrule as cr
    >>> from chainrule.diagnostics import profile
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 1))
    >>> opt = cr.optim.SGD(model.parameters(), lr=0.1)
    >>> x, y = cr.randn(16, 4), cr.randn(16, 1)
    >>> with profile() as prof:
    ...     for _ in range(3):
    ...         opt.zero_grad()
    ...         cr.functional.mse_loss(model(x), y).backward()
    ...         opt.step()
    >>> sorted(row.name for row in prof.rows() if row.calls == 6)  # two layers, 3 steps
    ['Linear']
    >>> print(prof.table(steps=3))  # doctest: +SKIP

The timers sit on the engine's two call sites (``Function.apply`` and ``backward``), so
when no profiler is active the cost is one attribute check per op.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chainrule.autograd import Function, _State


@dataclass
class OpTime:
    """Accumulated time of one op (or optimizer), optionally for one set of input
    shapes. Times are in seconds, summed over every call."""

    name: str
    shapes: tuple | None
    calls: int = 0
    forward_s: float = 0.0
    backward_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s


class Profiler:
    """Collects op timings while active; use through ``profile()``."""

    def __init__(self, by_shape: bool = False) -> None:
        self.by_shape = by_shape
        self._ops: dict[tuple, OpTime] = {}
        self._started = 0.0
        self._previous: Profiler | None = None
        self.wall_s = 0.0

    # ---- recording (called by the engine) ----------------------------------------------------

    def _entry(self, name: str, shapes: tuple | None) -> OpTime:
        key = (name, shapes)
        entry = self._ops.get(key)
        if entry is None:
            entry = self._ops[key] = OpTime(name, shapes)
        return entry

    def _shapes(self, arrays: Any) -> tuple | None:
        if not self.by_shape:
            return None
        return tuple(tuple(getattr(a, "shape", ())) for a in arrays)

    def run_forward(self, fn: Function, arrays: list, kwargs: dict) -> Any:
        start = time.perf_counter()
        out = fn.forward(*arrays, **kwargs)
        entry = self._entry(type(fn).__name__, self._shapes(arrays))
        entry.forward_s += time.perf_counter() - start
        entry.calls += 1
        return out

    def run_backward(self, fn: Function, grad: Any) -> Any:
        shapes = self._shapes([t._data for t in fn.inputs]) if self.by_shape else None
        start = time.perf_counter()
        grads = fn.backward(grad)
        self._entry(type(fn).__name__, shapes).backward_s += time.perf_counter() - start
        return grads

    def record_step(self, name: str, seconds: float) -> None:
        """Time spent outside the graph that belongs to a named phase (optimizer steps)."""
        entry = self._entry(name, None)
        entry.forward_s += seconds
        entry.calls += 1

    # ---- the context -------------------------------------------------------------------------

    def __enter__(self) -> Profiler:
        self._previous = _State.profiler
        _State.profiler = self
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall_s += time.perf_counter() - self._started
        _State.profiler = self._previous

    # ---- reading -----------------------------------------------------------------------------

    def rows(self) -> list[OpTime]:
        """Every op seen, heaviest (forward + backward) first."""
        return sorted(self._ops.values(), key=lambda r: -r.total_s)

    def table(self, steps: int = 1, top: int | None = None) -> str:
        """A text table in milliseconds per step (divide totals by ``steps``).

        Columns: calls per step, forward, backward, total and share of the wall time
        (an optimizer's update counts as its forward); then the sum over ops, the time
        outside them, and the wall time.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        rows = self.rows()
        shown = rows if top is None else rows[:top]
        width = max([len(_label(r)) for r in shown] + [24])
        scale = 1e3 / steps
        wall = self.wall_s or sum(r.total_s for r in rows) or 1.0
        lines = [f"{'op':<{width}}  {'calls':>6}  {'forward':>9}  {'backward':>9}  "
                 f"{'total':>9}  {'share':>6}",
                 f"{'':<{width}}  {'/step':>6}  {'ms/step':>9}  {'ms/step':>9}  "
                 f"{'ms/step':>9}  {'':>6}"]
        for r in shown:
            lines.append(f"{_label(r):<{width}}  {r.calls / steps:>6.1f}  "
                         f"{r.forward_s * scale:>9.3f}  {r.backward_s * scale:>9.3f}  "
                         f"{r.total_s * scale:>9.3f}  {100 * r.total_s / wall:>5.1f}%")
        in_ops = sum(r.total_s for r in rows)
        if self.wall_s:
            outside = max(self.wall_s - in_ops, 0.0)
            lines.append(f"{'all ops and optimizers':<{width}}  {'':>6}  {'':>9}  {'':>9}  "
                         f"{in_ops * scale:>9.3f}  {100 * in_ops / wall:>5.1f}%")
            lines.append(f"{'outside them (Python glue)':<{width}}  {'':>6}  {'':>9}  "
                         f"{'':>9}  {outside * scale:>9.3f}  {100 * outside / wall:>5.1f}%")
            lines.append(f"{'wall':<{width}}  {'':>6}  {'':>9}  {'':>9}  "
                         f"{self.wall_s * scale:>9.3f}")
        return "\n".join(lines)


def _label(row: OpTime) -> str:
    if row.shapes is None:
        return row.name
    return f"{row.name} {', '.join('×'.join(map(str, s)) or '()' for s in row.shapes)}"


def profile(by_shape: bool = False) -> Profiler:
    """Time every op's forward and backward, and every optimizer step, while active.

    Args:
        by_shape: keep a separate row per set of input shapes (tells a network's two
            convolutions apart), as PyTorch's ``record_shapes``.

    Returns:
        A ``Profiler`` to use as a context manager; read it with ``rows()`` or
        ``table(steps=...)`` afterwards.
    """
    return Profiler(by_shape=by_shape)


__all__ = ["OpTime", "Profiler", "profile"]
