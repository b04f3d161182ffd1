"""Every differentiable op against float64 central differences (``gradcheck``).

Inputs are built away from kinks (relu/abs at 0, ties of max/min/maximum, clip bounds,
Huber's delta, softplus's threshold) so the finite differences are meaningful. Binary ops
and reductions run over broadcasting shapes and axes drawn by hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import losses, ops
from chainrule.autograd import Function
from chainrule.diagnostics.gradcheck import (
    GradcheckError,
    check_gradients,
    format_report,
    gradcheck,
    numerical_gradient,
)
from chainrule.ops.attention import scaled_dot_product_attention
from chainrule.ops.embedding import embedding
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer

HYP = settings(max_examples=20, deadline=None, derandomize=True)


def T(values: np.ndarray | float | list, grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad, dtype="float64")


def normal(*shape: int, seed: int = 0, scale: float = 1.0) -> cr.Tensor:
    return T(np.random.default_rng(seed).standard_normal(shape) * scale)


def away_from_zero(*shape: int, seed: int = 0, low: float = 0.2, high: float = 2.0) -> cr.Tensor:
    """Values with |v| in [low, high] and random signs (no kink at 0 is ever crossed)."""
    rng = np.random.default_rng(seed)
    return T(rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape))


def positive(*shape: int, seed: int = 0, low: float = 0.5, high: float = 2.0) -> cr.Tensor:
    return T(np.random.default_rng(seed).uniform(low, high, shape))


def distinct(*shape: int, seed: int = 0) -> cr.Tensor:
    """All values different by at least 0.1: max/min never tie."""
    n = int(np.prod(shape))
    return T((np.random.default_rng(seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape))


def check(fn: Callable[..., cr.Tensor], *inputs: object, **kwargs: float) -> None:
    result = gradcheck(fn, inputs, **kwargs)
    assert result.passed, result.report()
    assert result.inputs, "nothing was checked"


# ---- the checker itself ----------------------------------------------------------------------

class _SquareWrongBackward(Function):
    """x² whose backward is off by a factor of 2 (returns 4x instead of 2x)."""

    __slots__ = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = x
        return x * x

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * 4 * self.saved


def test_gradcheck_catches_backward_wrong_by_factor_two() -> None:
    x = normal(3, 4)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: _SquareWrongBackward.apply(t), [x])
    text = str(info.value)
    assert "input 0" in text and "(3, 4)" in text and "analytic" in text and "numeric" in text
    assert isinstance(info.value, AssertionError)
    result = info.value.result
    assert not result.passed
    check0 = result.inputs[0]
    assert check0.analytic == pytest.approx(2 * check0.numeric, rel=1e-6)
    assert result.max_rel_error[0] == pytest.approx(0.5, rel=1e-6)
    assert result.worst_index[0] == check0.worst_index and len(check0.worst_index) == 2


def test_gradcheck_no_raise_returns_failed_result_and_leaves_inputs_alone() -> None:
    x = cr.tensor(np.random.default_rng(1).standard_normal(5), requires_grad=True,
                  dtype=cr.float32)
    before = x.numpy().copy()
    result = gradcheck(lambda t: _SquareWrongBackward.apply(t), [x], raise_exception=False)
    assert not result.passed and "FAIL" in result.report()
    assert x.numpy().dtype == np.float32 and np.array_equal(x.numpy(), before) and x.grad is None
    good = gradcheck(lambda t: (t * t).sum(), [x])
    assert good.passed and good.inputs[0].max_abs_error < 1e-8  # checked in float64


def test_gradcheck_catches_missing_gradient_and_skips_non_grad_inputs() -> None:
    x, y = normal(3), normal(3, seed=1)
    y.requires_grad = False
    result = gradcheck(lambda a, b: ops.mul(a, b.detach()), [x, y])
    assert [c.index for c in result.inputs] == [0]
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a: a.detach() * a.numpy(), [x])  # analytic 0, numeric 2a


def test_numerical_gradient_restores_exactly_even_when_fn_raises() -> None:
    x = T([0.1, 0.7, -0.3])
    before = x.numpy().copy()
    g = numerical_gradient(lambda: (x * x * x).sum(), x)
    np.testing.assert_allclose(g, 3 * before**2, rtol=1e-8)
    assert np.array_equal(x.numpy(), before)
    calls = []

    def boom() -> float:
        calls.append(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(boom, x)
    assert np.array_equal(x.numpy(), before) and calls == [1]
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda: x * 2, x)


def test_check_gradients_model_report_and_broken_layer() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 30), cr.nn.Tanh(), cr.nn.Dropout(0.3),
                             cr.nn.Linear(30, 4))
    x = cr.randn(6, 3)
    y = np.array([0, 1, 2, 3, 0, 1])
    state = cr.default_generator.get_state()
    checks = check_gradients(model, losses.cross_entropy, (x, y), max_elements_per_param=40)
    assert cr.default_generator.get_state() == state  # random state left as found
    assert [c.name for c in checks] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert [c.checked for c in checks] == [40, 30, 40, 4]
    assert all(c.passed for c in checks), format_report(checks)
    assert model[0].weight.dtype == np.float32 and model[0].weight.grad is None
    table = format_report(checks)
    assert "0.weight" in table and "all passed" in table

    class Broken(cr.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = cr.nn.Parameter(np.full(3, 0.5))

        def forward(self, t: cr.Tensor) -> cr.Tensor:
            return _SquareWrongBackward.apply(t * self.w)

    bad = check_gradients(Broken(), losses.mse_loss, (x, np.zeros((6, 3))))
    assert not bad[0].passed and "FAIL" in format_report(bad)


# ---- hypothesis strategies -------------------------------------------------------------------

@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Two shapes that broadcast together (leading axes dropped, axes set to 1)."""
    nd = draw(st.integers(0, 3))
    full = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))

    def variant() -> tuple[int, ...]:
        drop = draw(st.integers(0, nd))
        return tuple(1 if draw(st.booleans()) else n for n in full[drop:])

    return variant(), variant(), draw(st.integers(0, 2**16))


@st.composite
def shape_and_axis(draw: st.DrawFn) -> tuple[tuple[int, ...], object, bool]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis: object = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        picked = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in picked)
    return shape, axis, draw(st.booleans())


def _count(shape: tuple[int, ...], axis: object) -> int:
    axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return int(np.prod([shape[a] for a in axes]))


# ---- arithmetic ------------------------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@HYP
@given(pair=broadcast_pair())
def test_binary_ops_broadcast(name: str, pair: tuple) -> None:
    sa, sb, seed = pair
    rng = np.random.default_rng(seed)
    a = T(rng.uniform(0.5, 2.0, sa) if name == "pow" else rng.standard_normal(sa))
    if name in ("div",):
        b = T(rng.choice([-1.0, 1.0], sb) * rng.uniform(0.5, 2.0, sb))
    else:
        b = T(rng.uniform(-1.5, 1.5, sb))
    check(BINARY[name], a, b)


@HYP
@given(pair=broadcast_pair())
def test_maximum_minimum_broadcast(pair: tuple) -> None:
    sa, sb, seed = pair
    rng = np.random.default_rng(seed)
    # a on odd tenths, b on even tenths: never closer than 0.1, so never tied
    a = T(0.2 * rng.integers(-5, 5, sa) + 0.1)
    b = T(0.2 * rng.integers(-5, 5, sb))
    check(ops.maximum, a, b)
    check(ops.minimum, a, b)


def test_maximum_tie_splits_gradient_like_pytorch() -> None:
    a, b = T([1.0, 2.0]), T([1.0, 3.0])
    ops.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == [0.5, 1.0]


def test_where_broadcast_and_scalar_branch() -> None:
    cond = np.random.default_rng(3).random((3, 4)) > 0.5
    check(lambda a, b: ops.where(cond, a, b), normal(3, 1), normal(4, seed=1))
    check(lambda a: ops.where(cr.tensor(cond), a, 0.0), normal(3, 4))
    check(lambda a: ops.where(cond, 1.5, a), normal(3, 4))
    both = ops.where(np.array([True, False]), 1.0, 0.0)  # no tensor at all
    assert both.tolist() == [1.0, 0.0] and both.dtype == np.float32


@pytest.mark.parametrize("p", [2, 3, -1, 0.5, 1.5, -0.5])
def test_pow_scalar_exponent(p: float) -> None:
    base = positive(3, 4) if not float(p).is_integer() else away_from_zero(3, 4)
    check(lambda t: t**p, base)


def test_pow_tensor_exponent_and_rpow() -> None:
    check(ops.pow, positive(2, 3), normal(2, 3, seed=1))
    check(lambda b: 2.0**b, normal(5))
    check(lambda a: a ** T(2.5, grad=False), positive(4))


UNARY = {
    "neg": (lambda t: -t, normal),
    "exp": (ops.exp, normal),
    "log": (ops.log, positive),
    "sqrt": (ops.sqrt, positive),
    "abs": (ops.abs, away_from_zero),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name: str) -> None:
    fn, make = UNARY[name]
    check(fn, make(3, 5))


@pytest.mark.parametrize("low,high", [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clip(low: float | None, high: float | None) -> None:
    # values on a grid that stays 0.05 from both bounds
    x = T(np.random.default_rng(0).integers(-10, 10, (4, 5)) * 0.1 + 0.05)
    check(lambda t: ops.clip(t, low, high), x)


def test_cast_round_trip_gradient_and_dtypes() -> None:
    # through float32 and back: finite differences need a bigger step there
    check(lambda t: ops.cast(ops.cast(t, np.float32), np.float64) * 3.0, normal(3, 4),
          eps=1e-3, atol=1e-3, rtol=1e-3)
    x = cr.randn(3, requires_grad=True)
    y = ops.cast(x, "float64")
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 2 * x.numpy(), rtol=1e-6)


# ---- reductions ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std", "logsumexp"])
@HYP
@given(case=shape_and_axis())
def test_reductions_over_axes(name: str, case: tuple) -> None:
    shape, axis, keepdims = case
    n = _count(shape, axis)
    if name in ("max", "min"):
        x = distinct(*shape)
    else:
        x = normal(*shape, seed=n)
    if name in ("var", "std"):
        correction = 1 if n > 1 else 0
        if name == "std" and n < 2:
            return  # the std of one element is 0: sqrt has no derivative there
        check(lambda t: getattr(ops, name)(t, axis=axis, keepdims=keepdims,
                                          correction=correction), x)
        return
    check(lambda t: getattr(ops, name)(t, axis=axis, keepdims=keepdims), x)


def test_reduction_methods_and_shapes() -> None:
    x = distinct(2, 3, 4)
    assert ops.sum(x, (0, -1), keepdims=True).shape == (1, 3, 1)
    assert ops.max(x, axis=-2).shape == (2, 4)
    assert ops.logsumexp(x, (1, 2)).shape == (2,)
    check(lambda t: t.sum(axis=1) * t.mean(axis=-1, keepdims=True), normal(2, 3))
    check(lambda t: t.var(axis=0, correction=0) + t.std(axis=1).sum(), normal(4, 3))


def test_zero_dim_reductions_accept_axis_zero_and_minus_one() -> None:
    x = T(3.0)
    for axis in (0, -1, None, ()):
        assert ops.sum(x, axis).shape == () and ops.max(x, axis=axis).item() == 3.0
    check(lambda t: ops.mean(t, 0) * ops.logsumexp(t, -1), x)
    with pytest.raises(ValueError, match="out of range"):
        ops.sum(x, 1)


def test_logsumexp_all_minus_inf_is_minus_inf() -> None:
    out = ops.logsumexp(T([[-np.inf, -np.inf], [0.0, -np.inf]]), 1)
    assert out.numpy().tolist() == [-np.inf, 0.0]


def test_max_ties_share_gradient() -> None:
    x = T([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    ops.max(x, axis=1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]


# ---- shape ops -------------------------------------------------------------------------------

SHAPE_CASES = {
    "reshape": lambda t: ops.reshape(t, (4, -1)),
    "reshape_method": lambda t: t.reshape(2, 2, 6),
    "transpose_reverse": lambda t: ops.transpose(t),
    "permute": lambda t: t.permute(2, 0, 1),
    "transpose_two_axes": lambda t: t.transpose(0, -1),
    "swapaxes": lambda t: ops.swapaxes(t, -1, 1),
    "T": lambda t: t.T,
    "flatten": lambda t: ops.flatten(t),
    "flatten_range": lambda t: t.flatten(1, 2),
    "squeeze_all": lambda t: ops.squeeze(ops.reshape(t, (2, 1, 3, 1, 4))),
    "squeeze_axis": lambda t: ops.squeeze(ops.reshape(t, (2, 1, 3, 1, 4)), -2),
    "squeeze_tuple": lambda t: ops.squeeze(ops.reshape(t, (2, 1, 3, 1, 4)), (1, 3)),
    "unsqueeze_front": lambda t: ops.unsqueeze(t, 0),
    "unsqueeze_back": lambda t: t.unsqueeze(-1),
    "broadcast_to": lambda t: ops.broadcast_to(t[:, :1, :], (5, 2, 3, 4)),
    "expand_minus_one": lambda t: t[:, :1, :].expand(2, 3, -1),
    "pad": lambda t: ops.pad(t, ((1, 0), (0, 2), (2, 1)), value=0.5),
    "slice_basic": lambda t: t[1:, ::2, -3:],
    "slice_negative_step": lambda t: t[::-1, 1, ::-2],
    "ellipsis_none": lambda t: t[..., None, 2],
    "int_index": lambda t: t[1],
    "int_array_repeats": lambda t: t[[0, 1, 0, 0]],
    "int_array_2d": lambda t: t[:, np.array([[0, 2], [2, 2]])],
    "int_arrays_pair": lambda t: t[[0, 1, 1, 0], [2, 2, 0, 2]],
    "int_tensor_index": lambda t: t[cr.tensor([1, 1, 0])],
    "bool_mask": lambda t: t[t.numpy() > 0.3],
    "bool_mask_rows": lambda t: t[np.array([True, False])],
    "bool_tensor_mask": lambda t: t[cr.tensor(t.numpy()[..., 0] < 0)],
}


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_ops(name: str) -> None:
    check(SHAPE_CASES[name], normal(2, 3, 4))


def test_getitem_repeated_indices_accumulate() -> None:
    x = T([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis: int) -> None:
    a, b, c = normal(2, 3, 2), normal(2, 3, 2, seed=1), normal(2, 3, 2, seed=2)
    c.requires_grad = False
    check(lambda x, y, z: ops.concatenate([x, y, z], axis=axis), a, b, c)
    check(lambda x, y: ops.cat([x, y], axis), a, b)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis: int) -> None:
    check(lambda x, y: ops.stack([x, y], axis=axis), normal(3, 2), normal(3, 2, seed=1))


# ---- linear algebra --------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
    ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa: tuple, sb: tuple) -> None:
    check(lambda a, b: a @ b, normal(*sa), normal(*sb, seed=1))


def test_linear_rejects_bad_weight_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(3,\).*\(3,\)"):
        ops.linear(normal(3), normal(3))
    with pytest.raises(ValueError, match="features"):
        ops.linear(normal(2, 3), normal(4, 5))


@pytest.mark.parametrize("xshape", [(5, 3), (2, 5, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape: tuple, bias: bool) -> None:
    x, w, b = normal(*xshape), normal(4, 3, seed=1), normal(4, seed=2)
    if bias:
        check(ops.linear, x, w, b)
    else:
        check(ops.linear, x, w)


# ---- activations -----------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": (ops.relu, away_from_zero),
    "leaky_relu": (lambda t: ops.leaky_relu(t, 0.1), away_from_zero),
    "leaky_relu_default": (ops.leaky_relu, away_from_zero),
    "sigmoid": (ops.sigmoid, lambda *s: normal(*s, scale=3.0)),
    "tanh": (ops.tanh, normal),
    "gelu": (ops.gelu, lambda *s: normal(*s, scale=2.0)),
    "gelu_tanh": (lambda t: ops.gelu(t, "tanh"), lambda *s: normal(*s, scale=2.0)),
    "softplus": (ops.softplus, lambda *s: normal(*s, scale=3.0)),
    "softplus_beta": (lambda t: ops.softplus(t, beta=2.0, threshold=5.0),
                      lambda *s: away_from_zero(*s, low=0.1, high=2.4)),
    "softmax": (ops.softmax, normal),
    "softmax_axis0": (lambda t: ops.softmax(t, 0), normal),
    "log_softmax": (ops.log_softmax, normal),
    "log_softmax_axis1": (lambda t: ops.log_softmax(t, 1), normal),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations(name: str) -> None:
    fn, make = ACTIVATIONS[name]
    check(fn, make(3, 4, 5))


def test_softplus_linear_region_beyond_threshold() -> None:
    x = T([[25.0, -3.0, 0.5], [30.0, 21.0, -25.0]])
    check(ops.softplus, x)
    np.testing.assert_array_equal(ops.softplus(x).numpy()[0, 0], 25.0)


@pytest.mark.parametrize("channels", [False, True])
def test_dropout_gradient_matches_mask(channels: bool) -> None:
    p = 0.4
    fn = ops.dropout_channels if channels else ops.dropout

    def drop(t: cr.Tensor) -> cr.Tensor:
        return fn(t, p, True, cr.Generator(7))  # a fresh generator: the same mask each call

    x = positive(4, 6, 3)
    out = drop(x)
    mask = out.numpy() / x.numpy()
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / (1 - p), 12)}
    if channels:
        np.testing.assert_allclose(mask, np.broadcast_to(mask[:, :, :1], mask.shape),
                                   rtol=1e-12)  # one value per (n, c)
    check(drop, x)
    x.grad = None
    out.backward(np.ones(x.shape))
    np.testing.assert_allclose(x.grad, mask, rtol=1e-12)
    assert fn(x, p, training=False) is x


# ---- normalisation ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 2, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train(shape: tuple, affine: bool) -> None:
    rm, rv = np.zeros(3), np.ones(3)
    params = (normal(3, seed=1, scale=0.5) + 1.0, normal(3, seed=2)) if affine else ()
    params = tuple(T(p.numpy()) for p in params)

    def bn(x: cr.Tensor, *wb: cr.Tensor) -> cr.Tensor:
        return ops.batch_norm(x, rm, rv, *wb, training=True)

    check(bn, normal(*shape, scale=2.0), *params)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm_eval(shape: tuple) -> None:
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.5, 2.0])

    def bn(x: cr.Tensor, w: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        return ops.batch_norm(x, rm, rv, w, b, training=False)

    check(bn, normal(*shape), normal(3, seed=1), normal(3, seed=2))
    check(lambda x: ops.batch_norm(x, rm, rv, training=False), normal(*shape))


@pytest.mark.parametrize("shape,normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)),
                                              ((2, 3, 4), 4)])
def test_layer_norm(shape: tuple, normalized: int | tuple) -> None:
    ns = (normalized,) if isinstance(normalized, int) else normalized
    w, b = normal(*ns, seed=1), normal(*ns, seed=2)
    check(lambda x, w_, b_: ops.layer_norm(x, normalized, w_, b_), normal(*shape), w, b)
    check(lambda x, w_: ops.layer_norm(x, normalized, w_), normal(*shape), w)
    check(lambda x: ops.layer_norm(x, normalized), normal(*shape))


# ---- losses ----------------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1(reduction: str) -> None:
    pred, target = normal(4, 3), normal(4, 3, seed=1)
    check(lambda p, t: losses.mse_loss(p, t, reduction), pred, target)
    # l1: keep every difference at least 0.2 from 0
    diff = away_from_zero(4, 3, seed=2)
    check(lambda p, t: losses.l1_loss(p, t, reduction), T(target.numpy() + diff.numpy()), target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.5])
def test_huber(reduction: str, delta: float) -> None:
    target = normal(5, 4, seed=1)
    # differences on both sides of delta, none within 0.05 of it (or of 0)
    rng = np.random.default_rng(4)
    mag = rng.choice([0.3, 0.45, 0.7, 1.3, 2.0], (5, 4)) * delta
    pred = T(target.numpy() + rng.choice([-1.0, 1.0], (5, 4)) * mag)
    check(lambda p, t: losses.huber_loss(p, t, reduction, delta), pred, target)


CE_CASES = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.1},
    "ignore_index": {"ignore_index": 2},
    "weight": {"weight": np.array([0.5, 2.0, 1.0, 1.5])},
    "everything": {"label_smoothing": 0.2, "ignore_index": 1,
                   "weight": np.array([0.5, 2.0, 1.0, 1.5])},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(CE_CASES))
def test_cross_entropy(case: str, reduction: str) -> None:
    target = np.array([0, 2, 1, 3, 2, 0])
    kwargs = CE_CASES[case]
    check(lambda z: losses.cross_entropy(z, target, reduction=reduction, **kwargs), normal(6, 4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_layout(reduction: str) -> None:
    target = np.random.default_rng(0).integers(0, 3, (2, 4, 5))
    target[0, 0, 0] = -100
    check(lambda z: losses.cross_entropy(z, target, reduction=reduction, label_smoothing=0.1),
          normal(2, 3, 4, 5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 3.0, 1.0])])
def test_bce_with_logits(reduction: str, pos_weight: np.ndarray | None) -> None:
    target = T(np.random.default_rng(1).uniform(0, 1, (4, 3)))
    check(lambda z, y: losses.binary_cross_entropy_with_logits(z, y, reduction=reduction,
                                                               pos_weight=pos_weight),
          normal(4, 3, scale=3.0), target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll(reduction: str) -> None:
    target = np.array([1, 0, 3, 3, 2])
    check(lambda z: losses.nll_loss(ops.log_softmax(z), target, reduction=reduction), normal(5, 4))
    check(lambda z: losses.nll_loss(z, target, reduction=reduction, ignore_index=3,
                                    weight=np.array([0.5, 2.0, 1.0, 1.5])), normal(5, 4))


def test_nll_validates_targets() -> None:
    lp = ops.log_softmax(normal(2, 200))
    with pytest.raises(ValueError, match="out of range"):
        losses.nll_loss(lp, np.array([-3, 1]))
    assert losses.nll_loss(lp, np.array([-100, 1])).item() == pytest.approx(-lp.numpy()[1, 1])
    with pytest.raises(ValueError, match=r"\(2,\)"):
        losses.nll_loss(lp, np.array([[1], [1]]))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_mean_over_only_ignored_targets_is_nan_with_zero_gradient(smoothing: float) -> None:
    """As PyTorch: the mean over no samples is NaN, and nothing flows back."""
    target = np.array([2, 2, 2])
    for loss_of in (lambda z: losses.cross_entropy(z, target, ignore_index=2,
                                                   label_smoothing=smoothing),
                    lambda z: losses.nll_loss(ops.log_softmax(z), target, ignore_index=2)):
        z = normal(3, 4)
        loss = loss_of(z)
        assert np.isnan(loss.item())
        loss.backward()
        np.testing.assert_array_equal(z.grad, np.zeros((3, 4)))
    assert losses.cross_entropy(normal(3, 4), target, "sum", ignore_index=2).item() == 0.0


# ---- ops from the other op modules (attention, embedding, recurrent) -------------------------

def test_embedding_op() -> None:
    idx = np.array([[0, 2, 2], [3, 0, 1]])
    check(lambda w: embedding(idx, w), normal(4, 3))
    w = normal(4, 3)
    embedding(idx, w, padding_idx=2).backward(np.ones((2, 3, 3)))
    assert w.grad.tolist() == [[2.0] * 3, [1.0] * 3, [0.0] * 3, [1.0] * 3]  # padding: none


def test_scaled_dot_product_attention_op() -> None:
    q, k, v = normal(2, 3, 4), normal(2, 5, 4, seed=1), normal(2, 5, 2, seed=2)
    check(scaled_dot_product_attention, q, k, v)
    check(lambda a, b, c: scaled_dot_product_attention(a, b, c, is_causal=True), q,
          normal(2, 3, 4, seed=3), normal(2, 3, 2, seed=4))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_ops(kind: str) -> None:
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x, h0 = normal(3, 2, 4), normal(2, 3, seed=1, scale=0.5)
    w_ih, w_hh = normal(gates * 3, 4, seed=2, scale=0.5), normal(gates * 3, 3, seed=3, scale=0.5)
    b_ih, b_hh = normal(gates * 3, seed=4), normal(gates * 3, seed=5)
    if kind == "rnn":
        check(lambda *a: rnn_layer(*a)[0], x, h0, w_ih, w_hh, b_ih, b_hh)
    elif kind == "lstm":
        c0 = normal(2, 3, seed=6)
        check(lambda *a: lstm_layer(*a)[0], x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        check(lambda *a: lstm_layer(*a)[2], x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    else:
        check(lambda *a: gru_layer(*a)[1], x, h0, w_ih, w_hh, b_ih, b_hh)
