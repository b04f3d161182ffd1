"""Cheaper NumPy formulations of the hot float32 activations, A/B'd (issue 15b).

    python benchmarks/activations_ab.py                 # every pair, 7 rounds
    python benchmarks/activations_ab.py gelu relu_bwd --rounds 9

Each entry pairs the formulation chainrule had (A) with a candidate (B), both written
here as plain NumPy on the arrays an op's forward and backward see, at the benchmark
workloads' shapes. Rounds alternate A and B (B first on odd rounds); each timing is the
best of a few repeats of forward + backward, and the table gives the median per variant
and B ÷ A. Each variant's error is measured too: its largest difference from A's formula
computed in float64, in units of float32 round-off at the result's largest element. A
candidate is adopted in ``chainrule.ops`` only when it wins ≥ 5 % and is as accurate;
``README.md`` lists every result, kept or not.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

# ---- GELU (exact, float32): Φ by Abramowitz & Stegun 7.1.26 -------------------------------

_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _cdf_pdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """chainrule's float32 Φ(x), φ(x) (ops.activations._normal_cdf_pdf)."""
    e = x * -0.5
    e *= x
    np.exp(e, out=e)
    inv_k = math.sqrt(2) / _AS_P
    t = np.abs(x)
    t += inv_k
    np.divide(inv_k, t, out=t)
    tail = t * (_AS_A[0] / 2)
    for a in _AS_A[1:]:
        tail += a / 2
        tail *= t
    tail *= e
    tail -= 0.5
    np.copysign(tail, x, out=tail)
    tail += 0.5
    e *= _INV_SQRT_2PI
    return tail, e


def gelu_a(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cdf, pdf = _cdf_pdf(x)
    out = x * cdf
    pdf *= x
    pdf += cdf
    return out, g * pdf


GELU_CHUNK = 16384


def gelu_b(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same arithmetic a cache-sized block at a time: ~20 passes over 64 KiB blocks
    that stay in L1/L2 instead of over the whole (32, 64, 512) array."""
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    d = np.empty_like(flat)
    for s in range(0, flat.size, GELU_CHUNK):
        xc = flat[s:s + GELU_CHUNK]
        cdf, pdf = _cdf_pdf(xc)
        np.multiply(xc, cdf, out=out[s:s + GELU_CHUNK])
        pdf *= xc
        np.add(pdf, cdf, out=d[s:s + GELU_CHUNK])
    return out.reshape(x.shape), g * d.reshape(x.shape)


def _gelu_chunked(chunk: int) -> Callable:
    def gelu_chunk(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        global GELU_CHUNK
        saved, GELU_CHUNK = GELU_CHUNK, chunk
        try:
            return gelu_b(x, g)
        finally:
            GELU_CHUNK = saved
    gelu_chunk.__name__ = f"gelu_b{chunk // 1024}k"
    return gelu_chunk


# ---- ReLU ------------------------------------------------------------------------------------

def relu_fwd_a(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


_ZERO32 = np.float32(0)


def relu_fwd_b(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.maximum(x, _ZERO32)


def relu_bwd_a(out: np.ndarray, g: np.ndarray) -> np.ndarray:
    return g * (out > 0)


def relu_bwd_b(out: np.ndarray, g: np.ndarray) -> np.ndarray:
    """A float32 mask from sign(out) (out ≥ 0: 0 or 1), then a float×float multiply in
    place: no bool→float cast loop. (A NaN output would pass NaN back, where A passes 0.)"""
    mask = np.sign(out)
    mask *= g
    return mask


def relu_bwd_c(out: np.ndarray, g: np.ndarray) -> np.ndarray:
    r = np.zeros_like(g)
    np.copyto(r, g, where=out > 0)
    return r


# ---- sigmoid, tanh ------------------------------------------------------------------------

def sigmoid_bwd_a(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    return g * s * (1 - s)


def sigmoid_bwd_b(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """One temporary: 1 − s, then ×s and ×g in place."""
    d = np.subtract(1, s)
    d *= s
    d *= g
    return d


def tanh_bwd_a(t: np.ndarray, g: np.ndarray) -> np.ndarray:
    return g * (1 - t * t)


def tanh_bwd_b(t: np.ndarray, g: np.ndarray) -> np.ndarray:
    d = t * t
    np.subtract(1, d, out=d)
    d *= g
    return d


# ---- softmax, log-softmax (last axis) ----------------------------------------------------

def softmax_bwd_a(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def softmax_bwd_b(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Row dot products ⟨g, s⟩ in one einsum pass, then in place."""
    dot = np.einsum("...i,...i->...", g, s)
    d = g - dot[..., None]
    d *= s
    return d


def softmax_bwd_c(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """A's arithmetic, the row sums of g·s as a GEMV against ones, then in place."""
    gs = g * s
    dot = gs @ np.ones(s.shape[-1], s.dtype)
    np.subtract(g, dot[..., None], out=gs)
    gs *= s
    return gs


def log_softmax_a(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shifted = x - x.max(axis=-1, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out, g - np.exp(out) * g.sum(axis=-1, keepdims=True)


def log_softmax_b(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums as GEMVs against a ones vector (as softmax_last_axis does) and the
    exponentials of the forward pass reused: exp(out) = exp(shifted) / Σ."""
    ones = np.ones(x.shape[-1], x.dtype)
    shifted = x - x.max(axis=-1, keepdims=True)
    p = np.exp(shifted)
    total = p @ ones
    shifted -= np.log(total)[..., None]
    out = shifted
    p /= total[..., None]  # exp(out), for backward
    p *= (g @ ones)[..., None]
    return out, np.subtract(g, p, out=p)


# ---- the pairs, at the workloads' shapes ----------------------------------------------------

PAIRS: dict[str, tuple[str, tuple[int, ...], Callable, Callable]] = {
    "gelu": ("tiny_transformer MLP", (32, 64, 512), gelu_a, gelu_b),
    "gelu_4k": ("tiny_transformer MLP", (32, 64, 512), gelu_a, _gelu_chunked(4096)),
    "gelu_64k": ("tiny_transformer MLP", (32, 64, 512), gelu_a, _gelu_chunked(65536)),
    "relu_fwd": ("lenet conv1", (64, 6, 28, 28), relu_fwd_a, relu_fwd_b),
    "relu_fwd_mlp": ("mnist_mlp fc1", (128, 512), relu_fwd_a, relu_fwd_b),
    "relu_bwd": ("lenet conv1", (64, 6, 28, 28), relu_bwd_a, relu_bwd_b),
    "relu_bwd_where": ("lenet conv1", (64, 6, 28, 28), relu_bwd_a, relu_bwd_c),
    "relu_bwd_mlp": ("mnist_mlp fc1", (128, 512), relu_bwd_a, relu_bwd_b),
    "sigmoid_bwd": ("char_lstm gates size", (64, 512, 32), sigmoid_bwd_a, sigmoid_bwd_b),
    "tanh_bwd": ("tiny_mlp", (32, 16), tanh_bwd_a, tanh_bwd_b),
    "tanh_bwd_big": ("char_lstm hidden size", (32, 64, 128), tanh_bwd_a, tanh_bwd_b),
    "softmax_bwd": ("attention scores", (32, 4, 64, 64), softmax_bwd_a, softmax_bwd_b),
    "softmax_bwd_gemv": ("attention scores", (32, 4, 64, 64), softmax_bwd_a, softmax_bwd_c),
    "log_softmax": ("char_lstm logits", (2048, 65), log_softmax_a, log_softmax_b),
}


def inputs(name: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32) * 2
    g = rng.standard_normal(shape, dtype=np.float32)
    if name.startswith("relu_bwd"):
        x = np.maximum(x, 0)  # backward sees the forward's output
    elif name.startswith("sigmoid"):
        x = 1 / (1 + np.exp(-x))
    elif name.startswith("tanh"):
        x = np.tanh(x)
    elif name.startswith("softmax"):
        x = np.exp(x - x.max(-1, keepdims=True))
        x /= x.sum(-1, keepdims=True)
    return x, g


def error(fn: Callable, x: np.ndarray, g: np.ndarray, ref: object) -> float:
    """fn's largest deviation from ``ref`` (A's formula in float64), in units of float32
    round-off at the size of the largest element of each result."""
    got = fn(x, g)
    worst = 0.0
    for u, r in zip(got if isinstance(got, tuple) else (got,),
                    ref if isinstance(ref, tuple) else (ref,)):
        scale = float(np.spacing(np.float32(np.max(np.abs(r)))))
        worst = max(worst, float(np.max(np.abs(u.astype(np.float64) - r))) / scale)
    return worst


def best_of(fn: Callable, x: np.ndarray, g: np.ndarray, repeats: int, inner: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(x, g)
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def run(name: str, rounds: int) -> str:
    where, shape, fa, fb = PAIRS[name]
    x, g = inputs(name, shape)
    ref = fa(x.astype(np.float64), g.astype(np.float64))
    err_a, err_b = error(fa, x, g, ref), error(fb, x, g, ref)
    once = best_of(fa, x, g, 1, 3)
    inner = max(1, int(0.02 / max(once, 1e-7)))
    ta, tb = [], []
    for r in range(rounds):
        for fn, acc in ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta)):
            acc.append(best_of(fn, x, g, 3, inner))
    ma, mb = statistics.median(ta), statistics.median(tb)
    return (f"{name:<15} {where:<22} {'×'.join(map(str, shape)):<14} {fa.__name__}→"
            f"{fb.__name__:<14} {ma * 1e6:9.1f} {mb * 1e6:9.1f} {mb / ma:6.3f} "
            f"{err_a:6.2f} {err_b:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"pairs to run (default all: {', '.join(PAIRS)})")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in PAIRS]
    if unknown:
        parser.error(f"unknown pairs {unknown}; choose from {', '.join(PAIRS)}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'pair':<15} {'where':<22} {'shape':<14} {'A→B':<23} {'A µs':>9} {'B µs':>9} "
          f"{'B/A':>6} {'err A':>6} {'err B':>6}")
    for name in args.names or list(PAIRS):
        print(run(name, args.rounds), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
