"""Every pooling op against PyTorch: outputs and input gradients, float64, to 1e-5
(including tie-breaking after ReLU, where many windows are all zeros). Skipped without
torch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-5


def compare(cr_fn: Callable, torch_fn: Callable, shape: tuple[int, ...], seed: int = 0,
            relu: bool = False) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if relu:  # ties: zero-filled windows, as after a ReLU
        x = np.maximum(x, 0)
    xt = torch.tensor(x, requires_grad=True)
    out_t = torch_fn(xt)
    g = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(g))
    xc = cr.tensor(x, requires_grad=True, dtype="float64")
    out_c = cr_fn(xc)
    out_c.backward(g)
    assert out_c.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=TOL, rtol=TOL)


MAX_2D = [
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 1, 1, 2, False),
    (3, 2, 1, 1, True),
    ((2, 3), (1, 2), (1, 1), (2, 1), True),
    (2, 2, 0, 1, True),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_2D)
@pytest.mark.parametrize("relu", [False, True])
def test_max_pool2d(kernel, stride, padding, dilation, ceil_mode, relu) -> None:
    compare(lambda x: max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),
            lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),
            (2, 3, 9, 10), relu=relu)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", [
    (2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 3, False)])
@pytest.mark.parametrize("relu", [False, True])
def test_max_pool1d(kernel, stride, padding, dilation, ceil_mode, relu) -> None:
    compare(lambda x: max_pool1d(x, kernel, stride, padding, dilation, ceil_mode),
            lambda x: F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode),
            (2, 3, 11), relu=relu)


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", [
    (2, None, 0, False), (3, 2, 1, False), ((2, 3), (1, 2), (1, 1), False),
    (3, 2, 1, True), (2, 2, 0, True)])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(kernel, stride, padding, ceil_mode, count_include_pad) -> None:
    compare(lambda x: avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),
            lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),
            (2, 3, 9, 10), seed=1)


def test_avg_pool2d_divisor_override() -> None:
    compare(lambda x: avg_pool2d(x, 3, 2, 1, divisor_override=5),
            lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5), (2, 3, 9, 10), seed=2)


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad", [
    (2, None, 0, False, True), (3, 2, 1, True, True), (3, 2, 1, True, False),
    (4, 1, 2, False, False)])
def test_avg_pool1d(kernel, stride, padding, ceil_mode, count_include_pad) -> None:
    compare(lambda x: avg_pool1d(x, kernel, stride, padding, ceil_mode, count_include_pad),
            lambda x: F.avg_pool1d(x, kernel, stride, padding, ceil_mode, count_include_pad),
            (2, 3, 11), seed=3)


@pytest.mark.parametrize("output_size", [1, 2, (3, 4), (5, None), (4, 7), (9, 10), (6, 3)])
def test_adaptive_avg_pool2d(output_size) -> None:
    compare(lambda x: adaptive_avg_pool2d(x, output_size),
            lambda x: F.adaptive_avg_pool2d(x, output_size), (2, 3, 9, 10), seed=4)


def test_lenet_pool_shapes() -> None:
    for shape in [(64, 6, 28, 28), (64, 16, 10, 10)]:
        compare(lambda x: max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), shape, relu=True)
