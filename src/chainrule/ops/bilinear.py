"""``bilinear``: ``y_o = x₁ᵀ A_o x₂ + b_o``, PyTorch's ``F.bilinear``, fused.

With x₁ (n, I), x₂ (n, J), A (O, I, J) and output gradient G (n, O):

    y[n, o]  = Σ_ij x₁[n, i] A[o, i, j] x₂[n, j]
    ∂E/∂x₁   = Σ_oj G[n, o] A[o, i, j] x₂[n, j]
    ∂E/∂x₂   = Σ_oi G[n, o] x₁[n, i] A[o, i, j]
    ∂E/∂A    = Σ_n  G[n, o] x₁[n, i] x₂[n, j]

Each is one contraction through the (n, O·J) product ``x₁ A`` or its transpose, so no
(n, O, I, J) array is ever formed.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.arithmetic import add
from chainrule.tensor import Tensor


class Bilinear(Function):
    """x₁ (n, I), x₂ (n, J), weight (O, I, J) → (n, O)."""

    __slots__ = ()

    def forward(self, x1: np.ndarray, x2: np.ndarray, w: np.ndarray) -> np.ndarray:
        o, i, j = w.shape
        # t[n, o, j] = Σ_i x₁[n, i] A[o, i, j]: one GEMM
        t = (x1 @ w.transpose(1, 0, 2).reshape(i, o * j)).reshape(-1, o, j)
        self.saved = (x1, x2, w, t if self.needs_input_grad[1] else None)
        return np.einsum("noj,nj->no", t, x2)

    def backward(self, g: np.ndarray) -> tuple:
        x1, x2, w, t = self.saved
        o, i, j = w.shape
        need1, need2, needw = self.needs_input_grad
        g1 = g2 = gw = None
        if need1 or needw:
            gx2 = (g[:, :, None] * x2[:, None, :]).reshape(-1, o * j)  # (n, O·J)
            if need1:  # Σ_oj G[n,o] x₂[n,j] A[o,i,j]
                g1 = gx2 @ w.transpose(0, 2, 1).reshape(o * j, i)
            if needw:  # Σ_n x₁[n,i] G[n,o] x₂[n,j]
                gw = (x1.T @ gx2).reshape(i, o, j).transpose(1, 0, 2)
        if need2:  # Σ_o G[n,o] t[n,o,j]
            g2 = np.einsum("no,noj->nj", g, t)
        return g1, g2, gw


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """``x₁ᵀ A x₂ + b`` for each output feature (PyTorch's ``F.bilinear``).

    Args:
        input1: (*, in1_features).
        input2: (*, in2_features), the same leading shape as ``input1``.
        weight: (out_features, in1_features, in2_features).
        bias: optional (out_features,).

    Returns:
        (*, out_features).

    Example:
        >>> import chainrule as cr
        >>> bilinear(cr.ones(2, 3), cr.ones(2, 4), cr.ones(5, 3, 4)).shape
        (2, 5)
    """
    a, b, w = input1, input2, weight
    sa, sb, sw = a._data.shape, b._data.shape, w._data.shape
    if len(sw) != 3:
        raise ValueError(f"bilinear: weight must be (out_features, in1_features, "
                         f"in2_features), got shape {weight.shape}")
    if not sa or not sb or sa[:-1] != sb[:-1]:
        raise ValueError(f"bilinear: input1 {input1.shape} and input2 {input2.shape} need "
                         "the same leading dimensions")
    if sa[-1] != sw[1] or sb[-1] != sw[2]:
        raise ValueError(f"bilinear: input1 {input1.shape} and input2 {input2.shape} do not "
                         f"match weight {weight.shape} (in1_features, in2_features) = "
                         f"{sw[1:]}")
    from chainrule.ops.shape import reshape

    lead = sa[:-1]
    out = Bilinear.apply(reshape(a, (-1, sa[-1])), reshape(b, (-1, sb[-1])), w)
    out = reshape(out, (*lead, sw[0]))
    if bias is not None:
        if bias._data.shape != (sw[0],):
            raise ValueError(f"bilinear: bias must have shape ({sw[0]},), got {bias.shape}")
        out = add(out, bias)
    return out


__all__ = ["bilinear"]
