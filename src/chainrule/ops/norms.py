"""Vector norms along a dimension, and what is built on them: ``normalize``,
``cosine_similarity`` and ``pairwise_distance`` (PyTorch's ``torch.nn.functional`` names).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import normalize_axes, pair, unbroadcast
from chainrule.tensor import Tensor


def _check_p(name: str, p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"{name}: p must be a number > 0 (or math.inf), got {p!r}")
    return float(p)


class VectorNorm(Function):
    """``‖x‖_p`` over ``axes``: ``(Σ |x|^p)^(1/p)``, ``max |x|`` for p = ∞.

    Derivative, as PyTorch's (0 where the norm is 0): ``x/‖x‖`` for p = 2, ``sign(x)``
    for p = 1, ``sign(x)·|x|^(p−1) / ‖x‖^(p−1)`` in general, and for p = ∞ the sign at
    the maximal entries, shared evenly among ties.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, p: float, axes: tuple[int, ...],
                keepdim: bool) -> np.ndarray:
        ax = np.abs(x)
        if p == 2:
            norm = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
        elif p == 1:
            norm = np.sum(ax, axis=axes, keepdims=True)
        elif math.isinf(p):
            norm = np.max(ax, axis=axes, keepdims=True, initial=0.0)
        else:
            norm = np.sum(ax ** p, axis=axes, keepdims=True) ** (1.0 / p)
        norm = norm.astype(x.dtype, copy=False)
        self.saved = (x, norm, p, axes, keepdim)
        return norm if keepdim else np.squeeze(norm, axis=axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, norm, p, axes, keepdim = self.saved
        if not keepdim:
            g = np.expand_dims(g, axes)
        zero = norm == 0
        safe = np.where(zero, 1, norm)
        if p == 2:
            d = x / safe
        elif p == 1:
            d = np.sign(x)
        elif math.isinf(p):
            hit = (np.abs(x) == norm) & ~zero
            d = np.sign(x) * hit / np.maximum(np.sum(hit, axis=axes, keepdims=True), 1)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # p < 1 at x = 0, as PyTorch
                d = np.sign(x) * np.abs(x) ** (p - 1) / safe ** (p - 1)
        return (np.where(zero, 0, d) * g).astype(x.dtype, copy=False)


def vector_norm(x: Tensor, ord: float = 2.0, dim: Any = None,  # noqa: A002
                keepdim: bool = False) -> Tensor:
    """The p-norm of ``x`` over ``dim`` (all dimensions when None), as
    ``torch.linalg.vector_norm``.

    Args:
        x: any shape, floating.
        ord: p > 0, or ``math.inf`` for the largest absolute value.
        dim: an int or a tuple of ints.
        keepdim: keep the reduced dimensions with size 1.

    Example:
        >>> import chainrule as cr
        >>> vector_norm(cr.tensor([[3.0, 4.0]]), dim=1).tolist()
        [5.0]
    """
    p = _check_p("vector_norm", ord)
    axes = normalize_axes(dim, x._data.ndim)
    return VectorNorm.apply(x, p=p, axes=axes, keepdim=keepdim)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1,  # noqa: A002
              eps: float = 1e-12, out: Any = None) -> Tensor:
    """``x / max(‖x‖_p, eps)`` along ``dim``: unit vectors, zero vectors left at zero.

    Args:
        input: any shape with a dimension ``dim``.
        p: the norm's exponent (default 2, Euclidean).
        dim: the dimension to normalise along (default 1, as PyTorch).
        eps: lower bound of the divisor.
        out: refused (a new tensor is returned; PyTorch's ``out=`` writes into one).

    Example:
        >>> import chainrule as cr
        >>> normalize(cr.tensor([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    from chainrule.ops.arithmetic import clip, div

    if out is not None:
        raise TypeError("normalize(): out= is not supported; use the returned tensor "
                        "(or out.copy_(normalize(...)))")
    denom = clip(vector_norm(input, p, dim, keepdim=True), min=eps)
    return div(input, denom)


class CosineSimilarity(Function):
    """``Σ (x₁/n₁)(x₂/n₂)`` along an axis, with ``nᵢ = max(‖xᵢ‖, eps)``, PyTorch's way.

    PyTorch clamps the norms without recording the clamp, so the gradient treats ``nᵢ``
    as ``‖xᵢ‖``: with ``uᵢ = xᵢ/nᵢ``, ``rᵢ = xᵢ/‖xᵢ‖`` (0 for a zero vector) and output s,
    ``∂s/∂x₁ = (u₂ − s·r₁) / n₁``, and the same with 1 and 2 swapped. Away from tiny
    vectors (‖x‖ ≥ eps) this is the exact derivative.
    """

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray, axis: int, eps: float) -> np.ndarray:
        a_full, b_full = np.broadcast_arrays(a, b)
        na = np.sqrt(np.sum(a_full * a_full, axis=axis, keepdims=True))
        nb = np.sqrt(np.sum(b_full * b_full, axis=axis, keepdims=True))
        ca = np.maximum(na, eps)
        cb = np.maximum(nb, eps)
        ua = a_full / ca
        ub = b_full / cb
        s = np.sum(ua * ub, axis=axis, keepdims=True)
        self.saved = (a_full, b_full, na, nb, ca, cb, ua, ub, s, a.shape, b.shape, axis)
        return np.squeeze(s, axis=axis).astype(a_full.dtype, copy=False)

    def backward(self, g: np.ndarray) -> tuple:
        a, b, na, nb, ca, cb, ua, ub, s, sa, sb, axis = self.saved
        g = np.expand_dims(g, axis)
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            ra = np.where(na == 0, 0, a / np.where(na == 0, 1, na))
            ga = unbroadcast(((ub - s * ra) / ca * g).astype(a.dtype, copy=False), sa)
        if need_b:
            rb = np.where(nb == 0, 0, b / np.where(nb == 0, 1, nb))
            gb = unbroadcast(((ua - s * rb) / cb * g).astype(b.dtype, copy=False), sb)
        return ga, gb


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``, broadcasting.

    ``x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps))``, each vector divided by its own norm
    first (as PyTorch, so the result stays in [−1, 1]).

    Args:
        x1, x2: tensors of broadcastable shapes.
        dim: the dimension holding the vectors (default 1).
        eps: lower bound of each norm.

    Returns:
        The broadcast shape without ``dim``.

    Example:
        >>> import chainrule as cr
        >>> cosine_similarity(cr.tensor([[1.0, 0.0]]), cr.tensor([[1.0, 1.0]])).tolist()
        [0.7071067690849304]
    """
    a, b = pair(x1, x2)
    try:
        shape = np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {a.shape} and {b.shape} do not "
                         "broadcast") from None
    ndim = len(shape)
    if not -max(ndim, 1) <= dim < max(ndim, 1) or ndim == 0:
        raise ValueError(f"cosine_similarity: dim {dim} is out of range for inputs of "
                         f"broadcast shape {shape}")
    return CosineSimilarity.apply(a, b, axis=dim % ndim, eps=float(eps))


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``‖x1 − x2 + eps‖_p`` over the last dimension, broadcasting (PyTorch's formula).

    Args:
        x1, x2: (N, D) or (D,) tensors of broadcastable shapes.
        p: the norm's exponent (default 2).
        eps: added to the difference, so equal vectors still have a gradient.
        keepdim: keep the last dimension with size 1.

    Example:
        >>> import chainrule as cr
        >>> d = pairwise_distance(cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]]), eps=0.0)
        >>> d.tolist()
        [5.0]
    """
    from chainrule.ops.arithmetic import sub

    a, b = pair(x1, x2)
    diff = sub(a, b) + float(eps)
    if diff._data.ndim == 0:
        raise ValueError("pairwise_distance: inputs need at least one dimension")
    return vector_norm(diff, _check_p("pairwise_distance", p), -1, keepdim)
