"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_betas,
    check_flags,
    check_implementation_options,
    check_nonnegative,
)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (per parameter, from 1), learning rate ``α``,
    betas ``(β₁, β₂)``, ``ε`` and weight decay ``λ``::

        g ← −g                          if maximize
        w ← w·(1 − α·λ)                 if decoupled_weight_decay (this is AdamW)
        g ← g + λ·w                     otherwise (L2 penalty, added to the gradient)
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        v̂ ← max(v̂, v)                  if amsgrad (and v̂ replaces v below)
        w ← w − α/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    State: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad,
    ``max_exp_avg_sq`` (v̂).

    The update is evaluated as ``w ← w − c·m / (√v + ε·√(1 − β₂ᵗ))`` with the scalar
    ``c = α·√(1 − β₂ᵗ)/(1 − β₁ᵗ)``: the same number, one pass over memory fewer.

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0, added to the denominator for stability.
        weight_decay: λ ≥ 0 (L2 unless ``decoupled_weight_decay``).
        amsgrad: use the running maximum of v (Reddi et al., 2018).
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).
        decoupled_weight_decay: shrink the weights directly, as ``AdamW``.

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        check_implementation_options(type(self).__name__, foreach, fused, capturable,
                                     differentiable)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)
        check_flags(group, "amsgrad", "maximize", "decoupled_weight_decay")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        step = state["step"] = state["step"] + 1
        if _fast.enabled and _fused_adam(grad, param, state, group, step):
            return
        grad = self.descent_grad(grad, param, group, l2=not decoupled)
        if decoupled and weight_decay != 0:
            param *= 1.0 - lr * weight_decay
        m = state["exp_avg"]
        v = state["exp_avg_sq"]
        m *= beta1
        tmp = np.multiply(grad, 1.0 - beta1)
        m += tmp
        v *= beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        bias2_sqrt = math.sqrt(1.0 - beta2 ** step)
        np.sqrt(v, out=tmp)
        tmp += group["eps"] * bias2_sqrt
        np.divide(m, tmp, out=tmp)
        tmp *= lr * bias2_sqrt / (1.0 - beta1 ** step)
        param -= tmp


def _fused_adam(grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], step: int) -> bool:
    """The update of ``Adam.apply_single`` as one compiled pass (``chainrule.fast``), bit
    for bit; False (nothing written) when it does not apply: not all float32 and
    C-contiguous (float64 stays NumPy), or the kernel is unavailable."""
    m = state["exp_avg"]
    v = state["exp_avg_sq"]
    amsgrad = group["amsgrad"]
    vmax = state["max_exp_avg_sq"] if amsgrad else v
    if not (param.dtype is _F32 and grad.dtype is _F32 and m.dtype is _F32
            and v.dtype is _F32 and vmax.dtype is _F32 and param.flags.c_contiguous
            and grad.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous
            and vmax.flags.c_contiguous and m.shape == param.shape == v.shape == vmax.shape):
        return False
    lr = group["lr"]
    beta1, beta2 = group["betas"]
    weight_decay = group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    # one kernel per set of options: the flags are compile-time constants in it
    flags = (group["maximize"], not decoupled and weight_decay != 0,
             decoupled and weight_decay != 0, amsgrad)
    kernel = _fast.kernel(("adam", *flags), lambda: _build_adam(flags))
    if kernel is None:
        return False
    # the float64 scalars of the NumPy update, computed by the same Python expressions
    bias2_sqrt = math.sqrt(1.0 - beta2 ** step)
    kernel(param.ravel(), grad.ravel(), m.ravel(), v.ravel(),
           vmax.ravel(), beta1, 1.0 - beta1, beta2, 1.0 - beta2, weight_decay,
           1.0 - lr * weight_decay, group["eps"] * bias2_sqrt,
           lr * bias2_sqrt / (1.0 - beta1 ** step))
    return True


def _build_adam(flags: tuple[bool, ...]) -> Any:
    from chainrule.fast.optim import build_adam

    return build_adam(*flags)


_F32 = np.dtype(np.float32)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as PyTorch.

    The decay shrinks the weights directly instead of entering the gradient, so it is
    not rescaled by the adaptive denominator::

        w ← w·(1 − α·λ)
        then Adam's update without the L2 term (see ``Adam``).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0 (default 1e-2).
        amsgrad: use the running maximum of v.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
