"""Loss functions (functional form) and their ``nn`` module classes.

Signatures, defaults and numbers are PyTorch's (``torch.nn.functional`` and
``torch.nn``), including the deprecated ``size_average``/``reduce`` pair, which is
translated to ``reduction`` with PyTorch's warning. ``mse_loss`` is exactly the seed's
``E = 1/n Σ (y − ŷ)²``.

One deliberate difference: shapes are checked up front. A (N, 1) prediction against an
(N,) target would silently broadcast to (N, N) (PyTorch only warns), so here it is an
error naming both shapes.

Older chainrule code passed ``reduction`` as the third positional argument
(``mse_loss(pred, target, 'sum')``); a string in that position is still read as the
reduction (in PyTorch's order the slot holds ``size_average`` or ``weight``, never a
string).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.nn.module import Module
from chainrule.ops import losses as L
from chainrule.ops._util import constant, raw
from chainrule.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


# ---- argument helpers --------------------------------------------------------------------
def _reduction(name: str, size_average: Any, reduce: Any, reduction: str,
               allowed: tuple[str, ...] = _REDUCTIONS) -> str:
    """The reduction to use, from PyTorch's current and legacy arguments."""
    if isinstance(size_average, str):  # chainrule's older positional form
        reduction, size_average = size_average, None
    if size_average is not None or reduce is not None:
        # PyTorch's legacy rule: reduce=False wins, then size_average picks mean or sum
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"{name}: size_average and reduce are deprecated, please use "
                      f"reduction='{reduction}' instead", UserWarning, stacklevel=3)
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _weight_slot(weight: Any, reduction: str) -> tuple[Any, str]:
    """A string where PyTorch's order has ``weight`` is chainrule's older positional
    ``reduction``."""
    if isinstance(weight, str):
        return None, weight
    return weight, reduction


def _array(value: Any, like: Tensor) -> np.ndarray | None:
    """A constant (weight) as an array of the input's dtype."""
    if value is None:
        return None
    return np.asarray(raw(value), dtype=like._data.dtype)


def _check(name: str, pred: Tensor, target: Tensor) -> None:
    if pred._data.shape != target._data.shape:
        raise ValueError(
            f"{name}: input shape {pred.shape} and target shape {target.shape} differ; "
            "reshape one of them (e.g. target.reshape(-1, 1)) so they match")


def _check_broadcast(name: str, w: np.ndarray | None, input: Tensor) -> None:  # noqa: A002
    if w is None:
        return
    try:
        ok = np.broadcast_shapes(w.shape, input._data.shape) == input._data.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: weight of shape {w.shape} does not broadcast to the "
                         f"input shape {input.shape}")


def _elementwise_weight(name: str, loss: Tensor, weight: Any, input: Tensor,  # noqa: A002
                        reduction: str, mean_by_weight: bool) -> Tensor:
    """``loss`` (unreduced) times ``weight``, reduced as PyTorch's weighted forms do."""
    w = _array(weight, input)
    if w.shape != input._data.shape:
        raise ValueError(f"{name}: weight shape {w.shape} must equal the input shape "
                         f"{input.shape}")
    weighted = loss * w
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if mean_by_weight:  # mse_loss and l1_loss divide by the total weight
        return weighted.sum() * (1.0 / float(w.sum()))
    return weighted.mean()


# ---- regression losses -------------------------------------------------------------------
def mse_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
             reduce: Any = None, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error ``E = 1/n Σ (y − ŷ)²`` over all n elements.

    Args:
        input: predictions ŷ, any shape.
        target: targets y, same shape as ``input``.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'mean'`` (the formula above), ``'sum'`` or ``'none'`` (per element).
        weight: optional per-element weights of the input's shape; ``'mean'`` then
            divides by their sum.

    Example:
        >>> import chainrule as cr
        >>> cr.losses.mse_loss(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 0.0])).item()
        2.5
    """
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    target = constant(target, input)
    _check("mse_loss", input, target)
    if weight is not None:
        loss = L.MSE.apply(input, target, reduction="none")
        return _elementwise_weight("mse_loss", loss, weight, input, reduction, True)
    return L.MSE.apply(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
            reduce: Any = None, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean absolute error ``1/n Σ |y − ŷ|`` (arguments as ``mse_loss``).

    Example:
        >>> import chainrule as cr
        >>> cr.losses.l1_loss(cr.tensor([1.0, -3.0]), cr.tensor([0.0, 0.0])).item()
        2.0
    """
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    target = constant(target, input)
    _check("l1_loss", input, target)
    if weight is not None:
        loss = L.L1.apply(input, target, reduction="none")
        return _elementwise_weight("l1_loss", loss, weight, input, reduction, True)
    return L.L1.apply(input, target, reduction=reduction)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Any = None) -> Tensor:
    """½(y − ŷ)² within ``delta``, ``delta·(|y − ŷ| − ½delta)`` beyond: robust to outliers.

    Args:
        input, target: same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        delta: where the quadratic turns linear, > 0.
        weight: optional per-element weights of the input's shape (``'mean'`` stays the
            mean over elements, as PyTorch).

    Example:
        >>> import chainrule as cr
        >>> cr.losses.huber_loss(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0])).item()
        1.3125
    """
    reduction = _reduction("huber_loss", None, None, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = constant(target, input)
    _check("huber_loss", input, target)
    if weight is not None:
        loss = L.Huber.apply(input, target, reduction="none", delta=delta)
        return _elementwise_weight("huber_loss", loss, weight, input, reduction, False)
    return L.Huber.apply(input, target, reduction=reduction, delta=delta)


def smooth_l1_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: ``½(y − ŷ)²/β`` where ``|y − ŷ| < β``, ``|y − ŷ| − ½β`` elsewhere.

    Equals ``huber_loss(..., delta=β) / β``; with ``beta=0`` it is ``l1_loss``.

    Args:
        input, target: same shape.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        beta: β ≥ 0, the width of the quadratic zone.

    Example:
        >>> import chainrule as cr
        >>> cr.losses.smooth_l1_loss(cr.tensor([0.5, 3.0]), cr.tensor([0.0, 0.0])).item()
        1.3125
    """
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    target = constant(target, input)
    _check("smooth_l1_loss", input, target)
    return L.SmoothL1.apply(input, target, reduction=reduction, beta=float(beta))


# ---- binary classification -----------------------------------------------------------------
def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities: ``−w·[y log x + (1−y) log(1 − x)]``.

    Each log is clamped at −100 as in PyTorch, so x = 0 or 1 gives a finite loss. For
    raw scores use ``binary_cross_entropy_with_logits`` (stabler, and no clamp needed).

    Args:
        input: probabilities x in [0, 1], any shape (e.g. after ``sigmoid``).
        target: y, same shape (values in [0, 1]).
        weight: optional rescaling weight, broadcastable to the input's shape.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'mean'`` (over elements), ``'sum'`` or ``'none'``.

    Example:
        >>> import chainrule as cr
        >>> p = cr.tensor([0.9, 0.2])
        >>> round(cr.losses.binary_cross_entropy(p, [1.0, 0.0]).item(), 4)
        0.1643
    """
    name = "binary_cross_entropy"
    weight, reduction = _weight_slot(weight, reduction)
    reduction = _reduction(name, size_average, reduce, reduction)
    target = constant(target, input)
    _check(name, input, target)
    x = input._data
    outside = ~((x >= 0) & (x <= 1))  # NaN counts as outside
    if outside.any():
        raise ValueError(f"{name}: every input must be a probability in [0, 1], got "
                         f"{x[outside].flat[0]}; for raw scores use "
                         "binary_cross_entropy_with_logits")
    w = _array(weight, input)
    _check_broadcast(name, w, input)
    return L.BCE.apply(input, target, reduction=reduction, weight=w)


def binary_cross_entropy_with_logits(input: Tensor, target: Any,  # noqa: A002
                                     weight: Any = None, size_average: Any = None,
                                     reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy on raw scores: ``−w·[p·y log σ(z) + (1−y) log(1 − σ(z))]``,
    computed without ever forming σ(z), so it is finite for any z.

    Args:
        input: logits z, any shape.
        target: y in [0, 1], same shape.
        weight: optional rescaling weight, broadcastable to the input's shape.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'mean'`` (over elements), ``'sum'`` or ``'none'``.
        pos_weight: p, weight of the positive examples, broadcast along the last
            dimension (one per class).

    Example:
        >>> import chainrule as cr
        >>> z = cr.tensor([2.0, -1.0])
        >>> round(cr.losses.binary_cross_entropy_with_logits(z, [1.0, 0.0]).item(), 4)
        0.2201
    """
    name = "binary_cross_entropy_with_logits"
    weight, reduction = _weight_slot(weight, reduction)
    reduction = _reduction(name, size_average, reduce, reduction)
    target = constant(target, input)
    _check(name, input, target)
    pw = _array(pos_weight, input)
    w = _array(weight, input)
    if w is None:
        return L.BCEWithLogits.apply(input, target, reduction=reduction, pos_weight=pw)
    _check_broadcast(name, w, input)
    loss = L.BCEWithLogits.apply(input, target, reduction="none", pos_weight=pw) * w
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


# ---- distributions -------------------------------------------------------------------------
def kl_div(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
           reduce: Any = None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback–Leibler divergence ``KL(target ‖ input)`` with ``input`` as log-probabilities.

    Pointwise ``y·(log y − x)`` (0 where y = 0), or ``e^y·(y − x)`` when ``log_target``
    (y given as log-probabilities too).

    Args:
        input: x, log-probabilities (e.g. ``log_softmax``), any shape.
        target: y, probabilities (or log-probabilities with ``log_target``), same shape.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'batchmean'`` (sum / batch size: the true KL divergence per
            sample), ``'mean'`` (over elements; PyTorch's default, which it warns about),
            ``'sum'`` or ``'none'``.
        log_target: the target is given in log space.

    Example:
        >>> import chainrule as cr
        >>> logq = cr.tensor([[-0.5, -1.0]]).log_softmax(-1)
        >>> round(cr.losses.kl_div(logq, [[0.5, 0.5]], reduction="batchmean").item(), 4)
        0.0309
    """
    reduction = _reduction("kl_div", size_average, reduce, reduction,
                           _REDUCTIONS + ("batchmean",))
    target = constant(target, input)
    _check("kl_div", input, target)
    shape = input._data.shape
    if reduction == "batchmean":
        if not shape:
            reduction, count = "sum", 1.0
        else:
            reduction, count = "mean", float(shape[0])
    else:
        count = float(input._data.size)
    return L.KLDiv.apply(input, target, reduction=reduction, count=count,
                         log_target=bool(log_target))


# ---- multi-class classification ----------------------------------------------------------
def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) → (N·d1·..., C): PyTorch's layout for dense targets, one row per
    position; (N, C) is returned as is."""
    if x._data.ndim <= 2:
        return x
    from chainrule.ops.shape import reshape, transpose

    c = x._data.shape[1]
    perm = (0,) + tuple(range(2, x._data.ndim)) + (1,)
    return reshape(transpose(x, perm), (-1, c))


def _class_indices(name: str, target: Any, x: Tensor, ignore_index: int) -> np.ndarray:
    """Integer targets for input ``x`` ((N, C, d...) or (C,)), checked and flattened."""
    t = np.asarray(raw(target))
    if t.dtype.kind == "f" and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    shape = x._data.shape
    expected = () if len(shape) == 1 else (shape[0],) + shape[2:]
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name}: targets must be integer class indices, got dtype "
                         f"{t.dtype}; for class probabilities pass a float target of the "
                         f"input's shape {x.shape}")
    if t.shape != expected:
        raise ValueError(f"{name}: input of shape {x.shape} needs targets of shape "
                         f"{expected}, got {t.shape}")
    t = t.reshape(-1)
    c = shape[0] if len(shape) == 1 else shape[1]
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(f"{name}: target {t[bad][0]} is out of range for {c} classes")
    return t


def _class_weight(name: str, weight: Any, x: Tensor, c: int) -> np.ndarray | None:
    w = _array(weight, x)
    if w is not None and w.shape != (c,):
        raise ValueError(f"{name}: weight must have one entry per class, shape {(c,)}, "
                         f"got {w.shape}")
    return w


def cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between ``softmax(input)`` and the targets, fused and stable.

    Targets are either class indices or class probabilities, as in PyTorch:

    - integer indices of shape (N,) (or (N, d1, ...), or () for one sample):
      ``'mean'`` divides by the summed weights of the samples not ignored;
    - float probabilities of the input's shape: per sample ``−Σ_c w_c y_c log p_c``;
      ``'mean'`` divides by the number of samples; ``ignore_index`` does not apply.

    Args:
        input: (N, C) raw scores, (N, C, d1, ...) for dense targets, or (C,).
        target: class indices or probabilities, see above.
        weight: optional (C,) per-class weights.
        size_average, reduce: deprecated (use ``reduction``).
        ignore_index: index targets equal to it contribute nothing.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        label_smoothing: ε in [0, 1]: the target becomes ``(1−ε)·target + ε/C``.

    Example:
        >>> import chainrule as cr
        >>> round(cr.losses.cross_entropy(cr.tensor([[2.0, 0.0]]), [0]).item(), 4)
        0.1269
        >>> round(cr.losses.cross_entropy(cr.tensor([[2.0, 0.0]]), [[0.5, 0.5]]).item(), 4)
        1.1269
    """
    name = "cross_entropy"
    weight, reduction = _weight_slot(weight, reduction)
    reduction = _reduction(name, size_average, reduce, reduction)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = input
    shape = x._data.shape
    if len(shape) < 1:
        raise ValueError(f"{name}: input needs shape (N, C) or (C,), got {x.shape}")
    c = shape[0] if len(shape) == 1 else shape[1]
    w = _class_weight(name, weight, x, c)
    from chainrule.ops.shape import reshape

    t_raw = raw(target)
    soft = np.asarray(t_raw).dtype.kind == "f" and np.shape(t_raw) == shape
    if soft:  # class probabilities
        t = constant(target, x)
        rows = reshape(x, (1, c)) if len(shape) == 1 else _classes_last(x)
        t_rows = reshape(t, (1, c)) if len(shape) == 1 else _classes_last(t)
        out = L.SoftTargetCrossEntropy.apply(rows, t_rows, reduction=reduction,
                                             smoothing=float(label_smoothing), weight=w)
    else:
        t = _class_indices(name, target, x, ignore_index)
        rows = reshape(x, (1, c)) if len(shape) == 1 else _classes_last(x)
        out = L.SoftmaxCrossEntropy.apply(rows, targets=t, reduction=reduction,
                                          smoothing=float(label_smoothing),
                                          ignore_index=ignore_index, weight=w)
    if reduction == "none":
        out = reshape(out, () if len(shape) == 1 else (shape[0],) + shape[2:])
    return out


def nll_loss(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer targets given log-probabilities.

    Args:
        input: (N, C) log-probabilities, e.g. ``log_softmax(logits)``; (N, C, d1, ...)
            for dense targets, or (C,) for one sample.
        target: (N,) (or (N, d1, ...), or ()) integer class indices in [0, C).
        weight: optional (C,) per-class weights.
        size_average, reduce: deprecated (use ``reduction``).
        ignore_index: targets equal to it contribute nothing (PyTorch's -100 by default).
        reduction: ``'mean'`` (divided by the summed weights of the samples not ignored,
            as PyTorch does), ``'sum'`` or ``'none'``.

    Example:
        >>> import chainrule as cr
        >>> lp = cr.tensor([[-0.1, -2.4]])
        >>> round(nll_loss(lp, [0]).item(), 4)
        0.1
    """
    from chainrule.ops.shape import getitem, reshape

    name = "nll_loss"
    weight, reduction = _weight_slot(weight, reduction)
    reduction = _reduction(name, size_average, reduce, reduction)
    shape = input._data.shape
    if len(shape) < 1:
        raise ValueError(f"{name}: input needs shape (N, C) or (C,), got {input.shape}")
    t = _class_indices(name, target, input, ignore_index)
    rows = reshape(input, (1, -1)) if len(shape) == 1 else _classes_last(input)
    n, c = rows._data.shape
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    w = valid.astype(input._data.dtype)
    cw = _class_weight(name, weight, input, c)
    if cw is not None:
        w = w * cw[safe]
    picked = getitem(rows, (np.arange(n), safe)) * w
    if reduction == "mean":
        total = float(w.sum())
        if total == 0:  # every target ignored: NaN as in PyTorch, with zero gradients
            return picked.sum() * 0.0 + float("nan")
        return picked.sum() * (-1.0 / total)
    if reduction == "sum":
        return -picked.sum()
    return reshape(-picked, () if len(shape) == 1 else (shape[0],) + shape[2:])


# ---- module forms --------------------------------------------------------------------------
class _Loss(Module):
    """Base of the loss modules: holds ``reduction`` (PyTorch's ``_Loss``)."""

    _allowed: tuple[str, ...] = _REDUCTIONS

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(type(self).__name__, size_average, reduce, reduction,
                                    self._allowed)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    """A loss with a per-class ``weight``, kept as a buffer (in ``state_dict``, as
    PyTorch)."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        weight, reduction = _weight_slot(weight, reduction)
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_float(weight))


def _as_float(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(raw(value))
    return arr if arr.dtype.kind == "f" else arr.astype(get_default_dtype())


class MSELoss(_Loss):
    """Module form of ``mse_loss``: ``E = 1/n Σ (y − ŷ)²``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MSELoss(reduction="sum")(cr.tensor([1.0, 2.0]), [0.0, 0.0]).item()
        5.0
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Module form of ``l1_loss``: ``1/n Σ |y − ŷ|``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Module form of ``huber_loss`` (``delta`` > 0, default 1)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """Module form of ``smooth_l1_loss`` (``beta`` ≥ 0, default 1)."""

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(_Loss):
    """Module form of ``kl_div``; ``reduction='batchmean'`` gives the KL divergence per
    sample.

    Example:
        >>> import chainrule as cr
        >>> loss = cr.nn.KLDivLoss(reduction="batchmean")
        >>> loss(cr.tensor([[0.5, 0.5]]).log(), [[0.5, 0.5]]).item()
        0.0
    """

    _allowed = _REDUCTIONS + ("batchmean",)

    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class BCELoss(_WeightedLoss):
    """Module form of ``binary_cross_entropy`` (probabilities in, e.g. after Sigmoid)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Module form of ``binary_cross_entropy_with_logits``; ``weight`` and
    ``pos_weight`` are buffers, as in PyTorch."""

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", pos_weight: Any = None) -> None:
        weight, reduction = _weight_slot(weight, reduction)
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_float(weight))
        self.register_buffer("pos_weight", _as_float(pos_weight))

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return binary_cross_entropy_with_logits(input, target, self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Module form of ``cross_entropy`` (class indices or class probabilities).

    Example:
        >>> import chainrule as cr
        >>> loss = cr.nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> round(loss(cr.tensor([[2.0, 0.0]]), [0]).item(), 4)
        0.2269
    """

    def __init__(self, weight: Any = None, size_average: Any = None,
                 ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Module form of ``nll_loss`` (log-probabilities in, e.g. after LogSoftmax)."""

    def __init__(self, weight: Any = None, size_average: Any = None,
                 ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)


# The losses the CLI and Trainer accept by name.
LOSSES = {
    "mse": MSELoss, "l1": L1Loss, "mae": L1Loss, "huber": HuberLoss,
    "smooth_l1": SmoothL1Loss,
    "cross_entropy": CrossEntropyLoss, "ce": CrossEntropyLoss, "bce": BCEWithLogitsLoss,
    "bce_with_logits": BCEWithLogitsLoss, "nll": NLLLoss,
}

__all__ = [
    "mse_loss", "l1_loss", "huber_loss", "cross_entropy", "binary_cross_entropy_with_logits",
    "nll_loss", "MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
    "NLLLoss", "LOSSES",
    # lossoptim: PyTorch's remaining common losses
    "binary_cross_entropy", "kl_div", "smooth_l1_loss", "BCELoss", "KLDivLoss",
    "SmoothL1Loss",
]
