"""``unfold``/``fold`` and ``nn.Unfold``/``nn.Fold``: PyTorch's (N, C·kH·kW, L) layout,
convolution as unfold + matmul, fold as unfold's adjoint, gradients against central
differences and PyTorch (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops.convolution import conv2d
from chainrule.ops.fold import fold, unfold
from helpers import check_grads

# (kernel_size, dilation, padding, stride)
GEOMETRIES = [(3, 1, 0, 1), (2, 1, 1, 2), ((2, 3), (2, 1), (1, 0), (1, 2)), (1, 1, 0, 1),
              (3, 2, 2, 3)]


def _t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


def test_convolution_is_unfold_then_matmul() -> None:
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((2, 3, 6, 7)))
    w = cr.tensor(rng.standard_normal((4, 3, 3, 3)))
    cols = unfold(x, 3, padding=1, stride=2)
    assert cols.shape == (2, 27, 3 * 4)
    by_matmul = (w.reshape(4, -1) @ cols).reshape(2, 4, 3, 4)
    np.testing.assert_allclose(by_matmul.numpy(), conv2d(x, w, padding=1, stride=2).numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,d,p,s", GEOMETRIES)
def test_fold_is_the_adjoint_of_unfold(k, d, p, s) -> None:
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((2, 3, 7, 8)), dtype="float64")
    cols = unfold(x, k, d, p, s)
    y = cr.tensor(rng.standard_normal(cols.shape), dtype="float64")
    np.testing.assert_allclose((cols.numpy() * y.numpy()).sum(),
                               (x.numpy() * fold(y, (7, 8), k, d, p, s).numpy()).sum(), rtol=1e-12)


@pytest.mark.parametrize("k,d,p,s", GEOMETRIES[:3])
def test_gradients_match_central_differences(k, d, p, s) -> None:
    rng = np.random.default_rng(2)
    x = _t64(rng.standard_normal((1, 2, 5, 6)))
    r = rng.standard_normal(unfold(x, k, d, p, s).shape)
    check_grads(lambda: (unfold(x, k, d, p, s) * r).sum(), [x])
    c = _t64(rng.standard_normal(r.shape))
    r2 = rng.standard_normal((1, 2, 5, 6))
    check_grads(lambda: (fold(c, (5, 6), k, d, p, s) * r2).sum(), [c])


def test_layers_unbatched_inputs_and_errors() -> None:
    x = cr.randn(3, 5, 5)
    cols = nn.Unfold(2)(x)
    assert cols.shape == (12, 16)
    counts = nn.Fold(5, 2)(nn.Unfold(2)(cr.ones(1, 5, 5)))  # unbatched, one channel
    assert counts[0, 2].tolist() == [2.0, 4.0, 4.0, 4.0, 2.0]
    assert nn.Fold((5, 5), 2)(cols).shape == (3, 5, 5)
    with pytest.raises(ValueError, match="holds 4×4 = 16 windows"):
        fold(cr.randn(1, 12, 15), 5, 2)
    with pytest.raises(ValueError, match="multiple of kH·kW"):
        fold(cr.randn(1, 10, 16), 5, 2)
    with pytest.raises(ValueError, match="no window fits"):
        unfold(cr.randn(1, 1, 2, 2), 3)
    assert repr(nn.Unfold(2, stride=2)) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=2)"


@pytest.mark.torch
@pytest.mark.parametrize("k,d,p,s", GEOMETRIES)
def test_unfold_and_fold_match_torch(k, d, p, s) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    xc, xt = _t64(x), torch.tensor(x, requires_grad=True)
    out, ref = unfold(xc, k, d, p, s), F.unfold(xt, k, d, p, s)
    g = rng.standard_normal(tuple(ref.shape))
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=1e-12)
    cols = rng.standard_normal(tuple(ref.shape))
    cc, ct = _t64(cols), torch.tensor(cols, requires_grad=True)
    out, ref = nn.Fold((7, 8), k, d, p, s)(cc), torch.nn.Fold((7, 8), k, d, p, s)(ct)
    g = rng.standard_normal(tuple(ref.shape))
    out.backward(g)
    ref.backward(torch.tensor(g))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(cc.grad, ct.grad.numpy(), atol=1e-12)
