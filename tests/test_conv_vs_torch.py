"""conv1d/conv2d and the Conv layers against PyTorch: outputs and the gradients of input,
weight and bias, float64, to 1e-5 (they agree to ~1e-13). Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.conv import Conv1d, Conv2d
from chainrule.ops.convolution import conv1d, conv2d

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")]
torch.set_num_threads(1)

TOL = 1e-5


def compare_conv(nd: int, x_shape: tuple[int, ...], out_channels: int, kernel: int,
                 stride, padding, dilation, groups: int, bias: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((out_channels, x_shape[1] // groups) + (kernel,) * nd)
    b = rng.standard_normal(out_channels)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch_fn = F.conv2d if nd == 2 else F.conv1d
    out_t = torch_fn(xt, wt, bt if bias else None, **kwargs)
    g = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(g))

    xc, wc, bc = (cr.tensor(a, requires_grad=True, dtype="float64") for a in (x, w, b))
    cr_fn = conv2d if nd == 2 else conv1d
    out_c = cr_fn(xc, wc, bc if bias else None, **kwargs)
    out_c.backward(g)

    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(wc.grad, wt.grad.numpy(), atol=TOL, rtol=TOL)
    if bias:
        np.testing.assert_allclose(bc.grad, bt.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("stride,padding,dilation,groups,bias", [
    (1, 0, 1, 1, True),
    (1, 2, 1, 1, True),
    (2, 1, 1, 1, False),
    ((1, 2), (2, 0), (2, 1), 1, True),
    (1, "same", 1, 1, True),
    (1, "same", (1, 2), 2, True),
    (1, "valid", 1, 3, True),
    (3, 1, 2, 6, False),
])
@pytest.mark.parametrize("kernel", [1, 3, 4])
def test_conv2d_matches_torch(stride, padding, dilation, groups, bias, kernel) -> None:
    compare_conv(2, (3, 6, 10, 9), 12, kernel, stride, padding, dilation, groups, bias,
                 seed=kernel)


@pytest.mark.parametrize("stride,padding,dilation,groups,bias", [
    (1, 0, 1, 1, True),
    (2, 2, 1, 2, True),
    (1, "same", 1, 1, False),
    (1, "same", 2, 3, True),
    (3, 1, 3, 1, True),
])
@pytest.mark.parametrize("kernel", [1, 2, 5])
def test_conv1d_matches_torch(stride, padding, dilation, groups, bias, kernel) -> None:
    compare_conv(1, (3, 6, 17), 6, kernel, stride, padding, dilation, groups, bias,
                 seed=10 + kernel)


def test_lenet_shapes_match_torch() -> None:
    """The benchmark's two conv layers: batch 64, 1×28×28 and 6×14×14 inputs."""
    compare_conv(2, (64, 1, 28, 28), 6, 5, 1, 2, 1, 1, True, seed=20)
    compare_conv(2, (64, 6, 14, 14), 16, 5, 1, 0, 1, 1, True, seed=21)


@pytest.mark.parametrize("layer,torch_layer,shape", [
    (lambda: Conv2d(4, 6, 3, stride=2, padding=1, dtype="float64"),
     lambda: torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, dtype=torch.float64),
     (2, 4, 9, 9)),
    (lambda: Conv2d(4, 8, (2, 3), padding="same", groups=2, bias=False, dtype="float64"),
     lambda: torch.nn.Conv2d(4, 8, (2, 3), padding="same", groups=2, bias=False,
                             dtype=torch.float64),
     (2, 4, 7, 6)),
    (lambda: Conv1d(4, 6, 3, dilation=2, dtype="float64"),
     lambda: torch.nn.Conv1d(4, 6, 3, dilation=2, dtype=torch.float64),
     (2, 4, 12)),
])
def test_layers_match_torch_with_the_same_weights(layer, torch_layer, shape) -> None:
    """Parameter shapes and state_dict keys match, so weights load across directly."""
    ours, theirs = layer(), torch_layer()
    state = ours.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    x = np.random.default_rng(30).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    xc = cr.tensor(x, requires_grad=True, dtype="float64")
    theirs(xt).square().sum().backward()
    (ours(xc) * ours(xc)).sum().backward()
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), atol=TOL, rtol=TOL)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, dict(theirs.named_parameters())[name].grad.numpy(),
                                   atol=TOL, rtol=TOL)
