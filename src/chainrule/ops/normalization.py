"""Batch and layer normalisation as fused nodes (one pass forward, one backward).

With ``x̂ = (x − μ) / √(σ² + ε)`` and ``y = γ x̂ + β`` over m normalised elements,
the backward is ``∂E/∂x = (1/(m √(σ²+ε))) (m ĝ − Σĝ − x̂ Σ(ĝ x̂))`` where ``ĝ = γ g``.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import ones_vector
from chainrule.tensor import Tensor


def _affine_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over (N, C, *spatial)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class BatchNormTrain(Function):
    """Normalise with the batch's statistics over every axis but the channel axis 1."""

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, eps: float,
                stats: list) -> np.ndarray:
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = centered * inv_std
        stats.extend((mean.reshape(-1), var.reshape(-1)))  # for the running estimates
        shape = _affine_shape(x)
        out = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.saved = (xhat, inv_std, weight, axes)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight, axes = self.saved
        needs = self.needs_input_grad
        m = xhat.size // xhat.shape[1]
        ghat = g if weight is None else g * weight.reshape(_affine_shape(g))
        gx = None
        if needs[0]:
            sum_g = ghat.sum(axis=axes, keepdims=True)
            sum_gx = (ghat * xhat).sum(axis=axes, keepdims=True)
            gx = (inv_std / m) * (m * ghat - sum_g - xhat * sum_gx)
        grads = [gx]
        if len(needs) > 1:
            grads.append((g * xhat).sum(axis=axes) if needs[1] else None)
        if len(needs) > 2:
            grads.append(g.sum(axis=axes) if needs[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


class BatchNormEval(Function):
    """Normalise with fixed (running) statistics: an affine map per channel."""

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, mean: np.ndarray, var: np.ndarray,
                eps: float) -> np.ndarray:
        shape = _affine_shape(x)
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        xhat = (x - mean.reshape(shape)) * inv_std
        out = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.saved = (xhat, inv_std, weight)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight = self.saved
        needs = self.needs_input_grad
        axes = (0,) + tuple(range(2, g.ndim))
        scale = inv_std if weight is None else inv_std * weight.reshape(inv_std.shape)
        grads = [g * scale if needs[0] else None]
        if len(needs) > 1:
            grads.append((g * xhat).sum(axis=axes) if needs[1] else None)
        if len(needs) > 2:
            grads.append(g.sum(axis=axes) if needs[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


def batch_norm(x: Tensor, running_mean: np.ndarray | Tensor | None,
               running_var: np.ndarray | Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalisation of x (N, C) or (N, C, *spatial) over all axes but C.

    In training the batch statistics normalise and the running estimates are updated in
    place, PyTorch's way: ``running = (1 − momentum) running + momentum batch`` with the
    unbiased batch variance. In evaluation the running estimates normalise.
    """
    if x.data.ndim < 2:
        raise ValueError(f"batch_norm expects (N, C) or (N, C, ...) input, got {x.shape}")
    channels = x.data.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.data.shape != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {p.shape} but the input has "
                             f"{channels} channels (shape {x.shape})")
    params = [t for t in (weight, bias) if t is not None]
    if weight is None and bias is not None:
        raise ValueError("batch_norm: a bias without a weight is not supported")
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    if training or rm is None:
        m = x.data.size // channels
        if m <= 1 and training:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got "
                f"input of shape {x.shape}")
        stats: list = []
        out = BatchNormTrain.apply(x, *params, eps=eps, stats=stats)
        if training and rm is not None:
            mean, var = stats
            rm *= 1 - momentum
            rm += momentum * mean.astype(rm.dtype, copy=False)
            rv *= 1 - momentum
            rv += (momentum * m / max(m - 1, 1)) * var.astype(rv.dtype, copy=False)
        return out
    return BatchNormEval.apply(x, *params, mean=rm, var=rv, eps=eps)


class LayerNorm(Function):
    """Normalise over the trailing axes of ``normalized_shape``, per sample.

    Works on x as a (rows, m) matrix. Every sum along a row or down a column is a
    matrix-vector product (``x @ 1``, ``1 @ g``, ``g @ γ``): BLAS does those several
    times faster than NumPy's axis reductions over short rows. The backward's two row
    sums need no ĝ = γ g array: ``Σ ĝ = g @ γ`` and ``Σ ĝ x̂ = (g x̂) @ γ``, and ``g x̂``
    is ``∂E/∂γ``'s summand anyway.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, ndim: int, eps: float) -> np.ndarray:
        m = 1
        for size in x.shape[x.ndim - ndim:]:
            m *= size
        x2 = x.reshape(-1, m)
        ones = ones_vector(m, x.dtype)
        mean = x2 @ ones
        mean *= 1 / m
        xhat = x2 - mean[:, None]
        var = np.einsum("ij,ij->i", xhat, xhat)
        var *= 1 / m
        var += eps
        inv_std = np.sqrt(var, out=var)
        np.divide(1, inv_std, out=inv_std)
        xhat *= inv_std[:, None]
        w2 = None if weight is None else weight.reshape(m)
        if w2 is None:
            out = xhat
        else:
            out = xhat * w2
            if bias is not None:
                out += bias.reshape(m)
        self.saved = (xhat, inv_std, w2, x.shape, x.shape[x.ndim - ndim:])
        return out.reshape(x.shape)

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, w2, shape, affine = self.saved
        needs = self.needs_input_grad
        rows, m = xhat.shape
        g2 = g.reshape(rows, m)
        scale = ones_vector(m, g.dtype) if w2 is None else w2
        g_xhat = g2 * xhat if needs[0] or (len(needs) > 1 and needs[1]) else None
        grads: list = [None]
        if len(needs) > 1:
            ones_rows = ones_vector(rows, g.dtype)
            grads.append((ones_rows @ g_xhat).reshape(affine) if needs[1] else None)
            if len(needs) > 2:
                grads.append((ones_rows @ g2).reshape(affine) if needs[2] else None)
        if needs[0]:
            # ∂E/∂x = σ⁻¹ (ĝ − Σĝ/m − x̂ Σ(ĝ x̂)/m), row by row
            c = inv_std * (-1 / m)
            sum_g = g2 @ scale
            sum_g *= c
            sum_gx = g_xhat @ scale
            sum_gx *= c
            gx = xhat * sum_gx[:, None]
            ghat = g_xhat  # ∂E/∂γ is taken: reuse its buffer for σ⁻¹ ĝ
            if w2 is None:
                np.multiply(g2, inv_std[:, None], out=ghat)
            else:
                np.multiply(g2, w2, out=ghat)
                ghat *= inv_std[:, None]
            gx += ghat
            gx += sum_g[:, None]
            grads[0] = gx.reshape(shape)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


def layer_norm(x: Tensor, normalized_shape: int | tuple[int, ...],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes (PyTorch semantics)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.data.shape[x.data.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with "
                         f"normalized_shape {shape}")
    if weight is None and bias is not None:
        raise ValueError("layer_norm: a bias without a weight is not supported")
    params = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(x, *params, ndim=len(shape), eps=eps)


__all__ = ["batch_norm", "layer_norm"]
