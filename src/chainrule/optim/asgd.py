"""ASGD: SGD with a decaying rate, and a running average of the iterates kept aside."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_flags,
    check_implementation_options,
    check_nonnegative,
)


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992), exactly as PyTorch computes it.

    With gradient ``g``, step count ``t`` (per parameter, from 1), learning rate ``α``,
    decay ``λ`` (``lambd``), power ``a`` (``alpha``), averaging start ``t₀``, weight decay
    ``ω``, and the rate ``η`` and averaging weight ``μ`` (state, starting at ``η = α``,
    ``μ = 1``)::

        g ← −g                              if maximize
        g ← g + ω·w                         (L2 penalty, added to the gradient)
        w ← w·(1 − λ·η)
        w ← w − η·g
        ā ← ā + μ·(w − ā)                   (ā ← w while μ = 1)
        η ← α / (1 + λ·α·t)^a
        μ ← 1 / max(1, t − t₀)

    The parameter itself follows SGD; the average ``ā`` (state ``ax``) is what the method
    is named for: copy it into the model to evaluate the averaged weights. ``μ`` stays 1,
    and ``ā`` equals ``w``, until step ``t₀ + 1``.

    As in PyTorch, ``η`` and ``μ`` are rounded to the default dtype (float32 unless
    ``chainrule.set_default_dtype(float64)``) each time they are stored, whatever the
    parameter's dtype: float64 training then matches PyTorch's to the last bits.

    State: ``step`` (t), ``eta`` (η) and ``mu`` (μ) as numbers, ``ax`` (ā) the parameter's
    shape.

    Args:
        params: Parameters or param-group dicts.
        lr: α ≥ 0 (default 1e-2).
        lambd: λ, the decay of the rate (default 1e-4).
        alpha: a, the power of that decay (default 0.75).
        t0: t₀, the step after which averaging starts (default 1e6).
        weight_decay: ω ≥ 0.
        maximize: ascend the objective instead.
        foreach, capturable, differentiable (those PyTorch's version takes): how PyTorch
            computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([1.0, -2.0])
        >>> opt = cr.optim.ASGD([w], lr=0.5, lambd=0.0)
        >>> w.grad = cr.tensor([1.0, 1.0])
        >>> opt.step()
        >>> w.data
        tensor([ 0.5, -2.5])
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        check_implementation_options("ASGD", foreach, None, capturable, differentiable)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "weight_decay")
        for name in ("lambd", "alpha", "t0"):
            value = group[name]
            # t0 = inf (never average) is fine; lambd, alpha must be finite
            ok = isinstance(value, float) and (
                not np.isnan(value) if name == "t0" else np.isfinite(value))
            if not ok:
                raise ValueError(f"{name} must be a {'' if name == 't0' else 'finite '}"
                                 f"number, got {value!r}")
        check_flags(group, "maximize")

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        state["step"] = 0
        state["eta"] = _stored(group["lr"])
        state["mu"] = 1.0
        state["ax"] = np.zeros_like(param)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        lr, lambd = group["lr"], group["lambd"]
        step = state["step"] = state["step"] + 1
        grad = self.descent_grad(grad, param, group)
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        param *= 1.0 - lambd * eta
        scaled = np.multiply(grad, eta)
        param -= scaled
        if mu != 1.0:
            np.subtract(param, ax, out=scaled)
            scaled *= mu
            ax += scaled
        else:
            np.copyto(ax, param)
        state["eta"] = _stored(lr / (1.0 + lambd * lr * step) ** group["alpha"])
        state["mu"] = _stored(1.0 / max(1.0, step - group["t0"]))


def _stored(value: float) -> float:
    """``value`` as PyTorch stores ASGD's η and μ: in a tensor of the default dtype."""
    wide = get_default_dtype() == np.float64
    return float(np.array(value, dtype=np.float64 if wide else np.float32))
