"""The autograd-facing Tensor surface in PyTorch's shape: ``.grad`` as a Tensor, ``size()``,
devices, ``__format__``, in-place ops, grad modes, ``autograd.grad``/``backward``.

Everything here runs without torch; ``test_tensor_torch_api_vs_torch.py`` compares the
same behaviour against PyTorch.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd import _State
from chainrule.diagnostics.gradcheck import numerical_gradient


def leaf(values, dtype: str = "float64") -> cr.Tensor:
    return cr.tensor(values, requires_grad=True, dtype=dtype)


# ---- .grad is a Tensor ----------------------------------------------------------------------

def test_grad_is_a_tensor_that_backward_keeps_across_passes() -> None:
    x = leaf([1.0, -2.0])
    (x * x).sum().backward()
    g = x.grad
    assert isinstance(g, cr.Tensor) and not g.requires_grad and g.is_leaf
    assert x.grad is g  # the same object on every read
    np.testing.assert_array_equal(g.numpy(), [2.0, -4.0])
    (x * 3.0).sum().backward()  # accumulation keeps the wrapper
    assert x.grad is g
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, -1.0])


def test_a_zero_dim_leaf_gets_an_array_gradient() -> None:
    x = leaf(2.0)
    (x * x).sum().backward()  # reductions over 0-d inputs may yield NumPy scalars
    assert isinstance(x.grad.numpy(), np.ndarray) and x.grad.shape == ()
    assert x.grad == pytest.approx(4.0) and float(x.grad) == 4.0
    x.grad.add_(1.0)
    assert x.grad.item() == 5.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_dtype_follows_the_parameter(dtype: str) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).to(dtype)
    x = cr.randn(5, 3, dtype=dtype)
    (model(x) * np.float64(0.5)).sum().backward()
    for p in model.parameters():
        assert p.dtype == np.dtype(dtype)
        assert isinstance(p.grad, cr.Tensor) and p.grad.dtype == np.dtype(dtype)
        assert p.grad.numpy().dtype == np.dtype(dtype)


def test_grad_setter_wraps_arrays_keeps_tensors_and_checks_shape_and_dtype() -> None:
    p = nn.Parameter(np.zeros((2, 3)), dtype="float32")
    p.name = "fc.weight"
    arr = np.ones((2, 3), np.float32)
    p.grad = arr
    assert isinstance(p.grad, cr.Tensor) and p.grad.numpy() is arr  # wrapped, not copied
    t = cr.zeros(2, 3)
    p.grad = t
    assert p.grad is t
    p.grad = None
    assert p.grad is None
    with pytest.raises(ValueError, match=r"shape \(3,\).*'fc.weight'.*\(2, 3\)"):
        p.grad = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match=r"dtype float64.*float32"):
        p.grad = np.zeros((2, 3))
    with pytest.raises(TypeError, match="Tensor, a NumPy array or None"):
        p.grad = [[0.0] * 3] * 2
    assert p.grad is None  # failed assignments change nothing


def test_grad_zero_and_accumulate_again() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    g = x.grad
    assert g.zero_() is g
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_retained_gradient_is_a_tensor() -> None:
    x = leaf([1.0, 2.0])
    z = x * 2.0
    z.retain_grad()
    (z * z).sum().backward()
    assert isinstance(z.grad, cr.Tensor) and not z.grad.requires_grad
    np.testing.assert_array_equal(z.grad.numpy(), [4.0, 8.0])


def test_hooks_receive_tensors_and_may_return_tensors_or_arrays() -> None:
    x = leaf([1.0, 2.0])
    z = x * 2.0
    seen: list[tuple[type, list[float]]] = []
    z.register_hook(lambda g: seen.append((type(g), g.tolist())))
    z.register_hook(lambda g: g * 2)  # a Tensor
    x.register_hook(lambda g: seen.append((type(g), g.tolist())))
    x.register_hook(lambda g: np.asarray(g) + 1)  # an array
    z.sum().backward()
    assert seen == [(cr.Tensor, [1.0, 1.0]), (cr.Tensor, [4.0, 4.0])]
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])
    assert x.grad.dtype == np.float64


def test_a_hook_changing_the_shape_is_an_error() -> None:
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: np.zeros(3))
    with pytest.raises(RuntimeError, match=r"hook.*shape \(3,\).*\(2,\)"):
        (x * 2.0).sum().backward()


def test_hooks_run_without_recording_a_graph() -> None:
    x = leaf([1.0, 2.0])
    w = leaf([3.0, 4.0])
    x.register_hook(lambda g: g * w)  # w requires grad: must not build a graph here
    (x * 1.0).sum().backward()
    assert not x.grad.requires_grad and x.grad._ctx is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("owner", ["optimizer", "module"])
def test_zero_grad_to_zeros_keeps_the_grad_tensor(owner: str) -> None:
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(cr.randn(4, 3)).sum().backward()
    holders = [p.grad for p in model.parameters()]
    arrays = [g.numpy() for g in holders]
    kept = [a.copy() for a in arrays]
    (opt if owner == "optimizer" else model).zero_grad(set_to_none=False)
    for p, g, a, k in zip(model.parameters(), holders, arrays, kept):
        assert p.grad is g and p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros_like(k))
        np.testing.assert_array_equal(a, k)  # the old array, possibly shared, is untouched
    (opt if owner == "optimizer" else model).zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_zero_grad_to_zeros_handles_read_only_gradients_in_modules() -> None:
    model = nn.Linear(2, 1)
    model.bias.grad = np.broadcast_to(np.float32(1.0), (1,))
    model.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model.bias.grad.numpy(), [0.0])


def test_the_leaf_gradient_is_the_array_backward_produced() -> None:
    """No copy between the op's backward and ``p.grad`` (when the array is not shared)."""
    produced: list[np.ndarray] = []

    class Double(cr.Function):
        __slots__ = ()

        def forward(self, x):
            self.saved = ()
            return x * 2

        def backward(self, g):
            out = g * 2
            produced.append(out)
            return out

    x = leaf([1.0, 2.0])
    Double.apply(x).sum().backward()
    assert x.grad.numpy() is produced[0]


@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.1}),
                                      ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                      ("Adam", {"lr": 0.1})])
def test_optimizer_step_updates_the_same_arrays_and_never_writes_the_gradient(
        name: str, kw: dict) -> None:
    model = nn.Linear(4, 3)
    opt = getattr(optim, name)(model.parameters(), **kw)
    for _ in range(2):
        opt.zero_grad()
        model(cr.randn(5, 4)).sum().backward()
        weights = [p.numpy() for p in model.parameters()]
        grads = [p.grad.numpy() for p in model.parameters()]
        kept = [g.copy() for g in grads]
        before = [w.copy() for w in weights]
        opt.step()
        for p, w, g, k, b in zip(model.parameters(), weights, grads, kept, before):
            assert p.numpy() is w and p.grad.numpy() is g  # updated in place, nothing swapped
            np.testing.assert_array_equal(g, k)
            assert not np.array_equal(w, b)


def test_plain_sgd_step_allocates_no_copy_of_parameter_or_gradient() -> None:
    """A 16 MiB parameter: the step's temporaries stay at the 1 MiB block buffer."""
    p = nn.Parameter(np.zeros(1 << 22, np.float32))
    p.grad = np.ones(1 << 22, np.float32)
    opt = optim.SGD([p], lr=0.5)
    opt.step()  # warm up any lazy state
    assert _peak_bytes(opt.step) < 4 * 2**20
    np.testing.assert_array_equal(p.numpy()[:3], [-1.0, -1.0, -1.0])


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_backward_allocates_no_copy_of_the_gradient() -> None:
    """``(p * 2).sum().backward()`` needs two parameter-sized arrays at its peak (the
    forward output and the gradient; accumulating: the old and the new sum); an extra
    copy of the gradient on its way into ``.grad`` would make it three."""
    n = 1 << 21  # 8 MiB of float32
    p = nn.Parameter(np.ones(n, np.float32))
    assert _peak_bytes(lambda: (p * 2.0).sum().backward()) < 2.5 * 4 * n
    holder = p.grad
    assert _peak_bytes(lambda: (p * 2.0).sum().backward()) < 2.5 * 4 * n
    assert p.grad is holder
    np.testing.assert_array_equal(p.grad.numpy()[:2], [4.0, 4.0])


# ---- size() ---------------------------------------------------------------------------------

def test_size_is_the_shape_or_one_dimension() -> None:
    x = cr.zeros(2, 3, 4)
    s = x.size()
    assert isinstance(s, tuple) and isinstance(s, cr.Size)
    assert s == (2, 3, 4) and s == x.shape and s.numel() == 24 == x.numel()
    assert repr(s) == "Size([2, 3, 4])"
    assert x.size(0) == 2 and x.size(-1) == 4 and x.size(1) == 3
    assert type(x.size(0)) is int
    with pytest.raises(IndexError, match="out of range"):
        x.size(3)
    with pytest.raises(IndexError, match="out of range"):
        x.size(-4)
    assert cr.tensor(1.0).size() == ()
    with pytest.raises(IndexError, match="no dimensions"):
        cr.tensor(1.0).size(0)


# ---- devices --------------------------------------------------------------------------------

def test_device_objects() -> None:
    d = cr.device("cpu")
    assert repr(d) == "device(type='cpu')" and str(d) == "cpu" and d.type == "cpu"
    assert d.index is None
    assert cr.device("cpu:0") == cr.device("cpu", 0) and cr.device("cpu:0").index == 0
    assert cr.device("cpu:0") != d and cr.device(d) == d
    assert repr(cr.device("cpu", 0)) == "device(type='cpu', index=0)"
    assert cr.tensor([1.0]).device == d and cr.tensor([1.0]).is_cuda is False
    assert len({cr.device("cpu"), cr.device("cpu")}) == 1


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps", "xpu"])
def test_unavailable_devices_name_the_backends(name: str) -> None:
    x = cr.tensor([1.0])
    with pytest.raises(RuntimeError, match=r"not available.*available: cpu"):
        cr.device(name)
    with pytest.raises(RuntimeError, match=r"available: cpu"):
        x.to(name)
    with pytest.raises(RuntimeError, match=r"available: cpu"):
        nn.Linear(2, 1).to(name)


def test_unknown_devices_and_bad_arguments() -> None:
    with pytest.raises(RuntimeError, match=r"unknown device type 'gpu'.*cpu"):
        cr.device("gpu")
    with pytest.raises(TypeError, match="neither a device"):
        cr.tensor([1.0]).to("floaty")
    with pytest.raises(RuntimeError, match="no GPU backend"):
        cr.tensor([1.0]).to(0)  # an int is a CUDA index in PyTorch
    with pytest.raises(ValueError, match="floating dtype"):
        nn.Linear(2, 1).to("int64")


def test_cuda_questions_and_methods() -> None:
    assert cr.cuda.is_available() is False and cr.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="no GPU backend"):
        cr.tensor([1.0]).cuda()
    with pytest.raises(RuntimeError, match="no GPU backend"):
        nn.Linear(2, 1).cuda()
    device = cr.device("cuda" if cr.cuda.is_available() else "cpu")  # the usual idiom
    assert cr.tensor([1.0]).to(device).device == device


def test_tensor_to_forms() -> None:
    x = cr.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.to(cr.device("cpu")) is x and x.cpu() is x
    assert x.to(x.device) is x and x.to(device="cpu") is x and x.to(cr.float32) is x
    assert x.to(np.float64).dtype == np.float64 and x.to("float64").dtype == np.float64
    assert x.to("cpu", cr.float64).dtype == np.float64
    assert x.to(device="cpu", dtype="float64").dtype == np.float64
    assert x.to(cr.zeros(1, dtype="float64")).dtype == np.float64
    assert x.to("cpu", non_blocking=True) is x
    assert x.to(np.float64, copy=False).dtype == np.float64


def test_tensor_to_dtype_is_differentiable() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = x.to("cpu", cr.float64)
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_module_to_cpu_float_double_return_self() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model(cr.randn(4, 2)).sum().backward()
    assert model.to("cpu") is model and model.cpu() is model
    assert model.to(cr.device("cpu")) is model
    assert model.double() is model
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64
               for p in model.parameters())
    assert all(b.dtype == np.float64 for b in model.buffers() if b.dtype.kind == "f")
    assert model.float() is model and model[0].weight.dtype == np.float32
    assert model.to("cpu", cr.float64) is model and model[0].weight.dtype == np.float64
    assert model.to(dtype=cr.float32) is model and model[0].weight.dtype == np.float32
    w = model[0].weight
    data = w.numpy()
    model.to(cr.float32)  # already float32: the same arrays
    assert model[0].weight.numpy() is data


# ---- __format__ -----------------------------------------------------------------------------

def test_format_one_element_tensors_like_numbers() -> None:
    assert f"{cr.tensor(2.5):.2f}" == "2.50"
    assert f"{cr.tensor([0.125]):>8.3f}" == "   0.125"
    assert f"{cr.tensor(7):d}" == "7" and f"{cr.tensor(7):03d}" == "007"
    loss = (cr.tensor([1.0, 2.0], requires_grad=True) ** 2).mean()
    assert f"loss {loss:.4f}" == "loss 2.5000"


def test_format_of_larger_tensors() -> None:
    t = cr.tensor([1.0, 2.0])
    assert f"{t}" == repr(t) == format(t, "")
    with pytest.raises(TypeError, match=r"'\.2f'.*shape \(2,\)"):
        f"{t:.2f}"


# ---- in-place ops ---------------------------------------------------------------------------

def test_inplace_ops_update_the_array_and_return_self() -> None:
    x = cr.tensor([1.0, -2.0, 3.0])
    data = x.numpy()
    assert x.add_(1.0) is x and x.tolist() == [2.0, -1.0, 4.0]
    assert x.add_(cr.tensor([1.0, 1.0, 1.0]), alpha=2) is x and x.tolist() == [4.0, 1.0, 6.0]
    assert x.sub_(np.array([1.0, 1.0, 1.0]), alpha=0.5) is x
    assert x.tolist() == [3.5, 0.5, 5.5]
    assert x.sub_(0.5).mul_(2.0) is x and x.tolist() == [6.0, 0.0, 10.0]
    assert x.div_(cr.tensor(4.0)) is x and x.tolist() == [1.5, 0.0, 2.5]
    assert x.clamp_(min=0.5, max=2.0) is x and x.tolist() == [1.5, 0.5, 2.0]
    assert x.clamp_(max=1.0).tolist() == [1.0, 0.5, 1.0]
    assert x.fill_(3.0) is x and x.tolist() == [3.0, 3.0, 3.0]
    assert x.fill_(cr.tensor(4.0)).tolist() == [4.0, 4.0, 4.0]
    assert x.copy_(cr.tensor([7.0, 8.0, 9.0], dtype="float64")) is x
    assert x.tolist() == [7.0, 8.0, 9.0]
    assert x.copy_(np.array(1.0)).tolist() == [1.0, 1.0, 1.0]  # broadcast
    assert x.zero_() is x and x.tolist() == [0.0, 0.0, 0.0]
    assert x.numpy() is data and x.dtype == np.float32  # float64 operands never upcast
    with pytest.raises(ValueError, match="at least one"):
        x.clamp_()


def test_random_inplace_fills_use_the_chainrule_generator() -> None:
    a = cr.zeros(20000)
    b = cr.zeros(20000)
    a.normal_(2.0, 0.5, generator=cr.Generator(3))
    b.normal_(2.0, 0.5, generator=cr.Generator(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32
    assert abs(float(a.numpy().mean()) - 2.0) < 0.02 and abs(float(a.numpy().std()) - 0.5) < 0.02
    u = cr.zeros(20000, dtype="float64").uniform_(-1.0, 3.0, generator=cr.Generator(4))
    assert u.dtype == np.float64
    assert u.numpy().min() >= -1.0 and u.numpy().max() < 3.0
    assert abs(float(u.numpy().mean()) - 1.0) < 0.05
    cr.manual_seed(5)
    c = cr.zeros(4).normal_()
    cr.manual_seed(5)
    np.testing.assert_array_equal(c.numpy(), cr.zeros(4).normal_().numpy())


def test_inplace_on_a_leaf_that_requires_grad_needs_no_grad() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.mul_(2.0), lambda: w.zero_(),
               lambda: w.normal_(), lambda: w.copy_(np.zeros(2))):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    assert w.tolist() == [1.0, 2.0]
    with cr.no_grad():
        w.mul_(3.0).add_(1.0)
    assert w.tolist() == [4.0, 7.0] and w.requires_grad


def test_inplace_on_a_graph_tensor_is_refused() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match=r"grad_fn=<Mul>.*not supported"):
        y.add_(1.0)
    with cr.no_grad(), pytest.raises(RuntimeError, match="grad_fn=<Mul>"):
        y.zero_()
    acc = cr.zeros(2)
    with pytest.raises(RuntimeError, match="other operand requires grad"):
        acc.add_(w)
    with pytest.raises(RuntimeError, match="read-only"):
        cr.tensor(1.0).expand(3).add_(1.0)


def test_data_stays_the_array() -> None:
    w = nn.Parameter([1.0, 2.0])
    arr = np.array([5.0, 6.0], np.float32)
    w.data = arr
    assert w.numpy() is arr and isinstance(w.numpy(), np.ndarray)


def test_manual_sgd_with_augmented_assignment() -> None:
    """``with no_grad(): w -= lr * w.grad`` updates the parameter in place (PyTorch's idiom);
    the same line with grad enabled is refused, as in PyTorch."""
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64")
    y = cr.tensor([[1.0], [2.0]], dtype="float64")
    w = cr.tensor([[0.1], [0.2]], requires_grad=True, dtype="float64")
    w_np = w.numpy().copy()
    data = w.numpy()
    for _ in range(3):
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        with cr.no_grad():
            w -= w.grad * 0.05
            w.grad.zero_()
        g_np = 2 * x.numpy().T @ (x.numpy() @ w_np - y.numpy()) / 2
        w_np -= 0.05 * g_np
    assert w.numpy() is data and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy(), w_np, rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w -= 1.0


def test_augmented_assignment_in_the_graph_stays_differentiable() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    b = cr.tensor([0.5, 0.5], requires_grad=True, dtype="float64")
    h = x * 3.0
    h += b
    h *= x
    h /= 2.0
    h -= b
    h.sum().backward()
    # h = ((3x + b) x) / 2 - b
    np.testing.assert_allclose(x.grad.numpy(), (6 * x.numpy() + b.numpy()) / 2)
    np.testing.assert_allclose(b.grad.numpy(), x.numpy() / 2 - 1)
    acc = cr.zeros(2, dtype="float64")
    acc += x * x  # other requires grad: recorded, not written into acc
    acc.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (6 * x.numpy() + b.numpy()) / 2 + 2 * x.numpy())


def test_numpy_array_minus_equals_tensor_writes_into_the_array() -> None:
    p = nn.Parameter([1.0, 2.0])
    (p * p).sum().backward()
    data = p.numpy()
    p.data -= 0.5 * p.grad  # the classic manual update, with .grad a Tensor
    assert p.numpy() is data and isinstance(p.numpy(), np.ndarray)
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])
    a = np.ones(2)
    assert isinstance(a + cr.tensor([1.0, 1.0]), cr.Tensor)  # still a recorded op
    assert isinstance(np.exp(cr.tensor([0.0])), np.ndarray)


# ---- grad modes -----------------------------------------------------------------------------

def _records() -> bool:
    return (cr.tensor([1.0], requires_grad=True) * 2).requires_grad


def test_no_grad_and_enable_grad_as_decorators() -> None:
    @cr.no_grad()
    def a() -> bool:
        return _records()

    @cr.no_grad
    def b() -> bool:
        return _records()

    @cr.enable_grad()
    def c() -> bool:
        return _records()

    assert a() is False and b() is False and _records()
    with cr.no_grad():
        assert c() is True and not _records()
    assert a.__name__ == "a"


def test_decorated_recursion_restores_the_mode() -> None:
    @cr.no_grad()
    def depth(n: int) -> int:
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(5) == 5 and cr.is_grad_enabled()


def test_inference_mode() -> None:
    assert not cr.is_inference_mode_enabled()
    with cr.inference_mode():
        assert not _records() and cr.is_inference_mode_enabled() and not cr.is_grad_enabled()
        with cr.inference_mode(False):
            assert not cr.is_inference_mode_enabled()
    assert _records() and not cr.is_inference_mode_enabled()

    @cr.inference_mode
    def f() -> bool:
        return _records()

    assert f() is False and _records()


def test_set_grad_enabled_as_call_context_and_decorator() -> None:
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
        cr.set_grad_enabled(True)
        assert cr.is_grad_enabled()
        with cr.set_grad_enabled(False):
            assert not _records()
        assert _records()
        with cr.no_grad(), cr.set_grad_enabled(True):
            assert _records()

        @cr.set_grad_enabled(False)
        def f() -> bool:
            return _records()

        assert cr.is_grad_enabled() and f() is False and cr.is_grad_enabled()
    finally:
        _State.grad_enabled = True


def test_modes_restore_after_exceptions() -> None:
    for mode in (cr.no_grad, cr.inference_mode, lambda: cr.set_grad_enabled(False)):
        with pytest.raises(KeyError):
            with mode():
                raise KeyError("boom")
        assert cr.is_grad_enabled() and not cr.is_inference_mode_enabled()


# ---- autograd.grad / autograd.backward ------------------------------------------------------

def _net(x: cr.Tensor, w: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
    return ((x @ w + b).tanh() ** 2).sum()


def _inputs() -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
    rng = np.random.default_rng(0)
    return (leaf(rng.standard_normal((4, 3))), leaf(rng.standard_normal((3, 2))),
            leaf(rng.standard_normal(2)))


def test_grad_matches_central_differences_and_leaves_grad_alone() -> None:
    x, w, b = _inputs()
    gx, gw, gb = cr.autograd.grad(_net(x, w, b), [x, w, b])
    for t, g in ((x, gx), (w, gw), (b, gb)):
        assert isinstance(g, cr.Tensor) and not g.requires_grad and g.dtype == np.float64
        np.testing.assert_allclose(g.numpy(), numerical_gradient(lambda: _net(x, w, b), t),
                                   rtol=1e-6, atol=1e-9)
        assert t.grad is None


def test_grad_equals_backward_and_works_on_intermediates() -> None:
    x, w, b = _inputs()
    h = x @ w
    out = ((h + b).tanh() ** 2).sum()
    gh, gw = cr.autograd.grad(out, [h, w], retain_graph=True)
    out.backward()
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy(), rtol=1e-12)
    # the chain rule through h = x @ w: dout/dw = xᵀ · dout/dh
    np.testing.assert_allclose(x.numpy().T @ gh.numpy(), w.grad.numpy(), rtol=1e-12)
    assert h.grad is None  # grad() fills no .grad, not even of intermediates


def test_grad_outputs_multiple_outputs_and_a_scalar_root() -> None:
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    (g,) = cr.autograd.grad(y, x, grad_outputs=np.array([1.0, 0.0, 2.0]), retain_graph=True)
    np.testing.assert_array_equal(g.numpy(), [2.0, 0.0, 12.0])
    (g,) = cr.autograd.grad([y.sum(), (x * 3.0).sum()], [x])
    np.testing.assert_array_equal(g.numpy(), [5.0, 7.0, 9.0])
    (g,) = cr.autograd.grad(x, x, grad_outputs=cr.ones(3, dtype="float64"))
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0, 1.0])


def test_grad_unused_inputs_and_errors() -> None:
    x, u = leaf([1.0, 2.0]), leaf([3.0])
    with pytest.raises(RuntimeError, match="input 1.*not used.*allow_unused=True"):
        cr.autograd.grad((x * x).sum(), [x, u])
    gx, gu = cr.autograd.grad((x * x).sum(), [x, u], allow_unused=True)
    assert gu is None and gx.tolist() == [2.0, 4.0]
    gx, gu = cr.autograd.grad((x * x).sum(), [x, u], materialize_grads=True)
    assert gu.tolist() == [0.0] and gu.dtype == np.float64
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad((x * x).sum(), [cr.tensor([1.0])])
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad(cr.tensor([1.0]).sum(), [x])
    with pytest.raises(NotImplementedError, match="double backward"):
        cr.autograd.grad((x * x).sum(), [x], create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        (x * x).sum().backward(create_graph=True)


def test_grad_frees_the_graph_unless_retained() -> None:
    x = leaf([1.0, 2.0])
    out = (x * x).sum()
    cr.autograd.grad(out, x, retain_graph=True)
    cr.autograd.grad(out, x)
    with pytest.raises(cr.GraphFreedError):
        cr.autograd.grad(out, x)


def test_grad_results_never_alias() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    ga, gb, ga2 = cr.autograd.grad((a + b).sum(), [a, b, a])
    ga.add_(1.0)
    assert gb.tolist() == [1.0, 1.0] and ga2.tolist() == [1.0, 1.0]
    e = leaf(1.0)
    (ge,) = cr.autograd.grad((e * cr.ones(3, dtype="float64")).sum(), e)
    ge.add_(1.0)  # a writeable array of its own, though the backward broadcast
    assert ge.item() == 4.0


def test_grad_skips_branches_that_do_not_lead_to_the_inputs() -> None:
    calls: list[str] = []

    class Spy(cr.Function):
        __slots__ = ()

        def forward(self, x):
            self.saved = ()
            return x.copy()

        def backward(self, g):
            calls.append("spy")
            return g

    x, w = leaf([1.0]), leaf([2.0])
    out = (Spy.apply(w) * x).sum()
    cr.autograd.grad(out, x)
    assert calls == []
    cr.autograd.grad((Spy.apply(w) * x).sum(), w)
    assert calls == ["spy"]


def test_autograd_backward_several_roots_and_inputs() -> None:
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y1, y2 = x * w, (x * x).sum()
    cr.autograd.backward([y1, y2], [np.array([1.0, 1.0]), None])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 + 2.0, 4.0 + 4.0])
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])
    x.grad = w.grad = None
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [1.0, 2.0]
    z = x * w
    (z * z).sum().backward(inputs=[z])
    assert x.grad is None and z.grad.tolist() == [6.0, 16.0]
    with pytest.raises(ValueError, match="2 gradients for 1 tensors"):
        cr.autograd.backward([x.sum()], [None, None])


def test_data_is_a_detached_tensor_sharing_memory_as_in_pytorch() -> None:
    # the idioms of older PyTorch scripts: each gave a NumPy result (or a wrong one) while
    # .data was the array itself; max(1)[1] silently picked row 1's maximum
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(0).standard_normal((4, 5))
    ours = cr.tensor(values, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True)
    d = ours.data
    assert isinstance(d, cr.Tensor) and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), ours.numpy())
    assert d.max(1)[1].tolist() == theirs.data.max(1)[1].tolist()
    assert d.size(0) == 4 and d.cpu().numpy().shape == (4, 5)
    assert float(d.std()) == pytest.approx(float(theirs.data.std()), rel=1e-12)  # unbiased
    loss = (ours * ours).sum()
    assert loss.data.numpy() == pytest.approx(loss.item())
    # writes through .data change the tensor and are not recorded
    p = nn.Parameter(cr.ones(3))
    p.data.mul_(0.5)
    p.data[0] = 4.0
    assert p.tolist() == [4.0, 0.5, 0.5] and p.grad_fn is None
    (p * p).sum().backward()
    p.data -= 0.25 * p.grad.data  # the hand-written update of old tutorials
    assert p.tolist() == [2.0, 0.25, 0.25]
    # assignment replaces the values (any shape, as torch), shared with the source
    source = cr.zeros(2, 2)
    p.data = source
    assert p.shape == (2, 2) and np.shares_memory(p.numpy(), source.numpy())
    with pytest.raises(TypeError, match="Tensor or a NumPy array"):
        p.data = [1.0, 2.0]
    with pytest.raises(TypeError, match="floating"):
        p.data = np.arange(3)
