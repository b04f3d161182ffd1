"""The cheaper float32 formulations of issue 15b give the results of the plain ones.

GELU works block by block on large float32 arrays (bit for bit the whole-array result);
sigmoid, tanh, softmax and log-softmax backward run in place with GEMV row sums. Each is
checked against the straightforward NumPy formula in float32 at a workload-sized shape
(the float64 gradient checks and the PyTorch comparisons in test_ops_* cover small ones),
and against PyTorch in float32 when it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import ops
from chainrule.ops import activations


def _forward_backward(fn, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = cr.tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(cr.tensor(g))
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    return out.numpy(), t.grad


def _data(*shape: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return ((rng.standard_normal(shape) * scale).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("shape", [(3, 20000), (2, 8, 1024), (activations._GELU_BLOCK + 1,)])
def test_gelu_in_blocks_is_bitwise_the_whole_array_formula(shape: tuple) -> None:
    x, g = _data(*shape)
    out, grad = _forward_backward(ops.gelu, x, g)
    cdf, pdf = activations._normal_cdf_pdf(x)
    np.testing.assert_array_equal(out, x * cdf)
    np.testing.assert_array_equal(grad, g * (pdf * x + cdf))


def test_gelu_blocks_follow_a_strided_input() -> None:
    x, g = _data(64, 600)
    view = x[:, ::2]  # not contiguous: the blocks see a copy in C order
    out, _ = _forward_backward(ops.gelu, view, g[:, ::2])
    cdf, _ = activations._normal_cdf_pdf(np.ascontiguousarray(view))
    np.testing.assert_array_equal(out, view * cdf)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax", "log_softmax"])
def test_in_place_backward_matches_the_plain_formula(name: str) -> None:
    x, g = _data(64, 65)
    fn = {"sigmoid": ops.sigmoid, "tanh": ops.tanh,
          "softmax": lambda t: ops.softmax(t, dim=-1),
          "log_softmax": lambda t: ops.log_softmax(t, dim=-1)}[name]
    out, grad = _forward_backward(fn, x, g)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    shifted = x64 - x64.max(-1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    ref_out, ref_grad = {
        "sigmoid": lambda s: (s, g64 * s * (1 - s)),
        "tanh": lambda t: (t, g64 * (1 - t * t)),
        "softmax": lambda _: (p, p * (g64 - (g64 * p).sum(-1, keepdims=True))),
        "log_softmax": lambda _: (np.log(p), g64 - p * g64.sum(-1, keepdims=True)),
    }[name](1 / (1 + np.exp(-x64)) if name == "sigmoid" else np.tanh(x64))
    np.testing.assert_allclose(out, ref_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_any_axis_agrees_with_the_last(dim: int) -> None:
    x, g = _data(5, 6, 7)
    out, grad = _forward_backward(lambda t: ops.log_softmax(t, dim=dim), x, g)
    moved = np.moveaxis
    ref_out, ref_grad = _forward_backward(lambda t: ops.log_softmax(t, dim=-1),
                                          np.ascontiguousarray(moved(x, dim, -1)),
                                          np.ascontiguousarray(moved(g, dim, -1)))
    np.testing.assert_allclose(out, moved(ref_out, -1, dim), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, moved(ref_grad, -1, dim), rtol=1e-5, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["gelu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_float32_against_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    x, g = _data(32, 64, 65)
    ours = {"gelu": ops.gelu, "sigmoid": ops.sigmoid, "tanh": ops.tanh,
            "softmax": lambda t: ops.softmax(t, dim=-1),
            "log_softmax": lambda t: ops.log_softmax(t, dim=-1)}[name]
    theirs = {"gelu": torch.nn.functional.gelu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
              "softmax": lambda t: torch.softmax(t, -1),
              "log_softmax": lambda t: torch.log_softmax(t, -1)}[name]
    out, grad = _forward_backward(ours, x, g)
    xt = torch.tensor(x, requires_grad=True)
    ref = theirs(xt)
    ref.backward(torch.tensor(g))
    # GELU's float32 Φ is Abramowitz & Stegun's (absolute error 1.5e-7), times |x| ≤ ~8
    atol = 3e-6 if name == "gelu" else 1e-6
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-5, atol=atol)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-4, atol=10 * atol)
