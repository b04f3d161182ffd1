"""Activation functions, softmax/log-softmax and dropout.

Each is written to stay finite for any finite input (sigmoid and softmax at ±1e4
included). Where the derivative is cheaper from the output (sigmoid, tanh, softmax) the
output is what gets saved.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import Generator, resolve_generator
from chainrule.ops._util import normalize_axes, ones_vector
from chainrule.tensor import Tensor


class ReLU(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (self.saved > 0)


def relu(x: Tensor) -> Tensor:
    """``max(0, x)``."""
    return ReLU.apply(x)


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


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""
    return LeakyReLU.apply(x, slope=float(negative_slope))  # float: never upcast float32


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
        return g * s * (1 - s)  # σ'(x) = σ(x)(1 − σ(x))


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + e^-x)``, stable for any finite x."""
    return Sigmoid.apply(x)


class Tanh(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        self.saved = out
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        t = self.saved
        return g * (1 - t * t)  # tanh'(x) = 1 − tanh²(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(x)


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
        cdf, pdf = _normal_cdf_pdf(x)
        out = x * cdf
        if self.needs_input_grad[0]:
            pdf *= x
            pdf += cdf
            self.saved = (None, pdf, approximate)
        else:
            self.saved = None
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        x, aux, approximate = self.saved
        if approximate == "tanh":
            t = aux
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        return g * aux


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (exact by default, like PyTorch)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)


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


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth ReLU ``log(1 + e^{βx}) / β``."""
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


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
        return s * (g - (g * s).sum(axis=axis, keepdims=True))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``e^x / Σ e^x`` along ``axis`` (shifted by the max, so it never overflows)."""
    return Softmax.apply(x, axis=axis)


class LogSoftmax(Function):
    __slots__ = ()

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.saved = (out, axis)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        out, axis = self.saved
        return g - np.exp(out) * g.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``x − log Σ e^x`` along ``axis``, computed stably."""
    return LogSoftmax.apply(x, axis=axis)


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
    return LogSumExp.apply(x, axes=normalize_axes(axis, x.data.ndim), keepdims=keepdims)


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


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: Generator | None = None) -> Tensor:
    """Inverted dropout; the identity when ``training`` is False or ``p == 0``."""
    if not 0 <= p < 1:
        if p == 1 and training:
            return x * 0.0
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, generator=resolve_generator(generator),
                         mask_shape=x.data.shape)


def dropout_channels(x: Tensor, p: float = 0.5, training: bool = True,
                     generator: Generator | None = None) -> Tensor:
    """Dropout of whole channels: x (N, C, ...) keeps or zeroes each (n, c) map."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    shape = x.data.shape[:2] + (1,) * (x.data.ndim - 2)
    return Dropout.apply(x, p=p, generator=resolve_generator(generator), mask_shape=shape)


__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softplus", "softmax", "log_softmax",
    "logsumexp", "dropout", "dropout_channels", "erf",
]
