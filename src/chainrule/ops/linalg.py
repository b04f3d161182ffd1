"""Matrix products: ``matmul`` (batched, NumPy semantics) and the fused ``linear``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import ones_vector, pair, shape_mismatch, unbroadcast
from chainrule.tensor import Tensor


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class MatMul(Function):
    """``a @ b``. 1-D operands are promoted (a row for a, a column for b) as in NumPy,
    and batch axes broadcast; backward undoes both."""

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise shape_mismatch(
                "matmul", a.shape, b.shape,
                f"the last axis of the first ({a.shape[-1]}) must equal the "
                f"{'second-to-last' if b.ndim > 1 else 'only'} axis of the second "
                f"({b.shape[-2 if b.ndim > 1 else 0]})")
        try:
            out = a @ b
        except ValueError:
            raise shape_mismatch("matmul", a.shape, b.shape,
                                 "their batch axes cannot be broadcast") from None
        self.saved = (a, b)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        a, b = self.saved
        na, nb = self.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if na:
            ga = unbroadcast(g @ _swap(b2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(_swap(a2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's ``matmul`` rules (batched, broadcasting batch axes)."""
    return MatMul.apply(*pair(a, b))


class Linear(Function):
    """``y = x Wᵀ + b`` in one node: x (..., in), W (out, in), b (out,).

    Fused so the training step pays one node and no transposed copy:
    ``∂E/∂x = g W``, ``∂E/∂W = gᵀ x``, ``∂E/∂b = Σ_batch g``.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if w.ndim != 2 or x.ndim == 0:
            raise ValueError(f"linear: needs input (..., in) and weight (out, in), got shapes "
                             f"{x.shape} and {w.shape}")
        if x.shape[-1] != w.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} has {x.shape[-1]} features but the "
                f"weight of shape {w.shape} expects {w.shape[1]} (in_features)"
            )
        if x.ndim == 2:
            out = x @ w.T
        else:
            out = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            out += b
        self.saved = (x, w)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        x, w = self.saved
        needs = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if needs[0]:
            gx = (g2 @ w).reshape(x.shape)
        if needs[1]:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            gw = g2.T @ x2
        if len(needs) > 2 and needs[2]:
            gb = ones_vector(g2.shape[0], g2.dtype) @ g2  # column sums as a GEMV
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``); weight is (out, in)."""
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


__all__ = ["matmul", "linear"]
