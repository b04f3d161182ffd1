"""Adagrad: per-coordinate learning rates shrinking with the accumulated squared gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_flags,
    check_implementation_options,
    check_nonnegative,
)


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (from 1), learning rate ``α``, decay ``η``
    (``lr_decay``), weight decay ``λ`` and ``ε``::

        g ← −g                          if maximize
        g ← g + λ·w                     (L2 penalty, added to the gradient)
        S ← S + g²                      (S starts at initial_accumulator_value)
        w ← w − α/(1 + (t − 1)·η) · g / (√S + ε)

    State: ``step`` (t) and ``sum`` (S).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α.
        lr_decay: η ≥ 0.
        weight_decay: λ ≥ 0.
        initial_accumulator_value: starting value of S, ≥ 0.
        eps: ε ≥ 0.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_implementation_options("Adagrad", foreach, fused, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "lr_decay", "weight_decay",
                          "initial_accumulator_value", "eps")
        check_flags(group, "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["sum"] = np.full_like(param, group["initial_accumulator_value"])

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        step = state["step"] = state["step"] + 1
        grad = self.descent_grad(grad, param, group)
        clr = group["lr"] / (1.0 + (step - 1) * group["lr_decay"])
        total = state["sum"]
        tmp = np.multiply(grad, grad)
        total += tmp
        np.sqrt(total, out=tmp)
        tmp += group["eps"]
        np.divide(grad, tmp, out=tmp)
        tmp *= clr
        param -= tmp
