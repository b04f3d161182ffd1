"""Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 decay."""

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
    subtract_scaled,
)


class SGD(Optimizer):
    r"""Gradient descent, the seed's rule ``Δw = −α ∂E/∂w``, plus PyTorch's options.

    With gradient ``g``, learning rate ``α``, momentum ``μ``, dampening ``τ`` and weight
    decay ``λ``, one step is::

        g ← −g                      if maximize
        g ← g + λ·w                 (L2 penalty λ/2·‖w‖², added to the gradient)
        b ← g                       on the first step (μ ≠ 0)
        b ← μ·b + (1 − τ)·g         afterwards
        g ← g + μ·b  if nesterov  else  g ← b
        w ← w − α·g

    With ``μ = λ = 0`` this is plain ``w ← w − α·g``. State (when ``μ ≠ 0``):
    ``momentum_buffer`` (b).

    Args:
        params: Parameters or param-group dicts.
        lr: learning rate α.
        momentum: μ ≥ 0.
        dampening: τ in [0, 1].
        weight_decay: λ ≥ 0.
        nesterov: Nesterov momentum (needs μ > 0 and τ = 0).
        maximize: ascend the objective instead.
        foreach, fused, capturable, differentiable (those PyTorch's version takes):
            how PyTorch computes the same update, so accepted and ignored; only
            ``differentiable=True`` raises (see ``check_implementation_options``).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Linear(3, 1)
        >>> opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_implementation_options("SGD", foreach, fused, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def validate(self, group: dict[str, Any]) -> None:
        check_nonnegative(group, "lr", "momentum", "weight_decay")
        check_unit_interval(group, "dampening", closed=True)
        check_flags(group, "nesterov", "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def state_template(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        # The buffer is created by the first step (it starts as that step's gradient).
        return {"momentum_buffer": param} if group["momentum"] != 0 else {}

    def _update_group(self, group: dict[str, Any]) -> None:
        if group["momentum"] != 0 or group["weight_decay"] != 0 or group["maximize"]:
            super()._update_group(group)
            return
        # Plain w ← w − α·g, the common case in teaching and tiny models: no state, so skip
        # the per-parameter bookkeeping. One temporary, two passes over memory.
        lr = group["lr"]
        dtype = lr_array = None
        fast = _fast.enabled
        plain = None
        for p in group["params"]:
            g = p._grad  # the .grad property's storage, read without a call per parameter
            if g is not None:
                g = g._data
                w = p._data
                if g.shape != w.shape:
                    raise self._shape_error(p, g)
                if (fast and w.dtype is _F32 and g.dtype is _F32 and w.flags.c_contiguous
                        and g.flags.c_contiguous):
                    if plain is None:
                        plain = _fast.kernel("sgd_plain", _build_sgd_plain)
                        fast = plain is not None
                    if fast:
                        plain(w.ravel(), g.ravel(), lr)  # one pass, no temporary
                        continue
                if w.dtype is not dtype:
                    # A 0-d array of the parameter's dtype multiplies faster than a Python
                    # float (no weak-scalar promotion per call) and never upcasts.
                    dtype = w.dtype
                    lr_array = np.asarray(lr, dtype)
                subtract_scaled(w, g, lr_array)

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        if _fast.enabled and _fused_sgd(grad, param, state, group):
            return
        momentum = group["momentum"]
        g = self.descent_grad(grad, param, group)
        owned = g is not grad  # a temporary of ours, so it may be scaled in place
        grad = g
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=param.dtype, order="C")
            else:
                buf *= momentum
                dampening = group["dampening"]
                if dampening != 0:
                    buf += grad * (1.0 - dampening)
                else:
                    buf += grad
            if group["nesterov"]:
                ahead = np.multiply(buf, momentum)
                ahead += grad
                grad, owned = ahead, True
            else:
                grad, owned = buf, False
        if owned:
            grad *= group["lr"]
            param -= grad
        else:
            subtract_scaled(param, grad, group["lr"])


_F32 = np.dtype(np.float32)


def _build_sgd(flags: tuple[bool, ...]) -> Any:
    from chainrule.fast.optim import build_sgd

    return build_sgd(*flags)


def _build_sgd_plain() -> Any:
    from chainrule.fast.optim import build_sgd_plain

    return build_sgd_plain()


def _fused_sgd(grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> bool:
    """The update of ``SGD.apply_single`` as one compiled pass (``chainrule.fast``), bit for
    bit; False (nothing written) when it does not apply: not all float32 and C-contiguous
    (float64 stays NumPy), the first step with momentum (NumPy creates the buffer from
    the gradient), or the kernel is unavailable."""
    momentum = group["momentum"]
    buf = param  # read by the kernel only with momentum; any float32 array of the size
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None or buf.dtype is not _F32 or not buf.flags.c_contiguous \
                or buf.shape != param.shape:
            return False
    if not (param.dtype is _F32 and grad.dtype is _F32 and param.flags.c_contiguous
            and grad.flags.c_contiguous):
        return False
    dampening = group["dampening"]
    weight_decay = group["weight_decay"]
    flags = (group["maximize"], weight_decay != 0, momentum != 0, dampening != 0,
             group["nesterov"])
    kernel = _fast.kernel(("sgd", *flags), lambda: _build_sgd(flags))
    if kernel is None:
        return False
    kernel(param.ravel(), grad.ravel(), buf.ravel(), group["lr"], momentum,
           1.0 - dampening, weight_decay)
    return True
