"""The PyTorch tensor API against PyTorch itself, in float64: every new reduction, method
and function is called with the same spelling in chainrule and torch on the same arrays,
the same random output gradient is backpropagated, and outputs, dtypes and every input
gradient must agree to 1e-6 (einsum and friends included, with broadcasting shapes)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

import chainrule as cr
from helpers import compare_with_torch

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-6


def rnd(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def pos(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape)


compare = partial(compare_with_torch, tol=TOL, unused_ok=True)  # see tests/helpers.py

# ---- reductions: PyTorch spellings -----------------------------------------------------------

REDUCTIONS = [
    ("sum()", lambda t: t.sum(), lambda t: t.sum()),
    ("sum(1)", lambda t: t.sum(1), lambda t: t.sum(1)),
    ("sum(dim=1, keepdim)", lambda t: t.sum(dim=1, keepdim=True),
     lambda t: t.sum(dim=1, keepdim=True)),
    ("sum(dim=(0, 2))", lambda t: t.sum(dim=(0, 2)), lambda t: t.sum(dim=(0, 2))),
    ("sum(dim=[-1, 0])", lambda t: t.sum(dim=[-1, 0]), lambda t: t.sum(dim=[-1, 0])),
    ("mean(-1)", lambda t: t.mean(-1), lambda t: t.mean(-1)),
    ("mean(dim=(1, 2), keepdim)", lambda t: t.mean(dim=(1, 2), keepdim=True),
     lambda t: t.mean(dim=(1, 2), keepdim=True)),
    ("cr.mean(x, dim=0)", lambda t: cr.mean(t, dim=0), lambda t: torch.mean(t, dim=0)),
    ("cr.sum(x, 2, True)", lambda t: cr.sum(t, 2, True), lambda t: torch.sum(t, 2, True)),
    ("var()", lambda t: t.var(), lambda t: t.var()),
    ("var(1)", lambda t: t.var(1), lambda t: t.var(1)),
    ("var(1, unbiased=False)", lambda t: t.var(1, unbiased=False),
     lambda t: t.var(1, unbiased=False)),
    ("var(False)", lambda t: t.var(False), lambda t: t.var(False)),
    ("var(dim=(0, 1), correction=0, keepdim)",
     lambda t: t.var(dim=(0, 1), correction=0, keepdim=True),
     lambda t: t.var(dim=(0, 1), correction=0, keepdim=True)),
    ("var(2, correction=2)", lambda t: t.var(2, correction=2),
     lambda t: t.var(2, correction=2)),
    ("std(0)", lambda t: t.std(0), lambda t: t.std(0)),
    ("std(dim=-1, unbiased=False, keepdim)",
     lambda t: t.std(dim=-1, unbiased=False, keepdim=True),
     lambda t: t.std(dim=-1, unbiased=False, keepdim=True)),
    ("cr.std(x, 1, True)", lambda t: cr.std(t, 1, True), lambda t: torch.std(t, 1, True)),
    ("cr.var(x)", lambda t: cr.var(t), lambda t: torch.var(t)),
    ("logsumexp(1)", lambda t: t.logsumexp(1), lambda t: t.logsumexp(1)),
    ("logsumexp(dim=(0, 2), keepdim)", lambda t: t.logsumexp(dim=(0, 2), keepdim=True),
     lambda t: t.logsumexp(dim=(0, 2), keepdim=True)),
    ("cr.logsumexp(x, -1)", lambda t: cr.logsumexp(t, -1), lambda t: torch.logsumexp(t, -1)),
    ("cumsum(1)", lambda t: t.cumsum(1), lambda t: t.cumsum(1)),
    ("cumsum(dim=-1)", lambda t: t.cumsum(dim=-1), lambda t: t.cumsum(dim=-1)),
    ("cr.cumsum(x, 0)", lambda t: cr.cumsum(t, 0), lambda t: torch.cumsum(t, 0)),
    ("norm()", lambda t: t.norm(), lambda t: t.norm()),
    ("norm(1)", lambda t: t.norm(1), lambda t: t.norm(1)),
    ("norm(p=3, dim=1)", lambda t: t.norm(p=3, dim=1), lambda t: t.norm(p=3, dim=1)),
    ("norm(dim=(1, 2), keepdim)", lambda t: t.norm(dim=(1, 2), keepdim=True),
     lambda t: t.norm(dim=(1, 2), keepdim=True)),
    ("norm('fro')", lambda t: t.norm("fro"), lambda t: t.norm("fro")),
    ("norm(inf, dim=2)", lambda t: t.norm(float("inf"), dim=2),
     lambda t: t.norm(float("inf"), dim=2)),
    ("norm(-inf)", lambda t: t.norm(float("-inf")), lambda t: t.norm(float("-inf"))),
    ("norm(0.5, dim=0)", lambda t: t.norm(0.5, dim=0), lambda t: t.norm(0.5, dim=0)),
    ("cr.norm(x, 2, -1)", lambda t: cr.norm(t, 2, -1), lambda t: torch.norm(t, 2, -1)),
]


@pytest.mark.parametrize("name,ours,theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_like_torch(name: str, ours: Callable, theirs: Callable) -> None:
    compare(ours, theirs, rnd(2, 3, 4))


EXTREMES = [
    ("max()", lambda t: t.max(), lambda t: t.max()),
    ("min()", lambda t: t.min(), lambda t: t.min()),
    ("amax(1)", lambda t: t.amax(1), lambda t: t.amax(1)),
    ("amax(dim=(0, 2), keepdim)", lambda t: t.amax(dim=(0, 2), keepdim=True),
     lambda t: t.amax(dim=(0, 2), keepdim=True)),
    ("amin()", lambda t: t.amin(), lambda t: t.amin()),
    ("cr.amin(x, -1)", lambda t: cr.amin(t, -1), lambda t: torch.amin(t, -1)),
    ("max(1).values", lambda t: t.max(1).values, lambda t: t.max(1).values),
    ("max(dim=0, keepdim).values", lambda t: t.max(dim=0, keepdim=True).values,
     lambda t: t.max(dim=0, keepdim=True).values),
    ("min(-1)[0]", lambda t: t.min(-1)[0], lambda t: t.min(-1)[0]),
    ("cr.max(x, 2, True).values", lambda t: cr.max(t, 2, True).values,
     lambda t: torch.max(t, 2, True).values),
    ("prod()", lambda t: t.prod(), lambda t: t.prod()),
    ("prod(1)", lambda t: t.prod(1), lambda t: t.prod(1)),
    ("prod(dim=-1, keepdim)", lambda t: t.prod(dim=-1, keepdim=True),
     lambda t: t.prod(dim=-1, keepdim=True)),
    ("cr.prod(x, 0)", lambda t: cr.prod(t, 0), lambda t: torch.prod(t, 0)),
]


@pytest.mark.parametrize("name,ours,theirs", EXTREMES, ids=[r[0] for r in EXTREMES])
def test_extremes_and_products_like_torch(name: str, ours: Callable, theirs: Callable
                                          ) -> None:
    compare(ours, theirs, distinct(2, 3, 4))


def test_ties_and_zeros_like_torch() -> None:
    """Ties: max(dim) sends the gradient to the index it returns (the first), max() and
    amax share it. prod with zeros: the product of the others, no division by zero."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, 0.0]])
    compare(lambda t: t.max(1).values, lambda t: t.max(1).values, x)
    compare(lambda t: t.min(dim=0).values, lambda t: t.min(dim=0).values, x)
    compare(lambda t: t.max(), lambda t: t.max(), x)
    compare(lambda t: t.amin(0), lambda t: t.amin(0), x)
    compare(lambda t: t.prod(1), lambda t: t.prod(1), x)
    compare(lambda t: t.prod(), lambda t: t.prod(), np.array([[2.0, 0.0], [3.0, 4.0]]))
    compare(lambda t: t.norm(), lambda t: t.norm(), np.zeros((2, 2)))
    compare(lambda t: t.norm(float("inf"), 1), lambda t: t.norm(float("inf"), 1), x)
    for dim in (0, 1, -1):
        ours, theirs = cr.tensor(x).max(dim), torch.tensor(x).max(dim)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(cr.tensor(x).argmin(dim).numpy(),
                                      torch.tensor(x).argmin(dim).numpy())
    assert cr.tensor(x).argmax().item() == torch.tensor(x).argmax().item()


def test_indices_argmax_any_all_like_torch() -> None:
    x = distinct(3, 4, 5)
    t = torch.tensor(x)
    c = cr.tensor(x)
    for dim in (0, 1, 2, -1):
        for keepdim in (False, True):
            for op in ("max", "min"):
                ours, theirs = getattr(c, op)(dim, keepdim), getattr(t, op)(dim, keepdim)
                assert ours.indices.dtype == np.int64
                np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
                np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
            for op in ("argmax", "argmin"):
                np.testing.assert_array_equal(getattr(c, op)(dim, keepdim).numpy(),
                                              getattr(t, op)(dim, keepdim).numpy())
            for op in ("any", "all"):
                m = c > 0
                np.testing.assert_array_equal(getattr(m, op)(dim, keepdim).numpy(),
                                              getattr(t > 0, op)(dim, keepdim).numpy())
    np.testing.assert_array_equal(c.argmax(keepdim=True).numpy(),
                                  t.argmax(keepdim=True).numpy())
    assert (c > 0).any().item() == (t > 0).any().item()


# ---- elementwise methods ---------------------------------------------------------------------

ELEMENTWISE = [
    ("sin", lambda t: t.sin(), rnd),
    ("cos", lambda t: t.cos(), rnd),
    ("log1p", lambda t: t.log1p(), pos),
    ("expm1", lambda t: t.expm1(), rnd),
    ("reciprocal", lambda t: t.reciprocal(), pos),
    ("square", lambda t: t.square(), rnd),
    ("rsqrt", lambda t: t.rsqrt(), pos),
    ("neg", lambda t: t.neg(), rnd),
    ("pow(3)", lambda t: t.pow(3), rnd),
    ("pow(0.5)", lambda t: t.pow(0.5), pos),
    ("sign", lambda t: t.sign() * t, rnd),
    ("floor", lambda t: t.floor() + t, rnd),
    ("ceil", lambda t: t.ceil() * t, rnd),
    ("round", lambda t: t.round() - t, rnd),
    ("round(decimals=1)", lambda t: t.round(decimals=1) * t, rnd),
    ("clone", lambda t: t.clone() * 2, rnd),
    ("contiguous", lambda t: t.contiguous() * 2, rnd),
    ("t", lambda t: t[0].t(), rnd),
    ("softmax(1)", lambda t: t.softmax(1), rnd),
    ("softmax(dim=0)", lambda t: t.softmax(dim=0), rnd),
    ("log_softmax(-1)", lambda t: t.log_softmax(-1), rnd),
    ("squeeze(0)", lambda t: t[:1].squeeze(0), rnd),
    ("unsqueeze(dim=1)", lambda t: t.unsqueeze(dim=1), rnd),
    ("unsqueeze(-1)", lambda t: t.unsqueeze(-1), rnd),
    ("repeat(2, 1, 3)", lambda t: t.repeat(2, 1, 3), rnd),
    ("repeat(2, 1, 1, 2)", lambda t: t.repeat(2, 1, 1, 2), rnd),
    ("masked_fill", lambda t: t.masked_fill(t > 0.3, -1.5), rnd),
    ("masked_fill(broadcast mask)",
     lambda t: t.masked_fill(torch.tensor([True, False, True, False])
                             if isinstance(t, torch.Tensor)
                             else cr.tensor([True, False, True, False]), 0.0), rnd),
    ("where", lambda t: t.where(t > 0, t * 3), rnd),
]


@pytest.mark.parametrize("name,fn,data", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_methods_like_torch(name: str, fn: Callable, data: Callable) -> None:
    compare(fn, fn, data(2, 3, 4))


FUNCTIONS = [
    ("cr.sin", lambda t: cr.sin(t), lambda t: torch.sin(t)),
    ("cr.cos", lambda t: cr.cos(t), lambda t: torch.cos(t)),
    ("cr.square", lambda t: cr.square(t), lambda t: torch.square(t)),
    ("cr.sigmoid", lambda t: cr.sigmoid(t), lambda t: torch.sigmoid(t)),
    ("cr.tanh", lambda t: cr.tanh(t), lambda t: torch.tanh(t)),
    ("cr.relu", lambda t: cr.relu(t), lambda t: torch.relu(t)),
    ("cr.exp", lambda t: cr.exp(t), lambda t: torch.exp(t)),
    ("cr.abs", lambda t: cr.abs(t), lambda t: torch.abs(t)),
    ("cr.softmax(x, dim=1)", lambda t: cr.softmax(t, dim=1), lambda t: torch.softmax(t, 1)),
    ("cr.log_softmax(x, 0)", lambda t: cr.log_softmax(t, 0),
     lambda t: torch.log_softmax(t, 0)),
    ("cr.transpose(x, 0, 2)", lambda t: cr.transpose(t, 0, 2),
     lambda t: torch.transpose(t, 0, 2)),
    ("cr.squeeze(x, 1)", lambda t: cr.squeeze(t[:, :1], 1), lambda t: torch.squeeze(t[:, :1], 1)),
    ("cr.unsqueeze(x, 0)", lambda t: cr.unsqueeze(t, 0), lambda t: torch.unsqueeze(t, 0)),
    ("cr.cat(dim=1)", lambda t: cr.cat([t, t * 2], dim=1), lambda t: torch.cat([t, t * 2], dim=1)),
    ("cr.stack(dim=-1)", lambda t: cr.stack([t, -t], dim=-1),
     lambda t: torch.stack([t, -t], dim=-1)),
    ("cr.permute", lambda t: cr.permute(t, (2, 0, 1)), lambda t: torch.permute(t, (2, 0, 1))),
    ("cr.clone", lambda t: cr.clone(t), lambda t: torch.clone(t)),
    ("cr.pow", lambda t: cr.pow(t, 2), lambda t: torch.pow(t, 2)),
    ("cr.neg", lambda t: cr.neg(t), lambda t: torch.neg(t)),
    ("cr.masked_fill", lambda t: cr.masked_fill(t, t < 0, 2.0),
     lambda t: torch.masked_fill(t, t < 0, 2.0)),
]


@pytest.mark.parametrize("name,ours,theirs", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_top_level_functions_like_torch(name: str, ours: Callable, theirs: Callable) -> None:
    compare(ours, theirs, rnd(2, 3, 4))


# ---- binary functions with broadcasting ------------------------------------------------------

PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((4, 1), (1, 5))]


@pytest.mark.parametrize("sa,sb", PAIRS)
def test_alpha_and_division_forms_like_torch(sa: tuple, sb: tuple) -> None:
    a, b = rnd(*sa), pos(*sb, seed=1)
    compare(lambda x, y: x.add(y, alpha=2.5), lambda x, y: x.add(y, alpha=2.5), a, b)
    compare(lambda x, y: cr.add(x, y, alpha=-1), lambda x, y: torch.add(x, y, alpha=-1), a, b)
    compare(lambda x, y: x.sub(y, alpha=0.5), lambda x, y: x.sub(y, alpha=0.5), a, b)
    compare(lambda x, y: cr.sub(x, y), lambda x, y: torch.sub(x, y), a, b)
    compare(lambda x, y: x.mul(y), lambda x, y: x.mul(y), a, b)
    compare(lambda x, y: cr.mul(x, y), lambda x, y: torch.mul(x, y), a, b)
    compare(lambda x, y: x.div(y), lambda x, y: x.div(y), a, b)
    compare(lambda x, y: cr.div(x, y), lambda x, y: torch.div(x, y), a, b)
    compare(lambda x, y: x.max(y), lambda x, y: x.max(y), a, b)
    compare(lambda x, y: cr.min(x, y), lambda x, y: torch.min(x, y), a, b)
    compare(lambda x, y: x.pow(y), lambda x, y: x.pow(y), np.abs(a) + 0.5, b)
    compare(lambda x, y: x.expand_as(y), lambda x, y: x.expand_as(y), rnd(3, 1), rnd(2, 3, 4))


def test_division_rounding_modes_like_torch() -> None:
    ints = np.array([7, -7, 6, -1, 0])
    for mode in ("floor", "trunc"):
        for other in (2, -3, np.array([2, -2, 4, 3, 5])):
            ours = cr.tensor(ints).div(cr.tensor(other) if np.ndim(other) else other,
                                       rounding_mode=mode)
            theirs = torch.tensor(ints).div(torch.tensor(other) if np.ndim(other) else other,
                                            rounding_mode=mode)
            assert ours.dtype == np.int64 and str(theirs.dtype) == "torch.int64"
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        floats = np.array([2.5, -2.5, 7.0])
        np.testing.assert_array_equal(cr.tensor(floats).div(2, rounding_mode=mode).numpy(),
                                      torch.tensor(floats).div(2, rounding_mode=mode).numpy())
    # true division of integers gives the default float dtype, as in torch
    assert cr.tensor([1, 2]).div(2).dtype == np.float32
    assert str(torch.tensor([1, 2]).div(2).dtype) == "torch.float32"
    assert cr.div(cr.tensor([1, 2]), cr.tensor([2.0], dtype=cr.float64)).dtype == np.float64


# ---- indexing, sorting, splitting ------------------------------------------------------------

def test_gather_and_index_select_like_torch() -> None:
    x = rnd(3, 4, 5)
    rng = np.random.default_rng(3)
    for dim in (0, 1, 2, -1):
        n = x.shape[dim]
        shape = list(x.shape)
        shape[dim] = 6  # longer than the axis: indices repeat, gradients must add up
        shape[(dim + 1) % 3] -= 1  # smaller than x on another axis: torch allows it
        idx = rng.integers(0, n, shape)
        compare(lambda t, i=idx, d=dim: t.gather(d, cr.tensor(i)),
                lambda t, i=idx, d=dim: t.gather(d, torch.tensor(i)), x)
        compare(lambda t, i=idx, d=dim: cr.gather(t, d, i),
                lambda t, i=idx, d=dim: torch.gather(t, d, torch.tensor(i)), x)
        sel = np.array([n - 1, 0, n - 1])
        compare(lambda t, i=sel, d=dim: t.index_select(d, cr.tensor(i)),
                lambda t, i=sel, d=dim: t.index_select(d, torch.tensor(i)), x)
        compare(lambda t, i=sel, d=dim: cr.index_select(t, d, i),
                lambda t, i=sel, d=dim: torch.index_select(t, d, torch.tensor(i)), x)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_argsort_topk_like_torch(dim: int, descending: bool) -> None:
    x = distinct(3, 4, 5, seed=dim + 2)
    compare(lambda t: t.sort(dim, descending).values,
            lambda t: t.sort(dim, descending).values, x)
    compare(lambda t: cr.sort(t, dim=dim, descending=descending)[0],
            lambda t: torch.sort(t, dim=dim, descending=descending)[0], x)
    k = 2
    compare(lambda t: t.topk(k, dim, largest=not descending).values,
            lambda t: t.topk(k, dim, largest=not descending).values, x)
    compare(lambda t: cr.topk(t, 1, dim=dim).values, lambda t: torch.topk(t, 1, dim=dim).values,
            x)
    c, t = cr.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(c.sort(dim, descending).indices.numpy(),
                                  t.sort(dim, descending).indices.numpy())
    np.testing.assert_array_equal(c.argsort(dim, descending).numpy(),
                                  t.argsort(dim, descending).numpy())
    np.testing.assert_array_equal(c.topk(3, dim, largest=descending).indices.numpy(),
                                  t.topk(3, dim, largest=descending).indices.numpy())


def test_sort_ties_are_stable_like_torch_stable_sort() -> None:
    x = np.array([3.0, 1.0, 3.0, 3.0, 1.0, np.nan, 2.0])
    for descending in (False, True):
        ours = cr.tensor(x).sort(descending=descending)
        theirs = torch.tensor(x).sort(descending=descending, stable=True)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_split_and_chunk_like_torch(dim: int) -> None:
    x = rnd(5, 7, 3)
    for size in (1, 2, 3, [2, 0, 3] if x.shape[dim] == 5 else 2):
        def ours(t: cr.Tensor, s=size) -> cr.Tensor:
            return cr.cat([p * (i + 1) for i, p in enumerate(t.split(s, dim))], dim=dim)

        def theirs(t: torch.Tensor, s=size) -> torch.Tensor:
            return torch.cat([p * (i + 1) for i, p in enumerate(t.split(s, dim))], dim=dim)

        compare(ours, theirs, x)
    for chunks in (1, 2, 3, 4, 9):
        ours_parts, their_parts = cr.chunk(cr.tensor(x), chunks, dim), torch.chunk(
            torch.tensor(x), chunks, dim)
        assert [p.shape for p in ours_parts] == [tuple(p.shape) for p in their_parts]
        compare(lambda t, c=chunks: cr.cat([p.exp() for p in t.chunk(c, dim)], dim),
                lambda t, c=chunks: torch.cat([p.exp() for p in t.chunk(c, dim)], dim), x)


def test_shape_methods_like_torch() -> None:
    x, other = rnd(2, 3, 4), rnd(4, 6)
    compare(lambda a, b: a.view_as(b), lambda a, b: a.view_as(b), x, other)
    compare(lambda a, b: a.reshape_as(b), lambda a, b: a.reshape_as(b), x, other)
    compare(lambda a: a.squeeze(), lambda a: a.squeeze(), rnd(1, 3, 1, 2))
    compare(lambda a: a.squeeze((0, 2)), lambda a: a.squeeze((0, 2)), rnd(1, 3, 1, 2))
    compare(lambda a: a.squeeze(1), lambda a: a.squeeze(1), rnd(1, 3, 1, 2))  # not size 1
    compare(lambda a: a.t(), lambda a: a.t(), rnd(3))
    compare(lambda a: cr.t(a), lambda a: torch.t(a), rnd(3, 5))


# ---- einsum, mm, bmm -------------------------------------------------------------------------

EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),  # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk->bik", [(1, 3, 4), (2, 4, 5)]),  # size-1 broadcast on a label
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij->i", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ii->i", [(4, 4)]),  # diagonal
    ("ii", [(4, 4)]),  # trace
    ("iij->ij", [(3, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),  # ellipsis with broadcasting
    ("...ij,...jk", [(5, 2, 3, 4), (2, 4, 2)]),
    ("b...,b->...", [(3, 2, 4), (3,)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),  # attention scores
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),  # three operands
    ("ij,ij,ij->i", [(3, 4), (3, 4), (1, 4)]),
    ("ab,cd->abcd", [(2, 3), (4, 1)]),
    ("Ab,bC->AC", [(2, 3), (3, 2)]),  # capital letters
    ("i j , j k -> i k", [(2, 3), (3, 4)]),  # spaces
]


@pytest.mark.parametrize("equation,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_like_torch(equation: str, shapes: list) -> None:
    arrays = [rnd(*s, seed=k) for k, s in enumerate(shapes)]
    compare(lambda *ts: cr.einsum(equation, *ts), lambda *ts: torch.einsum(equation, *ts),
            *arrays)
    compare(lambda *ts: cr.einsum(equation, list(ts)),
            lambda *ts: torch.einsum(equation, list(ts)), *arrays)


def test_einsum_gradient_only_where_needed() -> None:
    a, b = rnd(3, 4), rnd(4, 5, seed=1)
    compare(lambda x, y: cr.einsum("ij,jk->ik", x, y),
            lambda x, y: torch.einsum("ij,jk->ik", x, y), a, b, needs=(False, True))


def test_mm_bmm_like_torch() -> None:
    compare(lambda a, b: a.mm(b), lambda a, b: a.mm(b), rnd(3, 4), rnd(4, 2, seed=1))
    compare(lambda a, b: cr.mm(a, b), lambda a, b: torch.mm(a, b), rnd(3, 4), rnd(4, 2))
    compare(lambda a, b: cr.bmm(a, b), lambda a, b: torch.bmm(a, b), rnd(2, 3, 4),
            rnd(2, 4, 5, seed=1))
    compare(lambda a, b: a.bmm(b), lambda a, b: a.bmm(b), rnd(2, 3, 4), rnd(2, 4, 5))


def test_einsum_matches_torch_on_random_equations() -> None:
    """Hypothesis draws small contractions (repeated letters, dropped letters, a third
    operand); every output and gradient must match torch."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    letters = "abcd"
    sizes = {"a": 2, "b": 3, "c": 1, "d": 4}

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
    @hypothesis.given(st.lists(st.text(letters, min_size=1, max_size=3), min_size=1,
                               max_size=3), st.data())
    def run(terms: list[str], data: object) -> None:
        used = sorted(set("".join(terms)))
        out = data.draw(st.lists(st.sampled_from(used), unique=True, max_size=len(used)))
        equation = ",".join(terms) + "->" + "".join(out)
        arrays = [rnd(*[sizes[c] for c in term], seed=k) for k, term in enumerate(terms)]
        compare(lambda *ts: cr.einsum(equation, *ts), lambda *ts: torch.einsum(equation, *ts),
                *arrays)

    run()


# ---- dtype-preserving constructors ------------------------------------------------------------

def test_constructors_keep_dtypes_like_torch() -> None:
    for arr in (np.zeros(3), np.zeros(3, np.float32), np.zeros(3, np.float16),
                np.arange(3, dtype=np.int32), np.arange(3), np.zeros(3, bool),
                np.zeros(3, np.uint8)):
        assert str(cr.tensor(arr).dtype) == str(torch.tensor(arr).dtype).replace("torch.", "")
        assert str(cr.as_tensor(arr).dtype) == str(torch.as_tensor(arr).dtype).replace(
            "torch.", "")
        assert str(cr.from_numpy(arr).dtype) == str(torch.from_numpy(arr).dtype).replace(
            "torch.", "")
    for value in ([1.0, 2.0], [1, 2], [True], 3.5, 7):
        assert str(cr.tensor(value).dtype) == str(torch.tensor(value).dtype).replace(
            "torch.", "")
    for fill in (7, 2.5, True):
        assert str(cr.full((2,), fill).dtype) == str(torch.full((2,), fill).dtype).replace(
            "torch.", "")
    assert cr.tensor([1.0, 2.0]).type() == torch.tensor([1.0, 2.0]).type()
    assert cr.tensor([1, 2]).type() == torch.tensor([1, 2]).type()
    np.testing.assert_allclose(cr.linspace(-1, 2, 7).numpy(), torch.linspace(-1, 2, 7).numpy())
    np.testing.assert_allclose(cr.logspace(0, 2, 5, base=2).numpy(),
                               torch.logspace(0, 2, 5, base=2).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(cr.eye(3, 4).numpy(), torch.eye(3, 4).numpy())
