"""PyTorch's top-level functions that are more than a plain op: the ``dim=`` forms of
softmax and log_softmax, ``transpose(x, dim0, dim1)``, ``add``/``sub`` with ``alpha``,
``div`` with ``rounding_mode``, whole-tensor comparisons (``allclose``, ``isclose``,
``equal``) and type tests (``is_tensor``, ``numel``).

Everything here is re-exported as ``chainrule.<name>`` (``cr.softmax(x, dim=1)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import ops
from chainrule.backend import get_default_dtype
from chainrule.ops._util import dim_args, pair
from chainrule.tensor import Tensor, raw


def softmax(x: Tensor, dim: int | None = None, *, dtype: Any = None,
            axis: int | None = None) -> Tensor:
    """``e^x / Σ e^x`` along ``dim`` (default the last axis), like ``torch.softmax``.

    Example:
        >>> import chainrule as cr
        >>> cr.softmax(cr.zeros(2, 4), dim=1)
        tensor([[0.25, 0.25, 0.25, 0.25],
                [0.25, 0.25, 0.25, 0.25]])
    """
    dim, _ = dim_args("softmax", dim, None, axis)
    if dtype is not None:
        x = ops.cast(x, dtype)
    return ops.softmax(x, -1 if dim is None else dim)


def log_softmax(x: Tensor, dim: int | None = None, *, dtype: Any = None,
                axis: int | None = None) -> Tensor:
    """``x − log Σ e^x`` along ``dim`` (default the last axis), like ``torch.log_softmax``.
    """
    dim, _ = dim_args("log_softmax", dim, None, axis)
    if dtype is not None:
        x = ops.cast(x, dtype)
    return ops.log_softmax(x, -1 if dim is None else dim)


def transpose(x: Tensor, *dims: Any) -> Tensor:
    """``transpose(x, dim0, dim1)`` swaps two axes (PyTorch); ``transpose(x)`` reverses
    them and ``transpose(x, (p0, p1, …))`` permutes them (NumPy).

    Example:
        >>> import chainrule as cr
        >>> cr.transpose(cr.ones(2, 3, 4), 0, 2).shape
        (4, 3, 2)
    """
    if len(dims) == 2 and all(isinstance(d, (int, np.integer)) for d in dims):
        return ops.swapaxes(x, int(dims[0]), int(dims[1]))
    if len(dims) == 1:
        return ops.transpose(x, dims[0])
    if not dims:
        return ops.transpose(x, None)
    raise TypeError(f"transpose takes (x, dim0, dim1) or (x, axes), got {len(dims)} "
                    "extra arguments")


def t(x: Tensor) -> Tensor:
    """The transpose of a tensor with at most 2 dimensions, like ``torch.t``."""
    if x._data.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {x.shape} "
                         "(use transpose(dim0, dim1) or permute)")
    return x if x._data.ndim < 2 else ops.swapaxes(x, 0, 1)


def add(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input + alpha * other``, like ``torch.add``."""
    if alpha != 1:
        input, other = pair(input, other)
        other = ops.mul(other, alpha)
    return ops.add(input, other)


def sub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input − alpha * other``, like ``torch.sub``.

    Example:
        >>> import chainrule as cr
        >>> cr.sub(cr.tensor([5.0]), cr.tensor([1.0]), alpha=2)
        tensor([3.])
    """
    if alpha != 1:
        input, other = pair(input, other)
        other = ops.mul(other, alpha)
    return ops.sub(input, other)


def mul(input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input * other`` with broadcasting, like ``torch.mul``."""
    return ops.mul(input, other)


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    """``input / other``, like ``torch.div``: true division by default (an integer
    tensor divided gives the default float dtype); ``rounding_mode="floor"`` or
    ``"trunc"`` rounds the quotient (keeping integer dtypes, no gradient).

    Example:
        >>> import chainrule as cr
        >>> cr.div(cr.tensor([3, -3]), 2, rounding_mode="floor")
        tensor([ 1, -2])
    """
    a, b = pair(input, other)
    if rounding_mode is None:
        # PyTorch divides integers into the default float dtype, and an integer tensor by
        # a float one in that float's dtype (NumPy would give float64 for both)
        fa, fb = a._data.dtype.kind == "f", b._data.dtype.kind == "f"
        if not fa:
            a = ops.cast(a, b._data.dtype if fb else get_default_dtype())
        if not fb:
            b = ops.cast(b, a._data.dtype)
        return ops.div(a, b)
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got "
                         f"{rounding_mode!r}")
    x, y = a._data, b._data
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        out = np.floor_divide(x, y) if rounding_mode == "floor" else (
            np.trunc(np.true_divide(x, y)).astype(np.result_type(x, y)))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.true_divide(x, y)
        out = np.floor(q) if rounding_mode == "floor" else np.trunc(q)
    return Tensor._make(np.asarray(out), False, None)


def isclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input − other| <= atol + rtol·|other|`` as a bool tensor."""
    return Tensor._make(np.asarray(np.isclose(raw(input), raw(other), rtol=rtol, atol=atol,
                                              equal_nan=equal_nan)), False, None)


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """Whether every element is close (see ``isclose``); a Python bool.

    Example:
        >>> import chainrule as cr
        >>> cr.allclose(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.0 + 1e-9]))
        True
    """
    return bool(np.allclose(raw(input), raw(other), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """True when both have the same shape and the same elements (a Python bool)."""
    a, b = np.asarray(raw(input)), np.asarray(raw(other))
    return a.shape == b.shape and bool(np.array_equal(a, b))


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a chainrule ``Tensor`` (``Parameter`` included)."""
    return isinstance(obj, Tensor)


def is_floating_point(x: Tensor) -> bool:
    return x._data.dtype.kind == "f"


def numel(x: Tensor) -> int:
    """The number of elements of ``x``."""
    return int(np.asarray(raw(x)).size)


__all__ = [
    "add", "allclose", "div", "equal", "is_floating_point", "is_tensor", "isclose",
    "log_softmax", "mul", "numel", "softmax", "sub", "t", "transpose",
]


# ---- gapstensor: comparisons, logical functions and finiteness tests ----------------------
# The function forms of the Tensor methods: bool tensors, no gradient (as in PyTorch).

def _bool_result(values: Any) -> Tensor:
    return Tensor._make(np.asarray(values), False, None)


def eq(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input == other`` (broadcasting) as a bool tensor, like ``torch.eq``.

    Example:
        >>> import chainrule as cr
        >>> cr.eq(cr.tensor([1, 2, 3]), 2)
        tensor([False,  True, False])
    """
    return _bool_result(np.equal(raw(input), raw(other)))


def ne(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input != other`` as a bool tensor, like ``torch.ne``."""
    return _bool_result(np.not_equal(raw(input), raw(other)))


def lt(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input < other`` as a bool tensor, like ``torch.lt``."""
    return _bool_result(np.less(raw(input), raw(other)))


def le(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input <= other`` as a bool tensor, like ``torch.le``."""
    return _bool_result(np.less_equal(raw(input), raw(other)))


def gt(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input > other`` as a bool tensor, like ``torch.gt``."""
    return _bool_result(np.greater(raw(input), raw(other)))


def ge(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise ``input >= other`` as a bool tensor, like ``torch.ge``."""
    return _bool_result(np.greater_equal(raw(input), raw(other)))


def logical_and(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise AND of the truth values (nonzero is True), like
    ``torch.logical_and``.

    Example:
        >>> import chainrule as cr
        >>> cr.logical_and(cr.tensor([1.0, 0.0, 2.0]), cr.tensor([True, True, False]))
        tensor([ True, False, False])
    """
    return _bool_result(np.logical_and(raw(input), raw(other)))


def logical_or(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise OR of the truth values, like ``torch.logical_or``."""
    return _bool_result(np.logical_or(raw(input), raw(other)))


def logical_xor(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise XOR of the truth values, like ``torch.logical_xor``."""
    return _bool_result(np.logical_xor(raw(input), raw(other)))


def logical_not(input: Any) -> Tensor:  # noqa: A002
    """Elementwise NOT of the truth values, like ``torch.logical_not``."""
    return _bool_result(np.logical_not(raw(input)))


def isnan(input: Any) -> Tensor:  # noqa: A002
    """Where ``input`` is NaN, as a bool tensor, like ``torch.isnan``.

    Example:
        >>> import chainrule as cr
        >>> cr.isnan(cr.tensor([1.0, float("nan"), float("inf")]))
        tensor([False,  True, False])
    """
    return _bool_result(np.isnan(raw(input)))


def isinf(input: Any) -> Tensor:  # noqa: A002
    """Where ``input`` is +inf or -inf, as a bool tensor, like ``torch.isinf``."""
    return _bool_result(np.isinf(raw(input)))


def isfinite(input: Any) -> Tensor:  # noqa: A002
    """Where ``input`` is neither NaN nor infinite, like ``torch.isfinite``."""
    return _bool_result(np.isfinite(raw(input)))


__all__ += [
    "eq", "ge", "gt", "isfinite", "isinf", "isnan", "le", "logical_and", "logical_not",
    "logical_or", "logical_xor", "lt", "ne",
]
