"""Fused loss nodes: one node per loss keeps the training step short and stable.

Each forward returns the per-element loss reduced by ``reduction``; each backward
writes the closed-form derivative instead of chaining through several nodes.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import ones_vector
from chainrule.ops.activations import _sigmoid


def _reduce(values: np.ndarray, reduction: str, count: float | None = None) -> np.ndarray:
    if reduction == "mean":
        total = values.sum()
        n = values.size if count is None else count
        return np.asarray(total / max(n, 1), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    return values


def _scale(g: np.ndarray, shape: tuple[int, ...], reduction: str,
           count: float | None = None) -> np.ndarray:
    """The incoming gradient spread back over the unreduced elements."""
    if reduction == "mean":
        n = math.prod(shape) if count is None else count
        return g * (1.0 / max(n, 1))
    return g


class MSE(Function):
    """``E = 1/n Σ (y − ŷ)²``; ``∂E/∂ŷ = 2 (ŷ − y) / n``."""

    __slots__ = ()

    def forward(self, pred: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        diff = pred - target
        self.saved = (diff, reduction)
        return _reduce(diff * diff, reduction)

    def backward(self, g: np.ndarray) -> tuple:
        diff, reduction = self.saved
        gp = (2 * diff) * _scale(g, diff.shape, reduction)
        return gp, (-gp if self.needs_input_grad[1] else None)


class L1(Function):
    __slots__ = ()

    def forward(self, pred: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        diff = pred - target
        self.saved = (np.sign(diff), reduction)
        return _reduce(np.abs(diff), reduction)

    def backward(self, g: np.ndarray) -> tuple:
        sign, reduction = self.saved
        gp = sign * _scale(g, sign.shape, reduction)
        return gp, (-gp if self.needs_input_grad[1] else None)


class Huber(Function):
    """Quadratic within ``delta`` of the target, linear beyond (PyTorch's huber_loss)."""

    __slots__ = ()

    def forward(self, pred: np.ndarray, target: np.ndarray, reduction: str,
                delta: float) -> np.ndarray:
        diff = pred - target
        small = np.abs(diff) <= delta
        values = np.where(small, 0.5 * diff * diff, delta * (np.abs(diff) - 0.5 * delta))
        self.saved = (diff, small, delta, reduction)
        return _reduce(values.astype(pred.dtype, copy=False), reduction)

    def backward(self, g: np.ndarray) -> tuple:
        diff, small, delta, reduction = self.saved
        d = np.where(small, diff, delta * np.sign(diff)).astype(diff.dtype, copy=False)
        gp = d * _scale(g, diff.shape, reduction)
        return gp, (-gp if self.needs_input_grad[1] else None)


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of integer targets against softmax(logits), fused.

    logits (N, C); targets (N,) ints. Per sample, with class weights w (all 1 when not
    given) and label smoothing ε, PyTorch's definition:
    ``l = (1 − ε) w_t (−log p_t) + (ε / C) Σ_c w_c (−log p_c)``; ignored samples give 0 and
    ``'mean'`` divides by ``Σ w_t`` over the samples not ignored. The derivative per sample
    is ``∂l/∂z = (1 − ε) w_t (p − onehot) + (ε / C) (p Σ_c w_c − w)``, i.e.
    ``p − target distribution`` without weights.
    """

    __slots__ = ()

    def forward(self, logits: np.ndarray, *, targets: np.ndarray, reduction: str,
                smoothing: float, ignore_index: int,
                weight: np.ndarray | None) -> np.ndarray:
        n, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        total = p @ ones_vector(c, p.dtype)  # row sums as a GEMV
        p /= total[:, None]  # the softmax, kept for backward (no second exp there)
        log_z = np.log(total)
        valid = targets != ignore_index
        safe_t = np.where(valid, targets, 0)
        rows = np.arange(n)
        w = valid.astype(logits.dtype)
        if weight is not None:
            w = w * weight[safe_t]
        per_sample = (log_z - shifted[rows, safe_t]) * w  # −log p_t = log Z − shifted_t
        if smoothing > 0:
            # −Σ_c w_c log p_c, every class by its own weight (all 1 without weights)
            class_w = ones_vector(c, p.dtype) if weight is None else weight
            smooth = log_z * class_w.sum() - shifted @ class_w
            per_sample = (1 - smoothing) * per_sample + (smoothing / c) * smooth * valid
        per_sample = per_sample.astype(logits.dtype, copy=False)
        count = float(w.sum())
        self.saved = (p, safe_t, w, valid, weight, smoothing, reduction, count)
        if reduction == "mean":
            if count == 0:  # every target ignored: a mean over nothing, NaN as in PyTorch
                return np.asarray(np.nan, dtype=logits.dtype)
            return np.asarray(per_sample.sum() / count, dtype=logits.dtype)
        if reduction == "sum":
            return np.asarray(per_sample.sum(), dtype=logits.dtype)
        return per_sample

    def backward(self, g: np.ndarray) -> np.ndarray:
        p, t, w, valid, weight, smoothing, reduction, count = self.saved
        n, c = p.shape
        coef = ((1 - smoothing) * w).astype(p.dtype, copy=False)
        grad = p * coef[:, None]  # a new array: p stays intact for a retained graph
        grad[np.arange(n), t] -= coef
        if smoothing > 0:
            on = (valid * (smoothing / c)).astype(p.dtype, copy=False)[:, None]
            if weight is None:
                grad += on * (p * c - 1)
            else:
                grad += on * (p * weight.sum() - weight)
        if reduction == "none":
            scale = g[:, None]
        elif reduction == "mean":
            scale = g / max(count, 1e-12)
        else:
            scale = g
        return grad * np.asarray(scale, dtype=grad.dtype)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits: ``max(z,0) − z y + log(1 + e^{−|z|})``, stable for
    any z; ``∂E/∂z = σ(z) − y``."""

    __slots__ = ()

    def forward(self, z: np.ndarray, y: np.ndarray, reduction: str,
                pos_weight: np.ndarray | None) -> np.ndarray:
        softplus_neg = np.log1p(np.exp(-np.abs(z)))
        if pos_weight is None:
            values = np.maximum(z, 0) - z * y + softplus_neg
        else:
            # l = (1 − y) z + (1 + (pw − 1) y) · log(1 + e^{−z})
            log_sig_neg = softplus_neg + np.maximum(-z, 0)  # log(1 + e^{−z})
            values = (1 - y) * z + (1 + (pos_weight - 1) * y) * log_sig_neg
        self.saved = (z, y, reduction, pos_weight)
        return _reduce(values.astype(z.dtype, copy=False), reduction)

    def backward(self, g: np.ndarray) -> tuple:
        z, y, reduction, pw = self.saved
        sig = _sigmoid(z)
        if pw is None:
            dz = sig - y
        else:
            dz = (1 - y) - (1 + (pw - 1) * y) * (1 - sig)
        scale = _scale(g, z.shape, reduction)
        gz = (dz * scale).astype(z.dtype, copy=False)
        gy = None
        if self.needs_input_grad[1]:
            if pw is None:
                dy = -z
            else:  # ∂l/∂y = −z + (pw − 1) log(1 + e^{−z})
                dy = -z + (pw - 1) * (np.log1p(np.exp(-np.abs(z))) + np.maximum(-z, 0))
            gy = (dy * scale).astype(z.dtype, copy=False)
        return gz, gy


class SoftTargetCrossEntropy(Function):
    """Cross-entropy of probability targets against softmax(logits), fused.

    logits (N, C); target (N, C) probabilities (rows usually sum to 1). With class
    weights w (all 1 when not given) and label smoothing ε, PyTorch's definition per
    sample: ``y' = (1 − ε)·y + ε/C``, ``l = −Σ_c w_c y'_c log p_c``; ``'mean'`` divides by
    N (not by the weights). Derivatives: ``∂l/∂z = p·Σ_c w_c y'_c − w ⊙ y'`` and
    ``∂l/∂y_c = −(1 − ε)·w_c·log p_c``.
    """

    __slots__ = ()

    def forward(self, logits: np.ndarray, target: np.ndarray, *, reduction: str,
                smoothing: float, weight: np.ndarray | None) -> np.ndarray:
        n, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        total = p @ ones_vector(c, p.dtype)
        p /= total[:, None]
        log_p = shifted - np.log(total)[:, None]
        y = target * (1 - smoothing) + smoothing / c if smoothing > 0 else target
        wy = y if weight is None else y * weight
        per_sample = -((wy * log_p) @ ones_vector(c, p.dtype))
        per_sample = per_sample.astype(logits.dtype, copy=False)
        keep_log_p = log_p if self.needs_input_grad[1] else None
        self.saved = (p, wy, keep_log_p, weight, smoothing, reduction)
        return _reduce(per_sample, reduction)

    def backward(self, g: np.ndarray) -> tuple:
        p, wy, log_p, weight, smoothing, reduction = self.saved
        n, c = p.shape
        if reduction == "none":
            scale = g[:, None]
        else:
            scale = g / n if reduction == "mean" else g
        scale = np.asarray(scale, dtype=p.dtype)
        gz = ((p * (wy @ ones_vector(c, p.dtype))[:, None] - wy) * scale).astype(p.dtype,
                                                                             copy=False)
        gy = None
        if log_p is not None:
            coef = -(1 - smoothing) * (log_p if weight is None else log_p * weight)
            gy = (coef * scale).astype(p.dtype, copy=False)
        return gz, gy


# PyTorch's floor for x(1 − x) in BCE's derivative: 1e-12 as a C float, so the gradient
# at x = 0 or 1 is the same number as theirs
_BCE_EPS = float(np.float32(1e-12))


class BCE(Function):
    """Binary cross-entropy of probabilities x in [0, 1], as PyTorch computes it.

    ``l = −w·[y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)]`` (the clamp keeps
    x = 0 or 1 finite). Derivatives as PyTorch's: ``∂l/∂x = w·(x − y) / max(x(1 − x),
    1e-12)`` and ``∂l/∂y = w·(log(1 − x) − log x)`` (unclamped).
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, y: np.ndarray, reduction: str,
                weight: np.ndarray | None) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_x = np.log(x)
            log_1mx = np.log1p(-x)
        values = (y - 1) * np.maximum(log_1mx, -100.0) - y * np.maximum(log_x, -100.0)
        if weight is not None:
            values = values * weight
        keep_logs = (log_x, log_1mx) if self.needs_input_grad[1] else None
        self.saved = (x, y, weight, reduction, keep_logs)
        return _reduce(values.astype(x.dtype, copy=False), reduction)

    def backward(self, g: np.ndarray) -> tuple:
        x, y, weight, reduction, logs = self.saved
        scale = _scale(g, x.shape, reduction)
        if weight is not None:
            scale = scale * weight
        gx = (x - y) / np.maximum((1 - x) * x, _BCE_EPS) * scale
        gy = None
        if logs is not None:
            with np.errstate(invalid="ignore"):
                gy = ((logs[1] - logs[0]) * scale).astype(x.dtype, copy=False)
        return gx.astype(x.dtype, copy=False), gy


class SmoothL1(Function):
    """PyTorch's smooth L1: ``½d²/β`` where ``|d| < β``, ``|d| − ½β`` elsewhere (d = x − y);
    plain L1 when β = 0. ``∂l/∂x = d/β`` inside, ``sign(d)`` outside."""

    __slots__ = ()

    def forward(self, pred: np.ndarray, target: np.ndarray, reduction: str,
                beta: float) -> np.ndarray:
        diff = pred - target
        ad = np.abs(diff)
        if beta == 0:
            values = ad
        else:
            values = np.where(ad < beta, (0.5 / beta) * diff * diff, ad - 0.5 * beta)
        self.saved = (diff, beta, reduction)
        return _reduce(values.astype(pred.dtype, copy=False), reduction)

    def backward(self, g: np.ndarray) -> tuple:
        diff, beta, reduction = self.saved
        d = np.sign(diff) if beta == 0 else np.where(np.abs(diff) < beta, diff / beta,
                                                     np.sign(diff))
        gp = d.astype(diff.dtype, copy=False) * _scale(g, diff.shape, reduction)
        return gp, (-gp if self.needs_input_grad[1] else None)


class KLDiv(Function):
    """Kullback–Leibler divergence with log-probability input ``x`` (PyTorch's kl_div).

    Pointwise ``y·(log y − x)`` (0 where y = 0), or ``e^y·(y − x)`` with ``log_target``.
    ``∂l/∂x = −y`` (``−e^y``); ``∂l/∂y = log y + 1 − x`` (NaN at y = 0, as PyTorch's
    xlogy rule gives) or ``e^y·(y − x + 1)``. ``count`` is the divisor of ``'mean'``: the
    element count, or the batch size for ``'batchmean'``.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, y: np.ndarray, reduction: str, count: float,
                log_target: bool) -> np.ndarray:
        if log_target:
            ey = np.exp(y)
            values = ey * (y - x)
        else:
            ey = None
            with np.errstate(divide="ignore", invalid="ignore"):
                ylogy = np.where(y == 0, 0.0, y * np.log(y))
            values = ylogy - y * x
        self.saved = (x, y, ey, reduction, count, log_target)
        return _reduce(values.astype(x.dtype, copy=False), reduction, count)

    def backward(self, g: np.ndarray) -> tuple:
        x, y, ey, reduction, count, log_target = self.saved
        scale = _scale(g, x.shape, reduction, count)
        gx = ((-ey if log_target else -y) * scale).astype(x.dtype, copy=False)
        gy = None
        if self.needs_input_grad[1]:
            if log_target:
                dy = ey * (y - x + 1)
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    dy = np.where(y == 0, np.nan, np.log(y) + 1) - x
            gy = (dy * scale).astype(x.dtype, copy=False)
        return gx, gy
