"""numba kernel for the exact GELU's float32 forward.

``ops.activations.GELU`` computes x·Φ(x) and its derivative Φ(x) + x·φ(x) with the
Abramowitz–Stegun erfc in about fifteen NumPy passes over the array. A transformer's MLP
activations are megabytes (tiny_transformer: 32×64×512 floats, 4 MiB), so each pass
streams from memory and the op costs ~10 ns an element. Here the passes after the
exponential run as one loop: read x and e^{−x²/2}, write the output and the derivative.

The exponential itself stays a NumPy call: NumPy's float32 exp is vectorised, numba's
(no SVML) is a scalar libm call per element. Every other float32 operation is NumPy's,
in the same order, so the results are NumPy's bit for bit.

Imported only by the builder in ``ops.activations`` through ``chainrule.fast.kernel``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from chainrule import fast

_F1 = "float32[::1]"


def build_gelu_tail(inv_k: float, coefficients: tuple[float, ...], inv_sqrt_2pi: float
                    ) -> Callable[..., None]:
    """``gelu_tail(x, e, out, deriv, grad)``: from x and e = exp(−x²/2) (1-d, contiguous,
    float32) write out = x·Φ(x) and, with ``grad``, deriv = x·φ(x) + Φ(x); e is
    overwritten with φ(x). The constants are those of ``ops.activations`` (passed in so
    the formula has one home): inv_k = √2/p and the A&S coefficients a5 … a1."""
    k = np.float32(inv_k)
    a5, a4, a3, a2, a1 = (np.float32(a / 2) for a in coefficients)  # erfc/2 directly
    half = np.float32(0.5)
    pdf_scale = np.float32(inv_sqrt_2pi)

    @numba.njit(inline="always", error_model="numpy")
    def cdf_of(xi, ei):  # noqa: ANN001, ANN202
        t = k / (abs(xi) + k)  # 1/(1 + p|x|/√2)
        tail = t * a5
        tail = (tail + a4) * t
        tail = (tail + a3) * t
        tail = (tail + a2) * t
        tail = (tail + a1) * t
        tail = tail * ei - half  # P(N > |x|) − ½
        return math.copysign(tail, xi) + half

    @numba.njit(f"void({_F1}, {_F1}, {_F1}, {_F1}, boolean)", error_model="numpy",
                cache=fast.cache_enabled(), nogil=True)
    def gelu_tail(x, e, out, deriv, grad):  # noqa: ANN001, ANN202
        # two copies of the loop: without grad, deriv is a placeholder that LLVM's
        # run-time overlap check must not see (it would fall back to scalar code)
        if not grad:
            for i in range(x.size):
                out[i] = x[i] * cdf_of(x[i], e[i])
            return
        for i in range(x.size):
            xi = x[i]
            cdf = cdf_of(xi, e[i])
            out[i] = xi * cdf
            deriv[i] = (e[i] * pdf_scale) * xi + cdf

    return gelu_tail
