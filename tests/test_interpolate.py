"""``interpolate`` and the ``Upsample`` layers: PyTorch's sizes and sampling positions for
nearest, nearest-exact, (bi)linear (align_corners both ways) and area, the rounding of
scale factors and ``recompute_scale_factor``, gradients against central differences and
PyTorch (float64; float32 to 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops.resampling import interpolate
from helpers import check_grads

SIZES = [dict(scale_factor=2), dict(scale_factor=0.5), dict(scale_factor=1.7),
         dict(scale_factor=2.9), dict(scale_factor=0.3), dict(scale_factor=3.3,
                                                              recompute_scale_factor=True),
         dict(size=13), dict(size=19), dict(size=3), dict(size=1)]


def _t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


def _modes(nd: int) -> list[tuple[str, bool | None]]:
    linear = "linear" if nd == 1 else "bilinear"
    return [("nearest", None), ("nearest-exact", None), (linear, False), (linear, True),
            ("area", None)]


# ---- without torch -----------------------------------------------------------------------

def test_sampling_positions() -> None:
    x = cr.tensor([[[0.0, 1.0, 2.0, 3.0]]])
    assert interpolate(x, size=2).tolist() == [[[0.0, 2.0]]]
    assert interpolate(x, size=2, mode="nearest-exact").tolist() == [[[1.0, 3.0]]]
    assert interpolate(x, size=2, mode="linear").tolist() == [[[0.5, 2.5]]]
    assert interpolate(x, size=7, mode="linear", align_corners=True).tolist() == [
        [[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]]]
    assert interpolate(x, size=3, mode="area").tolist() == [[[0.5, 1.5, 2.5]]]
    # the output size rounds down; with the scale factor the positions use 1/scale_factor
    y = interpolate(x, scale_factor=1.9, mode="linear")
    assert y.shape == (1, 1, 7)
    np.testing.assert_allclose(y.numpy()[0, 0, 1], (1 + 0.5) / 1.9 - 0.5, rtol=1e-6)
    z = interpolate(x, scale_factor=1.9, mode="linear", recompute_scale_factor=True)
    np.testing.assert_allclose(z.numpy()[0, 0, 1], (1 + 0.5) * 4 / 7 - 0.5, rtol=1e-6)


@pytest.mark.parametrize("mode,align", _modes(2))
def test_2d_gradients_match_central_differences(mode: str, align) -> None:
    rng = np.random.default_rng(0)
    x = _t64(rng.standard_normal((2, 2, 4, 5)))
    for kwargs in (dict(scale_factor=(1.5, 2.5)), dict(size=(3, 2))):
        r = rng.standard_normal(interpolate(x, mode=mode, align_corners=align, **kwargs).shape)
        check_grads(lambda kw=kwargs, r=r: (interpolate(x, mode=mode, align_corners=align, **kw)
                                            * r).sum(), [x])


@pytest.mark.parametrize("mode,align", _modes(1))
def test_1d_gradients_match_central_differences(mode: str, align) -> None:
    rng = np.random.default_rng(1)
    x = _t64(rng.standard_normal((2, 3, 5)))
    r = rng.standard_normal((2, 3, 8))
    check_grads(lambda: (interpolate(x, size=8, mode=mode, align_corners=align) * r).sum(), [x])


def test_dtypes_are_kept() -> None:
    for dt in ("float32", "float64"):
        x = cr.randn(1, 2, 3, 3, dtype=dt, requires_grad=True)
        y = interpolate(x, scale_factor=2, mode="bilinear")
        y.sum().backward()
        assert y.dtype == np.dtype(dt) and x.grad.dtype == np.dtype(dt)


def test_errors() -> None:
    x = cr.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set"):
        interpolate(x, size=2, align_corners=True)
    with pytest.raises(ValueError, match="needs 3-D"):
        interpolate(x, size=2, mode="linear")
    with pytest.raises(ValueError, match="bicubic"):
        interpolate(x, size=2, mode="bicubic")
    with pytest.raises(ValueError, match="sizes must be positive"):
        interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="one entry per spatial axis"):
        interpolate(x, size=(2, 2, 2))


def test_layers() -> None:
    x = cr.randn(2, 3, 4, 5)
    assert nn.Upsample(scale_factor=2)(x).shape == (2, 3, 8, 10)
    assert nn.Upsample(size=(3, 7), mode="bilinear")(x).shape == (2, 3, 3, 7)
    assert nn.UpsamplingNearest2d(scale_factor=(1, 2))(x).shape == (2, 3, 4, 10)
    up = nn.UpsamplingBilinear2d(scale_factor=2)
    assert up.align_corners is True and up.mode == "bilinear"
    np.testing.assert_allclose(up(x).numpy(),
                               interpolate(x, scale_factor=2.0, mode="bilinear",
                                           align_corners=True).numpy())
    assert repr(nn.Upsample(scale_factor=2, mode="nearest")) == (
        "Upsample(scale_factor=2.0, mode='nearest')")


# ---- against PyTorch -----------------------------------------------------------------------

def _match(torch, x: np.ndarray, dt: str, tol: float, **kwargs) -> None:
    F = torch.nn.functional
    xc = cr.tensor(x.astype(dt), requires_grad=True, dtype=dt)
    xt = torch.tensor(x.astype(dt), requires_grad=True)
    try:
        ref = F.interpolate(xt, **kwargs)
    except (ValueError, RuntimeError, NotImplementedError):
        with pytest.raises(ValueError):
            interpolate(xc, **kwargs)
        return
    if ref.numel() == 0:  # PyTorch's adaptive pooling allows an empty output; we refuse
        return
    out = interpolate(xc, **kwargs)
    assert out.shape == tuple(ref.shape) and out.dtype == np.dtype(dt)
    g = np.random.default_rng(5).standard_normal(out.shape).astype(dt)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=tol, rtol=tol,
                               err_msg=str(kwargs))
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=tol, rtol=tol,
                               err_msg=str(kwargs))


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 1, 10), (2, 3, 5, 6), (1, 2, 1, 4),
                                   (1, 1, 6, 19)])
@pytest.mark.parametrize("dt,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_interpolate_matches_torch(shape: tuple, dt: str, tol: float) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal(shape)
    nd = len(shape) - 2
    for mode, align in _modes(nd):
        for kwargs in SIZES + [dict(scale_factor=(1.5, 2.5)[:nd]), dict(size=shape[2:])]:
            _match(torch, x, dt, tol, mode=mode, align_corners=align, **kwargs)


@pytest.mark.torch
def test_upsample_layers_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal((2, 3, 5, 4))
    pairs = [(nn.Upsample(scale_factor=2, mode="bilinear"),
              torch.nn.Upsample(scale_factor=2, mode="bilinear")),
             (nn.Upsample(size=(7, 3), mode="nearest"), torch.nn.Upsample(size=(7, 3))),
             (nn.UpsamplingBilinear2d(scale_factor=1.5), torch.nn.UpsamplingBilinear2d(
                 scale_factor=1.5)),
             (nn.UpsamplingNearest2d(size=9), torch.nn.UpsamplingNearest2d(size=9))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(cr.tensor(x, dtype="float64")).numpy(),
                                   theirs(torch.tensor(x)).numpy(), atol=1e-12)
