"""Transposed convolutions: ``conv_transpose1d/2d`` and ``ConvTranspose1d/2d`` against
central differences and PyTorch (forward and the gradients of input, weight and bias, in
float64, over stride, padding, output_padding, groups and dilation), the adjoint identity
with ``conv2d``, the nn layers' weights, ``output_size`` and errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.conv import ConvTranspose1d, ConvTranspose2d
from chainrule.ops.convolution import conv2d, conv_transpose1d, conv_transpose2d
from helpers import check_grads

TOL = 1e-10  # float64 agreement with PyTorch (measured ~1e-14)

# (in, out, kernel, stride, padding, output_padding, groups, dilation, H, W): stride 1
# with ≥ 4 output channels takes conv2d's channel-major path, stride 1 with few channels
# the wide path, strides > 1 col2im; output_padding ≥ stride needs dilation > it.
GEOMETRIES = [
    (3, 4, 3, 1, 0, 0, 1, 1, 5, 6),
    (4, 6, 3, 2, 1, 1, 1, 1, 5, 5),
    (6, 4, 2, 2, 0, 0, 2, 1, 4, 3),
    (4, 8, 3, 1, 1, 0, 1, 2, 5, 5),
    (5, 5, 3, 1, 0, 1, 1, 2, 4, 4),
    (4, 4, 3, 3, 2, 2, 2, 2, 4, 5),
    (2, 3, 1, 1, 0, 0, 1, 1, 3, 3),
    (3, 2, 3, 1, 0, 0, 1, 1, 1, 4),
    (4, 8, (2, 3), (2, 1), (1, 0), (1, 0), 4, (1, 2), 4, 5),
]


def _t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


# ---- without torch -----------------------------------------------------------------------

@pytest.mark.parametrize("geometry", GEOMETRIES[:6])
def test_conv_transpose2d_gradients_match_central_differences(geometry) -> None:
    cin, cout, k, s, p, op, g, d, h, w = geometry
    rng = np.random.default_rng(0)
    kk = (k, k) if isinstance(k, int) else k
    x = _t64(rng.standard_normal((2, cin, h, w)))
    wt = _t64(rng.standard_normal((cin, cout // g) + kk))
    b = _t64(rng.standard_normal(cout))
    out = conv_transpose2d(x, wt, b, s, p, op, g, d)
    r = rng.standard_normal(out.shape)
    check_grads(lambda: (conv_transpose2d(x, wt, b, s, p, op, g, d) * r).sum(), [x, wt, b])


def test_conv_transpose1d_gradients_match_central_differences() -> None:
    rng = np.random.default_rng(1)
    x, w, b = _t64(rng.standard_normal((2, 4, 6))), _t64(rng.standard_normal((4, 3, 3))), \
        _t64(rng.standard_normal(6))
    r = rng.standard_normal((2, 6, 12))  # (6 − 1)·2 − 2 + 2 + 1 + 1
    check_grads(lambda: (conv_transpose1d(x, w, b, 2, 1, 1, groups=2) * r).sum(), [x, w, b])


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_transpose_is_the_adjoint_of_conv2d(geometry) -> None:
    """<conv2d(y, W), x> = <y, conv_transpose2d(x, W)> for every geometry."""
    cin, cout, k, s, p, op, g, d, h, w = geometry
    rng = np.random.default_rng(2)
    kk = (k, k) if isinstance(k, int) else k
    x = cr.tensor(rng.standard_normal((2, cin, h, w)), dtype="float64")
    wt = cr.tensor(rng.standard_normal((cin, cout // g) + kk), dtype="float64")
    up = conv_transpose2d(x, wt, None, s, p, op, g, d)
    y = cr.tensor(rng.standard_normal(up.shape), dtype="float64")
    down = conv2d(y, wt, None, s, p, d, g)[:, :, :h, :w]  # output_padding ≥ stride: extra
    np.testing.assert_allclose((down.numpy() * x.numpy()).sum(), (y.numpy() * up.numpy()).sum(),
                               rtol=1e-12)


def test_output_shapes_and_unbatched_input() -> None:
    x = cr.randn(3, 8, 7, 7)
    w = cr.randn(8, 4, 3, 3)
    assert conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape == (3, 4, 14, 14)
    single = conv_transpose2d(x[0], w, stride=2)
    assert single.shape == (4, 15, 15)
    np.testing.assert_allclose(single.numpy(), conv_transpose2d(x, w, stride=2).numpy()[0],
                               rtol=1e-5, atol=1e-5)
    assert conv_transpose1d(cr.randn(5, 10), cr.randn(5, 2, 4), stride=3).shape == (2, 31)


def test_float32_stays_float32_and_float64_stays_float64() -> None:
    for dt in ("float32", "float64"):
        layer = ConvTranspose2d(3, 2, 3, stride=2, dtype=dt)
        x = cr.randn(1, 3, 4, 4, dtype=dt, requires_grad=True)
        out = layer(x)
        out.sum().backward()
        assert out.dtype == np.dtype(dt) and x.grad.dtype == np.dtype(dt)
        assert np.asarray(layer.weight.grad).dtype == np.dtype(dt)


def test_layer_weights_and_defaults_follow_pytorch() -> None:
    layer = ConvTranspose2d(6, 4, (2, 3), groups=2)
    assert layer.weight.shape == (6, 2, 2, 3) and layer.bias.shape == (4,)
    bound = 1 / np.sqrt(2 * 2 * 3)  # fan_in = out_channels/groups · kH · kW, as PyTorch
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    assert layer.stride == (1, 1) and layer.padding == (0, 0)
    assert layer.output_padding == (0, 0) and layer.dilation == (1, 1)
    assert ConvTranspose1d(2, 3, 4, bias=False).bias is None
    assert repr(ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)) == (
        "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))")


def test_output_size_picks_the_output_padding() -> None:
    layer = ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = cr.randn(1, 2, 5, 5)
    assert layer(x).shape == (1, 2, 9, 9)
    assert layer(x, output_size=(10, 10)).shape == (1, 2, 10, 10)
    assert layer(x, output_size=(1, 2, 10, 9)).shape == (1, 2, 10, 9)
    with pytest.raises(ValueError, match="valid sizes along axis 0 range from 9 to 10"):
        layer(x, output_size=(11, 9))


def test_errors_name_the_problem() -> None:
    x, w = cr.randn(1, 4, 5, 5), cr.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="has 3 channels but the weight"):
        conv_transpose2d(cr.randn(1, 3, 5, 5), w)
    with pytest.raises(ValueError, match="no string padding"):
        conv_transpose2d(x, w, padding="same")
    with pytest.raises(ValueError, match="bias must have shape"):
        conv_transpose2d(x, w, cr.randn(4))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="padding must be an int"):
        ConvTranspose2d(2, 2, 3, padding="same")


# ---- against PyTorch -----------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d_matches_torch(geometry, bias: bool) -> None:
    torch = pytest.importorskip("torch")
    cin, cout, k, s, p, op, g, d, h, w = geometry
    rng = np.random.default_rng(3)
    kk = (k, k) if isinstance(k, int) else k
    arrays = (rng.standard_normal((2, cin, h, w)), rng.standard_normal((cin, cout // g) + kk),
              rng.standard_normal(cout))
    ours = [_t64(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = conv_transpose2d(ours[0], ours[1], ours[2] if bias else None, s, p, op, g, d)
    ref = torch.nn.functional.conv_transpose2d(theirs[0], theirs[1],
                                               theirs[2] if bias else None, s, p, op, g, d)
    grad = rng.standard_normal(tuple(ref.shape))
    out.backward(grad)
    ref.backward(torch.tensor(grad))
    assert out.shape == tuple(ref.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=TOL, rtol=TOL)
    for a, t in zip(ours if bias else ours[:2], theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.torch
@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (3, 2, 0, 2, 2), (1, 1, 1, 3, 2)])
def test_conv_transpose1d_layer_matches_torch(stride, padding, output_padding, groups,
                                              dilation) -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose1d(6, 12, 3, stride, padding, output_padding, groups,
                                      True, dilation).double()
    ours = ConvTranspose1d(6, 12, 3, stride, padding, output_padding, groups, True, dilation,
                           dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((2, 6, 7))
    xc, xt = _t64(x), torch.tensor(x, requires_grad=True)
    out, ref = ours(xc), theirs(xt)
    grad = np.random.default_rng(5).standard_normal(tuple(ref.shape))
    out.backward(grad)
    ref.backward(torch.tensor(grad))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=TOL, rtol=TOL)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad, p.grad.numpy(), atol=TOL,
                                   rtol=TOL, err_msg=name)


@pytest.mark.torch
def test_conv_transpose2d_layer_loads_torch_weights_and_output_size() -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    ours = ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(6).standard_normal((2, 4, 5, 5))
    out = ours(cr.tensor(x, dtype="float64"), output_size=(10, 10))
    ref = theirs(torch.tensor(x), output_size=(10, 10))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=TOL, rtol=TOL)
