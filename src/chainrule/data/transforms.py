"""Feature scaling fitted on training data, and one-hot encoding of class labels.

Scalers compute their statistics in float64 and return arrays of the input's floating
dtype (float32 in, float32 out; integer input gives float32). Their ``state_dict()`` is
plain lists, so it can be stored as JSON next to a model and reused for prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.data.dataset import as_array


def _float_out(X: np.ndarray) -> np.dtype:
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)


class _Scaler:
    """Shared plumbing: ``x -> (x - offset) / scale`` per feature (axis 0 is samples)."""

    _fields: tuple[str, str] = ("offset", "scale")

    def __init__(self) -> None:
        self._offset: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def _stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, X: Any) -> _Scaler:
        """Compute per-feature statistics of ``X`` (shape ``(N, ...)``, N >= 1)."""
        X = as_array(X)
        if X.ndim < 1 or X.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.fit needs at least one sample, got "
                             f"shape {X.shape}")
        self._offset, self._scale = self._stats(X.astype(np.float64))
        return self

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._offset is None or self._scale is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(X_train) first")
        return self._offset, self._scale

    def _check(self, X: Any) -> np.ndarray:
        offset, _ = self._fitted()
        X = as_array(X)
        if X.shape[1:] != offset.shape:
            raise ValueError(f"{type(self).__name__} was fitted on samples of shape "
                             f"{offset.shape}, got an array of shape {X.shape}")
        return X

    def transform(self, X: Any) -> np.ndarray:
        """Scale ``X`` (shape ``(N, ...)`` matching the fitted features)."""
        X = self._check(X)
        return ((X - self._offset) / self._scale).astype(_float_out(X), copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo ``transform``."""
        X = self._check(X)
        return (X * self._scale + self._offset).astype(_float_out(X), copy=False)

    def state_dict(self) -> dict[str, Any]:
        """The fitted statistics as nested lists of floats (JSON-serialisable)."""
        offset, scale = self._fitted()
        a, b = self._fields
        return {a: offset.tolist(), b: scale.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> _Scaler:
        """Restore statistics saved by ``state_dict``."""
        a, b = self._fields
        offset = np.asarray(state[a], dtype=np.float64)
        scale = np.asarray(state[b], dtype=np.float64)
        if offset.shape != scale.shape:
            raise ValueError(f"{type(self).__name__} state: '{a}' has shape {offset.shape} "
                             f"but '{b}' has shape {scale.shape}")
        self._offset, self._scale = offset, scale
        return self

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> _Scaler:
        """A fitted scaler from ``state_dict()`` output."""
        return cls().load_state_dict(state)


class Standardizer(_Scaler):
    """Scale each feature to zero mean and unit standard deviation: ``(x - mean) / std``.

    A feature that is constant on the training data has ``std`` 0; it is given ``std`` 1,
    so it maps to 0 instead of dividing by zero.

    Example:
        >>> s = Standardizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]], np.float32))
        >>> s.transform(np.array([[3.0, 5.0]], np.float32)).tolist()
        [[1.0, 0.0]]
        >>> s.state_dict()
        {'mean': [2.0, 5.0], 'std': [1.0, 1.0]}
    """

    _fields = ("mean", "std")

    def _stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = X.std(axis=0)
        return X.mean(axis=0), np.where(std > 0, std, 1.0)

    @property
    def mean(self) -> np.ndarray | None:
        """Per-feature mean (float64), ``None`` before ``fit``."""
        return self._offset

    @property
    def std(self) -> np.ndarray | None:
        """Per-feature standard deviation (float64, zeros replaced by 1)."""
        return self._scale


class MinMaxScaler(_Scaler):
    """Map each feature's training range ``[min, max]`` linearly onto ``[0, 1]``.

    A constant feature (``max == min``) is only shifted: it maps to 0.

    Example:
        >>> MinMaxScaler().fit_transform(np.array([[0.0], [5.0], [10.0]])).ravel().tolist()
        [0.0, 0.5, 1.0]
    """

    _fields = ("min", "range")

    def _stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = X.min(axis=0)
        span = X.max(axis=0) - lo
        return lo, np.where(span > 0, span, 1.0)


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encode integer class labels.

    Args:
        labels: integer labels in ``[0, num_classes)``, shape ``(N,)`` (any shape works;
            a class axis is appended).
        num_classes: number of classes; default ``max(labels) + 1``.
        dtype: dtype of the result (float32 by default).

    Returns:
        array of shape ``(*labels.shape, num_classes)`` with a single 1 per row.

    Example:
        >>> one_hot(np.array([0, 2]), 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = as_array(labels)
    if y.dtype.kind not in "iub":
        if y.dtype.kind != "f" or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"one_hot needs integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    bad = (y < 0) | (y >= num_classes)
    if np.any(bad):
        raise ValueError(f"one_hot: label {int(y[bad].flat[0])} is outside [0, {num_classes})")
    out = np.zeros((*y.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out
