"""PyTorch's remaining losses: margin and ranking losses, embedding losses, multi-label
losses, and the Gaussian and Poisson negative log-likelihoods (functional form and
``nn`` module classes).

Signatures, defaults and numbers are PyTorch's, with the same reduction handling as
``chainrule.losses`` (``reduction='mean'|'sum'|'none'`` and the deprecated
``size_average``/``reduce`` pair). Each loss is composed from differentiable ops exactly
as PyTorch composes it, so the gradients, the conventions at the hinge (0 where the
margin is not exceeded) and the treatment of the targets match theirs. As everywhere in
chainrule, inputs and targets of different shapes are an error rather than a silent
broadcast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.losses import _Loss, _reduction, _WeightedLoss
from chainrule.ops._util import constant, raw
from chainrule.ops.activations import logsigmoid
from chainrule.ops.arithmetic import clip, log, minimum, where
from chainrule.ops.norms import pairwise_distance
from chainrule.ops.shape import getitem, reshape, unsqueeze
from chainrule.tensor import Tensor


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shapes(name: str, **tensors: Tensor) -> None:
    shapes = {k: t._data.shape for k, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{name}: all inputs need the same shape, got {listed}")


def _tensor(value: Any, like: Tensor) -> Tensor:
    """A target: a Tensor stays as it is (its gradient may be wanted); anything else
    becomes a constant of the input's dtype."""
    return value if isinstance(value, Tensor) else constant(value, like)


# ---- ranking and embedding losses -------------------------------------------------------

def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, −y·(x₁ − x₂) + margin)``: x₁ should rank above x₂ where y = 1, below
    where y = −1.

    Args:
        input1, input2: scores, (N,) or ().
        target: y in {1, −1}, the same shape.
        margin: the gap required.
        size_average, reduce: deprecated (use ``reduction``).
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Example:
        >>> import chainrule as cr
        >>> margin_ranking_loss(cr.tensor([2.0, 0.0]), cr.tensor([1.0, 1.0]),
        ...                     cr.tensor([1.0, 1.0]), margin=0.5).tolist()
        0.75
    """
    name = "margin_ranking_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    y = _tensor(target, input1)
    _same_shapes(name, input1=input1, input2=input2, target=y)
    loss = clip(-y * (input1 - input2) + float(margin), min=0.0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Any, margin: float = 1.0,  # noqa: A002
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """``x`` where y = 1, ``max(0, margin − x)`` where y = −1 (x usually a distance).

    As PyTorch, a target that is neither 1 nor −1 gets both terms.

    Example:
        >>> import chainrule as cr
        >>> hinge_embedding_loss(cr.tensor([0.3, 0.4]), [1.0, -1.0],
        ...                      reduction="none").tolist()
        [0.30000001192092896, 0.6000000238418579]
    """
    name = "hinge_embedding_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    y = np.asarray(raw(target))
    if y.shape != input._data.shape:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {y.shape} "
                         "differ")
    zero = np.zeros((), input._data.dtype)
    loss = where(y != 1, clip(float(margin) - input, min=0.0), zero) + \
        where(y != -1, input, zero)
    return _reduce(loss, reduction)


_COSINE_EPS = 1e-12


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Tensor:
    """``1 − cos(x₁, x₂)`` where y = 1, ``max(0, cos(x₁, x₂) − margin)`` where y = −1.

    The cosine is PyTorch's: ``Σx₁x₂ / √((Σx₁² + ε)(Σx₂² + ε))`` with ε = 1e-12.

    Args:
        input1, input2: (N, D) or (D,).
        target: (N,) or () of 1 and −1.
        margin: in [−1, 1], typically 0 to 0.5.

    Example:
        >>> import chainrule as cr
        >>> cosine_embedding_loss(cr.tensor([[1.0, 0.0]]), cr.tensor([[0.0, 1.0]]),
        ...                       [1.0]).item()
        1.0
    """
    name = "cosine_embedding_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    _same_shapes(name, input1=input1, input2=input2)
    nd = input1._data.ndim
    y = np.asarray(raw(target))
    if nd not in (1, 2) or y.shape != input1._data.shape[:-1]:
        raise ValueError(f"{name}: inputs (N, D) or (D,) need targets (N,) or (): got "
                         f"inputs {input1.shape} and target {y.shape}")
    d = nd - 1
    dot = (input1 * input2).sum(d)
    mag1 = (input1 * input1).sum(d) + _COSINE_EPS
    mag2 = (input2 * input2).sum(d) + _COSINE_EPS
    cos = dot / (mag1 * mag2).sqrt()
    zero = np.zeros((), input1._data.dtype)
    loss = where(y == 1, 1 - cos, zero) + where(y == -1, clip(cos - float(margin), min=0.0),
                                                 zero)
    return _reduce(loss, reduction)


def _triplet_dims(name: str, anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    dims = (anchor._data.ndim, positive._data.ndim, negative._data.ndim)
    if len(set(dims)) != 1:
        raise ValueError(f"{name}: the anchor, positive, and negative tensors are expected to "
                         f"have the same number of dimensions, but got anchor {dims[0]}D, "
                         f"positive {dims[1]}D, and negative {dims[2]}D inputs")


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, d(a, p) − d(a, n) + margin)`` with d the p-norm distance
    ``‖x − y + eps‖_p`` (``pairwise_distance``): the anchor should be nearer the positive.

    Args:
        anchor, positive, negative: (N, D) or (D,).
        margin: the gap required.
        p: the norm's exponent.
        eps: added to the differences (a gradient at equal vectors).
        swap: use ``min(d(a, n), d(p, n))`` (the distance swap of Balntas et al.).

    Example:
        >>> import chainrule as cr
        >>> a, pos, neg = cr.tensor([[0.0, 0.0]]), cr.tensor([[1.0, 0.0]]), cr.tensor([[3.0, 0.0]])
        >>> triplet_margin_loss(a, pos, neg, eps=0.0).item()
        0.0
    """
    name = "triplet_margin_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    _triplet_dims(name, anchor, positive, negative)
    if anchor._data.ndim not in (1, 2):
        raise ValueError(f"{name}: inputs must be (N, D) or (D,), got {anchor.shape}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clip(d_pos - d_neg + float(margin), min=0.0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable | None = None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """The triplet margin loss with any distance: ``max(0, d(a, p) − d(a, n) + margin)``.

    Args:
        anchor, positive, negative: tensors ``distance_function`` accepts.
        distance_function: ``d(x, y)`` → one distance per sample (default
            ``pairwise_distance``, the Euclidean distance).
        margin: > 0.
        swap: use ``min(d(a, n), d(p, n))``.

    Example:
        >>> import chainrule as cr
        >>> a, pos, neg = cr.tensor([[0.0]]), cr.tensor([[1.0]]), cr.tensor([[1.5]])
        >>> l1 = lambda x, y: (x - y).abs().sum(-1)
        >>> triplet_margin_with_distance_loss(a, pos, neg, distance_function=l1).item()
        0.5
    """
    name = "triplet_margin_with_distance_loss"
    reduction = _reduction(name, None, None, reduction)
    if not margin > 0:
        raise ValueError(f"{name}: margin must be greater than 0, got {margin}")
    _triplet_dims(name, anchor, positive, negative)
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, dist(positive, negative))
    return _reduce(clip(d_pos - d_neg + float(margin), min=0.0), reduction)


# ---- soft margins and multi-label losses ------------------------------------------------------

def soft_margin_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
                     reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + e^{−y·x})`` for targets y in {1, −1}, computed
    without overflow.

    Example:
        >>> import chainrule as cr
        >>> round(soft_margin_loss(cr.tensor([0.0]), [1.0]).item(), 4)
        0.6931
    """
    name = "soft_margin_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    y = _tensor(target, input)
    _same_shapes(name, input=input, target=y)
    return _reduce(-logsigmoid(y * input), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                                size_average: Any = None, reduce: Any = None,
                                reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss for multi-label targets y in {0, 1}: per sample
    ``−1/C Σ_c w_c·[y_c log σ(x_c) + (1 − y_c) log σ(−x_c)]``.

    Args:
        input: (N, C) or (C,) scores.
        target: the same shape, 0 or 1 (probabilities work too).
        weight: optional (C,) (or broadcastable) per-class weights.

    Example:
        >>> import chainrule as cr
        >>> round(multilabel_soft_margin_loss(cr.tensor([[0.0, 0.0]]), [[1.0, 0.0]]).item(), 4)
        0.6931
    """
    name = "multilabel_soft_margin_loss"
    if isinstance(weight, str):  # chainrule's older positional reduction
        weight, reduction = None, weight
    reduction = _reduction(name, size_average, reduce, reduction)
    y = _tensor(target, input)
    _same_shapes(name, input=input, target=y)
    if input._data.ndim == 0:
        raise ValueError(f"{name}: input needs a class dimension, got a scalar")
    loss = -(y * logsigmoid(input) + (1 - y) * logsigmoid(-input))
    if weight is not None:
        loss = loss * _tensor(weight, input)
    c = input._data.shape[-1]
    return _reduce(loss.sum(-1) * (1.0 / c), reduction)


def _sample_rows(name: str, input: Tensor) -> tuple[Tensor, bool]:  # noqa: A002
    """(N, C) scores; True when the input was one sample (C,)."""
    nd = input._data.ndim
    if nd not in (1, 2) or input._data.shape[-1] == 0:
        raise ValueError(f"{name}: expected a non-empty (N, C) or (C,) input, got "
                         f"{input.shape}")
    return (reshape(input, (1, -1)), True) if nd == 1 else (input, False)


def _class_targets(name: str, target: Any, n: int, c: int, one: bool) -> np.ndarray:
    t = np.asarray(raw(target))
    if t.dtype.kind == "f" and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu" or t.shape != (() if one else (n,)):
        raise ValueError(f"{name}: expected integer class targets of shape "
                         f"{() if one else (n,)}, got {t.shape} of dtype {t.dtype}")
    t = t.reshape(n)
    if np.any((t < 0) | (t >= c)):
        raise ValueError(f"{name}: target {t[(t < 0) | (t >= c)][0]} is out of range for "
                         f"{c} classes")
    return t


def multi_margin_loss(input: Tensor, target: Any, p: int = 1,  # noqa: A002
                      margin: float = 1.0, weight: Any = None, size_average: Any = None,
                      reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: per sample ``Σ_{i≠y} w_y·max(0, margin − x_y + x_i)^p / C``.

    Args:
        input: (N, C) or (C,) scores.
        target: (N,) or () class indices.
        p: 1 or 2.
        margin: the gap required between the true class and the others.
        weight: optional (C,) per-class weights (of the true class).

    Example:
        >>> import chainrule as cr
        >>> round(multi_margin_loss(cr.tensor([[0.1, 0.2, 0.4, 0.8]]), [3]).item(), 4)
        0.325
    """
    name = "multi_margin_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p == 1 and p == 2 are supported, got {p!r}")
    rows, one = _sample_rows(name, input)
    n, c = rows._data.shape
    t = _class_targets(name, target, n, c, one)
    picked = getitem(rows, (np.arange(n), t))  # x_y, (N,)
    z = clip(float(margin) - unsqueeze(picked, 1) + rows, min=0.0)
    others = np.ones((n, c), rows._data.dtype)
    others[np.arange(n), t] = 0
    h = z * others if p == 1 else z * z * others
    if weight is not None:
        w = np.asarray(raw(weight), rows._data.dtype)
        if w.shape != (c,):
            raise ValueError(f"{name}: weight must be (C,) = ({c},), got {w.shape}")
        h = h * w[t][:, None]
    loss = h.sum(1) * (1.0 / c)
    if one:
        loss = reshape(loss, ())
    return _reduce(loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
                           reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: per sample ``Σ_{j ∈ y} Σ_{i ∉ y} max(0, 1 − (x_j − x_i)) / C``.

    Args:
        input: (N, C) or (C,) scores.
        target: integer class indices of the same shape: each row lists its classes and
            ends at the first −1 (the rest of the row is ignored).

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> round(multilabel_margin_loss(x, [[3, 0, -1, 1]]).item(), 4)
        0.85
    """
    name = "multilabel_margin_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    rows, one = _sample_rows(name, input)
    n, c = rows._data.shape
    t = np.asarray(raw(target))
    if t.dtype.kind == "f" and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu" or t.shape != input._data.shape:
        raise ValueError(f"{name}: target must be integer class indices of the input's shape "
                         f"{input.shape}, got {t.shape} of dtype {t.dtype}")
    t = t.reshape(n, c)
    # a target row counts up to its first −1
    listed = np.cumprod(t != -1, axis=1).astype(bool)
    if np.any(listed & ((t < 0) | (t >= c))):
        raise ValueError(f"{name}: target values must be class indices in [0, {c}) or -1")
    safe = np.where(listed, t, 0)
    is_target = np.zeros((n, c), bool)
    r, k = np.nonzero(listed)
    is_target[r, t[r, k]] = True
    x_t = getitem(rows, (np.arange(n)[:, None], safe))  # (N, K): scores of listed classes
    z = clip(1.0 - unsqueeze(x_t, 2) + unsqueeze(rows, 1), min=0.0)  # (N, K, C)
    mask = (listed[:, :, None] & ~is_target[:, None, :]).astype(rows._data.dtype)
    loss = (z * mask).sum((1, 2)) * (1.0 / c)
    if one:
        loss = reshape(loss, ())
    return _reduce(loss, reduction)


# ---- negative log-likelihoods ----------------------------------------------------------------

def gaussian_nll_loss(input: Tensor, target: Any, var: Any, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under N(input, var):
    ``½(log max(var, eps) + (input − target)² / max(var, eps))`` (+ ½log 2π if ``full``).

    The clamp at ``eps`` is not differentiated (the gradient passes through as if var
    were unclamped), as in PyTorch.

    Args:
        input: predicted means, (N, *).
        target: samples, the input's shape.
        var: predicted variances ≥ 0: the input's shape, or one dimension of size 1 (or
            missing at the end) for a variance shared along it, or a float.
        full: add the constant ½log 2π.
        eps: lower clamp of var.

    Example:
        >>> import chainrule as cr
        >>> gaussian_nll_loss(cr.tensor([1.0]), [1.0], cr.tensor([1.0])).item()
        0.0
    """
    name = "gaussian_nll_loss"
    reduction = _reduction(name, None, None, reduction)
    y = _tensor(target, input)
    if y._data.shape != input._data.shape:
        raise ValueError(f"{name}: input shape {input.shape} and target shape {y.shape} "
                         "differ")
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{name}: var has negative entry/entries")
        v = constant(np.full(input._data.shape, float(var)), input)
    else:
        v = _tensor(var, input)
        if np.any(v._data < 0):
            raise ValueError(f"{name}: var has negative entry/entries")
    shape, vshape = input._data.shape, v._data.shape
    if vshape != shape:
        if shape[:-1] == vshape:
            v = unsqueeze(v, -1)  # one variance per sample, shared along the last dimension
        elif not (len(vshape) == len(shape) and sum(
                b for a, b in zip(shape, vshape) if a != b) == 1):
            raise ValueError(f"{name}: var of shape {vshape} does not fit input {input.shape}: "
                             "give the input's shape, or one dimension of size 1")
    # max(var, eps) in value, var's gradient unchanged (PyTorch clamps under no_grad)
    v = v + (np.maximum(v._data, eps) - v._data)
    loss = 0.5 * (log(v) + (input - y) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Any, log_input: bool = True,  # noqa: A002
                     full: bool = False, size_average: Any = None, eps: float = 1e-8,
                     reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of counts ``target`` under Poisson(λ):
    ``e^x − y·x`` with x = log λ (``log_input``), else ``λ − y·log(λ + eps)``.

    ``full`` adds Stirling's approximation of log(y!), ``y log y − y + ½log(2πy)``, where
    y > 1 (0 elsewhere), as PyTorch.

    Example:
        >>> import chainrule as cr
        >>> poisson_nll_loss(cr.tensor([0.0]), [1.0]).item()
        1.0
    """
    name = "poisson_nll_loss"
    reduction = _reduction(name, size_average, reduce, reduction)
    y = _tensor(target, input)
    _same_shapes(name, input=input, target=y)
    if log_input:
        loss = input.exp() - y * input
    else:
        loss = input - y * log(input + float(eps))
    if full:
        big = y._data > 1
        safe = where(big, y, 2.0)  # log of targets ≤ 1 is never taken (nor differentiated)
        stirling = safe * log(safe) - safe + 0.5 * log(2 * math.pi * safe)
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


# ---- sequence alignment ------------------------------------------------------------------------

def _lengths(name: str, label: str, value: Any, n: int) -> np.ndarray:
    arr = np.asarray(raw(value))
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or arr.reshape(-1).shape != (n,):
        raise ValueError(f"{name}: {label} must be {n} integer length(s), got shape "
                         f"{arr.shape} of dtype {arr.dtype}")
    return arr.reshape(-1).astype(np.int64)


def ctc_loss(log_probs: Tensor, targets: Any, input_lengths: Any, target_lengths: Any,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss: ``−log`` of the probability of each
    target sequence summed over all its alignments to the input frames (speech and
    handwriting recognition without frame labels); see ``chainrule.ops.ctc``.

    Args:
        log_probs: (T, N, C) log-probabilities per frame (e.g. ``log_softmax(dim=2)``),
            or (T, C) for one sequence.
        targets: (N, S) class indices padded to S (each row's first
            ``target_lengths[n]`` count), or all targets concatenated, 1-D; never
            ``blank``.
        input_lengths: (N,) frames of each sequence (≤ T).
        target_lengths: (N,) labels of each target.
        blank: the blank class.
        reduction: ``'mean'`` (each loss divided by its target length, then the batch
            mean, as PyTorch), ``'sum'`` or ``'none'`` (N,).
        zero_infinity: give impossible alignments (a target too long for its input) loss
            0 and gradient 0 instead of ``inf``.

    Example:
        >>> import chainrule as cr
        >>> lp = cr.zeros(3, 1, 2).log_softmax(2)  # two classes, each 1/2 per frame
        >>> round(ctc_loss(lp, [[1]], [3], [1], reduction="sum").item(), 4)  # 6 paths / 8
        0.2877
    """
    from chainrule.ops.ctc import CTCLoss, extend_targets

    name = "ctc_loss"
    reduction = _reduction(name, None, None, reduction)
    lp = log_probs
    unbatched = lp._data.ndim == 2
    if unbatched:
        lp = unsqueeze(lp, 1)
    if lp._data.ndim != 3 or lp._data.dtype.kind != "f":
        raise ValueError(f"{name}: log_probs must be floating (T, N, C) or (T, C), got "
                         f"{log_probs.shape} of dtype {log_probs._data.dtype}")
    t_max, n, c = lp._data.shape
    if not 0 <= blank < c:
        raise ValueError(f"{name}: blank {blank} is out of range for {c} classes")
    in_len = _lengths(name, "input_lengths", input_lengths, n)
    tl = _lengths(name, "target_lengths", target_lengths, n)
    if np.any(in_len < 1) or np.any(in_len > t_max):
        raise ValueError(f"{name}: input_lengths must be in [1, {t_max}] (the frames of "
                         f"log_probs), got {in_len.tolist()}")
    if np.any(tl < 0):
        raise ValueError(f"{name}: target_lengths must be >= 0, got {tl.tolist()}")
    t = np.asarray(raw(targets))
    if t.dtype.kind == "f" and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name}: targets must be integer class indices, got dtype {t.dtype}")
    if unbatched or t.ndim == 1:
        if unbatched and t.ndim == 2:
            t = t.reshape(-1)
        if t.ndim != 1 or t.size < tl.sum():
            raise ValueError(f"{name}: concatenated targets must be 1-D with at least "
                             f"sum(target_lengths) = {tl.sum()} entries, got {t.shape}")
        bounds = np.concatenate([[0], np.cumsum(tl)])
        seqs = [t[bounds[i]:bounds[i + 1]] for i in range(n)]
    else:
        if t.ndim != 2 or t.shape[0] != n or np.any(tl > t.shape[1]):
            raise ValueError(f"{name}: padded targets must be (N, S) = ({n}, >= "
                             f"{tl.max(initial=0)}), got {t.shape}")
        seqs = [t[i, :tl[i]] for i in range(n)]
    flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    if np.any((flat < 0) | (flat >= c) | (flat == blank)):
        raise ValueError(f"{name}: target labels must be classes in [0, {c}) other than the "
                         f"blank {blank}")
    ext, s_len, skip = extend_targets(seqs, blank)
    losses = CTCLoss.apply(lp, ext=ext, s_len=s_len, skip=skip, in_len=in_len,
                           zero_infinity=bool(zero_infinity))
    if reduction == "mean":
        return (losses / np.maximum(tl, 1).astype(lp._data.dtype)).mean()
    if reduction == "sum":
        return losses.sum()
    return reshape(losses, ()) if unbatched else losses


# ---- module forms ------------------------------------------------------------------------------

class MarginRankingLoss(_Loss):
    """Module form of ``margin_ranking_loss``; call as ``loss(x1, x2, y)``."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        return margin_ranking_loss(input1, input2, target, self.margin,
                                   reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """Module form of ``hinge_embedding_loss``."""

    def __init__(self, margin: float = 1.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """Module form of ``cosine_embedding_loss``; call as ``loss(x1, x2, y)``."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Any) -> Tensor:
        return cosine_embedding_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """Module form of ``triplet_margin_loss``; call as ``loss(anchor, positive, negative)``.

    Example:
        >>> import chainrule as cr
        >>> loss = cr.nn.TripletMarginLoss(margin=1.0)
        >>> loss(cr.zeros(2, 3), cr.zeros(2, 3), cr.ones(2, 3)).item() >= 0
        True
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if not margin > 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """Module form of ``triplet_margin_with_distance_loss`` (keyword arguments only)."""

    def __init__(self, *, distance_function: Callable | None = None, margin: float = 1.0,
                 swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        if not margin > 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater "
                             f"than 0, got {margin}")
        self.distance_function = distance_function
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Module form of ``soft_margin_loss``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Module form of ``multilabel_soft_margin_loss``; ``weight`` is a buffer."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return multilabel_soft_margin_loss(input, target, self.weight,
                                           reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Module form of ``multi_margin_loss``; ``weight`` is a buffer."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None,
                 size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        if weight is not None and np.ndim(raw(weight)) != 1:
            raise ValueError("MultiMarginLoss: weight must be a 1-D tensor, one entry per "
                             "class")
        super().__init__(weight, size_average, reduce, reduction)
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                 reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Module form of ``multilabel_margin_loss``."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return multilabel_margin_loss(input, target, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Module form of ``gaussian_nll_loss``; call as ``loss(input, target, var)``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.GaussianNLLLoss()(cr.tensor([0.0]), [0.0], cr.tensor([1.0])).item()
        0.0
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Any, var: Any) -> Tensor:  # noqa: A002
        return gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                 reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Module form of ``poisson_nll_loss``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average: Any = None,
                 eps: float = 1e-8, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Any) -> Tensor:
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                reduction=self.reduction)


class CTCLoss(_Loss):
    """Module form of ``ctc_loss``; call as ``loss(log_probs, targets, input_lengths,
    target_lengths)``."""

    def __init__(self, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Any, input_lengths: Any,
                target_lengths: Any) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                        self.reduction, self.zero_infinity)


__all__ = [
    "cosine_embedding_loss", "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss",
    "CTCLoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
    "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "PoissonNLLLoss", "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
]
