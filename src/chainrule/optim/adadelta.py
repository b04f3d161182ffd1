"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_flags,
    check_implementation_options,
    check_nonnegative,
    check_unit_interval,
)


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), exactly as PyTorch computes it.

    With gradient ``g``, learning rate ``α``, decay ``ρ``, ``ε`` and weight decay ``λ``::

        g ← −g                          if maximize
        g ← g + λ·w                     (L2 penalty, added to the gradient)
        v ← ρ·v + (1 − ρ)·g²
        Δ ← √(u + ε) / √(v + ε) · g
        u ← ρ·u + (1 − ρ)·Δ²
        w ← w − α·Δ

    The ratio of the two running RMS makes the step carry the parameter's units, so the
    default ``α = 1`` needs no tuning in the original method.

    State: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α ≥ 0 (default 1.0, a scale on Δ).
        rho: decay ρ in [0, 1] of both running averages (default 0.9).
        eps: ε ≥ 0 (default 1e-6).
        weight_decay: λ ≥ 0.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.Adadelta(model.parameters(), rho=0.9)
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, foreach: bool | None = None,
                 *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_implementation_options("Adadelta", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_unit_interval(group, "rho", closed=True)
        check_flags(group, "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["square_avg"] = np.zeros_like(param)
        state["acc_delta"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        rho, eps = group["rho"], group["eps"]
        state["step"] += 1
        grad = self.descent_grad(grad, param, group)
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        tmp = np.multiply(grad, grad)
        tmp *= 1.0 - rho
        v += tmp
        np.add(v, eps, out=tmp)
        np.sqrt(tmp, out=tmp)  # √(v + ε)
        delta = np.add(u, eps)
        np.sqrt(delta, out=delta)
        delta /= tmp
        delta *= grad  # Δ
        u *= rho
        np.multiply(delta, delta, out=tmp)
        tmp *= 1.0 - rho
        u += tmp
        delta *= group["lr"]
        param -= delta
