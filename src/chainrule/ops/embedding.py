"""``embedding``: rows of a weight table picked by integer indices.

The backward scatter-adds each output row's gradient into the row it came from, so an
index used several times collects the sum of its gradients. It sorts the indices once
and sums runs of equal ones with ``np.add.reduceat`` (several times faster than
``np.add.at`` on 2-D values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.tensor import Tensor


class Embedding(Function):
    """``weight[indices]``: weight (num, dim), indices int (any shape) → (*shape, dim)."""

    __slots__ = ()

    def forward(self, weight: np.ndarray, indices: np.ndarray,
                padding_idx: int | None) -> np.ndarray:
        self.saved = (weight.shape, indices, padding_idx)
        return weight[indices]

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, indices, padding_idx = self.saved
        flat = indices.reshape(-1)
        rows = g.reshape(-1, shape[1])
        grad = np.zeros(shape, g.dtype)
        if flat.size == 0:
            return grad
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        grad[ordered[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        if padding_idx is not None:
            grad[padding_idx] = 0  # the padding row is a constant, never trained
        return grad


def _indices(indices: Any, num: int) -> np.ndarray:
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        if idx.dtype.kind == "f" and idx.size and np.all(idx == np.round(idx)):
            idx = idx.astype(np.int64)
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        else:
            raise ValueError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise ValueError(f"embedding: index {bad} is out of range for a table of {num} "
                         f"rows (valid: 0..{num - 1})")
    return idx


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (PyTorch's ``F.embedding``).

    Args:
        indices: integer array/tensor of any shape, values in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim) table.
        padding_idx: a row that receives no gradient (negative counts from the end).

    Returns:
        (*indices.shape, embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([[0.0, 1.0], [2.0, 3.0]], requires_grad=True)
        >>> out = embedding([1, 1, 0], w)
        >>> out.sum().backward(); w.grad.tolist()
        [[1.0, 1.0], [2.0, 2.0]]
    """
    if weight.data.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    num = weight.data.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for "
                             f"{num} rows")
        padding_idx %= num
    return Embedding.apply(weight, indices=_indices(indices, num), padding_idx=padding_idx)


__all__ = ["embedding"]
