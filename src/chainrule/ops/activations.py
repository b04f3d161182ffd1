"""Activation functions, softmax/log-softmax and dropout.

Each is written to stay finite for any finite input (sigmoid and softmax at ±1e4
included). Where the derivative is cheaper from the output (sigmoid, tanh, softmax) the
output is what gets saved.
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.autograd import Function
from chainrule.backend import Generator, resolve_generator
from chainrule.ops._util import kernel_array, normalize_axes, ones_vector
from chainrule.ops.arithmetic import cast
from chainrule.ops.shape import squeeze, unsqueeze
from chainrule.tensor import Tensor


class ReLU(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (self.saved > 0)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(0, x)``. ``inplace`` is accepted for PyTorch compatibility and ignored (the
    result is a new tensor)."""
    return ReLU.apply(input)


class LeakyReLU(Function):
    # Blends by arithmetic on the mask: np.where with an unpredictable mask is ~10x slower
    # than a multiply on this NumPy (a branch per element).
    __slots__ = ()

    def forward(self, x: np.ndarray, slope: float) -> np.ndarray:
        slope_by_element = (x > 0) * np.asarray(1 - slope, x.dtype)
        slope_by_element += np.asarray(slope, x.dtype)  # 1 where x > 0, slope elsewhere
        self.saved = slope_by_element
        return x * slope_by_element

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for x > 0, ``negative_slope * x`` otherwise (``inplace`` is ignored)."""
    return LeakyReLU.apply(input, slope=float(negative_slope))  # float: never upcast float32


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # σ(x) = (1 + tanh(x/2)) / 2 exactly; tanh saturates instead of overflowing, so this is
    # finite for any x, and it avoids np.where (slow with unpredictable masks).
    out = np.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out


class Sigmoid(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = _sigmoid(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        s = self.saved
        d = np.subtract(1, s)  # σ'(x) = σ(x)(1 − σ(x)), one temporary, then in place
        d *= s
        d *= g
        return d


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + e^-x)``, stable for any finite x."""
    return Sigmoid.apply(input)


class Tanh(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        d = self.saved * self.saved  # tanh'(x) = 1 − tanh²(x), in one temporary
        np.subtract(1, d, out=d)
        d *= g
        return d


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(input)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
# Abramowitz & Stegun 7.1.26: erfc(z) = (a1 t + a2 t² + … + a5 t⁵) e^{−z²}, t = 1/(1 + p z),
# for z ≥ 0, with absolute error ≤ 1.5e-7 (below float32's resolution near 1).
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)  # a5 … a1


_exact_erf = np.frompyfunc(math.erf, 1, 1)


def _normal_cdf_pdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Φ(x) and φ(x) of the standard normal, sharing one exp: with z = |x|/√2 the erfc
    factor e^{−z²} is e^{−x²/2}, φ's own exponential. In place, to keep passes few.

    float64 (gradient checks, reference computations) takes the exact ``math.erf``
    element by element instead of the 1.5e-7 approximation: slower, but exact.
    """
    e = x * -0.5
    e *= x
    np.exp(e, out=e)
    if x.dtype == np.float64:
        cdf = _exact_erf(x * (1 / math.sqrt(2))).astype(np.float64)
        cdf += 1
        cdf *= 0.5
        e *= _INV_SQRT_2PI
        return cdf, e
    # t = 1/(1 + p z) written as (1/pz')/(1/pz' + |x|): three passes instead of four
    inv_k = math.sqrt(2) / _AS_P
    t = np.abs(x)
    t += inv_k
    np.divide(inv_k, t, out=t)
    tail = t * (_AS_A[0] / 2)  # coefficients halved: erfc(z)/2 without a pass for ½
    for a in _AS_A[1:]:
        tail += a / 2
        tail *= t
    tail *= e  # = P(N > |x|) = erfc(z)/2
    tail -= 0.5  # Φ(x) = 1/2 + sign(x)(1/2 − tail), without a branchy np.where
    np.copysign(tail, x, out=tail)  # |tail − 1/2| = 1/2 − tail, with x's sign
    tail += 0.5
    cdf = tail
    e *= _INV_SQRT_2PI
    return cdf, e


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, vectorised (NumPy has no erf and SciPy is not a dependency):
    erf(x) = 2 Φ(x√2) − 1; exact in float64, within 1.5e-7 otherwise."""
    cdf, _ = _normal_cdf_pdf(x * math.sqrt(2))
    return (2 * cdf - 1).astype(x.dtype, copy=False)


# Exact float32 GELU works through blocks of this many elements (64 KiB): its ~20 NumPy
# passes then stay in cache instead of streaming the whole array through memory each time
# (tiny_transformer's 32×64×512 activation: 0.55× the time of whole-array passes, results
# bit for bit the same; 4096-element blocks lose that to per-call overhead).
_GELU_BLOCK = 16384


def _gelu_exact_f32(x: np.ndarray, want_grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``x Φ(x)`` and, when wanted, its derivative ``Φ(x) + x φ(x)``, block by block."""
    flat = x.reshape(-1)
    out = np.empty(flat.shape, x.dtype)
    deriv = np.empty(flat.shape, x.dtype) if want_grad else None
    for start in range(0, flat.size, _GELU_BLOCK):
        block = slice(start, start + _GELU_BLOCK)
        xb = flat[block]
        cdf, pdf = _normal_cdf_pdf(xb)
        np.multiply(xb, cdf, out=out[block])
        if deriv is not None:
            pdf *= xb
            np.add(pdf, cdf, out=deriv[block])
    return out.reshape(x.shape), None if deriv is None else deriv.reshape(x.shape)


class GELU(Function):
    """``x Φ(x)``; ``approximate='tanh'`` uses the tanh formula of Hendrycks & Gimpel.

    Forward keeps only the derivative ``Φ(x) + x φ(x)`` for backward (one array, not x
    and Φ), computed while φ is at hand.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
            t = np.tanh(inner)
            self.saved = (x, t, approximate)
            return 0.5 * x * (1 + t)
        if _fast.enabled and x.dtype == np.float32:
            kernel = _gelu_kernel()
            if kernel is not None:
                return self._forward_fast(kernel, x)
        if x.dtype != np.float64 and x.size > _GELU_BLOCK:
            out, deriv = _gelu_exact_f32(x, self.needs_input_grad[0])
            self.saved = None if deriv is None else (None, deriv, approximate)
            return out
        cdf, pdf = _normal_cdf_pdf(x)
        out = x * cdf
        if self.needs_input_grad[0]:
            pdf *= x
            pdf += cdf
            self.saved = (None, pdf, approximate)
        else:
            self.saved = None
        return out

    def _forward_fast(self, kernel: Callable[..., Any], x: np.ndarray) -> np.ndarray:
        """The exact float32 GELU with ``chainrule.fast``: e^{−x²/2} by NumPy (its exp is
        SIMD), everything after it in one compiled pass; NumPy's results bit for bit."""
        xf = kernel_array(x).reshape(-1)
        out = np.empty_like(xf)
        grad = self.needs_input_grad[0]
        deriv = np.empty_like(xf) if grad else out
        # blocks of 32K elements keep e in L2 between NumPy's passes and the kernel's
        e = np.empty(min(xf.size, _GELU_BLOCK), xf.dtype)
        for s in range(0, xf.size, _GELU_BLOCK):
            xs = xf[s:s + _GELU_BLOCK]
            es = e[:xs.size]
            np.multiply(xs, -0.5, out=es)
            es *= xs
            np.exp(es, out=es)
            kernel(xs, es, out[s:s + _GELU_BLOCK], deriv[s:s + _GELU_BLOCK] if grad else out,
                   grad, _GELU_CONSTANTS)
        self.saved = (None, deriv.reshape(x.shape), "none") if grad else None
        return out.reshape(x.shape)

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, aux, approximate = self.saved
        if approximate == "tanh":
            t = aux
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        return g * aux


_GELU_BLOCK = 32768


def _gelu_kernel() -> Callable[..., Any] | None:
    def build() -> Callable[..., Any]:
        return importlib.import_module("chainrule.fast.activations").build_gelu_tail()

    return _fast.kernel("gelu_tail", build)


# the kernel's constants, rounded to float32 as NumPy rounds them when it meets them
_GELU_CONSTANTS = np.array([math.sqrt(2) / _AS_P, *(a / 2 for a in _AS_A), _INV_SQRT_2PI],
                           np.float32)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (exact by default, like PyTorch)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate=approximate)


class Softplus(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        bx = x * beta
        self.saved = (bx, threshold)
        # log(1 + e^{βx}) / β, and exactly x where βx is large (as PyTorch does)
        out = np.logaddexp(0, bx) / beta
        big = bx > threshold
        if big.any():
            out[big] = x[big]
        return out.astype(x.dtype, copy=False)

    def backward(self, g: np.ndarray) -> np.ndarray:
        bx, threshold = self.saved
        slope = _sigmoid(bx)
        slope[bx > threshold] = 1
        return g * slope


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth ReLU ``log(1 + e^{βx}) / β``."""
    return Softplus.apply(input, beta=float(beta), threshold=float(threshold))


# ---- more elementwise activations (PyTorch's torch.nn.functional names) ----------------
# ``inplace=True`` is accepted by the wrappers below for PyTorch compatibility and ignored:
# the result is always a new tensor (writing into an input that backward may still need
# would corrupt the gradient). Scripts written ``x = F.silu(x, inplace=True)`` behave the
# same; only code relying on the side effect on ``x`` differs.


class SiLU(Function):
    """``x σ(x)``; forward keeps only the derivative ``σ(x)(1 + x(1 − σ(x)))``."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        s = _sigmoid(x)
        out = x * s
        if self.needs_input_grad[0]:
            d = 1 - s
            d *= x
            d += 1
            d *= s
            self.saved = d
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid-weighted linear unit ``x σ(x)`` (also called swish).

    Example:
        >>> import chainrule as cr
        >>> round(silu(cr.tensor([1.0])).item(), 4)
        0.7311
    """
    return SiLU.apply(input)


class Mish(Function):
    """``x tanh(softplus(x))``; derivative ``t + x (1 − t²) σ(x)`` with t = tanh(softplus(x))."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = np.tanh(np.logaddexp(0, x))  # logaddexp: softplus without overflow
        out = x * t
        if self.needs_input_grad[0]:
            d = t * t
            np.subtract(1, d, out=d)
            d *= x
            d *= _sigmoid(x)
            d += t
            self.saved = d
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish, ``x tanh(softplus(x))`` (Misra 2019).

    Example:
        >>> import chainrule as cr
        >>> round(mish(cr.tensor([1.0])).item(), 4)
        0.8651
    """
    return Mish.apply(input)


class ELU(Function):
    """PyTorch's ELU family in one op: ``scale·x`` for x > 0, else
    ``scale·α·(e^{x·input_scale} − 1)``. ELU is (α, 1, 1), SELU (α₀, λ₀, 1) and CELU
    (α, 1, 1/α). The derivative for x ≤ 0 is ``scale·α·input_scale·e^{x·input_scale}``
    (x = 0 takes this branch, as in PyTorch)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, alpha: float, scale: float,
                input_scale: float) -> np.ndarray:
        em = np.minimum(x, 0)
        if input_scale != 1:
            em *= input_scale
        np.expm1(em, out=em)  # e^{x·input_scale} − 1 where x ≤ 0, exactly 0 where x > 0
        out = em * alpha
        out += np.maximum(x, 0)
        if scale != 1:
            out *= scale
        if self.needs_input_grad[0]:
            # c·(em + 1) is the x ≤ 0 derivative and equals c where x > 0 (em = 0 there):
            # add (scale − c) on the positive side, without a branchy np.where
            c = scale * alpha * input_scale
            em += 1
            em *= c
            em += (x > 0) * np.asarray(scale - c, x.dtype)
            self.saved = em
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit: ``x`` for x > 0, ``α(eˣ − 1)`` otherwise.

    Example:
        >>> import chainrule as cr
        >>> [round(v, 4) for v in elu(cr.tensor([-1.0, 2.0])).tolist()]
        [-0.6321, 2.0]
    """
    return ELU.apply(input, alpha=float(alpha), scale=1.0, input_scale=1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU ``λ·elu(x, α)`` with the self-normalising constants λ ≈ 1.0507,
    α ≈ 1.6733 (Klambauer et al. 2017).

    Example:
        >>> import chainrule as cr
        >>> round(selu(cr.tensor([1.0])).item(), 4)
        1.0507
    """
    return ELU.apply(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE, input_scale=1.0)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Continuously differentiable ELU: ``max(0, x) + min(0, α(e^{x/α} − 1))``.

    Example:
        >>> import chainrule as cr
        >>> round(celu(cr.tensor([-1.0]), alpha=2.0).item(), 4)
        -0.7869
    """
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the input is divided by it)")
    return ELU.apply(input, alpha=alpha, scale=1.0, input_scale=1 / alpha)


class Hardtanh(Function):
    """``clip(x, min_val, max_val)``; the gradient passes strictly inside the bounds
    (0 at the bounds themselves, as in PyTorch's hardtanh and relu6)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        if self.needs_input_grad[0]:
            inside = x > low
            inside &= x < high
            self.saved = inside
        return np.clip(x, low, high)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``min_val`` below ``min_val``, ``max_val`` above ``max_val``, ``x`` between.

    Example:
        >>> import chainrule as cr
        >>> hardtanh(cr.tensor([-3.0, 0.5, 3.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return Hardtanh.apply(input, low=float(min_val), high=float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(0, x), 6)`` (``hardtanh(x, 0, 6)``).

    Example:
        >>> import chainrule as cr
        >>> relu6(cr.tensor([-1.0, 3.0, 9.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    return Hardtanh.apply(input, low=0.0, high=6.0)


class Hardsigmoid(Function):
    """``clip(x/6 + 1/2, 0, 1)``; gradient 1/6 strictly inside (−3, 3)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.needs_input_grad[0]:
            inside = x > -3
            inside &= x < 3
            self.saved = inside
        out = x * (1 / 6)
        out += 0.5
        return np.clip(out, 0, 1, out=out)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved * np.asarray(1 / 6, g.dtype)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``.

    Example:
        >>> import chainrule as cr
        >>> hardsigmoid(cr.tensor([-4.0, 0.0, 4.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    return Hardsigmoid.apply(input)


class Hardswish(Function):
    """``x · relu6(x + 3) / 6``; derivative 0 for x ≤ −3, 1 for x ≥ 3, ``x/3 + 1/2``
    between (PyTorch's choice at the two kinks)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        gate = x + 3
        np.clip(gate, 0, 6, out=gate)
        gate *= 1 / 6
        out = x * gate
        if self.needs_input_grad[0]:
            inside = x > -3
            inside &= x < 3
            d = x * (1 / 3)
            d += 0.5
            d *= inside
            d += x >= 3
            self.saved = d
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard swish ``x · relu6(x + 3) / 6`` (MobileNetV3).

    Example:
        >>> import chainrule as cr
        >>> hardswish(cr.tensor([0.0, 4.0])).tolist()
        [0.0, 4.0]
    """
    return Hardswish.apply(input)


class Softsign(Function):
    """``x / (1 + |x|)``; derivative ``1 / (1 + |x|)²``."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        inv = np.abs(x)
        inv += 1
        np.divide(1, inv, out=inv)
        self.saved = inv
        return x * inv

    def backward(self, g: np.ndarray) -> np.ndarray:
        inv = self.saved
        return g * inv * inv


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``.

    Example:
        >>> import chainrule as cr
        >>> softsign(cr.tensor([-1.0, 3.0])).tolist()
        [-0.5, 0.75]
    """
    return Softsign.apply(input)


class Tanhshrink(Function):
    """``x − tanh(x)``; derivative ``tanh²(x)``."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = np.tanh(x)
        self.saved = t
        return x - t

    def backward(self, g: np.ndarray) -> np.ndarray:
        t = self.saved
        return g * t * t


def tanhshrink(input: Tensor) -> Tensor:
    """``x − tanh(x)``.

    Example:
        >>> import chainrule as cr
        >>> tanhshrink(cr.tensor([0.0])).tolist()
        [0.0]
    """
    return Tanhshrink.apply(input)


class LogSigmoid(Function):
    """``log σ(x) = −softplus(−x)``, finite for any finite x; derivative ``σ(−x)``."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.needs_input_grad[0]:
            self.saved = _sigmoid(-x)
        out = np.logaddexp(0, -x)
        np.negative(out, out=out)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def logsigmoid(input: Tensor) -> Tensor:
    """``log(1 / (1 + e^{−x}))``, computed without overflow.

    Example:
        >>> import chainrule as cr
        >>> round(logsigmoid(cr.tensor([0.0])).item(), 4)
        -0.6931
    """
    return LogSigmoid.apply(input)


def _prelu_view(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The PReLU weight shaped to broadcast over x: a scalar, or one value per channel of
    axis 1 (as PyTorch)."""
    if w.size == 1:
        return w.reshape(())
    return w.reshape((1, w.size) + (1,) * (x.ndim - 2))


class PReLU(Function):
    """``max(0, x) + w · min(0, x)`` with a learned slope ``w`` (one, or one per channel
    of axis 1). ``∂E/∂x = g`` where x > 0 and ``w g`` elsewhere (x = 0 included, as in
    PyTorch); ``∂E/∂w = Σ g · min(0, x)`` over every axis but the channel's."""

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        wv = _prelu_view(w, x)
        neg = np.minimum(x, 0)
        out = neg * wv
        out += np.maximum(x, 0)
        self.saved = (x, neg, w)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        x, neg, w = self.saved
        need_x, need_w = self.needs_input_grad
        gx = gw = None
        if need_x:
            wv = _prelu_view(w, x)
            # slope = 1 where x > 0, w elsewhere, by arithmetic on the mask
            slope = (x > 0) * (1 - wv)
            slope += wv
            gx = g * slope
        if need_w:
            gn = g * neg
            if w.size == 1:
                gw = np.asarray(gn.sum()).reshape(w.shape).astype(w.dtype, copy=False)
            else:
                axes = (0,) + tuple(range(2, x.ndim))
                gw = gn.sum(axis=axes).reshape(w.shape).astype(w.dtype, copy=False)
        return gx, gw


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """Parametric ReLU: ``max(0, x) + weight · min(0, x)``.

    Args:
        input: (N, C, *) or any shape when ``weight`` has one element.
        weight: the slopes, one element or C (broadcast over axis 1).

    Example:
        >>> import chainrule as cr
        >>> prelu(cr.tensor([[-2.0, 1.0]]), cr.tensor([0.25])).tolist()
        [[-0.5, 1.0]]
    """
    w = weight._data
    if w.ndim > 1:
        raise ValueError(f"prelu: weight must be a scalar or 1-D, got shape {weight.shape}")
    if w.size != 1:
        channels = input._data.shape[1] if input._data.ndim >= 2 else 1
        if w.size != channels:
            raise ValueError(f"prelu: weight has {w.size} elements but the input {input.shape} "
                             f"has {channels} channels (axis 1); use 1 or {channels}")
    return PReLU.apply(input, weight)


def softmax_last_axis(s: np.ndarray, *, overwrite: bool = False,
                      masked_rows_to_zero: bool = False) -> np.ndarray:
    """Softmax along the last axis of a floating-point array (into s itself when
    ``overwrite``).

    Each row is shifted by its own maximum, so a row's weights never depend on other
    rows (attention's causal outputs are bit-for-bit independent of the future), and the
    row sums are one GEMV, several times faster than ``sum(axis=-1)`` over short rows. A
    row that is −∞ everywhere gives NaN, as in PyTorch, or zeros with
    ``masked_rows_to_zero`` (a fully masked attention query).
    """
    m = s.max(axis=-1, keepdims=True)
    if masked_rows_to_zero:
        m[~np.isfinite(m)] = 0  # exp(−∞ − 0) = 0 everywhere: no NaN
    p = np.subtract(s, m, out=s if overwrite else None)
    np.exp(p, out=p)
    total = p @ ones_vector(p.shape[-1], p.dtype)
    if masked_rows_to_zero:
        total[total == 0] = 1
    p /= total[..., None]
    return p


class Softmax(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.dtype.kind != "f":
            x = x.astype(np.float64)  # NumPy's exp of an integer array is float64 too
        out = np.moveaxis(softmax_last_axis(np.moveaxis(x, axis, -1)), -1, axis)
        self.saved = (out, axis)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        s, axis = self.saved
        if axis not in (-1, s.ndim - 1):
            return s * (g - (g * s).sum(axis=axis, keepdims=True))
        d = g * s  # s ⊙ (g − ⟨g, s⟩) with the row sums as a GEMV (0.82× the time)
        dot = d @ ones_vector(s.shape[-1], d.dtype)
        np.subtract(g, dot[..., None], out=d)
        d *= s
        return d


def _softmax_axis(name: str, x: Tensor, dim: int | None, axis: int | None,
                  dtype: Any) -> tuple[Tensor, int]:
    """PyTorch's ``dim=`` (or NumPy's ``axis=``; default −1) and optional ``dtype`` cast."""
    if dim is not None and axis is not None and dim != axis:
        raise ValueError(f"{name}: got dim={dim} and axis={axis}; pass one of them")
    chosen = -1 if dim is None and axis is None else (dim if dim is not None else axis)
    if dtype is not None:
        x = cast(x, dtype)
    return x, chosen


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """``e^x / Σ e^x`` along ``dim`` (default: the last axis; ``axis=`` is accepted too),
    shifted by the max, so it never overflows. ``dtype`` casts the input first.
    ``_stacklevel`` (PyTorch's, only where its warnings point) is accepted and ignored.

    Example:
        >>> import chainrule as cr
        >>> softmax(cr.tensor([[0.0, 0.0]]), dim=1).tolist()
        [[0.5, 0.5]]
    """
    input, axis = _softmax_axis("softmax", input, dim, axis, dtype)
    return Softmax.apply(input, axis=axis)


class LogSoftmax(Function):
    __slots__ = ()

    # Along the last axis the row sums are GEMVs and backward reuses forward's
    # exponentials (softmax = e^shifted / Σ) instead of taking exp(out) again: 0.70× the
    # time of forward + backward on char_lstm's 2048×65 logits. Saves the softmax there,
    # the output otherwise.

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        shifted = x - x.max(axis=axis, keepdims=True)
        if axis not in (-1, x.ndim - 1) or shifted.dtype.kind != "f":
            out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
            self.saved = (out, axis, False)
            return out
        p = np.exp(shifted)
        total = p @ ones_vector(p.shape[-1], p.dtype)
        shifted -= np.log(total)[..., None]
        p /= total[..., None]
        self.saved = (p, axis, True)
        return shifted

    def backward(self, g: np.ndarray) -> np.ndarray:
        kept, axis, is_softmax = self.saved
        if not is_softmax:
            return g - np.exp(kept) * g.sum(axis=axis, keepdims=True)
        d = kept * (g @ ones_vector(g.shape[-1], g.dtype))[..., None]
        return np.subtract(g, d, out=d)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """``x − log Σ e^x`` along ``dim`` (default: the last axis; ``axis=`` too), stably.
    ``_stacklevel`` is accepted and ignored, as in ``softmax``."""
    input, axis = _softmax_axis("log_softmax", input, dim, axis, dtype)
    return LogSoftmax.apply(input, axis=axis)


class LogSumExp(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        m = x.max(axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all −inf: log Σ 0 = −inf, not −inf − (−inf)
        with np.errstate(divide="ignore"):
            kept = m + np.log(np.exp(x - m).sum(axis=axes, keepdims=True))
        self.saved = (x, kept)
        if keepdims:
            return kept
        return kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, kept = self.saved
        return np.exp(x - kept) * g.reshape(kept.shape)


def logsumexp(x: Tensor, axis: int = -1, keepdims: bool = False) -> Tensor:
    return LogSumExp.apply(x, axes=normalize_axes(axis, x._data.ndim), keepdims=keepdims)


class Dropout(Function):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1−p)
    so the expected activation is unchanged and evaluation needs no rescaling."""

    __slots__ = ()

    def forward(self, x: np.ndarray, p: float, generator: Generator,
                mask_shape: tuple[int, ...]) -> np.ndarray:
        keep = generator.random(mask_shape, x.dtype) >= p
        mask = keep * np.asarray(1 / (1 - p), dtype=x.dtype)
        self.saved = mask
        return x * mask

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def check_dropout_p(p: float, where: str = "dropout") -> float:
    """``p`` as a float in [0, 1], or a ValueError naming ``where``."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{where}: probability p must be a number, got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"{where}: probability p has to be between 0 and 1, got {p}")
    return float(p)


def _dropout_generator(generator: Any, inplace: bool) -> Generator | None:
    # PyTorch's fourth positional argument is ``inplace``; chainrule's was ``generator``.
    # A bool there is PyTorch's inplace (ignored), anything else the generator.
    return None if isinstance(generator, (bool, np.bool_)) else generator


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Generator | None = None) -> Tensor:
    """Inverted dropout; the identity when ``training`` is False or ``p == 0``; all zeros
    (and zero gradients) when training with ``p == 1``.

    PyTorch's signature, plus ``generator`` (the random source of the mask). ``inplace``
    is accepted and ignored (the result is a new tensor). A generator passed fourth,
    chainrule's older ``dropout(x, p, training, generator)``, is still read as one.
    """
    if inplace is not None and not isinstance(inplace, (bool, np.bool_)):
        generator, inplace = inplace, False
    p = check_dropout_p(p)
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    return Dropout.apply(input, p=p, generator=resolve_generator(generator),
                         mask_shape=input._data.shape)


def dropout_channels(x: Tensor, p: float = 0.5, training: bool = True,
                     generator: Generator | None = None, *, inplace: bool = False) -> Tensor:
    """Dropout of whole channels: x (N, C, ...) keeps or zeroes each (n, c) map (all of
    them when training with ``p == 1``). ``inplace`` is ignored, as in :func:`dropout`."""
    p = check_dropout_p(p, "dropout_channels")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    if x._data.ndim < 2:
        raise ValueError(f"channel dropout needs input (N, C, ...), got shape {x.shape}")
    shape = x._data.shape[:2] + (1,) * (x._data.ndim - 2)
    return Dropout.apply(x, p=p, generator=resolve_generator(
        _dropout_generator(generator, inplace)), mask_shape=shape)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Channel dropout of (N, C, L) or unbatched (C, L) inputs (PyTorch's ``F.dropout1d``):
    each (n, c) row is kept (scaled by 1/(1−p)) or zeroed whole."""
    ndim = input._data.ndim
    if ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got "
                         f"shape {input.shape}")
    if ndim == 3 or not training or p == 0:
        return dropout_channels(input, p, training, generator)
    return squeeze(dropout_channels(unsqueeze(input, 0), p, training, generator), 0)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Channel dropout of (N, C, H, W) inputs (PyTorch's ``F.dropout2d``): each (n, c) map
    is kept (scaled by 1/(1−p)) or zeroed whole.

    As PyTorch today, other ranks work on axes 0 and 1 with a warning; in particular a
    3-D input is read as (N, C, L), not as an unbatched (C, H, W) image.
    """
    ndim = input._data.ndim
    if ndim == 3:
        warnings.warn("dropout2d: a 3-D input is read as (N, C, L) and whole (n, c) rows are "
                      "dropped (PyTorch's behaviour); for an unbatched (C, H, W) image add a "
                      "batch axis, or use dropout1d for (N, C, L) inputs", stacklevel=2)
    elif ndim != 4:
        warnings.warn(f"dropout2d: received a {ndim}-D input; channel dropout expects "
                      "(N, C, H, W) (use dropout for other shapes)", stacklevel=2)
    return dropout_channels(input, p, training, generator)


__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softplus", "softmax", "log_softmax",
    "logsumexp", "dropout", "dropout_channels", "erf",
    # nnbasic: more activations and dropout variants
    "celu", "dropout1d", "dropout2d", "elu", "hardsigmoid", "hardswish", "hardtanh",
    "logsigmoid", "mish", "prelu", "relu6", "selu", "silu", "softsign", "tanhshrink",
]
