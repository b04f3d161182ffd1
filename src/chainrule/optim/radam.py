"""RAdam: Adam with the variance of its adaptive step rectified in the first steps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_betas,
    check_flags,
    check_implementation_options,
    check_nonnegative,
)


class RAdam(Optimizer):
    r"""RAdam (Liu et al., 2020), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (per parameter, from 1), learning rate ``α``,
    betas ``(β₁, β₂)``, ``ε`` and weight decay ``λ``::

        g ← −g                               if maximize
        w ← w·(1 − α·λ)                      if decoupled_weight_decay
        g ← g + λ·w                          otherwise (L2 penalty)
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        m̂ = m / (1 − β₁ᵗ)
        ρ∞ = 2/(1 − β₂) − 1,   ρ_t = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
        if ρ_t > 5:
            r = √((ρ_t − 4)(ρ_t − 2)·ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)·ρ_t))
            w ← w − α·m̂·r·√(1 − β₂ᵗ) / (√v + ε)
        else:
            w ← w − α·m̂                      (too few steps to trust v: SGD with momentum)

    State: ``step`` (t), ``exp_avg`` (m) and ``exp_avg_sq`` (v).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α ≥ 0 (default 1e-3).
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0.
        decoupled_weight_decay: shrink the weights directly (as AdamW) instead of adding
            the L2 term to the gradient.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.RAdam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_implementation_options("RAdam", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)
        check_flags(group, "decoupled_weight_decay", "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        decoupled = group["decoupled_weight_decay"]
        step = state["step"] = state["step"] + 1
        grad = self.descent_grad(grad, param, group, l2=not decoupled)
        if decoupled and group["weight_decay"] != 0:
            param *= 1.0 - lr * group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        tmp = np.multiply(grad, 1.0 - beta1)
        m += tmp
        v *= beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        bias1 = 1.0 - beta1 ** step
        bias2 = 1.0 - beta2 ** step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bias2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            np.sqrt(v, out=tmp)
            tmp += group["eps"]
            np.divide(m, tmp, out=tmp)
            tmp *= lr * rect * math.sqrt(bias2) / bias1
        else:
            np.multiply(m, lr / bias1, out=tmp)
        param -= tmp
