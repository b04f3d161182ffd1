"""Gradient clipping with PyTorch's ``torch.nn.utils`` signatures and return types.

The work is done by :mod:`chainrule.optim.clip` (the same functions the trainer uses);
here the total norm comes back as a 0-d tensor, as in PyTorch, so ``norm.item()`` works.
``foreach`` is accepted and ignored (there is one implementation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.tensor import Tensor, raw


def _clip():
    # Imported on use: chainrule.nn is imported before chainrule.optim, and this keeps
    # nn free of an import-order dependency on optim's package.
    from chainrule.optim import clip

    return clip


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm_tensor(value: float, grads: list[np.ndarray]) -> Tensor:
    dtype = grads[0].dtype if grads else get_default_dtype()
    return Tensor(np.asarray(value, dtype=dtype), dtype=dtype)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so their total ``norm_type``-norm is at most
    ``max_norm`` (by ``max_norm / (total + 1e-6)`` when that is below 1).

    Args:
        parameters: a Tensor or an iterable of them; those without a gradient are skipped.
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm, or ``float('inf')``.
        error_if_nonfinite: raise ``RuntimeError`` when the total norm is NaN/inf.
        foreach: ignored.

    Returns:
        The total norm before clipping, a 0-d tensor in the gradients' dtype.

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([3.0, 4.0])
        >>> w.grad = w.data.clone()
        >>> clip_grad_norm_(w, 1.0).item()
        5.0
        >>> [round(v, 4) for v in w.grad.tolist()]
        [0.6, 0.8]
    """
    params = _as_list(parameters)
    total = _clip().clip_grad_norm_(params, max_norm, norm_type, error_if_nonfinite)
    return _norm_tensor(total, [raw(p.grad) for p in params if p.grad is not None])


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` (``foreach`` is
    ignored).

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([-3.0, 0.5])
        >>> w.grad = w.data.clone()
        >>> clip_grad_value_(w, 1.0)
        >>> w.grad.tolist()
        [-1.0, 0.5]
    """
    _clip().clip_grad_value_(parameters, clip_value)


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` (usually gradients) taken together, as if
    concatenated into one vector; a 0-d tensor (PyTorch 2.6's ``get_total_norm``).

    Example:
        >>> import chainrule as cr
        >>> get_total_norm([cr.tensor([3.0]), cr.tensor([4.0])]).item()
        5.0
    """
    arrays = [np.asarray(raw(t)) for t in _as_list(tensors) if t is not None]
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"get_total_norm: norm_type must be > 0 or inf, got {norm_type}")
    total = _clip()._total_norm(arrays, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"get_total_norm: the total {norm_type}-norm is {total}; pass "
                           "error_if_nonfinite=False to get it anyway")
    return _norm_tensor(total, arrays)


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor | float, foreach: bool | None = None) -> None:
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` when that is below 1,
    given an already computed total norm (PyTorch 2.6's ``clip_grads_with_norm_``).
    Each scaled ``p.grad`` is a new array, as in :func:`clip_grad_norm_`.

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([3.0, 4.0])
        >>> w.grad = w.data.clone()
        >>> clip_grads_with_norm_([w], 1.0, get_total_norm([w.grad]))
        >>> [round(v, 4) for v in w.grad.tolist()]
        [0.6, 0.8]
    """
    coef = float(max_norm) / (float(raw(total_norm)) + 1e-6)
    if not coef < 1.0:
        return
    for p in _as_list(parameters):
        if p.grad is not None:
            g = raw(p.grad)
            p.grad = np.multiply(g, np.asarray(coef, g.dtype))
