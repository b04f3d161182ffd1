"""Pooling with indices and adaptive pooling: ``max_pool1d/2d(return_indices=True)``,
``adaptive_max_pool1d/2d``, ``adaptive_avg_pool1d``, ``max_unpool1d/2d`` and their layers,
against central differences and PyTorch (values, int64 indices, gradients; float64)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops.pooling import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    max_pool1d,
    max_pool2d,
    max_unpool1d,
    max_unpool2d,
)
from helpers import check_grads

TOL = 1e-12


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Distinct values (no ties), so finite differences never cross a max's switch."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 0.03 * n


def _t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


# ---- without torch -----------------------------------------------------------------------

def test_max_pool_indices_are_flat_positions_in_each_plane() -> None:
    x = cr.tensor([[[[1.0, 9.0, 2.0, 3.0],
                     [4.0, 0.0, 8.0, 7.0],
                     [5.0, 6.0, 1.0, 1.0]]]])
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert out.tolist() == [[[[9.0, 8.0]]]]
    assert idx.tolist() == [[[[1, 6]]]] and idx.dtype == np.int64
    assert not idx.requires_grad
    out, idx = max_pool2d(x[0], 2, stride=1, padding=1, return_indices=True)  # unbatched
    assert out.shape == idx.shape == (1, 4, 5)
    np.testing.assert_array_equal(x.numpy()[0].reshape(1, -1)[0, idx.numpy().ravel()],
                                  out.numpy().ravel())


def test_ties_pick_the_first_maximum_in_row_major_order() -> None:
    x = cr.tensor([[[[2.0, 1.0, 2.0], [2.0, 0.0, 1.0]]]])
    _, idx = adaptive_max_pool2d(x, 1, return_indices=True)
    assert idx.tolist() == [[[[0]]]]
    _, idx = max_pool2d(x, (2, 3), return_indices=True)
    assert idx.tolist() == [[[[0]]]]


def test_unpool_inverts_pool_where_the_maxima_were() -> None:
    x = cr.tensor(distinct(2, 3, 6, 8))
    out, idx = max_pool2d(x, 2, return_indices=True)
    back = nn.MaxUnpool2d(2)(out, idx)
    assert back.shape == x.shape
    kept = back.numpy() != 0
    np.testing.assert_array_equal(back.numpy()[kept], x.numpy()[kept])
    assert kept.sum() == out.numpy().size
    with pytest.raises(ValueError, match="indices must lie in"):
        max_unpool2d(out, idx + 100, 2)
    with pytest.raises(ValueError, match="within a stride of"):
        max_unpool2d(out, idx, 2, output_size=(9, 8))


@pytest.mark.parametrize("output_size", [(3, 4), (4, 4), (7, 3), (1, 1), (None, 2)])
def test_adaptive_max_pool2d_gradients(output_size) -> None:
    x = _t64(distinct(2, 2, 7, 8, seed=1))
    r = np.random.default_rng(2).standard_normal(
        adaptive_max_pool2d(x, output_size).shape)
    check_grads(lambda: (adaptive_max_pool2d(x, output_size) * r).sum(), [x])


def test_pool_unpool_and_adaptive_1d_gradients() -> None:
    x = _t64(distinct(2, 3, 11, seed=3))
    out, idx = max_pool1d(x, 3, 2, 1, return_indices=True)
    r = np.random.default_rng(4).standard_normal((2, 3, 11))
    check_grads(lambda: (max_unpool1d(max_pool1d(x, 3, 2, 1), idx, 3, 2, 1,
                                      output_size=(11,)) * r).sum(), [x])
    r2 = np.random.default_rng(5).standard_normal((2, 3, 4))
    check_grads(lambda: (adaptive_max_pool1d(x, 4) * r2).sum(), [x])
    check_grads(lambda: (adaptive_avg_pool1d(x, 4) * r2).sum(), [x])


def test_unpool_gradient_reaches_its_input() -> None:
    pooled = _t64(np.arange(6.0).reshape(1, 1, 2, 3) + 1)
    idx = np.array([[[[0, 3, 5], [6, 10, 11]]]])
    r = np.random.default_rng(6).standard_normal((1, 1, 4, 4))
    check_grads(lambda: (max_unpool2d(pooled, idx, 2, (2, 1)) * r).sum(), [pooled])


def test_layers() -> None:
    x = cr.randn(2, 3, 9, 9)
    out, idx = nn.MaxPool2d(3, 2, return_indices=True)(x)
    assert out.shape == idx.shape == (2, 3, 4, 4)
    assert nn.MaxUnpool2d(3, 2)(out, idx, output_size=x.shape).shape == x.shape
    assert nn.AdaptiveMaxPool2d(2)(x).shape == (2, 3, 2, 2)
    assert nn.AdaptiveMaxPool2d((3, 5), return_indices=True)(x)[1].dtype == np.int64
    seq = cr.randn(2, 3, 10)
    assert nn.AdaptiveAvgPool1d(4)(seq).shape == (2, 3, 4)
    assert nn.AdaptiveMaxPool1d(4)(seq).shape == (2, 3, 4)
    out, idx = nn.MaxPool1d(2, return_indices=True)(seq)
    assert nn.MaxUnpool1d(2)(out, idx).shape == seq.shape
    assert repr(nn.MaxPool2d(2, return_indices=True)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")


# ---- against PyTorch -----------------------------------------------------------------------

def _compare(torch, ours_fn, torch_fn, x: np.ndarray, seed: int = 0, grads: bool = True
             ) -> None:
    xc, xt = _t64(x), torch.tensor(x, requires_grad=True)
    try:
        ref = torch_fn(xt)
    except (ValueError, RuntimeError):  # then ours refuses too
        with pytest.raises(ValueError):
            ours_fn(xc)
        return
    out = ours_fn(xc)
    if isinstance(ref, tuple):
        np.testing.assert_array_equal(out[1].numpy(), ref[1].numpy())
        assert out[1].dtype == np.int64
        out, ref = out[0], ref[0]
    assert out.shape == tuple(ref.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=TOL, rtol=TOL)
    if grads:
        grad = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(grad)
        ref.backward(torch.tensor(grad))
        np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=TOL, rtol=TOL)


POOLS = [(2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 2, True),
         ((2, 3), (1, 2), (1, 1), 1, True)]


@pytest.mark.torch
@pytest.mark.parametrize("k,s,p,d,ceil", POOLS)
def test_max_pool2d_indices_and_unpool_match_torch(k, s, p, d, ceil) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(7).standard_normal((2, 3, 9, 8))
    _compare(torch, lambda t: max_pool2d(t, k, s, p, d, ceil, True),
             lambda t: F.max_pool2d(t, k, s, p, d, ceil, True), x)

    def ours(t):
        out, idx = max_pool2d(t, k, s, p, d, ceil, True)
        return max_unpool2d(out * 2, idx, k, s, p, (9, 8))

    def theirs(t):
        out, idx = F.max_pool2d(t, k, s, p, d, ceil, True)
        return F.max_unpool2d(out * 2, idx, k, s, p, (9, 8))

    # Overlapping windows can share a maximum: unpooling then writes one value to an
    # index given twice, and PyTorch's backward gathers for both copies (not the
    # derivative); ours gives the gradient once. Gradients are compared without overlap.
    overlap = s is not None and bool(np.any(np.atleast_1d(s) < d * (np.atleast_1d(k) - 1) + 1))
    _compare(torch, ours, theirs, x, seed=1, grads=not overlap)


@pytest.mark.torch
@pytest.mark.parametrize("k,s,p,d,ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, False),
                                          (3, 2, 1, 2, True)])
def test_max_pool1d_indices_and_unpool_match_torch(k, s, p, d, ceil) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(8).standard_normal((2, 3, 11))
    _compare(torch, lambda t: max_pool1d(t, k, s, p, d, ceil, True),
             lambda t: F.max_pool1d(t, k, s, p, d, ceil, True), x)

    def ours(t):
        out, idx = max_pool1d(t, k, s, p, d, ceil, True)
        return max_unpool1d(out, idx, k, s, p, (11,))

    def theirs(t):
        out, idx = F.max_pool1d(t, k, s, p, d, ceil, True)
        return F.max_unpool1d(out, idx, k, s, p, (11,))

    _compare(torch, ours, theirs, x, seed=2, grads=s is None)  # see the 2-d test


@pytest.mark.torch
@pytest.mark.parametrize("shape,output_size", [((2, 3, 7, 9), (3, 4)), ((2, 3, 8, 8), 4),
                                               ((1, 2, 5, 5), (7, 3)), ((2, 3, 6, 5), 1),
                                               ((2, 3, 6, 5), (None, 2))])
def test_adaptive_max_pool2d_matches_torch(shape, output_size) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(9).standard_normal(shape)
    _compare(torch, lambda t: adaptive_max_pool2d(t, output_size, True),
             lambda t: torch.nn.functional.adaptive_max_pool2d(t, output_size, True), x)


@pytest.mark.torch
@pytest.mark.parametrize("length,output_size", [(7, 3), (10, 5), (4, 6), (9, 1)])
def test_adaptive_1d_pools_match_torch(length: int, output_size: int) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(10).standard_normal((2, 3, length))
    _compare(torch, lambda t: adaptive_max_pool1d(t, output_size, True),
             lambda t: F.adaptive_max_pool1d(t, output_size, True), x)
    _compare(torch, lambda t: adaptive_avg_pool1d(t, output_size),
             lambda t: F.adaptive_avg_pool1d(t, output_size), x)
    # unbatched, through the layers
    _compare(torch, nn.AdaptiveAvgPool1d(output_size),
             torch.nn.AdaptiveAvgPool1d(output_size), x[0])
