"""Every differentiable op's value and gradient against PyTorch, float64, to 1e-6.

Each case runs the same function in chainrule and in torch on the same float64 arrays,
backpropagates the same random output gradient, and compares outputs and every input
gradient. Skipped cleanly when torch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, ops
from chainrule.ops.attention import scaled_dot_product_attention
from chainrule.ops.embedding import embedding
from helpers import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-6


def rnd(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def away(*shape: int, seed: int = 0, low: float = 0.2, high: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def pos(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape)


compare = partial(compare_with_torch, tol=TOL)  # see tests/helpers.py

# ---- arithmetic ------------------------------------------------------------------------------

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
                   ((1,), (2, 1, 3)), ((4, 1), (1, 5))]


@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_ops(name: str, sa: tuple, sb: tuple) -> None:
    if name == "pow":
        a, b = pos(*sa), rnd(*sb, seed=1)
    elif name == "div":
        a, b = rnd(*sa), away(*sb, seed=1)
    elif name in ("maximum", "minimum"):
        rng = np.random.default_rng(2)
        a, b = 0.2 * rng.integers(-5, 5, sa) + 0.1, 0.2 * rng.integers(-5, 5, sb)
    else:
        a, b = rnd(*sa), rnd(*sb, seed=1)
    ours = {"add": ops.add, "sub": ops.sub, "mul": ops.mul, "div": ops.div, "pow": ops.pow,
            "maximum": ops.maximum, "minimum": ops.minimum}[name]
    theirs = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
              "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum}[name]
    compare(ours, theirs, np.asarray(a, float), np.asarray(b, float))


def test_maximum_ties_split_like_torch() -> None:
    a = np.array([1.0, 2.0, 3.0])
    compare(ops.maximum, torch.maximum, a, np.array([1.0, 0.0, 3.0]))
    compare(ops.minimum, torch.minimum, a, np.array([1.0, 5.0, 3.0]))


UNARY = [
    ("neg", lambda t: -t, lambda t: -t, rnd),
    ("exp", ops.exp, torch.exp, rnd),
    ("log", ops.log, torch.log, pos),
    ("sqrt", ops.sqrt, torch.sqrt, pos),
    ("abs", ops.abs, torch.abs, away),
    ("pow2", lambda t: t**2, lambda t: t**2, rnd),
    ("pow3", lambda t: t**3, lambda t: t**3, rnd),
    ("pow_half", lambda t: t**0.5, lambda t: t**0.5, pos),
    ("pow_neg", lambda t: t**-1.5, lambda t: t**-1.5, pos),
    ("rpow", lambda t: 2.0**t, lambda t: 2.0**t, rnd),
    ("clip", lambda t: ops.clip(t, -0.5, 0.7), lambda t: torch.clamp(t, -0.5, 0.7), away),
    ("clip_min", lambda t: ops.clip(t, min=0.1), lambda t: torch.clamp(t, min=0.1), away),
    ("cast", lambda t: ops.cast(ops.cast(t, "float32"), "float64"),
     lambda t: t.to(torch.float32).to(torch.float64), rnd),
    ("relu", ops.relu, torch.relu, away),
    ("leaky_relu", lambda t: ops.leaky_relu(t, 0.2), lambda t: F.leaky_relu(t, 0.2), away),
    ("sigmoid", ops.sigmoid, torch.sigmoid, lambda *s: rnd(*s, scale=4.0)),
    ("tanh", ops.tanh, torch.tanh, rnd),
    ("gelu", ops.gelu, F.gelu, lambda *s: rnd(*s, scale=2.0)),
    ("gelu_tanh", lambda t: ops.gelu(t, "tanh"), lambda t: F.gelu(t, approximate="tanh"),
     lambda *s: rnd(*s, scale=2.0)),
    ("softplus", ops.softplus, F.softplus, lambda *s: rnd(*s, scale=10.0)),
    ("softplus_beta", lambda t: ops.softplus(t, 2.0, 5.0),
     lambda t: F.softplus(t, beta=2.0, threshold=5.0), lambda *s: rnd(*s, scale=3.0)),
    ("softmax", ops.softmax, lambda t: torch.softmax(t, -1), rnd),
    ("softmax0", lambda t: ops.softmax(t, 0), lambda t: torch.softmax(t, 0), rnd),
    ("log_softmax", ops.log_softmax, lambda t: torch.log_softmax(t, -1), rnd),
    ("log_softmax1", lambda t: ops.log_softmax(t, 1), lambda t: torch.log_softmax(t, 1), rnd),
]


@pytest.mark.parametrize("name,ours,theirs,make", UNARY, ids=[u[0] for u in UNARY])
def test_unary_and_activations(name: str, ours: Callable, theirs: Callable,
                               make: Callable) -> None:
    compare(ours, theirs, make(3, 4, 5))


def test_where() -> None:
    cond = np.random.default_rng(5).random((3, 4)) > 0.5
    compare(lambda a, b: ops.where(cond, a, b),
            lambda a, b: torch.where(torch.tensor(cond), a, b), rnd(3, 1), rnd(4, seed=1))


def test_dropout_same_mask() -> None:
    x = pos(5, 6)
    mask = ops.dropout(cr.tensor(np.ones((5, 6)), dtype="float64"), 0.3, True,
                       cr.Generator(3)).numpy()
    compare(lambda t: ops.dropout(t, 0.3, True, cr.Generator(3)),
            lambda t: t * torch.tensor(mask), x)


# ---- reductions ------------------------------------------------------------------------------

AXES = [(None, False), (1, False), (-1, True), ((0, 2), False), ((-1, 0), True)]


def _dims(axis: object, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return axis if isinstance(axis, tuple) else (axis,)


@pytest.mark.parametrize("axis,keepdims", AXES)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std", "var0",
                                  "logsumexp"])
def test_reductions(name: str, axis: object, keepdims: bool) -> None:
    x = distinct(2, 3, 4) if name in ("max", "min") else rnd(2, 3, 4)
    dims = _dims(axis, 3)
    ours: Callable
    if name in ("var", "std", "var0"):
        corr = 0 if name == "var0" else 1
        op = ops.std if name == "std" else ops.var
        tfn = torch.std if name == "std" else torch.var

        def ours(t: cr.Tensor) -> cr.Tensor:
            return op(t, axis=axis, keepdims=keepdims, correction=corr)

        def theirs(t: torch.Tensor) -> torch.Tensor:
            return tfn(t, dim=dims, keepdim=keepdims, correction=corr)
    else:
        tfn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin,
               "logsumexp": torch.logsumexp}[name]

        def ours(t: cr.Tensor) -> cr.Tensor:
            return getattr(ops, name)(t, axis=axis, keepdims=keepdims)

        def theirs(t: torch.Tensor) -> torch.Tensor:
            return tfn(t, dim=dims, keepdim=keepdims)
    compare(ours, theirs, x)


def test_max_ties_like_torch_amax() -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    compare(lambda t: ops.max(t, axis=1), lambda t: torch.amax(t, 1), x)
    compare(lambda t: ops.min(t), lambda t: torch.amin(t), x)


# ---- shape ops -------------------------------------------------------------------------------

IDX2 = np.array([[0, 2], [2, 2]])
MASK = rnd(2, 3, 4, seed=7) > 0.2
SHAPE_CASES = [
    ("reshape", lambda t: t.reshape(4, -1), lambda t: t.reshape(4, -1)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    ("transpose", lambda t: t.transpose(0, -1), lambda t: t.transpose(0, -1)),
    ("swapaxes", lambda t: ops.swapaxes(t, 1, 2), lambda t: torch.swapaxes(t, 1, 2)),
    ("flatten", lambda t: t.flatten(1), lambda t: t.flatten(1)),
    ("squeeze", lambda t: t.reshape(2, 1, 12).squeeze(1),
     lambda t: t.reshape(2, 1, 12).squeeze(1)),
    ("unsqueeze", lambda t: t.unsqueeze(-2), lambda t: t.unsqueeze(-2)),
    ("expand", lambda t: t[:, :1].expand(2, 5, 4), lambda t: t[:, :1].expand(2, 5, 4)),
    ("broadcast_to", lambda t: ops.broadcast_to(t, (3, 2, 3, 4)),
     lambda t: torch.broadcast_to(t, (3, 2, 3, 4))),
    ("pad", lambda t: ops.pad(t, ((1, 0), (0, 2), (2, 1)), 0.5),
     lambda t: F.pad(t, (2, 1, 0, 2, 1, 0), value=0.5)),
    ("slices", lambda t: t[1:, ::2, -3:], lambda t: t[1:, ::2, -3:]),
    ("int", lambda t: t[1, :, 2], lambda t: t[1, :, 2]),
    ("int_repeats", lambda t: t[[0, 1, 0, 0]], lambda t: t[[0, 1, 0, 0]]),
    ("int_2d", lambda t: t[:, IDX2], lambda t: t[:, torch.tensor(IDX2)]),
    ("int_pair", lambda t: t[[0, 1, 1], [2, 2, 0]], lambda t: t[[0, 1, 1], [2, 2, 0]]),
    ("bool", lambda t: t[MASK], lambda t: t[torch.tensor(MASK)]),
    ("bool_rows", lambda t: t[np.array([True, False])],
     lambda t: t[torch.tensor([True, False])]),
]


@pytest.mark.parametrize("name,ours,theirs", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_shape_ops(name: str, ours: Callable, theirs: Callable) -> None:
    compare(ours, theirs, rnd(2, 3, 4))


@pytest.mark.parametrize("axis", [0, -1])
def test_concatenate_and_stack(axis: int) -> None:
    a, b = rnd(2, 3), rnd(2, 3, seed=1)
    compare(lambda x, y: ops.concatenate([x, y], axis), lambda x, y: torch.cat([x, y], axis),
            a, b)
    compare(lambda x, y: ops.stack([x, y], axis), lambda x, y: torch.stack([x, y], axis), a, b,
            needs=(True, False))


# ---- linear algebra --------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                                   ((3, 4), (2, 4, 5))])
def test_matmul(sa: tuple, sb: tuple) -> None:
    compare(ops.matmul, torch.matmul, rnd(*sa), rnd(*sb, seed=1))


@pytest.mark.parametrize("xshape", [(5, 3), (2, 5, 3)])
def test_linear(xshape: tuple) -> None:
    compare(ops.linear, F.linear, rnd(*xshape), rnd(4, 3, seed=1), rnd(4, seed=2))
    compare(ops.linear, F.linear, rnd(*xshape), rnd(4, 3, seed=1))


# ---- normalisation ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(shape: tuple, training: bool) -> None:
    rm0, rv0 = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.5, 2.0])
    ours_rm, ours_rv = rm0.copy(), rv0.copy()
    torch_rm, torch_rv = torch.tensor(rm0), torch.tensor(rv0)
    compare(lambda x, w, b: ops.batch_norm(x, ours_rm, ours_rv, w, b, training, 0.2, 1e-3),
            lambda x, w, b: F.batch_norm(x, torch_rm, torch_rv, w, b, training, 0.2, 1e-3),
            rnd(*shape, scale=2.0) + 1.0, rnd(3, seed=1), rnd(3, seed=2))
    np.testing.assert_allclose(ours_rm, torch_rm.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours_rv, torch_rv.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("shape,ns", [((4, 5), (5,)), ((2, 3, 4), (3, 4))])
def test_layer_norm(shape: tuple, ns: tuple) -> None:
    compare(lambda x, w, b: ops.layer_norm(x, ns, w, b, 1e-4),
            lambda x, w, b: F.layer_norm(x, ns, w, b, 1e-4),
            rnd(*shape, scale=3.0), rnd(*ns, seed=1), rnd(*ns, seed=2))
    compare(lambda x: ops.layer_norm(x, ns), lambda x: F.layer_norm(x, ns), rnd(*shape))


# ---- losses ----------------------------------------------------------------------------------

RED = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", RED)
def test_regression_losses(reduction: str) -> None:
    p, y = rnd(4, 3), rnd(4, 3, seed=1)
    compare(lambda a, b: losses.mse_loss(a, b, reduction),
            lambda a, b: F.mse_loss(a, b, reduction=reduction), p, y)
    compare(lambda a, b: losses.l1_loss(a, b, reduction),
            lambda a, b: F.l1_loss(a, b, reduction=reduction), y + away(4, 3, seed=2), y)
    for delta in (1.0, 0.5):
        compare(lambda a, b, d=delta: losses.huber_loss(a, b, reduction, d),
                lambda a, b, d=delta: F.huber_loss(a, b, reduction=reduction, delta=d),
                y + away(4, 3, seed=3, low=0.05, high=1.8), y)


CE_KW = [
    {},
    {"label_smoothing": 0.1},
    {"ignore_index": 2},
    {"weight": [0.5, 2.0, 1.0, 1.5]},
    {"weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.2, "ignore_index": 1},
]


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("kw", CE_KW, ids=["plain", "smooth", "ignore", "weight", "all"])
def test_cross_entropy(kw: dict, reduction: str) -> None:
    target = np.array([0, 2, 1, 3, 2, 0])
    tkw = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v)
           for k, v in kw.items()}
    ckw = {k: (np.asarray(v) if k == "weight" else v) for k, v in kw.items()}
    compare(lambda z: losses.cross_entropy(z, target, reduction=reduction, **ckw),
            lambda z: F.cross_entropy(z, torch.tensor(target), reduction=reduction, **tkw),
            rnd(6, 4))


@pytest.mark.parametrize("reduction", RED)
def test_cross_entropy_spatial(reduction: str) -> None:
    target = np.random.default_rng(0).integers(0, 3, (2, 4, 5))
    target[0, 0, 0] = -100
    compare(lambda z: losses.cross_entropy(z, target, reduction=reduction, label_smoothing=0.1),
            lambda z: F.cross_entropy(z, torch.tensor(target), reduction=reduction,
                                      label_smoothing=0.1),
            rnd(2, 3, 4, 5))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("pw", [None, [0.5, 3.0, 1.0]])
def test_bce_with_logits(reduction: str, pw: list | None) -> None:
    y = np.random.default_rng(1).uniform(0, 1, (4, 3))
    tpw = None if pw is None else torch.tensor(pw, dtype=torch.float64)
    cpw = None if pw is None else np.asarray(pw)
    compare(lambda z, t: losses.binary_cross_entropy_with_logits(z, t, reduction=reduction,
                                                                 pos_weight=cpw),
            lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction,
                                                            pos_weight=tpw),
            rnd(4, 3, scale=3.0), y)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("kw", [{}, {"ignore_index": 3}, {"weight": [0.5, 2.0, 1.0, 1.5]},
                                {"ignore_index": 0, "weight": [0.5, 2.0, 1.0, 1.5]}],
                         ids=["plain", "ignore", "weight", "both"])
def test_nll(reduction: str, kw: dict) -> None:
    target = np.array([1, 0, 3, 3, 2])
    tkw = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v)
           for k, v in kw.items()}
    compare(lambda z: losses.nll_loss(ops.log_softmax(z), target, reduction=reduction, **kw),
            lambda z: F.nll_loss(torch.log_softmax(z, -1), torch.tensor(target),
                                 reduction=reduction, **tkw), rnd(5, 4))


def test_logsumexp_of_minus_inf_like_torch() -> None:
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    ours = ops.logsumexp(cr.tensor(x, dtype="float64"), 1).numpy()
    np.testing.assert_array_equal(ours, torch.logsumexp(torch.tensor(x), 1).numpy())


# ---- ops from the other op modules -----------------------------------------------------------

def test_embedding_and_attention() -> None:
    idx = np.array([[0, 2, 2], [3, 0, 1]])
    compare(lambda w: embedding(idx, w), lambda w: F.embedding(torch.tensor(idx), w),
            rnd(4, 3))
    compare(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
            rnd(2, 3, 4), rnd(2, 3, 4, seed=1), rnd(2, 3, 2, seed=2))
