"""``conv1d``/``conv2d``: finite-difference gradients over stride, padding (incl. 'same'),
dilation, groups and bias; geometry; dtypes; the rebuilt-columns path; clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.diagnostics.gradcheck import gradcheck
from chainrule.ops import convolution, windows
from chainrule.ops.convolution import conv1d, conv2d


def t64(*shape: int, seed: int = 0) -> cr.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape)
    return cr.tensor(data, requires_grad=True, dtype="float64")


# (stride, padding, dilation, groups, bias) — every setting is exercised in some case,
# including 'same' with an even kernel (odd total padding), stride ≠ kernel, and
# stride 1 (the wide col2im path) as well as stride > 1 (the plain one).
CASES_2D = [
    (1, 0, 1, 1, True),
    (1, 1, 1, 1, False),
    (2, 1, 1, 1, True),
    ((2, 1), (0, 2), 1, 1, True),
    (1, "same", 1, 1, True),
    (1, "same", 2, 2, False),
    (1, "valid", (2, 1), 1, True),
    (3, 2, 2, 2, True),
    (1, 1, 1, 4, True),  # depthwise: groups = in_channels
]


@pytest.mark.parametrize("stride,padding,dilation,groups,bias", CASES_2D)
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3)])
def test_conv2d_gradcheck(stride, padding, dilation, groups, bias, kernel) -> None:
    x = t64(2, 4, 7, 6, seed=1)
    w = t64(4, 4 // groups, *kernel, seed=2)
    args = [x, w] + ([t64(4, seed=3)] if bias else [])

    def fn(x, w, b=None):
        return conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)

    result = gradcheck(fn, args)
    assert result.passed
    assert len(result.inputs) == len(args)


CASES_1D = [
    (1, 0, 1, 1, True),
    (2, 1, 1, 2, True),
    (1, "same", 1, 1, False),
    (1, "same", 3, 1, True),
    (3, 2, 2, 1, True),
    (1, 1, 1, 4, False),
]


@pytest.mark.parametrize("stride,padding,dilation,groups,bias", CASES_1D)
@pytest.mark.parametrize("kernel", [3, 4])
def test_conv1d_gradcheck(stride, padding, dilation, groups, bias, kernel) -> None:
    x = t64(2, 4, 11, seed=4)
    w = t64(8, 4 // groups, kernel, seed=5)
    args = [x, w] + ([t64(8, seed=6)] if bias else [])

    def fn(x, w, b=None):
        return conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)

    assert gradcheck(fn, args).passed


def test_rebuilt_columns_give_the_same_gradients(monkeypatch) -> None:
    """Past COLS_CACHE_BYTES the columns are rebuilt in backward from the input."""
    x, w, b = t64(2, 3, 6, 6, seed=7), t64(4, 3, 3, 3, seed=8), t64(4, seed=9)
    g = np.random.default_rng(10).standard_normal((2, 4, 3, 3))
    conv2d(x, w, b, stride=2, padding=1).backward(g)
    cached = (x.grad.numpy().copy(), w.grad.numpy().copy(), b.grad.numpy().copy())
    x.grad = w.grad = b.grad = None
    monkeypatch.setattr(convolution, "COLS_CACHE_BYTES", 0)
    conv2d(x, w, b, stride=2, padding=1).backward(g)
    for got, want in zip((x.grad, w.grad, b.grad), cached):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w: conv2d(x, w, padding=1), [x, w]).passed


@pytest.mark.parametrize("padding,dilation", [(0, 1), (2, 1), ("same", (2, 1)), ((1, 0), 2)])
@pytest.mark.parametrize("cache_bytes", [convolution.COLS_CACHE_BYTES, 0])
def test_channel_major_path_matches_per_image_path(monkeypatch, padding, dilation,
                                                    cache_bytes) -> None:
    """Stride-1 single-group layers with several input channels take the channel-major
    path; its output and every gradient equal the per-image path's (with kept and with
    rebuilt columns)."""
    assert convolution._channel_major(5, (1, 1), 1)  # so the call below takes it
    assert not convolution._channel_major(3, (1, 1), 1)
    assert not convolution._channel_major(8, (2, 2), 1)
    assert not convolution._channel_major(8, (1, 1), 2)
    monkeypatch.setattr(convolution, "COLS_CACHE_BYTES", cache_bytes)
    x, w, b = t64(3, 5, 9, 8, seed=13), t64(7, 5, 3, 4, seed=14), t64(7, seed=15)
    results = []
    for channel_major in (True, False):
        monkeypatch.setattr(convolution, "_channel_major",
                            lambda *_, chosen=channel_major: chosen)
        x.grad = w.grad = b.grad = None
        out = conv2d(x, w, b, padding=padding, dilation=dilation)
        out.backward(np.cos(np.arange(out.numpy().size)).reshape(out.shape))
        results.append((out.numpy(), x.grad, w.grad, b.grad))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,stride,dilation", [
    ((5, 5), (1, 1), (1, 1)), ((3, 2), (2, 1), (1, 2)), ((2, 3), (1, 3), (2, 1)),
    ((1, 1), (2, 2), (1, 1))])
@pytest.mark.parametrize("channel_major", [False, True])
def test_two_stage_window_copy_equals_one_strided_copy(monkeypatch, kernel, stride,
                                                       dilation, channel_major) -> None:
    xp = np.random.default_rng(5).standard_normal((3, 2, 11, 13))
    out_hw = tuple(windows.output_length(size, k, s, (0, 0), d)
                   for size, k, s, d in zip(xp.shape[2:], kernel, stride, dilation))
    copies = []
    for long_row in (0, 10**9):  # every row counts as long, then none does
        monkeypatch.setattr(windows, "LONG_ROW", long_row)
        copies.append(windows.copy_windows(xp, kernel, stride, dilation, out_hw,
                                            channel_major))
    view = windows.window_view(xp, kernel, stride, dilation, out_hw)
    expected = view.transpose(1, 2, 3, 0, 4, 5) if channel_major else view
    np.testing.assert_array_equal(copies[0], expected)
    np.testing.assert_array_equal(copies[1], expected)


def test_weight_grad_for_many_filters_and_few_pixels() -> None:
    """The batch-folded weight gradient (out_channels > pixels) is exercised too."""
    x, w = t64(3, 2, 3, 3, seed=11), t64(12, 2, 2, 2, seed=12)
    assert gradcheck(lambda x, w: conv2d(x, w), [x, w]).passed


def test_known_values_and_sizes() -> None:
    x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4), dtype=cr.float32)
    w = cr.tensor(np.ones((1, 1, 2, 2)), dtype=cr.float32)
    out = conv2d(x, w, cr.tensor([1.0]), stride=2)
    assert out.tolist() == [[[[1 + 0 + 1 + 4 + 5, 1 + 2 + 3 + 6 + 7],
                              [1 + 8 + 9 + 12 + 13, 1 + 10 + 11 + 14 + 15]]]]
    x = cr.zeros(2, 3, 9, 8)
    assert conv2d(x, cr.zeros(5, 3, 3, 3)).shape == (2, 5, 7, 6)
    assert conv2d(x, cr.zeros(5, 3, 3, 3), stride=2, padding=1).shape == (2, 5, 5, 4)
    assert conv2d(x, cr.zeros(5, 3, 4, 4), padding="same").shape == (2, 5, 9, 8)
    assert conv2d(x, cr.zeros(5, 3, 3, 3), dilation=2).shape == (2, 5, 5, 4)
    assert conv2d(x, cr.zeros(6, 1, 3, 3), groups=3).shape == (2, 6, 7, 6)
    assert conv1d(cr.zeros(2, 3, 10), cr.zeros(4, 3, 3), stride=3).shape == (2, 4, 3)


def test_same_padding_with_even_kernel_pads_the_extra_element_after() -> None:
    """A 2-tap kernel [1, 10] under 'same': total padding 1, all of it after."""
    x = cr.tensor([[[1.0, 2.0, 3.0]]])
    out = conv1d(x, cr.tensor([[[1.0, 10.0]]]), padding="same")
    assert out.tolist() == [[[21.0, 32.0, 3.0]]]


def test_unbatched_input() -> None:
    x, w = t64(3, 6, 6, seed=13), t64(2, 3, 3, 3, seed=14)
    out = conv2d(x, w, padding=1)
    assert out.shape == (2, 6, 6)
    batched = conv2d(cr.tensor(x.numpy()[None], dtype="float64"),
                     cr.tensor(w.numpy(), dtype="float64"), padding=1)
    np.testing.assert_allclose(out.numpy(), batched.numpy()[0])
    out.sum().backward()
    assert x.grad.shape == (3, 6, 6)
    assert conv1d(t64(3, 9), t64(2, 3, 3)).shape == (2, 7)


def test_float32_stays_float32_and_no_grad_saves_nothing() -> None:
    x = cr.randn(2, 3, 8, 8, requires_grad=True)
    w = cr.randn(4, 3, 3, 3, requires_grad=True)
    b = cr.randn(4, requires_grad=True)
    out = conv2d(x, w, b, padding=1)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    with cr.no_grad():
        assert not conv2d(x, w, b).requires_grad


def test_only_requested_gradients_are_computed() -> None:
    x, w = cr.randn(2, 3, 6, 6), cr.randn(4, 3, 3, 3, requires_grad=True)
    conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)


def test_errors_name_the_shapes() -> None:
    x, w = cr.zeros(2, 3, 8, 8), cr.zeros(4, 2, 3, 3)
    with pytest.raises(ValueError, match=r"3 channels.*\(4, 2, 3, 3\).*expects 2"):
        conv2d(x, w)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\).*\(8, 8\)"):
        conv2d(cr.zeros(8, 8), w)
    with pytest.raises(ValueError, match="stride 1"):
        conv2d(x, cr.zeros(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="too small"):
        conv2d(cr.zeros(1, 3, 2, 2), cr.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        conv2d(cr.zeros(1, 4, 5, 5), cr.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        conv2d(x, cr.zeros(4, 3, 3, 3), cr.zeros(3))
    with pytest.raises(ValueError, match="float32, float64"):
        conv2d(x, cr.zeros(4, 3, 3, 3, dtype="float64"))
    with pytest.raises(ValueError, match="padding must be"):
        conv2d(x, cr.zeros(4, 3, 3, 3), padding="full")
    with pytest.raises(ValueError, match="stride"):
        conv1d(cr.zeros(1, 3, 8), cr.zeros(4, 3, 3), stride=(1, 2))
