"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_flags,
    check_implementation_options,
    check_nonnegative,
    check_unit_interval,
)


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), exactly as PyTorch computes it.

    With gradient ``g``, learning rate ``α``, smoothing ``ρ`` (``alpha``), ``ε``,
    momentum ``μ`` and weight decay ``λ``::

        g ← −g                          if maximize
        g ← g + λ·w                     (L2 penalty, added to the gradient)
        s ← ρ·s + (1 − ρ)·g²
        ḡ ← ρ·ḡ + (1 − ρ)·g             if centered
        d ← √(s − ḡ²) + ε   if centered  else  d ← √s + ε
        b ← μ·b + g/d,  w ← w − α·b     if μ > 0
        w ← w − α·g/d                   otherwise

    State: ``step``, ``square_avg`` (s), ``momentum_buffer`` (b, when μ > 0) and
    ``grad_avg`` (ḡ, when centered).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α.
        alpha: smoothing constant ρ in [0, 1].
        eps: ε ≥ 0.
        weight_decay: λ ≥ 0.
        momentum: μ ≥ 0.
        centered: normalise by an estimate of the gradient's variance instead of its
            second moment.
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.99)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        check_implementation_options("RMSprop", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay", "momentum")
        check_unit_interval(group, "alpha", closed=True)
        check_flags(group, "centered", "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["square_avg"] = np.zeros_like(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        alpha = group["alpha"]
        momentum = group["momentum"]
        state["step"] += 1
        if _fast.enabled and _fused_rmsprop(grad, param, state, group):
            return
        grad = self.descent_grad(grad, param, group)
        square_avg = state["square_avg"]
        square_avg *= alpha
        tmp = np.multiply(grad, grad)
        tmp *= 1.0 - alpha
        square_avg += tmp
        if group["centered"]:
            grad_avg = state["grad_avg"]
            np.subtract(grad, grad_avg, out=tmp)
            tmp *= 1.0 - alpha
            grad_avg += tmp
            np.multiply(grad_avg, grad_avg, out=tmp)
            np.subtract(square_avg, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(square_avg, out=tmp)
        tmp += group["eps"]
        np.divide(grad, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            np.multiply(buf, group["lr"], out=tmp)
        else:
            tmp *= group["lr"]
        param -= tmp


_F32 = np.dtype(np.float32)


def _build_rmsprop(flags: tuple[bool, ...]) -> Any:
    from chainrule.fast.optim import build_rmsprop

    return build_rmsprop(*flags)


def _fused_rmsprop(grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                   group: dict[str, Any]) -> bool:
    """The update of ``RMSprop.apply_single`` as one compiled pass (``chainrule.fast``), bit
    for bit; False (nothing written) when it does not apply: not all float32 and
    C-contiguous (float64 stays NumPy), or the kernel is unavailable."""
    momentum = group["momentum"]
    centered = group["centered"]
    square_avg = state["square_avg"]
    # the state this step reads (KeyError, as on the NumPy path, if a flag changed since)
    grad_avg = state["grad_avg"] if centered else square_avg
    buf = state["momentum_buffer"] if momentum > 0 else square_avg
    arrays = (param, grad, square_avg, grad_avg, buf)
    for a in arrays:
        if a.dtype is not _F32 or not a.flags.c_contiguous or a.shape != param.shape:
            return False
    weight_decay = group["weight_decay"]
    flags = (group["maximize"], weight_decay != 0, centered, momentum > 0)
    kernel = _fast.kernel(("rmsprop", *flags), lambda: _build_rmsprop(flags))
    if kernel is None:
        return False
    alpha = group["alpha"]
    kernel(*(a.ravel() for a in arrays), alpha, 1.0 - alpha, group["eps"], group["lr"],
           momentum, weight_decay)
    return True
