"""``embedding``: rows of a weight table picked by integer indices.

The backward scatter-adds each output row's gradient into the row it came from, so an
index used several times collects the sum of its gradients. It sorts the indices once
and sums runs of equal ones with ``np.add.reduceat`` (several times faster than
``np.add.at`` on 2-D values). ``scale_grad_by_freq`` divides each run's sum by its length.

``max_norm`` rescales, in place and outside the graph (as PyTorch does), every looked-up
row whose ``norm_type``-norm exceeds it to norm ``max_norm``, before the lookup.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.tensor import Tensor


class Embedding(Function):
    """``weight[indices]``: weight (num, dim), indices int (any shape) → (*shape, dim)."""

    __slots__ = ()

    def forward(self, weight: np.ndarray, indices: np.ndarray, padding_idx: int | None,
                scale_grad_by_freq: bool = False) -> np.ndarray:
        self.saved = (weight.shape, indices, padding_idx, scale_grad_by_freq)
        return weight[indices]

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, indices, padding_idx, by_freq = self.saved
        flat = indices.reshape(-1)
        rows = g.reshape(-1, shape[1])
        grad = np.zeros(shape, g.dtype)
        if flat.size == 0:
            return grad
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        sums = np.add.reduceat(rows[order], starts, axis=0)
        if by_freq:  # each row's gradient divided by how often it was looked up
            counts = np.diff(np.append(starts, flat.size))
            sums /= counts[:, None].astype(sums.dtype)
        grad[ordered[starts]] = sums
        if padding_idx is not None:
            grad[padding_idx] = 0  # the padding row is a constant, never trained
        return grad


def _indices(indices: Any, num: int) -> np.ndarray:
    idx = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
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


def _renorm_rows(weight: np.ndarray, idx: np.ndarray, max_norm: float,
                 norm_type: float) -> None:
    """Scale the rows ``idx`` of ``weight`` whose norm exceeds ``max_norm`` down to it,
    in place (PyTorch's ``embedding_renorm_``, including its 1e-7 guard)."""
    rows = np.unique(idx)
    if rows.size == 0:
        return
    vectors = weight[rows]
    norms = np.linalg.norm(vectors, ord=norm_type, axis=1)
    over = norms > max_norm
    if over.any():
        scale = max_norm / (norms[over] + 1e-7)
        weight[rows[over]] = vectors[over] * scale[:, None].astype(weight.dtype)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` (PyTorch's ``F.embedding``).

    Args:
        indices: integer array/tensor of any shape, values in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim) table.
        padding_idx: a row that receives no gradient (negative counts from the end).
        max_norm: rows looked up whose ``norm_type``-norm exceeds this are rescaled to
            it, in place in ``weight``, before the lookup (not differentiated).
        norm_type: p of the p-norm for ``max_norm``.
        scale_grad_by_freq: divide each row's gradient by how many times the batch
            looked it up.
        sparse: must be False: chainrule computes dense gradients.

    Returns:
        (*indices.shape, embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([[0.0, 1.0], [2.0, 3.0]], requires_grad=True)
        >>> out = embedding([1, 1, 0], w)
        >>> out.sum().backward(); w.grad.tolist()
        [[1.0, 1.0], [2.0, 2.0]]
    """
    if weight._data.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported; "
                         "chainrule computes dense gradients, pass sparse=False")
    num = weight._data.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for "
                             f"{num} rows")
        padding_idx %= num
    idx = _indices(input, num)
    if max_norm is not None:
        _renorm_rows(weight._data, idx, float(max_norm), float(norm_type))
    return Embedding.apply(weight, indices=idx, padding_idx=padding_idx,
                           scale_grad_by_freq=bool(scale_grad_by_freq))


__all__ = ["embedding"]
