"""Adamax: Adam with the infinity norm of past gradients in place of their RMS."""

from __future__ import annotations

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


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (per parameter, from 1), learning rate ``α``,
    betas ``(β₁, β₂)``, ``ε`` and weight decay ``λ``::

        g ← −g                          if maximize
        g ← g + λ·w                     (L2 penalty, added to the gradient)
        m ← β₁·m + (1 − β₁)·g
        u ← max(β₂·u, |g| + ε)          (an exponentially weighted infinity norm)
        w ← w − α/(1 − β₁ᵗ) · m / u

    State: ``step`` (t), ``exp_avg`` (m) and ``exp_inf`` (u).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α ≥ 0 (default 2e-3).
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_implementation_options("Adamax", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)
        check_flags(group, "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_inf"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        step = state["step"] = state["step"] + 1
        grad = self.descent_grad(grad, param, group)
        m, u = state["exp_avg"], state["exp_inf"]
        m *= beta1
        tmp = np.multiply(grad, 1.0 - beta1)
        m += tmp
        u *= beta2
        np.abs(grad, out=tmp)
        tmp += group["eps"]
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=tmp)
        tmp *= group["lr"] / (1.0 - beta1 ** step)
        param -= tmp
