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


@numba.njit(inline="always", error_model="numpy")
def _cdf(x, e, k, a5, a4, a3, a2, a1, half):  # noqa: ANN001, ANN202
    """Φ(x) from x and e = exp(−x²/2), as ``ops.activations._normal_cdf_pdf`` does it."""
    t = k / (abs(x) + k)  # 1/(1 + p|x|/√2)
    tail = t * a5
    tail = (tail + a4) * t
    tail = (tail + a3) * t
    tail = (tail + a2) * t
    tail = (tail + a1) * t
    tail = tail * e - half  # P(N > |x|) − ½
    return math.copysign(tail, x) + half


def build_gelu_tail() -> Callable[..., None]:
    """``gelu_tail(x, e, out, deriv, grad, c)``: from x and e = exp(−x²/2) (1-d,
    contiguous, float32) write out = x·Φ(x) and, with ``grad``, deriv = x·φ(x) + Φ(x).

    c holds the constants of ``ops.activations`` as float32 (so the formula has one
    home): √2/p, the A&S coefficients a5 … a1 halved (erfc/2 directly), 1/√(2π). They are
    an argument, not closure variables: numba caches a closure's constants poorly (a
    new cache entry, and a compile, in every process).
    """

    @numba.njit(f"void({_F1}, {_F1}, {_F1}, {_F1}, boolean, {_F1})", error_model="numpy",
                cache=fast.cache_enabled(), nogil=True)
    def gelu_tail(x, e, out, deriv, grad, c):  # noqa: ANN001, ANN202
        k, a5, a4, a3, a2, a1, pdf_scale = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        half = np.float32(0.5)
        # two copies of the loop: without grad, deriv is a placeholder that LLVM's
        # run-time overlap check must not see (it would fall back to scalar code)
        if not grad:
            for i in range(x.size):
                out[i] = x[i] * _cdf(x[i], e[i], k, a5, a4, a3, a2, a1, half)
            return
        for i in range(x.size):
            xi = x[i]
            cdf = _cdf(xi, e[i], k, a5, a4, a3, a2, a1, half)
            out[i] = xi * cdf
            deriv[i] = (e[i] * pdf_scale) * xi + cdf

    return gelu_tail
