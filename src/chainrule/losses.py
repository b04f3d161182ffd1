"""Loss functions (functional form) and their ``nn`` module classes.

``mse_loss`` is exactly the seed's ``E = 1/n Σ (y − ŷ)²``. Shapes are checked up front:
a (N, 1) prediction against an (N,) target would silently broadcast to (N, N) in NumPy,
so it is an error here, naming both shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.module import Module
from chainrule.ops import losses as L
from chainrule.ops._util import constant, raw
from chainrule.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check(name: str, pred: Tensor, target: Tensor, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if pred.data.shape != target.data.shape:
        raise ValueError(
            f"{name}: prediction shape {pred.shape} and target shape {target.shape} differ; "
            "reshape one of them (e.g. target.reshape(-1, 1)) so they match")


def mse_loss(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``E = 1/n Σ (y − ŷ)²`` over all n elements.

    Args:
        pred: predictions ŷ, any shape.
        target: targets y, same shape as ``pred``.
        reduction: ``'mean'`` (the formula above), ``'sum'`` or ``'none'`` (per element).

    Example:
        >>> import chainrule as cr
        >>> cr.losses.mse_loss(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 0.0])).item()
        2.5
    """
    target = constant(target, pred)
    _check("mse_loss", pred, target, reduction)
    return L.MSE.apply(pred, target, reduction=reduction)


def l1_loss(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``1/n Σ |y − ŷ|``."""
    target = constant(target, pred)
    _check("l1_loss", pred, target, reduction)
    return L.L1.apply(pred, target, reduction=reduction)


def huber_loss(pred: Tensor, target: Any, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """½(y − ŷ)² within ``delta``, ``delta·(|y − ŷ| − ½delta)`` beyond: robust to outliers."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = constant(target, pred)
    _check("huber_loss", pred, target, reduction)
    return L.Huber.apply(pred, target, reduction=reduction, delta=delta)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean",
                  label_smoothing: float = 0.0, ignore_index: int = -100,
                  weight: Any = None) -> Tensor:
    """Cross-entropy between ``softmax(logits)`` and integer class targets, fused and stable.

    Args:
        logits: (N, C) raw scores, or (N, C, d1, ...) as in PyTorch.
        target: (N,) (or (N, d1, ...)) integer class indices in [0, C).
        reduction: ``'mean'`` over non-ignored samples, ``'sum'`` or ``'none'``.
        label_smoothing: ε in [0, 1): the target puts 1−ε on the class and ε/C everywhere.
        ignore_index: targets equal to it contribute nothing.
        weight: optional (C,) per-class weights.

    Example:
        >>> import chainrule as cr
        >>> round(cr.losses.cross_entropy(cr.tensor([[2.0, 0.0]]), [0]).item(), 4)
        0.1269
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got "
                         f"{label_smoothing}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise ValueError("cross_entropy: targets must be integer class indices; for "
                             "probabilities use a soft-target loss")
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: targets must be integers, got dtype {t.dtype}")
    x = logits
    if x.data.ndim < 2:
        raise ValueError(f"cross_entropy: logits need shape (N, C), got {x.shape}")
    if x.data.ndim > 2:  # (N, C, d...) -> (N·d..., C), PyTorch's layout for dense targets
        from chainrule.ops.shape import reshape, transpose

        c = x.data.shape[1]
        perm = (0,) + tuple(range(2, x.data.ndim)) + (1,)
        x = reshape(transpose(x, perm), (-1, c))
        expected_t = (logits.shape[0],) + logits.shape[2:]
    else:
        expected_t = (x.data.shape[0],)
    if t.shape != expected_t:
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of "
                         f"shape {expected_t}, got {t.shape}")
    t = t.reshape(-1)
    c = x.data.shape[1]
    valid = t != ignore_index
    if valid.any() and (t[valid].min() < 0 or t[valid].max() >= c):
        bad = t[valid][(t[valid] < 0) | (t[valid] >= c)][0]
        raise ValueError(f"cross_entropy: target {bad} is out of range for {c} classes")
    w = None if weight is None else np.asarray(raw(weight),
                                               dtype=x.data.dtype)
    out = L.SoftmaxCrossEntropy.apply(x, targets=t, reduction=reduction,
                                      smoothing=label_smoothing, ignore_index=ignore_index,
                                      weight=w)
    if reduction == "none" and logits.data.ndim > 2:
        from chainrule.ops.shape import reshape

        out = reshape(out, expected_t)
    return out


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy on raw scores: ``−[y log σ(z) + (1−y) log(1 − σ(z))]``,
    computed without ever forming σ(z), so it is finite for any z."""
    target = constant(target, logits)
    _check("binary_cross_entropy_with_logits", logits, target, reduction)
    pw = None if pos_weight is None else np.asarray(raw(pos_weight),
                                                    dtype=logits.data.dtype)
    return L.BCEWithLogits.apply(logits, target, reduction=reduction, pos_weight=pw)


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean",
             ignore_index: int = -100, weight: Any = None) -> Tensor:
    """Negative log-likelihood of integer targets given log-probabilities (N, C).

    Args:
        log_probs: (N, C), e.g. ``log_softmax(logits)``.
        target: (N,) integer class indices in [0, C).
        reduction: ``'mean'`` (divided by the summed weights of the samples not ignored,
            as PyTorch does), ``'sum'`` or ``'none'``.
        ignore_index: targets equal to it contribute nothing (PyTorch's -100 by default).
        weight: optional (C,) per-class weights.

    Example:
        >>> import chainrule as cr
        >>> lp = cr.tensor([[-0.1, -2.4]])
        >>> round(nll_loss(lp, [0]).item(), 4)
        0.1
    """
    from chainrule.ops.shape import getitem

    if reduction not in _REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if log_probs.data.ndim != 2:
        raise ValueError(f"nll_loss: log_probs need shape (N, C), got {log_probs.shape}")
    n, c = log_probs.data.shape
    t = np.asarray(raw(target))
    if t.dtype.kind == "f" and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu" or t.shape != (n,):
        raise ValueError(f"nll_loss: log_probs of shape {log_probs.shape} need integer targets "
                         f"of shape {(n,)}, got {t.dtype} {t.shape}")
    valid = t != ignore_index
    if np.any(valid & ((t < 0) | (t >= c))):
        bad = t[valid & ((t < 0) | (t >= c))][0]
        raise ValueError(f"nll_loss: target {bad} is out of range for {c} classes")
    safe = np.where(valid, t, 0)
    w = valid.astype(log_probs.data.dtype)
    if weight is not None:
        w = w * np.asarray(raw(weight), dtype=w.dtype)[safe]
    picked = getitem(log_probs, (np.arange(n), safe)) * w
    if reduction == "mean":
        total = float(w.sum())
        if total == 0:  # every target ignored: NaN as in PyTorch, with zero gradients
            return picked.sum() * 0.0 + float("nan")
        return picked.sum() * (-1.0 / total)
    if reduction == "sum":
        return -picked.sum()
    return -picked


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    """Module form of ``mse_loss``: ``E = 1/n Σ (y − ŷ)²``."""

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return mse_loss(pred, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return l1_loss(pred, target, self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return huber_loss(pred, target, self.reduction, self.delta)


class CrossEntropyLoss(_Loss):
    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0,
                 ignore_index: int = -100, weight: Any = None) -> None:
        super().__init__(reduction)
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.weight = None if weight is None else np.asarray(raw(weight))

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return cross_entropy(logits, target, self.reduction, self.label_smoothing,
                             self.ignore_index, self.weight)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return binary_cross_entropy_with_logits(logits, target, self.reduction,
                                                self.pos_weight)


class NLLLoss(_Loss):
    def __init__(self, reduction: str = "mean", ignore_index: int = -100,
                 weight: Any = None) -> None:
        super().__init__(reduction)
        self.ignore_index = ignore_index
        self.weight = None if weight is None else np.asarray(raw(weight))

    def forward(self, log_probs: Tensor, target: Any) -> Tensor:
        return nll_loss(log_probs, target, self.reduction, self.ignore_index, self.weight)


LOSSES = {
    "mse": MSELoss, "l1": L1Loss, "mae": L1Loss, "huber": HuberLoss,
    "cross_entropy": CrossEntropyLoss, "ce": CrossEntropyLoss, "bce": BCEWithLogitsLoss,
    "bce_with_logits": BCEWithLogitsLoss, "nll": NLLLoss,
}

__all__ = [
    "mse_loss", "l1_loss", "huber_loss", "cross_entropy", "binary_cross_entropy_with_logits",
    "nll_loss", "MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
    "NLLLoss", "LOSSES",
]
