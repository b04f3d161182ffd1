"""Rprop: a step size per weight, grown while its gradient keeps its sign, cut when it flips."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_flags,
    check_implementation_options,
    check_nonnegative,
)


class Rprop(Optimizer):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993), exactly as PyTorch computes it.

    Only the *sign* of the gradient is used. With gradient ``g``, the previous step's
    (masked) gradient ``p``, a per-weight step size ``s`` (starting at the learning rate
    ``α``), etas ``(η₋, η₊)`` and step sizes ``(s_min, s_max)``::

        g ← −g                              if maximize
        f = η₊ where g·p > 0,  η₋ where g·p < 0,  1 elsewhere
        s ← clamp(s·f, s_min, s_max)
        g ← 0                               where g·p < 0  (the sign flipped: skip a step)
        w ← w − sign(g)·s
        p ← g

    ``sign`` is 0 for a NaN (as ``torch.sign``), so a NaN gradient leaves its weight alone.
    There is no weight decay (PyTorch's Rprop has none).

    State: ``step`` (the number of steps), ``prev`` (p) and ``step_size`` (s), the last two
    the parameter's shape.

    Args:
        params: Parameters or param-group dicts.
        lr: α ≥ 0, every weight's first step size (default 1e-2).
        etas: (η₋, η₊) with 0 < η₋ < 1 < η₊: the factors that shrink and grow a step size.
        step_sizes: (s_min, s_max), 0 ≤ s_min ≤ s_max: the bounds of a step size.
        maximize: ascend the objective instead.
        foreach, capturable, differentiable (those PyTorch's version takes): how PyTorch
            computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([1.0, -2.0])
        >>> opt = cr.optim.Rprop([w], lr=0.1)
        >>> w.grad = cr.tensor([0.5, -3.0])
        >>> opt.step()
        >>> w.data
        tensor([ 0.9, -1.9])
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_implementation_options("Rprop", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr")
        etas = _pair(group, "etas")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"etas must be (etaminus, etaplus) with 0 < etaminus < 1 < "
                             f"etaplus, got {etas!r}")
        low, high = _pair(group, "step_sizes")
        if not 0.0 <= low <= high:
            raise ValueError(f"step_sizes must be (min, max) with 0 <= min <= max, got "
                             f"{(low, high)!r}")
        check_flags(group, "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["prev"] = np.zeros_like(param)
        state["step_size"] = np.full_like(param, group["lr"])

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        etaminus, etaplus = group["etas"]
        state["step"] += 1
        prev, step_size = state["prev"], state["step_size"]
        if group["maximize"]:
            grad = np.negative(grad)
        product = np.multiply(grad, prev)
        flipped = product < 0
        factor = np.where(product > 0, etaplus, 1.0).astype(param.dtype, copy=False)
        factor[flipped] = etaminus
        step_size *= factor
        np.clip(step_size, *group["step_sizes"], out=step_size)
        # a flipped sign skips the step, and p ← 0 there: the next step neither grows
        # nor shrinks that step size
        np.copyto(prev, grad)
        prev[flipped] = 0
        direction = _sign(prev)
        direction *= step_size
        param -= direction


def _sign(x: np.ndarray) -> np.ndarray:
    """``torch.sign``: −1, 0 or 1, and 0 (not NaN, as ``np.sign``) for a NaN."""
    out = (x > 0).astype(x.dtype)
    out -= x < 0
    return out


def _pair(group: dict[str, Any], name: str) -> tuple[float, float]:
    value = group[name]
    if not (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, Real) and not isinstance(v, bool) and not math.isnan(v)
                    for v in value)):
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}")
    return value
