"""``scaled_dot_product_attention`` as one fused node: scores, mask, softmax, dropout and
the weighted sum of values in a single forward, with the softmax saved for backward.

Masked positions are set to −∞ before the softmax; the row maximum is taken over the
finite scores only, so a row never computes ``−∞ − (−∞)``. A row whose every position is
masked attends to nothing: its output and its gradients are zero (PyTorch's math kernel
gives NaN there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import Generator, resolve_generator
from chainrule.ops import _gemm
from chainrule.ops._util import unbroadcast
from chainrule.ops.activations import softmax_last_axis
from chainrule.tensor import Tensor


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class ScaledDotProductAttention(Function):
    """``softmax(q kᵀ · scale + mask) v`` over the last two axes.

    Inputs: q (..., L, E), k (..., S, E), v (..., S, Ev)[, additive float mask
    broadcastable to (..., L, S)]; a boolean ``keep`` mask (True = attend) is a keyword
    argument, as it has no gradient. Output (..., L, Ev). Batch axes broadcast.

    Backward, with P the softmax and P̃ = P ⊙ dropout mask::

        dv = P̃ᵀ g,   dP = (g vᵀ) ⊙ dropout mask,   dS = P ⊙ (dP − Σ_j dP ⊙ P)
        dq = scale · dS k,   dk = scale · dSᵀ q,   d(mask) = dS
    """

    __slots__ = ()

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                mask: np.ndarray | None = None, *, keep: np.ndarray | None, scale: float,
                dropout_p: float, generator: Generator | None,
                weights_out: list | None) -> np.ndarray:
        s = _gemm.matmul(q, _swap(k))
        s *= scale
        if mask is not None:
            s = s + mask
        if keep is not None:
            if (np.broadcast_shapes(s.shape, keep.shape) == s.shape
                    and np.isfinite(s.max() if s.size else 0.0)):
                # adding 0 / −∞ is a cheaper pass than np.where (no branch per element);
                # with an infinite score it would make NaN where np.where gives −∞
                s += np.where(keep, s.dtype.type(0), s.dtype.type(-np.inf))
            else:
                s = np.where(keep, s, -np.inf)
        p = softmax_last_axis(s, overwrite=True, masked_rows_to_zero=True)
        drop = None
        weights = p
        if dropout_p > 0:
            keep_drop = resolve_generator(generator).random(p.shape, p.dtype) >= dropout_p
            drop = keep_drop * np.asarray(1 / (1 - dropout_p), dtype=p.dtype)
            weights = p * drop
        if weights_out is not None:
            weights_out.append(weights)
        self.saved = (q, k, v, p, drop, scale, None if mask is None else mask.shape)
        return _gemm.matmul(weights, v)

    def backward(self, g: np.ndarray) -> tuple:
        q, k, v, p, drop, scale, mask_shape = self.saved
        needs = self.needs_input_grad
        weights = p if drop is None else p * drop
        dq = dk = dv = dmask = None
        if needs[2]:
            dv = unbroadcast(_gemm.matmul(_swap(weights), g), v.shape)
        if needs[0] or needs[1] or (mask_shape is not None and needs[3]):
            dp = _gemm.matmul(g, _swap(v))
            if drop is not None:
                dp *= drop
            ds = dp  # softmax backward, in place: P ⊙ (dP − Σ dP ⊙ P)
            ds -= np.einsum("...ij,...ij->...i", dp, p)[..., None]
            ds *= p
            if mask_shape is not None and needs[3]:
                dmask = unbroadcast(ds, mask_shape)
            ds *= scale
            if needs[0]:
                dq = unbroadcast(_gemm.matmul(ds, k), q.shape)
            if needs[1]:
                dk = unbroadcast(_gemm.matmul(_swap(ds), q), k.shape)
        if mask_shape is None:
            return dq, dk, dv
        return dq, dk, dv, dmask


def causal_mask(target_len: int, source_len: int) -> np.ndarray:
    """Boolean (L, S) mask, True where query i may attend to key j (j ≤ i), as PyTorch's
    ``is_causal`` builds it (aligned to the top-left corner)."""
    return np.tril(np.ones((target_len, source_len), dtype=bool))


def _share_heads(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Grouped-query attention: key and value heads repeated (axis -3) to the query's, as
    PyTorch's ``enable_gqa`` does with ``repeat_interleave``; their gradients add up."""
    from chainrule.ops.shape import getitem

    if min(q._data.ndim, k._data.ndim, v._data.ndim) < 3:
        raise ValueError("scaled_dot_product_attention: enable_gqa needs (..., heads, L, E) "
                         f"inputs, got query {q.shape}, key {k.shape}, value {v.shape}")
    hq, hk, hv = q._data.shape[-3], k._data.shape[-3], v._data.shape[-3]
    if hk != hv or hq % hk:
        raise ValueError(f"scaled_dot_product_attention: enable_gqa needs key and value "
                         f"with the same number of heads, dividing the query's; got "
                         f"{hq} query, {hk} key and {hv} value heads")
    if hk == hq:
        return k, v
    index = (Ellipsis, np.repeat(np.arange(hk), hq // hk), slice(None), slice(None))
    return getitem(k, index), getitem(v, index)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, *,
                                 generator: Generator | None = None,
                                 _weights_out: list | None = None) -> Tensor:
    """Attention ``softmax(Q Kᵀ/√E + mask) V`` in one node (PyTorch's semantics).

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). Batch axes broadcast.
        attn_mask: boolean, True = may attend (PyTorch's convention for this function),
            or a float mask added to the scores (−inf blocks); broadcastable to
            (..., L, S). A float mask that requires grad receives one.
        dropout_p: dropout on the attention weights (always applied when > 0, as in
            PyTorch; pass 0 in evaluation).
        is_causal: let query i attend only to keys j ≤ i (needs ``attn_mask=None``).
        scale: factor on the scores; default 1/√E.
        enable_gqa: grouped-query attention: query (..., Hq, L, E) with key and value of
            fewer heads (..., Hkv, S, ·), Hq a multiple of Hkv; each key/value head serves
            Hq / Hkv consecutive query heads.
        generator: random source for the dropout mask.

    Returns:
        (..., L, Ev). Rows with every key masked give zeros (and zero gradients).

    Example:
        >>> import chainrule as cr
        >>> q = cr.ones(2, 4, 5, 8)
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 5, 8)
    """
    q, k, v = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t._data.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} needs shape (..., L, E), "
                             f"got {t.shape}")
        if t._data.dtype != q._data.dtype or t._data.dtype.kind != "f":
            raise ValueError(f"scaled_dot_product_attention: query, key and value need one "
                             f"floating dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q._data.shape[-1] != k._data.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: query {q.shape} and key {k.shape} "
                         "need the same last axis (embedding size)")
    if enable_gqa:
        k, v = _share_heads(q, k, v)
    if k._data.shape[-2] != v._data.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: key {k.shape} and value {v.shape} "
                         "need the same number of positions (second-to-last axis)")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got "
                         f"{dropout_p}")
    L, S = q._data.shape[-2], k._data.shape[-2]
    keep = None
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or "
                             "is_causal=True, not both")
        keep = causal_mask(L, S)
    elif attn_mask is not None:
        arr = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        try:
            np.broadcast_shapes(arr.shape, q._data.shape[:-2] + (L, S))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {arr.shape} "
                             f"does not broadcast to the scores' shape "
                             f"{q._data.shape[:-2] + (L, S)}") from None
        if arr.dtype == bool:
            keep = arr
        elif isinstance(attn_mask, Tensor) and attn_mask._data.dtype == q._data.dtype:
            mask = attn_mask
        else:
            mask = Tensor._make(arr.astype(q._data.dtype), False, None)
    scale = 1 / math.sqrt(q._data.shape[-1]) if scale is None else float(scale)
    inputs = (q, k, v) if mask is None else (q, k, v, mask)
    return ScaledDotProductAttention.apply(*inputs, keep=keep, scale=scale, dropout_p=dropout_p,
                                           generator=generator, weights_out=_weights_out)


__all__ = ["causal_mask", "scaled_dot_product_attention"]
