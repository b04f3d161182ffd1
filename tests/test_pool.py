"""Pooling ops and layers: finite-difference gradients for every op and setting, known
values, tie-breaking, geometry, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.diagnostics.gradcheck import gradcheck
from chainrule.nn.pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)


def distinct(*shape: int, seed: int = 0) -> cr.Tensor:
    """Values at least 0.1 apart, so no window has a tie within the FD step."""
    n = int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(n) * 0.1 - 0.05 * n
    return cr.tensor(values.reshape(shape), requires_grad=True, dtype="float64")


# (kernel, stride, padding, dilation, ceil_mode): non-overlapping, overlapping, padded,
# dilated, rectangular and ceil-mode windows.
MAX_CASES = [
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 1, 1, 1, False),
    ((2, 3), (1, 2), (1, 1), (2, 1), False),
    (3, 2, 0, 1, True),
    (2, 3, 1, 2, True),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_CASES)
def test_max_pool2d_gradcheck(kernel, stride, padding, dilation, ceil_mode) -> None:
    fn = lambda x: max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)  # noqa: E731
    assert gradcheck(fn, [distinct(2, 3, 7, 8, seed=1)]).passed


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 1, 1, 2, False), (2, 3, 1, 1, True)])
def test_max_pool1d_gradcheck(kernel, stride, padding, dilation, ceil_mode) -> None:
    fn = lambda x: max_pool1d(x, kernel, stride, padding, dilation, ceil_mode)  # noqa: E731
    assert gradcheck(fn, [distinct(2, 3, 11, seed=2)]).passed


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad", [
    (2, None, 0, False, True),
    (3, 2, 1, False, True),
    (3, 2, 1, False, False),
    ((2, 3), (1, 2), (1, 1), False, True),
    (3, 2, 1, True, True),
    (3, 2, 1, True, False),
])
def test_avg_pool2d_gradcheck(kernel, stride, padding, ceil_mode, count_include_pad) -> None:
    fn = lambda x: avg_pool2d(x, kernel, stride, padding, ceil_mode,  # noqa: E731
                              count_include_pad)
    assert gradcheck(fn, [distinct(2, 3, 7, 8, seed=3)]).passed


@pytest.mark.parametrize("kernel,stride,padding,count_include_pad", [
    (2, None, 0, True), (3, 1, 1, True), (3, 2, 1, False)])
def test_avg_pool1d_gradcheck(kernel, stride, padding, count_include_pad) -> None:
    fn = lambda x: avg_pool1d(x, kernel, stride, padding,  # noqa: E731
                              count_include_pad=count_include_pad)
    assert gradcheck(fn, [distinct(2, 3, 10, seed=4)]).passed


@pytest.mark.parametrize("output_size", [1, 2, (3, 4), (5, None), (7, 8)])
def test_adaptive_avg_pool2d_gradcheck(output_size) -> None:
    fn = lambda x: adaptive_avg_pool2d(x, output_size)  # noqa: E731
    assert gradcheck(fn, [distinct(2, 3, 7, 8, seed=5)]).passed


def test_known_values() -> None:
    x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    assert max_pool2d(x, 2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert avg_pool2d(x, 2).tolist() == [[[[2.5, 4.5], [10.5, 12.5]]]]
    assert adaptive_avg_pool2d(x, 1).tolist() == [[[[7.5]]]]
    # PyTorch's adaptive windows over 4 rows into 3: [0, 2), [1, 3), [2, 4)
    assert adaptive_avg_pool2d(x, (3, 1)).tolist() == [[[[3.5], [7.5], [11.5]]]]
    # Padding is −∞ for max, 0 for average (counted in the divisor by default).
    row = cr.tensor([[[-1.0, -2.0, -3.0]]])
    assert max_pool1d(row, 2, 2, 1).tolist() == [[[-1.0, -2.0]]]
    assert avg_pool1d(row, 2, 2, 1).tolist() == [[[-0.5, -2.5]]]
    assert avg_pool1d(row, 2, 2, 1, count_include_pad=False).tolist() == [[[-1.0, -2.5]]]
    assert avg_pool2d(x, 2, divisor_override=1).tolist() == [[[[10.0, 18.0], [42.0, 50.0]]]]


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties() -> None:
    x = cr.zeros(1, 1, 4, 4, requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad[0, 0], expected)
    x.grad = None
    max_pool2d(x, 3, 1, 1).sum().backward()  # overlapping: gradients accumulate
    assert x.grad.sum() == 16 and x.grad[0, 0, 0, 0] == 4


def test_output_sizes() -> None:
    x = cr.zeros(2, 3, 9, 10)
    assert max_pool2d(x, 2).shape == (2, 3, 4, 5)
    assert max_pool2d(x, 2, ceil_mode=True).shape == (2, 3, 5, 5)
    assert max_pool2d(x, 3, 2, 1).shape == (2, 3, 5, 5)
    assert max_pool2d(x, 3, 1, 1, dilation=2).shape == (2, 3, 7, 8)
    assert avg_pool2d(x, (3, 2), (2, 1)).shape == (2, 3, 4, 9)
    assert adaptive_avg_pool2d(x, (4, None)).shape == (2, 3, 4, 10)
    assert max_pool1d(cr.zeros(2, 3, 9), 2).shape == (2, 3, 4)
    assert max_pool2d(cr.zeros(3, 8, 8), 2).shape == (3, 4, 4)  # unbatched
    assert adaptive_avg_pool2d(cr.zeros(3, 8, 8), 1).shape == (3, 1, 1)


def test_float32_preserved_and_no_index_without_grad() -> None:
    x = cr.randn(2, 3, 8, 8, requires_grad=True)
    for fn in (lambda t: max_pool2d(t, 2), lambda t: avg_pool2d(t, 3, 1, 1),
               lambda t: adaptive_avg_pool2d(t, (3, 3)), lambda t: adaptive_avg_pool2d(t, 1)):
        out = fn(x)
        assert out.dtype == np.float32
        x.grad = None
        out.sum().backward()
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
    with cr.no_grad():
        out = max_pool2d(x, 2)
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), max_pool2d(x, 2).numpy())


def test_errors() -> None:
    x = cr.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="half the kernel"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        avg_pool2d(cr.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\).*\(8, 8\)"):
        max_pool2d(cr.zeros(8, 8), 2)
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        max_pool1d(x, 2)
    with pytest.raises(ValueError, match="output_size must be positive"):
        adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="divisor_override"):
        avg_pool2d(x, 2, divisor_override=0)


def test_layers() -> None:
    x = cr.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(MaxPool2d(2)(x).numpy(), max_pool2d(x, 2).numpy())
    np.testing.assert_array_equal(AvgPool2d(3, 1, 1, count_include_pad=False)(x).numpy(),
                                  avg_pool2d(x, 3, 1, 1, count_include_pad=False).numpy())
    assert AdaptiveAvgPool2d((2, 2))(x).shape == (2, 3, 2, 2)
    seq = cr.randn(2, 3, 9)
    assert MaxPool1d(3, 2)(seq).shape == (2, 3, 4)
    assert AvgPool1d(2)(seq).shape == (2, 3, 4)
    assert repr(MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    assert repr(AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"
    assert list(MaxPool2d(2).state_dict()) == []
    with pytest.raises(ValueError, match=r"in layer MaxPool2d.*\(8, 8\)"):
        MaxPool2d(2)(cr.zeros(8, 8))
