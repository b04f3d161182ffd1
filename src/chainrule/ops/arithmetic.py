"""Elementwise arithmetic: + - * / **, exp, log, sqrt, abs, clip, where, maximum, cast.

Every binary op broadcasts like NumPy; its backward sums the gradient back to each
input's shape with ``unbroadcast``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.dtypes import to_dtype
from chainrule.ops._util import constant, pair, shape_mismatch, unbroadcast
from chainrule.tensor import Tensor


def _broadcast_error(op: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    return shape_mismatch(op, a.shape, b.shape, "they cannot be broadcast together")


class Add(Function):
    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            out = a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None
        self.saved = (a.shape, b.shape)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        sa, sb = self.saved
        na, nb = self.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return Add.apply(*pair(a, b))


class Sub(Function):
    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            out = a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None
        self.saved = (a.shape, b.shape)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        sa, sb = self.saved
        na, nb = self.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return Sub.apply(*pair(a, b))


class Mul(Function):
    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            out = a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None
        na, nb = self.needs_input_grad
        # keep only the operand the other one's gradient needs
        self.saved = (a if nb else None, b if na else None, a.shape, b.shape)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        a, b, sa, sb = self.saved
        na, nb = self.needs_input_grad
        return (unbroadcast(g * b, sa) if na else None, unbroadcast(g * a, sb) if nb else None)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return Mul.apply(*pair(a, b))


class Div(Function):
    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None
        self.saved = (out if self.needs_input_grad[1] else None, b, a.shape)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        out, b, sa = self.saved
        na, nb = self.needs_input_grad
        ga = g / b
        gb = unbroadcast(-ga * out, b.shape) if nb else None
        return (unbroadcast(ga, sa) if na else None, gb)


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return Div.apply(*pair(a, b))


class Neg(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = ()
        return -x

    def backward(self, g: np.ndarray) -> np.ndarray:
        return -g


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


class PowScalar(Function):
    """``x ** p`` for a constant exponent p: d/dx = p x^(p-1)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, p: float) -> np.ndarray:
        self.saved = (x, p)
        return x**p

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, p = self.saved
        if p == 0:  # x**0 = 1: zero gradient, also at x = 0 (where p x^(p-1) is 0·inf)
            return np.zeros_like(g)
        if p == 2:
            return g * (2 * x)
        return g * (p * x ** (p - 1))


class Pow(Function):
    """``a ** b`` for two tensors: d/da = b a^(b-1), d/db = a^b ln a."""

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a**b
        self.saved = (a, b, out)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        a, b, out = self.saved
        na, nb = self.needs_input_grad
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if na else None
        gb = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            gb = unbroadcast(g * out * log_a, b.shape)
        return ga, gb


def pow(base: Any, exponent: Any) -> Tensor:  # noqa: A001
    """``base ** exponent``; a number exponent takes the cheaper path."""
    if isinstance(base, Tensor) and isinstance(exponent, (int, float, np.integer, np.floating)):
        # a NumPy float64 exponent would upcast a float32 base (NEP 50): use the Python value
        p = exponent.item() if isinstance(exponent, np.generic) else exponent
        return PowScalar.apply(base, p=p)
    return Pow.apply(*pair(base, exponent))


class Exp(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        self.saved = out  # d/dx e^x = e^x: reuse the output
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def exp(x: Tensor) -> Tensor:
    return Exp.apply(x)


class Log(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g / self.saved


def log(x: Tensor) -> Tensor:
    return Log.apply(x)


class Sqrt(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = np.sqrt(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g / (2 * self.saved)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(x)


class Abs(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        return np.abs(x)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * np.sign(self.saved)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return Abs.apply(x)


class Clip(Function):
    """Gradient flows where ``min <= x <= max`` (inclusive, as in PyTorch)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        self.saved = inside
        return np.clip(x, low, high)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limit values to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    # Python floats: a NumPy float64 bound would upcast a float32 x (NEP 50)
    low = None if min is None else float(min)
    high = None if max is None else float(max)
    return Clip.apply(x, low=low, high=high)


clamp = clip


class Where(Function):
    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> np.ndarray:
        self.saved = (condition, a.shape, b.shape)
        return np.where(condition, a, b)

    def backward(self, g: np.ndarray) -> tuple:
        cond, sa, sb = self.saved
        na, nb = self.needs_input_grad
        zero = np.zeros((), dtype=g.dtype)
        ga = unbroadcast(np.where(cond, g, zero), sa) if na else None
        gb = unbroadcast(np.where(cond, zero, g), sb) if nb else None
        return ga, gb


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if condition else b``; the condition carries no gradient."""
    cond = np.asarray(condition._data if isinstance(condition, Tensor) else condition, bool)
    a, b = pair(a, b)
    return Where.apply(a, b, condition=cond)


class Maximum(Function):
    """Elementwise max; ties send half the gradient to each side (as PyTorch does)."""

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.saved = (a, b)
        return np.maximum(a, b)

    def backward(self, g: np.ndarray) -> tuple:
        a, b = self.saved
        share = (a > b) + 0.5 * (a == b)
        na, nb = self.needs_input_grad
        ga = unbroadcast((g * share).astype(g.dtype, copy=False), a.shape) if na else None
        gb = unbroadcast((g * (1 - share)).astype(g.dtype, copy=False), b.shape) if nb else None
        return ga, gb


def maximum(a: Any, b: Any) -> Tensor:
    return Maximum.apply(*pair(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    a, b = pair(a, b)
    return neg(Maximum.apply(neg(a), neg(b)))


class Cast(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        self.saved = x.dtype
        return x.astype(dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g.astype(self.saved)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype`` (a dtype, or a name such as ``"torch.float64"``);
    gradients flow back converted to x's dtype."""
    dt = to_dtype(dtype)
    if x._data.dtype == dt:
        return x
    if dt.kind != "f" and x.requires_grad:
        return Tensor._make(x._data.astype(dt), False, None)
    return Cast.apply(x, dtype=dt)


__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip", "clamp",
    "where", "maximum", "minimum", "cast", "constant",
]
