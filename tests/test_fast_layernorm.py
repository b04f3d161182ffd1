"""The compiled float32 LayerNorm (``chainrule.fast.normalization``) against the NumPy path
and PyTorch: output and every gradient, with and without weight and bias, over shapes
that include a 3-D input, a 2-D normalized_shape, one row and rows of one element.

float32 results agree to rtol 1e-5 / atol 1e-6 (a few ulps: the kernel sums rows in another
order). The column sums ∂E/∂γ and ∂E/∂β add up every row, and where they nearly cancel
the NumPy path's float32 sum is itself off by ~1e-6 of the terms' size; they are compared
with an atol scaled to that size. float64 and the inputs the kernel does not take stay
NumPy's bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
import chainrule.functional as F  # noqa: E402
from chainrule import fast, nn  # noqa: E402
from chainrule.ops import normalization as norm_ops  # noqa: E402


def _run(x, normalized_shape, weight=None, bias=None, seed=1, read_only=False):
    """Output and gradients (x, then weight and bias where given) of sum(g · layer_norm)."""
    data = x.copy()
    if read_only:
        data.flags.writeable = False
    xt = cr.tensor(data, requires_grad=True)
    params = [None if p is None else cr.tensor(p.copy(), requires_grad=True)
              for p in (weight, bias)]
    y = F.layer_norm(xt, normalized_shape, *params)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    (y * cr.tensor(g)).sum().backward()
    return [y.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in params if p is not None]


def _both(*args, **kwargs):
    """_run with the fast path off, then on; the path is left off."""
    fast.use_fast(False)
    try:
        off = _run(*args, **kwargs)
        assert fast.use_fast(True)
        on = _run(*args, **kwargs)
    finally:
        fast.use_fast(False)
    return off, on


def _close(on, off, rows):
    for k, (a, b) in enumerate(zip(on, off)):
        assert a.dtype == b.dtype == np.float32
        assert a.shape == b.shape
        # outputs and ∂E/∂x per element; ∂γ, ∂β sum over rows (see the module docstring)
        atol = 1e-6 if k < 2 else 1e-6 * np.sqrt(rows) * max(1.0, np.abs(b).max())
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol)


SHAPES = [
    ((32, 64, 128), (128,)),  # tiny_transformer's
    ((4, 5, 3, 8), (3, 8)),  # a 2-D normalized_shape
    ((1, 7), (7,)),  # one row
    ((6, 1), (1,)),  # rows of one element: x̂ = 0
    ((3, 1029), (1029,)),  # past one 512-term chunk, with a tail of 5
    ((9, 13), (13,)),
]


@pytest.mark.parametrize("shape,normalized_shape", SHAPES)
@pytest.mark.parametrize("affine", ["weight+bias", "weight", "none"])
def test_fast_matches_numpy(shape, normalized_shape, affine):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    weight = bias = None
    if affine != "none":
        weight = rng.standard_normal(normalized_shape).astype(np.float32)
    if affine == "weight+bias":
        bias = rng.standard_normal(normalized_shape).astype(np.float32)
    off, on = _both(x, normalized_shape, weight, bias)
    rows = x.size // int(np.prod(normalized_shape))
    _close(on, off, rows)


def test_large_mean_small_spread():
    # |μ| ≫ σ: any float32 μ is off by up to half an ulp of 1000 (3e-5, 0.3 % of σ), in
    # NumPy's path as in PyTorch's, so both are compared with float64 instead of each other
    rng = np.random.default_rng(2)
    x = (1000 + rng.standard_normal((64, 96)) * 1e-2).astype(np.float32)
    off, on = _both(x, (96,))
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=1, keepdims=True)
    ref = centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + 1e-5)
    err_numpy = np.abs(off[0] - ref).max()
    err_fast = np.abs(on[0] - ref).max()
    assert err_fast <= 2 * err_numpy < 0.05


def test_read_only_and_non_contiguous_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 40)).astype(np.float32)
    w = rng.standard_normal(40).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    off, on = _both(x, (40,), w, b, read_only=True)
    _close(on, off, 16)
    xt = np.asfortranarray(x)  # a column-major input is copied to rows for the kernel
    off, on = _both(xt, (40,), w, b)
    _close(on, off, 16)


def test_float64_stays_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 4, 16))
    w = rng.standard_normal(16)
    b = rng.standard_normal(16)
    off, on = _both(x, (16,), w, b)
    for a, c in zip(on, off):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, c)


def test_kernel_runs(monkeypatch):
    """The fast path really takes the kernel for float32 (not a silent NumPy fall-back)."""
    calls = []
    real = norm_ops._layer_norm_kernels

    def counting():
        kernels = real()
        calls.append(kernels is not None)
        return kernels

    monkeypatch.setattr(norm_ops, "_layer_norm_kernels", counting)
    x = np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32)
    _, on = _both(x, (8,))
    assert calls == [True, True]  # forward and backward
    assert on[0].dtype == on[1].dtype == np.float32


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}])
def test_module(kwargs):
    """nn.LayerNorm with and without weight and bias: output and every gradient."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 8, 16)).astype(np.float32)
    g = rng.standard_normal((3, 8, 16)).astype(np.float32)
    init = [rng.standard_normal((8, 16)).astype(np.float32) for _ in range(2)]

    def run():
        layer = nn.LayerNorm((8, 16), **kwargs)
        params = list(layer.parameters())
        for p, value in zip(params, init):
            p.numpy()[...] = value
        xt = cr.tensor(x, requires_grad=True)
        y = layer(xt)
        (y * cr.tensor(g)).sum().backward()
        return [y.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in params]

    fast.use_fast(False)
    off = run()
    assert fast.use_fast(True)
    try:
        on = run()
    finally:
        fast.use_fast(False)
    assert len(on) == 2 + {"bias": 1, "elementwise_affine": 0}.get(next(iter(kwargs), ""), 2)
    _close(on, off, 3)


def test_against_torch(fast_on):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((32, 64, 128)) * 2 - 0.5).astype(np.float32)
    w = rng.standard_normal(128).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    on = _run(x, (128,), w, b)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    y = torch.nn.functional.layer_norm(xt, (128,), wt, bt, 1e-5)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(torch.tensor(g))
    ref = [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    _close(on, ref, 32 * 64)
