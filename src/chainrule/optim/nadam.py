"""NAdam: Adam with Nesterov momentum (and PyTorch's momentum-decay schedule)."""

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


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (per parameter, from 1), learning rate ``α``,
    betas ``(β₁, β₂)``, ``ε``, weight decay ``λ`` and momentum decay ``ψ``::

        g ← −g                               if maximize
        w ← w·(1 − α·λ)                      if decoupled_weight_decay
        g ← g + λ·w                          otherwise (L2 penalty)
        μ_t = β₁·(1 − ½·0.96^(t·ψ)),   μ_{t+1} = β₁·(1 − ½·0.96^((t+1)·ψ))
        Π ← Π·μ_t                            (the product of the μ's, from 1)
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        d = √(v / (1 − β₂ᵗ)) + ε
        w ← w − α·(1 − μ_t)/(1 − Π) · g/d − α·μ_{t+1}/(1 − Π·μ_{t+1}) · m/d

    The first term is the current gradient's share, the second the look-ahead momentum.

    State: ``step`` (t), ``mu_product`` (Π, a float), ``exp_avg`` (m), ``exp_avg_sq`` (v).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α ≥ 0 (default 2e-3).
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0.
        momentum_decay: ψ ≥ 0 (default 4e-3).
        decoupled_weight_decay: shrink the weights directly (NAdamW) instead of adding
            the L2 term to the gradient.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.NAdam(model.parameters(), lr=2e-3, momentum_decay=4e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_implementation_options("NAdam", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay", "momentum_decay")
        check_betas(group)
        check_flags(group, "decoupled_weight_decay", "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["mu_product"] = 1.0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        psi = group["momentum_decay"]
        decoupled = group["decoupled_weight_decay"]
        step = state["step"] = state["step"] + 1
        grad = self.descent_grad(grad, param, group, l2=not decoupled)
        if decoupled and group["weight_decay"] != 0:
            param *= 1.0 - lr * group["weight_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = state["mu_product"] = state["mu_product"] * mu
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        tmp = np.multiply(grad, 1.0 - beta1)
        m += tmp
        v *= beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        denom = np.divide(v, 1.0 - beta2 ** step)
        np.sqrt(denom, out=denom)
        denom += group["eps"]
        np.divide(grad, denom, out=tmp)
        tmp *= lr * (1.0 - mu) / (1.0 - mu_product)
        param -= tmp
        np.divide(m, denom, out=tmp)
        tmp *= lr * mu_next / (1.0 - mu_product * mu_next)
        param -= tmp


