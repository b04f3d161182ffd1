"""``embedding_bag``: the sum, mean or max of bags of embedding rows, without forming the
(indices, dim) array of looked-up rows in the graph (PyTorch's ``F.embedding_bag``).

Bag b holds the indices ``input[offsets[b]:offsets[b + 1]]`` (the last bag runs to the
end), or row b of a 2-D ``input``. Indices equal to ``padding_idx`` are left out of their
bag (and of the mean's count); an empty bag gives zeros.

    sum:   out[b] = Σ_{i ∈ b} w_i · W[idx_i]     (w: per_sample_weights, else 1)
    mean:  out[b] = Σ_{i ∈ b} W[idx_i] / |b|
    max:   out[b, d] = max_{i ∈ b} W[idx_i, d]

Backward scatter-adds ``∂E/∂out[b]`` (times w_i, or 1/|b|) into each row W[idx_i] the bag
read, summing repeated indices; in max mode each (b, d) sends its gradient to the first
maximal row only. ``∂E/∂w_i = ∂E/∂out[b] · W[idx_i]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.embedding import _indices, _renorm_rows
from chainrule.tensor import Tensor

_MODES = ("sum", "mean", "max")


def _scatter_rows(rows: np.ndarray, idx: np.ndarray, num: int, by_freq: bool,
                  freq_idx: np.ndarray) -> np.ndarray:
    """(num, dim) table with ``rows[k]`` added into row ``idx[k]`` (sorted runs summed
    with ``reduceat``); ``by_freq`` divides each row by the count of its index in
    ``freq_idx`` (the whole batch's indices, as PyTorch counts them)."""
    grad = np.zeros((num, rows.shape[1]), rows.dtype)
    if idx.size == 0:
        return grad
    order = np.argsort(idx, kind="stable")
    ordered = idx[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    sums = np.add.reduceat(rows[order], starts, axis=0)
    if by_freq:
        counts = np.bincount(freq_idx, minlength=num)[ordered[starts]]
        sums /= counts[:, None].astype(sums.dtype)
    grad[ordered[starts]] = sums
    return grad


class EmbeddingBag(Function):
    """weight (num, dim) [, per_sample_weights (n,)] → (bags, dim).

    ``idx`` (n,) are the indices in bag order, ``bag`` (n,) each one's bag, ``keep`` (n,)
    False where an index is left out (padding or past the last bag).
    """

    __slots__ = ()

    def forward(self, weight: np.ndarray, *psw: np.ndarray, idx: np.ndarray,
                bag: np.ndarray, keep: np.ndarray, bags: int, mode: str,
                by_freq: bool) -> np.ndarray:
        dim = weight.shape[1]
        out = np.zeros((bags, dim), weight.dtype)
        sel = np.flatnonzero(keep)
        rows = weight[idx[sel]]
        bag_sel = bag[sel]  # non-decreasing: the indices come in bag order
        # each non-empty bag is one run of bag_sel; reduceat reduces every run at once
        starts = np.flatnonzero(np.concatenate(([True], bag_sel[1:] != bag_sel[:-1])))
        filled = bag_sel[starts] if sel.size else starts
        if mode == "max":
            arg = np.full((bags, dim), -1, np.int64)
            if sel.size:
                best = np.maximum.reduceat(rows, starts, axis=0)
                out[filled] = best
                # the first row attaining each maximum (PyTorch keeps the first)
                run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, sel.size)))
                pos = np.where(rows == best[run], np.arange(sel.size)[:, None], sel.size)
                first = np.minimum(np.minimum.reduceat(pos, starts, axis=0), sel.size - 1)
                arg[filled] = sel[first]
            self.saved = (weight.shape, idx, bag, keep, arg, None, None, None, mode, by_freq)
            return out
        coef = np.ones(sel.size, weight.dtype)
        if psw:
            coef = psw[0][sel].astype(weight.dtype, copy=False)
        if mode == "mean":
            counts = np.bincount(bag_sel, minlength=bags)
            coef = coef / np.maximum(counts, 1)[bag_sel].astype(weight.dtype)
        if sel.size:
            out[filled] = np.add.reduceat(rows * coef[:, None], starts, axis=0)
        keep_w = weight if (psw and self.needs_input_grad[1]) else None
        self.saved = (weight.shape, idx, bag, keep, None, coef, sel, keep_w, mode, by_freq)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        shape, idx, bag, keep, arg, coef, sel, weight, mode, by_freq = self.saved
        num = shape[0]
        gw = gpsw = None
        if mode == "max":
            if self.needs_input_grad[0]:
                b, d = np.nonzero(arg >= 0)
                gw = np.zeros(shape, g.dtype)
                np.add.at(gw, (idx[arg[b, d]], d), g[b, d])
            return gw
        g_rows = g[bag[sel]]  # (kept, dim): each looked-up row's output gradient
        if self.needs_input_grad[0]:
            gw = _scatter_rows(g_rows * coef[:, None], idx[sel], num, by_freq, idx[keep])
        if len(self.needs_input_grad) == 1:
            return gw
        if self.needs_input_grad[1]:
            gpsw = np.zeros(idx.shape, g.dtype)
            gpsw[sel] = np.einsum("nd,nd->n", g_rows, weight[idx[sel]])
        return gw, gpsw


def _bags(name: str, n: int, offsets: Any, include_last_offset: bool) -> np.ndarray:
    """The start of every bag, with the end of the last one (n) appended."""
    off = np.asarray(offsets._data if isinstance(offsets, Tensor) else offsets)
    if off.ndim == 1 and off.dtype.kind == "f" and np.all(off == np.round(off)):
        off = off.astype(np.int64)
    if off.ndim != 1 or off.dtype.kind not in "iu":
        raise ValueError(f"{name}: offsets must be a 1-D integer tensor, got shape "
                         f"{off.shape} and dtype {off.dtype}")
    off = off.astype(np.int64)
    if off.size == 0:
        raise ValueError(f"{name}: offsets must hold at least one bag start")
    if off[0] != 0:
        raise ValueError(f"{name}: offsets[0] has to be 0, i.e. the first bag starts at "
                         f"position 0, got {off[0]}")
    if np.any(np.diff(off) < 0) or off[-1] > n:
        raise ValueError(f"{name}: offsets must be non-decreasing and at most the number of "
                         f"indices ({n}), got {off.tolist()}")
    if include_last_offset:
        # the extra last entry is the end of the input (CSR style); as PyTorch's CPU
        # kernel, the last bag runs to the end of the input whatever it says
        off = off[:-1]
    return np.append(off, n)


def embedding_bag(input: Any, weight: Tensor, offsets: Any = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of rows of ``weight`` (PyTorch's
    ``F.embedding_bag``).

    Args:
        input: integer indices: (B, L), B bags of L each (``offsets`` None); or (n,)
            with ``offsets``.
        weight: (num_embeddings, embedding_dim).
        offsets: (B,) start of each bag in a 1-D ``input`` (first 0, non-decreasing);
            with ``include_last_offset`` (B + 1,), the last entry the input's length.
        max_norm: rows looked up whose ``norm_type``-norm exceeds it are rescaled to it,
            in place, first (not differentiated).
        norm_type: p of that norm.
        scale_grad_by_freq: divide each row's gradient by how often the batch used it
            (not with ``mode='max'``), as ``embedding`` does.
        mode: ``'sum'``, ``'mean'`` (default) or ``'max'``.
        sparse: must be False (dense gradients).
        per_sample_weights: (n,) or (B, L) weights of each index, ``mode='sum'`` only.
        include_last_offset: see ``offsets``.
        padding_idx: an index left out of every bag (and of the mean's count).

    Returns:
        (B, embedding_dim); an empty bag gives zeros.

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
        >>> embedding_bag(cr.tensor([0, 1, 2]), w, cr.tensor([0, 2]), mode="sum").tolist()
        [[1.0, 2.0], [4.0, 4.0]]
    """
    name = "embedding_bag"
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(f"{name}: max mode does not support scaling the gradient by the "
                         "frequency (scale_grad_by_freq)")
    if sparse:
        raise ValueError(f"{name}: sparse=True (sparse gradients) is not supported; "
                         "chainrule computes dense gradients, pass sparse=False")
    if weight._data.ndim != 2:
        raise ValueError(f"{name}: weight must be (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    num = weight._data.shape[0]
    idx = _indices(input, num)
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{name}: if input is 2-D ({idx.shape}), offsets has to be None, "
                             "as input is treated as a mini-batch of fixed-length bags")
        b, length = idx.shape
        bounds = np.arange(b + 1) * length
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError(f"{name}: offsets has to be a 1-D tensor when input is 1-D")
        bounds = _bags(name, idx.size, offsets, include_last_offset)
    else:
        raise ValueError(f"{name}: input has to be 1-D or 2-D, got shape {idx.shape}")
    flat = idx.reshape(-1)
    bags = len(bounds) - 1
    lengths = np.diff(bounds)
    bag = np.repeat(np.arange(bags), lengths)
    keep = np.zeros(flat.size, bool)
    keep[:bag.size] = True  # (with zero bags, no index belongs to one)
    bag = np.concatenate([bag, np.zeros(flat.size - bag.size, np.int64)])
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"{name}: padding_idx {padding_idx} is out of range for {num} "
                             "rows")
        keep &= flat != padding_idx % num
    inputs = [weight]
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"{name}: per_sample_weights was not None; it is only supported "
                             f"for mode='sum' (got mode={mode!r})")
        psw = per_sample_weights if isinstance(per_sample_weights, Tensor) else Tensor(
            np.asarray(per_sample_weights, weight._data.dtype))
        if psw._data.shape != idx.shape:
            raise ValueError(f"{name}: per_sample_weights must have the input's shape "
                             f"{idx.shape}, got {psw.shape}")
        from chainrule.ops.shape import reshape

        inputs.append(reshape(psw, (-1,)))
    if max_norm is not None:
        _renorm_rows(weight._data, flat[keep], float(max_norm), float(norm_type))
    return EmbeddingBag.apply(*inputs, idx=flat, bag=bag, keep=keep, bags=bags, mode=mode,
                              by_freq=bool(scale_grad_by_freq))


__all__ = ["embedding_bag"]
