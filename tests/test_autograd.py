"""Engine semantics: seeds, accumulation, deep graphs, grad modes, graph freeing, hooks,
aliasing of ``.grad`` arrays, dtype preservation, constructors, stability and anomalies."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, ops
from chainrule.autograd import AnomalyError, Function, GraphFreedError, _State
from chainrule.losses import binary_cross_entropy_with_logits, cross_entropy, mse_loss


def leaf(values: list | np.ndarray, dtype: str = "float64") -> cr.Tensor:
    return cr.tensor(values, requires_grad=True, dtype=dtype)


def graph_nodes(t: cr.Tensor) -> list[Function]:
    """Every node below ``t`` (iteratively, before backward releases them)."""
    nodes: list[Function] = []
    stack = [t._ctx]
    seen: set[int] = set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        nodes.append(fn)
        stack.extend(x._ctx for x in fn.inputs)
    return nodes


# ---- seeds and accumulation ------------------------------------------------------------------

def test_scalar_backward_seeds_with_one() -> None:
    x = leaf([1.0, 2.0, 3.0])
    (x * 2.0).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    y = leaf([[4.0]])  # one element, not 0-d: still a scalar for backward
    (y * 3.0).backward()
    assert y.grad.tolist() == [[3.0]]


def test_non_scalar_backward_needs_a_gradient() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="does not match"):
        (x * 2.0).backward(np.ones(3))
    y = x * 2.0
    y.backward(np.array([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_gradient_accumulates_over_uses_and_backward_calls() -> None:
    x = leaf([1.0, -2.0])
    (x * x + x).sum().backward()  # x used three times
    assert x.grad.tolist() == [3.0, -3.0]
    (x * x + x).sum().backward()  # a second pass adds
    assert x.grad.tolist() == [6.0, -6.0]
    x.zero_grad()
    assert x.grad is None


def test_ten_thousand_op_chain_needs_no_recursion() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**10_000, rel=1e-9)
    # and a long chain of distinct op types (add/neg/reshape) also works
    z = leaf([0.5, 0.5])
    w = z
    for i in range(3_000):
        w = (-w + 0.0).reshape(2) if i % 2 else w + 0.0
    w.sum().backward()
    assert z.grad.tolist() == [1.0, 1.0]


# ---- grad modes ------------------------------------------------------------------------------

def test_no_grad_and_enable_grad_restore_state_even_after_exceptions() -> None:
    x = leaf([1.0])
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not (x * 2.0).requires_grad
        with cr.enable_grad():
            assert (x * 2.0).requires_grad
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    with pytest.raises(KeyError):
        with cr.no_grad():
            raise KeyError("boom")
    assert cr.is_grad_enabled()
    with cr.no_grad():
        with pytest.raises(KeyError):
            with cr.enable_grad():
                raise KeyError("boom")
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    with pytest.raises(KeyError):
        with cr.detect_anomaly():
            raise KeyError("boom")
    assert not _State.anomaly


# ---- graph freeing ---------------------------------------------------------------------------

def test_retain_graph_allows_second_backward_and_without_it_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(GraphFreedError, match="retain_graph=True") as info:
        y.backward()
    assert "second time" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_saved_arrays_released_after_backward_and_kept_with_retain_graph() -> None:
    x = leaf(np.random.default_rng(0).standard_normal((3, 4)))
    w = leaf(np.random.default_rng(1).standard_normal((4, 2)))
    loss = ((x @ w).tanh().exp() / 2.0).sum()
    nodes = graph_nodes(loss)
    assert len(nodes) == 5 and all(fn.saved is not None for fn in nodes)
    loss.backward(retain_graph=True)
    assert all(fn.saved is not None and fn.inputs is not None for fn in nodes)
    loss.backward()
    assert all(fn.saved is None and fn.inputs is None for fn in nodes)


def test_no_graph_recorded_without_grad() -> None:
    x = cr.tensor([1.0, 2.0])
    y = x.exp()
    assert y._ctx is None and not y.requires_grad
    with cr.no_grad():
        z = leaf([1.0]).exp()
    assert z._ctx is None and not z.requires_grad


# ---- hooks, retain_grad, detach --------------------------------------------------------------

def test_leaf_hook_inspects_replaces_and_is_removable() -> None:
    x = leaf([1.0, 2.0])
    seen: list[np.ndarray] = []
    remove_seen = x.register_hook(lambda g: seen.append(np.array(g)))
    remove_scale = x.register_hook(lambda g: g * 10)
    (x * 3.0).sum().backward()
    assert [s.tolist() for s in seen] == [[3.0, 3.0]]
    assert x.grad.tolist() == [30.0, 30.0]
    remove_scale()
    remove_scale()  # removing twice is harmless
    x.grad = None
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0] and len(seen) == 2
    remove_seen()
    (x * 3.0).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


def test_leaf_hook_runs_once_with_the_total_gradient() -> None:
    x = leaf([1.0, 2.0])
    calls: list[list[float]] = []
    x.register_hook(lambda g: calls.append(g.tolist()))
    # a non-linear hook (clip the norm to 1) must see the summed gradient, as in PyTorch
    x.register_hook(lambda g: g / max(1.0, float(np.linalg.norm(g))))
    (x * 3.0 + x * 4.0 + x).sum().backward()
    assert calls == [[8.0, 8.0]]
    np.testing.assert_allclose(x.grad, [1 / np.sqrt(2)] * 2)


def test_non_leaf_hook_inspects_replaces_and_is_removable() -> None:
    x = leaf([1.0, 2.0])
    z = x * 2.0
    seen: list[list[float]] = []
    z.register_hook(lambda g: seen.append(g.tolist()))
    remove = z.register_hook(lambda g: g * 3)
    (z * z).sum().backward()
    assert seen == [[4.0, 8.0]]  # d(z²)/dz = 2z
    assert x.grad.tolist() == [24.0, 48.0]  # 3 · 2z · 2
    remove()
    x.grad = None
    z2 = x * 2.0
    z2.register_hook(lambda g: None)  # returning None keeps the gradient
    (z2 * z2).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0]


def test_retain_grad_keeps_non_leaf_gradient() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    z = a + b
    z.retain_grad()
    u = z * 2.0  # not retained
    u.sum().backward()
    assert z.grad.tolist() == [2.0, 2.0] and u.grad is None
    z.grad += 1.0  # the retained gradient is its own writeable array
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [2.0, 2.0]


def test_detach_shares_data_and_stops_gradient() -> None:
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert d.numpy() is x.numpy() and not d.requires_grad and d._ctx is None
    (x * d).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0]  # d counted as a constant


def test_leaf_gradients_never_alias() -> None:
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad += 1.0
    assert b.grad.tolist() == [1.0, 1.0]
    assert a.grad.tolist() == [2.0, 2.0]
    # seed gradient given by the caller is not kept by reference either
    c, d = leaf([1.0, 2.0]), leaf([1.0, 2.0])
    seed = np.array([5.0, 6.0])
    (c + d).backward(seed)
    c.grad *= 0
    assert seed.tolist() == [5.0, 6.0] and d.grad.tolist() == [5.0, 6.0]
    # a leaf reached through broadcasting gets a writeable array of its own
    e = leaf(1.0)
    (e * cr.ones(3, dtype="float64")).sum().backward()
    e.grad += 1.0
    assert e.grad == 4.0


# ---- dtypes ----------------------------------------------------------------------------------

def test_float32_model_stays_float32_with_python_and_numpy_float64_scalars() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.LayerNorm(2))
    x = cr.randn(5, 3)
    h = model(x)
    steps = [
        h * np.float64(0.5), h + 1.0, np.float64(2.0) * h, h / np.float64(3.0),
        np.float64(1.0) - h, h ** np.float64(2.0), h**2, 2.0**h, h.clip(np.float64(-0.5), 0.5),
        ops.maximum(h, np.float64(0.1)), ops.where(h.numpy() > 0, h, np.float64(0.0)),
        ops.leaky_relu(h, np.float64(0.1)), ops.softplus(h, np.float64(2.0)),
        h + np.array(1.0), h * np.array([1.0, 2.0]), h.mean() * np.float64(2),
    ]
    for i, t in enumerate(steps):
        assert t.dtype == np.float32, f"step {i} upcast to {t.dtype}"
    loss = sum((s.sum() for s in steps), start=cr.tensor(0.0))
    loss = loss + mse_loss(h, np.zeros((5, 2))) + cross_entropy(h, np.array([0, 1, 0, 1, 1]))
    loss = loss + binary_cross_entropy_with_logits(h, np.full((5, 2), 0.25))
    assert loss.dtype == np.float32
    loss.backward()
    for name, p in model.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name


def test_comparisons_return_bool_tensors_without_grad() -> None:
    x, y = leaf([1.0, 2.0, 3.0]), leaf([3.0, 2.0, 1.0])
    for t in (x > y, x >= 2.0, x < y, x <= 1.0, x == y, x != y):
        assert t.dtype == np.bool_ and not t.requires_grad and t._ctx is None
    assert (x == y).tolist() == [False, True, False]
    assert (x > np.float64(1.5)).tolist() == [False, True, True]


def test_tensor_dtype_rules() -> None:
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    # as torch.tensor: a NumPy array keeps its dtype; the legacy Tensor(...) converts
    assert cr.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert cr.Tensor(np.array([1.0, 2.0])).dtype == np.float32
    assert cr.tensor(np.array([1.0]), dtype="float64").dtype == np.float64
    assert cr.tensor([1.0], dtype=cr.float64).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert cr.Tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(3.5).shape == ()
    with pytest.raises(TypeError, match="floating"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        cr.tensor(["a"])


def test_constructors_and_generators() -> None:
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros(2, 3).dtype == np.float32
    assert cr.zeros((2, 3)).numpy().sum() == 0
    assert cr.ones(4, dtype="float64").dtype == np.float64 and cr.ones(4).numpy().sum() == 4
    full = cr.full((2, 2), 7.5)
    assert full.dtype == np.float32 and full.tolist() == [[7.5, 7.5], [7.5, 7.5]]
    assert cr.arange(5).dtype == np.int64 and cr.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert cr.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert cr.arange(2, 8, 3).tolist() == [2, 5]
    assert cr.zeros(2, requires_grad=True).requires_grad
    cr.manual_seed(123)
    a, b = cr.randn(3, 4), cr.rand(5)
    cr.manual_seed(123)
    assert np.array_equal(a.numpy(), cr.randn(3, 4).numpy())
    assert np.array_equal(b.numpy(), cr.rand(5).numpy())
    assert a.dtype == np.float32 and b.dtype == np.float32
    assert 0 <= b.numpy().min() and b.numpy().max() < 1
    assert cr.randn(2, dtype="float64").dtype == np.float64
    state = cr.default_generator.get_state()
    g1, g2 = cr.Generator(7), cr.Generator(7)
    assert np.array_equal(cr.randn(6, generator=g1).numpy(), cr.randn(6, generator=g2).numpy())
    assert np.array_equal(cr.rand(6, generator=g1).numpy(), cr.rand(6, generator=g2).numpy())
    assert cr.default_generator.get_state() == state  # explicit generators leave it alone
    assert not np.array_equal(cr.randn(6, generator=g1).numpy(), cr.randn(6, generator=g1).numpy())


# ---- numerical stability ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturating_ops_finite_at_extremes(dtype: str) -> None:
    values = [-1e4, -50.0, 0.0, 50.0, 1e4]
    checks = {
        "sigmoid": lambda t: ops.sigmoid(t),
        "softmax": lambda t: ops.softmax(t.reshape(1, 5)),
        "log_softmax": lambda t: ops.log_softmax(t.reshape(1, 5)),
        "softplus": lambda t: ops.softplus(t),
        "logsumexp": lambda t: ops.logsumexp(t),
        "bce": lambda t: binary_cross_entropy_with_logits(t, np.array([1.0, 0, 1, 0, 1]),
                                                          reduction="none"),
        "cross_entropy": lambda t: cross_entropy(t.reshape(1, 5), np.array([0])),
    }
    for name, fn in checks.items():
        x = leaf(values, dtype)
        out = fn(x)
        assert out.dtype == np.dtype(dtype), name
        assert np.all(np.isfinite(out.numpy())), name
        out.backward(np.ones(out.shape, dtype))
        assert np.all(np.isfinite(x.grad)), name
    s = ops.sigmoid(leaf(values, dtype)).numpy()
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    ls = ops.log_softmax(leaf(values, dtype).reshape(1, 5)).numpy()
    assert ls[0, -1] == 0.0 and ls[0, 0] == pytest.approx(-2e4, rel=1e-6)
    bce = binary_cross_entropy_with_logits(leaf(values, dtype), np.array([1.0, 0, 1, 0, 1]),
                                           reduction="none").numpy()
    assert bce[0] == pytest.approx(1e4, rel=1e-6) and bce[-1] == 0.0


# ---- anomaly detection -----------------------------------------------------------------------

def test_detect_anomaly_forward_names_log() -> None:
    x = leaf([-1.0, 2.0])
    with np.errstate(invalid="ignore"):
        with pytest.raises(AnomalyError, match="op Log") as info:
            with cr.detect_anomaly():
                x.log()
    assert "forward" in str(info.value) and "(2,)" in str(info.value)
    assert "test_autograd.py" in str(info.value)  # the user's line is named
    assert not _State.anomaly
    assert x.log().numpy()[1] == pytest.approx(np.log(2.0))  # off again: no error


def test_detect_anomaly_backward_names_sqrt() -> None:
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore"):
        with pytest.raises(AnomalyError, match="op Sqrt") as info:
            with cr.detect_anomaly():
                x.sqrt().sum().backward()
    assert "backward" in str(info.value)


class _LogLayer(nn.Module):
    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x.log()


class _SqrtLayer(nn.Module):
    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x.sqrt()


def test_detect_anomaly_names_the_layer() -> None:
    model = nn.Sequential(nn.Linear(2, 2), _LogLayer())
    nn.init.constant_(model[0].weight, -1.0)
    nn.init.zeros_(model[0].bias)
    with np.errstate(invalid="ignore"):
        with pytest.raises(AnomalyError) as info:
            with cr.detect_anomaly():
                model(cr.ones(3, 2))
    text = str(info.value)
    # the path of the layer inside the model, and its description
    assert "op Log" in text and "in layer '1' (_LogLayer())" in text
    assert _State.module_stack == []
    net = nn.Sequential(nn.Linear(2, 2), _SqrtLayer())
    nn.init.zeros_(net[0].weight)
    nn.init.zeros_(net[0].bias)
    with np.errstate(divide="ignore", invalid="ignore"):
        with pytest.raises(AnomalyError) as info:
            with cr.detect_anomaly():
                net(cr.ones(3, 2)).sum().backward()
    text = str(info.value)
    assert "op Sqrt" in text and "backward" in text and "in layer '1' (_SqrtLayer())" in text


def test_a_backward_returning_the_wrong_shape_is_an_error_not_a_silent_broadcast() -> None:
    class SumForgetsShape(cr.Function):
        __slots__ = ()

        def forward(self, x):
            self.saved = ()
            return x.sum()

        def backward(self, g):
            return g  # should be broadcast back to x's shape

    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(\) for a leaf of shape \(3,\)"):
        SumForgetsShape.apply(x).backward()
