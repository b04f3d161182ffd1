"""Metrics: plain functions, and streaming objects with ``reset``/``update``/``compute``.

The objects accumulate a few running sums per batch (vectorised, no per-sample Python),
so a training loop can update them on the hot path and read the epoch's value at the end.
Their state is plain Python data (``state_dict``) so a checkpoint taken mid-epoch can
carry it and a resumed run reports the same numbers.

Predictions are what the model outputs: class scores/logits ``(N, C)`` for classifiers,
one logit ``(N,)``/``(N, 1)`` for binary classifiers (positive when > ``threshold``), and
values ``(N,)``/``(N, K)`` for regression. Targets are class indices ``(N,)`` or values.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _labels(pred: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Predicted class indices: argmax of (N, C) scores, or ``score > threshold`` for one."""
    pred = np.asarray(pred)
    if pred.ndim == 2 and pred.shape[1] > 1:
        return pred.argmax(axis=1)
    return (pred.reshape(-1) > threshold).astype(np.int64)


def _targets(target: np.ndarray) -> np.ndarray:
    return np.asarray(target).reshape(-1).astype(np.int64, copy=False)


def _check_len(name: str, pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape[0] != target.shape[0]:
        raise ValueError(f"{name}: {pred.shape[0]} predictions but {target.shape[0]} targets")


# ---- plain functions ---------------------------------------------------------------------

def accuracy(pred: Any, target: Any, threshold: float = 0.0) -> float:
    """Fraction of samples whose predicted class equals the target.

    Args:
        pred: (N, C) scores, or (N,)/(N, 1) binary logits (class 1 when > ``threshold``).
        target: (N,) class indices (or (N, 1) 0/1 values).

    Example:
        >>> accuracy([[2.0, 1.0], [0.0, 3.0]], [0, 0])
        0.5
    """
    labels, t = _labels(np.asarray(pred), threshold), _targets(target)
    _check_len("accuracy", labels, t)
    return float((labels == t).mean()) if t.size else float("nan")


def top_k_accuracy(pred: Any, target: Any, k: int = 5) -> float:
    """Fraction of samples whose target is among the ``k`` highest scores of (N, C) ``pred``.

    Example:
        >>> top_k_accuracy([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05]], [2, 2], k=2)
        0.5
    """
    t = _targets(target)
    return _top_k_hits(np.asarray(pred), t, k) / len(t) if t.size else float("nan")


def _top_k_hits(p: np.ndarray, t: np.ndarray, k: int) -> int:
    if p.ndim != 2:
        raise ValueError(f"top_k_accuracy needs (N, C) scores, got shape {p.shape}")
    _check_len("top_k_accuracy", p, t)
    if k >= p.shape[1]:
        return len(t)
    # the target is in the top k when fewer than k classes score strictly higher than it
    target_score = p[np.arange(len(t)), t]
    higher = np.count_nonzero(p > target_score[:, None], axis=1)
    return int(np.count_nonzero(higher < k))


def confusion_matrix(pred: Any, target: Any, num_classes: int | None = None,
                     threshold: float = 0.0) -> np.ndarray:
    """Counts ``cm[true, predicted]`` as an int64 (C, C) matrix (rows: true classes).

    Example:
        >>> confusion_matrix([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [0, 0, 1]).tolist()
        [[1, 1], [0, 1]]
    """
    labels, t = _labels(np.asarray(pred), threshold), _targets(target)
    _check_len("confusion_matrix", labels, t)
    if num_classes is None:
        p = np.asarray(pred)
        width = p.shape[1] if p.ndim == 2 and p.shape[1] > 1 else 2
        num_classes = max(width, int(t.max()) + 1 if t.size else 0)
    return np.bincount(t * num_classes + labels,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_absolute_error(pred: Any, target: Any) -> float:
    """``1/n Σ |y − ŷ|`` over all elements (shapes (N,) and (N, 1) are treated alike).

    Example:
        >>> mean_absolute_error([1.0, 2.0], [0.0, 4.0])
        1.5
    """
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    p, t = _align(p, t)
    return float(np.abs(p - t).mean())


def r2_score(pred: Any, target: Any) -> float:
    """Coefficient of determination ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²``, averaged over outputs.

    Example:
        >>> round(r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]), 4)
        0.7857
    """
    m = R2Score()
    m.update(pred, target)
    return m.compute()


def _align(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) and (N, 1) are the same thing for a single-output regression."""
    if p.shape != t.shape:
        if p.size == t.size and p.shape[:1] == t.shape[:1]:
            return p.reshape(len(p), -1), t.reshape(len(t), -1)
        raise ValueError(f"prediction shape {p.shape} and target shape {t.shape} differ")
    return p, t


# ---- streaming objects -------------------------------------------------------------------

class Metric:
    """A metric computed over many batches: ``reset()``, ``update(pred, target)``,
    ``compute()``. ``name`` is the key it gets in logs and history."""

    name = "metric"
    scalar = True  # False for metrics whose value is not one number (confusion matrix)

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The running sums as JSON-serialisable data."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.__dict__.items() if k.startswith("_")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            current = self.__dict__.get(k)
            self.__dict__[k] = np.asarray(v, current.dtype) if isinstance(
                current, np.ndarray) else v

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Running accuracy (see ``accuracy``).

    Example:
        >>> m = Accuracy()
        >>> m.update(np.array([[2.0, 1.0]]), np.array([0])); m.compute()
        1.0
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._count = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        labels, t = _labels(pred, self.threshold), _targets(target)
        _check_len("accuracy", labels, t)
        self._correct += int(np.count_nonzero(labels == t))
        self._count += len(t)

    def compute(self) -> float:
        return self._correct / self._count if self._count else float("nan")


class TopKAccuracy(Metric):
    """Running top-k accuracy (see ``top_k_accuracy``); named ``top{k}_accuracy``."""

    def __init__(self, k: int = 5) -> None:
        if k < 1:
            raise ValueError(f"top-k accuracy needs k >= 1, got {k}")
        self.k = k
        self.name = f"top{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._count = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        t = _targets(target)
        self._correct += _top_k_hits(np.asarray(pred), t, self.k)
        self._count += len(t)

    def compute(self) -> float:
        return self._correct / self._count if self._count else float("nan")


class ConfusionMatrix(Metric):
    """Running confusion matrix ``cm[true, predicted]`` over ``num_classes`` classes."""

    name = "confusion_matrix"
    scalar = False

    def __init__(self, num_classes: int, threshold: float = 0.0) -> None:
        if num_classes < 2:
            raise ValueError(f"a confusion matrix needs >= 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._cm = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        t = _targets(target)
        if t.size and (t.min() < 0 or t.max() >= self.num_classes):
            raise ValueError(f"confusion matrix: target {int(t.max())} out of range for "
                             f"{self.num_classes} classes")
        self._cm += confusion_matrix(pred, target, self.num_classes, self.threshold)

    def compute(self) -> np.ndarray:
        return self._cm.copy()


class MeanAbsoluteError(Metric):
    """Running mean absolute error (see ``mean_absolute_error``); named ``mae``."""

    name = "mae"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sum = 0.0
        self._count = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        p, t = _align(np.asarray(pred, np.float64), np.asarray(target, np.float64))
        self._sum += float(np.abs(p - t).sum())
        self._count += p.size

    def compute(self) -> float:
        return self._sum / self._count if self._count else float("nan")


class R2Score(Metric):
    """Running R² from per-output sums (Σy, Σy², Σ(y − ŷ)², n), averaged over outputs;
    named ``r2``. A constant target gives ``nan`` (its total variance is zero)."""

    name = "r2"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._sum = None
        self._sum_sq = None
        self._sse = None

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        p, t = _align(np.asarray(pred, np.float64), np.asarray(target, np.float64))
        p, t = p.reshape(len(p), -1), t.reshape(len(t), -1)
        sums = (t.sum(axis=0), (t * t).sum(axis=0), ((t - p) ** 2).sum(axis=0))
        if self._sum is None:
            self._sum, self._sum_sq, self._sse = (s.tolist() for s in sums)
        else:
            self._sum = (np.asarray(self._sum) + sums[0]).tolist()
            self._sum_sq = (np.asarray(self._sum_sq) + sums[1]).tolist()
            self._sse = (np.asarray(self._sse) + sums[2]).tolist()
        self._n += len(t)

    def compute(self) -> float:
        if not self._n:
            return float("nan")
        s, sq, sse = (np.asarray(v) for v in (self._sum, self._sum_sq, self._sse))
        sst = sq - s * s / self._n
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.mean(1.0 - sse / sst))


def get_metric(spec: str | Metric, num_classes: int | None = None) -> Metric:
    """A metric object from a name: ``accuracy``/``acc``, ``top5_accuracy``/``top5``,
    ``mae``, ``r2``, ``confusion_matrix`` (needs ``num_classes``); objects pass through."""
    if isinstance(spec, Metric):
        return spec
    key = spec.lower().replace("-", "_")
    if key in ("accuracy", "acc"):
        return Accuracy()
    if key.startswith("top") and key[3:].split("_")[0].isdigit():
        return TopKAccuracy(int(key[3:].split("_")[0]))
    if key in ("mae", "mean_absolute_error", "l1"):
        return MeanAbsoluteError()
    if key in ("r2", "r2_score"):
        return R2Score()
    if key in ("confusion_matrix", "cm"):
        if num_classes is None:
            raise ValueError("the confusion_matrix metric needs num_classes")
        return ConfusionMatrix(num_classes)
    raise ValueError(f"unknown metric {spec!r}; known: accuracy, top<k>_accuracy, mae, r2, "
                     "confusion_matrix")


__all__ = [
    "Accuracy", "ConfusionMatrix", "MeanAbsoluteError", "Metric", "R2Score", "TopKAccuracy",
    "accuracy", "confusion_matrix", "get_metric", "mean_absolute_error", "r2_score",
    "top_k_accuracy",
]
