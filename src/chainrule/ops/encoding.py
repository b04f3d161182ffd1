"""Encodings of integer labels (not differentiable: their inputs are indices)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor, raw


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """One-hot encode integer class indices, as ``torch.nn.functional.one_hot``.

    Args:
        tensor: integer indices of any shape, each in [0, num_classes).
        num_classes: the number of classes; -1 (default) means ``max(tensor) + 1``.

    Returns:
        An int64 tensor of shape ``tensor.shape + (num_classes,)``.

    Example:
        >>> import chainrule as cr
        >>> one_hot(cr.tensor([0, 2])).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    idx = np.asarray(raw(tensor))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype} (use "
                        ".long() / astype(int) on class labels)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {num_classes!r}")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: indices must be >= 0, got {idx.min()}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; "
                             "pass num_classes")
        num_classes = int(idx.max()) + 1
    elif num_classes < 1 and not (num_classes == 0 and idx.size == 0):
        raise ValueError(f"one_hot: num_classes must be >= 1 or -1, got {num_classes}")
    elif idx.size and idx.max() >= num_classes:
        raise ValueError(f"one_hot: index {idx.max()} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros(idx.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.intp), 1, axis=-1)
    return Tensor._make(out, False, None)
