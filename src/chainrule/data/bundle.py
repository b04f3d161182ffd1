"""``DataBundle``: a data set split into train, validation and test parts, with its facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class DataBundle:
    """Train/validation/test arrays of one data set and what a model needs to know of it.

    Attributes:
        X_train, X_val, X_test: float32 features, shape ``(N, *input_shape)``.
        y_train, y_val, y_test: int64 class indices ``(N,)`` for classification, float32
            targets ``(N, 1)`` for regression.
        task: ``'classification'`` or ``'regression'``.
        num_classes: number of classes, ``None`` for regression.
        num_features: features per sample (``prod(input_shape)``).
        input_shape: shape of one sample of ``X``, e.g. ``(64,)``.
        name: the spec it was loaded from, e.g. ``'digits'``.
        info: JSON-serialisable facts: class labels, feature names, scaling statistics
            (``info['standardizer']``), split sizes, seed, source.
        image_shape: for image data, one sample as ``(channels, height, width)`` (reshape
            ``X`` to ``(N, *image_shape)`` for convolutions); ``None`` otherwise.

    Example:
        >>> # b = load_dataset("digits"); b.X_train.shape, b.num_classes -> (1257, 64), 10
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int | None
    num_features: int
    input_shape: tuple[int, ...]
    name: str
    info: dict[str, Any] = field(default_factory=dict)
    image_shape: tuple[int, ...] | None = None

    @property
    def num_outputs(self) -> int:
        """Size of a model's output layer: classes, or target columns for regression."""
        if self.task == "classification":
            return int(self.num_classes or 0)
        return int(self.y_train.shape[1]) if self.y_train.ndim > 1 else 1

    def split(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``'train'``, ``'val'`` or ``'test'``."""
        if part not in ("train", "val", "test"):
            raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
        return getattr(self, f"X_{part}"), getattr(self, f"y_{part}")

    def __repr__(self) -> str:
        sizes = "/".join(str(len(a)) for a in (self.X_train, self.X_val, self.X_test))
        classes = f", {self.num_classes} classes" if self.num_classes else ""
        return (f"DataBundle({self.name!r}, {self.task}{classes}, input_shape="
                f"{self.input_shape}, train/val/test={sizes})")
