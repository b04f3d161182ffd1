"""Gradient clipping: rescale by the global norm, or clamp each element.

Both clipping functions keep each ``p.grad`` Tensor (as PyTorch's in-place clipping does)
but give it a new array instead of writing into the old one. A gradient array may be
read-only (a broadcast view) or shared with another tensor's ``.grad`` (a retained
intermediate, a hook's return value); writing into it would fail or silently change that
other tensor. The new array costs one allocation per clipped gradient, once per step,
which is small next to the backward pass that produced it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chainrule.tensor import Tensor


def grad_norm(parameters: Tensor | Iterable[Tensor], norm_type: float = 2.0) -> float:
    """The norm of all gradients together, as if concatenated into one vector.

    Parameters whose ``grad`` is None are skipped; with none left the norm is 0.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``).
        norm_type: p of the p-norm (any p > 0), or ``float('inf')`` for the largest |g|.

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([3.0, 4.0])
        >>> w.grad = w.data.clone()
        >>> cr.optim.grad_norm([w])
        5.0
    """
    return _total_norm(_grads(parameters), _check_norm_type(norm_type))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so their total norm is at most ``max_norm``.

    As PyTorch: with total norm ``N``, when ``max_norm / (N + 1e-6) < 1`` every gradient is
    multiplied by that factor (so the direction of the step is kept). Each clipped
    ``p.grad`` gets a new array (see the module docstring); unclipped ones are untouched.

    Args:
        parameters: a Tensor or an iterable of Tensors; those with ``grad`` None are skipped.
        max_norm: the largest allowed total norm (≥ 0).
        norm_type: p of the p-norm (any p > 0), or ``float('inf')``.
        error_if_nonfinite: raise ``RuntimeError`` (naming the parameters at fault) when
            the total norm is NaN or infinite, instead of scaling by a NaN factor.

    Returns:
        The total norm before clipping, as a float.

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([3.0, 4.0])
        >>> w.grad = w.data.clone()
        >>> cr.optim.clip_grad_norm_([w], max_norm=1.0)
        5.0
        >>> w.grad.data.round(decimals=4)
        tensor([0.6, 0.8])
    """
    max_norm = float(max_norm)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    params = _with_grads(parameters)
    total = _total_norm([p.grad._data for p in params], _check_norm_type(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        bad = [f"#{i} shape {p.shape}" + (f" '{p.name}'" if p.name else "")
               for i, p in enumerate(params) if not np.all(np.isfinite(p.grad._data))]
        raise RuntimeError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
                           f"{total}; non-finite gradients in parameters {', '.join(bad)}. "
                           "Pass error_if_nonfinite=False to scale them anyway.")
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0 and not math.isnan(coef):
        return total
    for p in params:
        g = p.grad
        g._data = np.multiply(g._data, coef)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``.

    Each ``p.grad`` gets a new array (see the module docstring).

    Args:
        parameters: a Tensor or an iterable of Tensors; those with ``grad`` None are skipped.
        clip_value: the largest allowed |g|, ≥ 0.

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([-3.0, 0.5])
        >>> w.grad = w.data.clone()
        >>> cr.optim.clip_grad_value_([w], 1.0)
        >>> w.grad.data
        tensor([-1. ,  0.5])
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(parameters):
        g = p.grad
        g._data = np.clip(g._data, -clip_value, clip_value)


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (e.g. model.parameters()), got "
                            f"{type(p).__name__}")
        if p.grad is not None:
            out.append(p)
    return out


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    return [p.grad._data for p in _with_grads(parameters)]


def _check_norm_type(norm_type: float) -> float:
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"norm_type must be > 0 or inf, got {norm_type}")
    return p


def _total_norm(grads: list[np.ndarray], p: float) -> float:
    if not grads:
        return 0.0
    if p == math.inf:
        return max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    if p == 2.0:
        # A dot product per gradient: no temporary array, accumulated by BLAS.
        total = 0.0
        for g in grads:
            flat = g.reshape(-1)
            total += float(np.dot(flat, flat))
        return math.sqrt(total)
    total = 0.0
    for g in grads:
        total += float(np.sum(np.abs(g, dtype=np.float64) ** p))
    return total ** (1.0 / p)
