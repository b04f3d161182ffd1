"""Fused optimizer updates for float32 parameters: Adam/AdamW, SGD and RMSprop in one pass.

NumPy runs an Adam step as about a dozen whole-array operations, each a pass over memory
with a temporary; these kernels read each element of the parameter, gradient and state
once, do the same arithmetic in registers and write each result once.

Every kernel is **bit-identical** to the NumPy update in ``chainrule.optim`` (tested with
``np.array_equal`` on the parameter and all state), which fixes how it is written:

- each float32 operation of the NumPy code appears here in the same order with the same
  operands (no algebraic rewriting, no ``fastmath``, so LLVM contracts nothing into FMAs);
- the Python-float hyperparameters arrive as float64 and are rounded to float32 once
  (``np.float32(x)``), which is what NumPy's weak-scalar promotion does to ``m *= beta1``;
  scalars the NumPy code computes in float64 first (``lr*√(1-β₂ᵗ)/(1-β₁ᵗ)``) are computed
  by the caller in Python, so ``**`` and ``sqrt`` are Python's own;
- the loops are serial: ``prange`` gained nothing on a memory-bound update and its
  threads compete with OpenBLAS's.

Each kernel is compiled per combination of its option flags (``amsgrad``, ``nesterov``,
``centered``...), which are closure constants rather than arguments: with the branches
folded away the loop has no conditional stores and LLVM vectorises it (RMSprop with the
flags as run-time arguments ran at 1.1x NumPy's speed, specialised at 4.6x). numba's cache
keys closures by their cell contents, so each combination is cached on its own. Arrays
arrive flattened (``ravel()`` views of C-contiguous float32 arrays, which the callers
check), so each combination compiles once, for 1-D contiguous float32, when it is built.

This module imports numba, so only the builders that ``chainrule.fast.kernel`` calls import
it; ``import chainrule`` never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from chainrule import fast

_F32 = "float32[::1]"


def _jit(signature: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled now for one signature: a compile error surfaces here, inside
    ``fast.kernel``'s build (one warning, NumPy path), never half-way through a step."""
    return numba.njit(signature, error_model="numpy", cache=fast.cache_enabled())(fn)


# ---- Adam / AdamW ---------------------------------------------------------------------------

def build_adam(maximize: bool, l2: bool, decoupled: bool, amsgrad: bool
               ) -> Callable[..., Any]:
    """Adam/AdamW's update (see ``chainrule.optim.Adam``) for one set of options, compiled.

    ``kernel(p, g, m, v, vmax, β₁, 1−β₁, β₂, 1−β₂, λ, 1−α·λ, ε·√(1−β₂ᵗ), α·√(1−β₂ᵗ)/(1−β₁ᵗ))``
    with ``l2`` the L2 penalty (``weight_decay`` without ``decoupled_weight_decay``) and
    ``decoupled`` AdamW's shrinking; ``vmax`` is read only with ``amsgrad``.
    """
    def adam(p, g, m, v, vmax, beta1, one_minus_beta1, beta2, one_minus_beta2,
             weight_decay, decay_factor, eps_term, step_size):
        b1 = np.float32(beta1)
        c1 = np.float32(one_minus_beta1)
        b2 = np.float32(beta2)
        c2 = np.float32(one_minus_beta2)
        wd = np.float32(weight_decay)
        shrink = np.float32(decay_factor)
        eps = np.float32(eps_term)
        size = np.float32(step_size)
        for i in range(p.size):
            gi = g[i]
            if maximize:
                gi = -gi
            w = p[i]
            if l2:
                gi = w * wd + gi  # descent_grad: param·λ, then += grad
            if decoupled:
                w = w * shrink  # param *= 1 − lr·λ
            mi = m[i] * b1 + gi * c1
            vi = v[i] * b2 + (gi * gi) * c2
            m[i] = mi
            v[i] = vi
            if amsgrad:
                top = vmax[i]
                if vi > top or vi != vi:  # np.maximum: the larger, NaN when either is NaN
                    top = vi
                vmax[i] = top
                vi = top
            p[i] = w - (mi / (np.sqrt(vi) + eps)) * size

    return _jit(f"void({_F32}, {_F32}, {_F32}, {_F32}, {_F32}, float64, float64, float64, "
                "float64, float64, float64, float64, float64)", adam)


# ---- SGD ------------------------------------------------------------------------------------

def build_sgd(maximize: bool, l2: bool, momentum: bool, dampen: bool, nesterov: bool
              ) -> Callable[..., Any]:
    """SGD's update (see ``chainrule.optim.SGD``) for one set of options, compiled.

    ``kernel(p, g, buf, α, μ, 1−τ, λ)``; ``buf`` is read only with ``momentum`` and must
    exist already (the first step, which creates it from the gradient, runs on NumPy).
    """
    def sgd(p, g, buf, lr, mu, one_minus_dampening, weight_decay):
        rate = np.float32(lr)
        mom = np.float32(mu)
        keep = np.float32(one_minus_dampening)
        wd = np.float32(weight_decay)
        for i in range(p.size):
            gi = g[i]
            if maximize:
                gi = -gi
            if l2:
                gi = p[i] * wd + gi
            if momentum:
                if dampen:
                    b = buf[i] * mom + gi * keep
                else:
                    b = buf[i] * mom + gi
                buf[i] = b
                gi = b * mom + gi if nesterov else b
            p[i] = p[i] - gi * rate

    return _jit(f"void({_F32}, {_F32}, {_F32}, float64, float64, float64, float64)", sgd)


def _sgd_plain(p, g, lr):
    rate = np.float32(lr)
    for i in range(p.size):
        p[i] = p[i] - g[i] * rate


def build_sgd_plain() -> Callable[..., Any]:
    """Plain ``w ← w − α·g`` for float32, compiled (SGD without momentum, decay or
    maximize): one pass and no temporary instead of NumPy's two passes."""
    return _jit(f"void({_F32}, {_F32}, float64)", _sgd_plain)


# ---- RMSprop --------------------------------------------------------------------------------

def build_rmsprop(maximize: bool, l2: bool, centered: bool, momentum: bool
                  ) -> Callable[..., Any]:
    """RMSprop's update (see ``chainrule.optim.RMSprop``) for one set of options, compiled.

    ``kernel(p, g, square_avg, grad_avg, buf, ρ, 1−ρ, ε, α, μ, λ)``; ``grad_avg`` is read
    only when ``centered``, ``buf`` only with ``momentum``.
    """
    def rmsprop(p, g, square_avg, grad_avg, buf, alpha, one_minus_alpha, eps, lr, mu,
                weight_decay):
        a = np.float32(alpha)
        c = np.float32(one_minus_alpha)
        e = np.float32(eps)
        rate = np.float32(lr)
        mom = np.float32(mu)
        wd = np.float32(weight_decay)
        for i in range(p.size):
            gi = g[i]
            if maximize:
                gi = -gi
            if l2:
                gi = p[i] * wd + gi
            s = square_avg[i] * a + (gi * gi) * c
            square_avg[i] = s
            if centered:
                ga = grad_avg[i]
                ga = ga + (gi - ga) * c
                grad_avg[i] = ga
                d = np.sqrt(s - ga * ga)
            else:
                d = np.sqrt(s)
            q = gi / (d + e)
            if momentum:
                b = buf[i] * mom + q
                buf[i] = b
                q = b
            p[i] = p[i] - q * rate

    return _jit(f"void({_F32}, {_F32}, {_F32}, {_F32}, {_F32}, float64, float64, float64, "
                "float64, float64, float64)", rmsprop)
