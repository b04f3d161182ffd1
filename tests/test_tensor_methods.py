"""The PyTorch tensor API without torch: float64 central-difference gradient checks for
every new differentiable reduction, method and function, and the behaviour of the API
itself (both spellings of reduction arguments, named tuples, dtypes, errors)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from helpers import check_grads


def f64(data: np.ndarray) -> cr.Tensor:
    return cr.tensor(data, requires_grad=True, dtype=cr.float64)


def normal(*shape: int, seed: int = 0) -> cr.Tensor:
    return f64(np.random.default_rng(seed).standard_normal(shape))


def positive(*shape: int, seed: int = 0) -> cr.Tensor:
    return f64(np.random.default_rng(seed).uniform(0.5, 2.0, shape))


def distinct(*shape: int, seed: int = 0) -> cr.Tensor:
    n = int(np.prod(shape))
    return f64((np.random.default_rng(seed).permutation(n) * 0.37 - 0.1 * n).reshape(shape))


def weights(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    """A fixed random projection: a scalar loss that depends on every output element."""
    return np.random.default_rng(seed).standard_normal(shape)


def check(fn: Callable[..., cr.Tensor], *tensors: cr.Tensor) -> None:
    """Gradients of ``sum(fn(*tensors) * w)`` against central differences."""
    shape = fn(*tensors).shape
    w = weights(shape)
    check_grads(lambda: (fn(*tensors) * w).sum(), list(tensors))


# ---- gradient checks -------------------------------------------------------------------------

GRAD_CASES: list[tuple[str, Callable, Callable]] = [
    ("sum(dim=1, keepdim)", lambda t: t.sum(dim=1, keepdim=True), normal),
    ("sum(dim=(0, 2))", lambda t: t.sum(dim=(0, 2)), normal),
    ("mean(-1)", lambda t: t.mean(-1), normal),
    ("var(1, unbiased=False)", lambda t: t.var(1, unbiased=False), normal),
    ("var(dim=(0, 1), correction=2)", lambda t: t.var(dim=(0, 1), correction=2), normal),
    ("std(dim=2, keepdim)", lambda t: t.std(dim=2, keepdim=True), normal),
    ("prod()", lambda t: t.prod(), positive),
    ("prod(1, keepdim)", lambda t: t.prod(1, keepdim=True), normal),
    ("amax(dim=(0, 2))", lambda t: t.amax(dim=(0, 2)), distinct),
    ("amin(1)", lambda t: t.amin(1), distinct),
    ("max(1).values", lambda t: t.max(1).values, distinct),
    ("min(dim=0, keepdim).values", lambda t: t.min(dim=0, keepdim=True).values, distinct),
    ("logsumexp(dim=(1, 2))", lambda t: t.logsumexp(dim=(1, 2)), normal),
    ("cumsum(1)", lambda t: t.cumsum(1), normal),
    ("cumsum()", lambda t: t.cumsum(axis=None), normal),
    ("norm()", lambda t: t.norm(), normal),
    ("norm(1, dim=1)", lambda t: t.norm(1, dim=1), normal),
    ("norm(3, dim=(0, 2), keepdim)", lambda t: t.norm(3, dim=(0, 2), keepdim=True), normal),
    ("norm(inf, dim=-1)", lambda t: t.norm(float("inf"), dim=-1), distinct),
    ("clone", lambda t: t.clone() * t, normal),
    ("masked_fill", lambda t: t.masked_fill(t.numpy() > 0.2, 3.0), normal),
    ("sin", lambda t: t.sin(), normal),
    ("cos", lambda t: t.cos(), normal),
    ("log1p", lambda t: t.log1p(), positive),
    ("expm1", lambda t: t.expm1(), normal),
    ("reciprocal", lambda t: t.reciprocal(), positive),
    ("square", lambda t: t.square(), normal),
    ("rsqrt", lambda t: t.rsqrt(), positive),
    ("sign/floor/ceil/round: zero gradient",
     lambda t: t * 2 + t.sign() + t.floor() + t.ceil() + t.round(1), normal),
    ("gather", lambda t: t.gather(1, np.array([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])),
     normal),
    ("index_select", lambda t: t.index_select(2, cr.tensor([3, 0, 3])), normal),
    ("sort values", lambda t: t.sort(1, descending=True).values, distinct),
    ("topk values", lambda t: t.topk(2, dim=-1).values, distinct),
    ("repeat", lambda t: t.repeat(2, 1, 2), normal),
    ("repeat (new axes)", lambda t: t.repeat(3, 1, 1, 2), normal),
    ("split", lambda t: cr.cat([p * (i + 1) for i, p in enumerate(t.split([1, 2], 1))], 1),
     normal),
    ("chunk", lambda t: cr.stack([p.sum() for p in t.chunk(3, dim=2)]), normal),
    ("softmax(dim=1)", lambda t: t.softmax(dim=1), normal),
    ("log_softmax(0)", lambda t: cr.log_softmax(t, 0), normal),
    ("t", lambda t: t[0].t(), normal),
    ("view_as / expand_as", lambda t: t.view_as(cr.zeros(6, 4)).expand_as(cr.zeros(2, 6, 4)),
     normal),
    ("squeeze/unsqueeze(dim)", lambda t: t.unsqueeze(dim=1).squeeze(1), normal),
    ("einsum", lambda t: cr.einsum("ijk,ilk->jl", t, t), normal),
    ("einsum trace", lambda t: cr.einsum("...ii->...", t[:, :, :3]), normal),
    ("einsum diagonal", lambda t: cr.einsum("iji->ij", t[:, :, :2]), normal),
]


@pytest.mark.parametrize("name,fn,make", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_central_differences(name: str, fn: Callable, make: Callable
                                             ) -> None:
    check(fn, make(2, 3, 4))


@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))])
def test_binary_gradients_with_broadcasting(sa: tuple, sb: tuple) -> None:
    a, b = normal(*sa), positive(*sb, seed=1)
    check(lambda x, y: x.add(y, alpha=2.5), a, b)
    check(lambda x, y: x.sub(y, alpha=-0.5), a, b)
    check(lambda x, y: x.mul(y) + cr.div(x, y), a, b)
    check(lambda x, y: x.max(y) + cr.min(x, y), a, b)


def test_einsum_and_matrix_product_gradients() -> None:
    a, b, c = normal(2, 3, 4), normal(2, 4, 5, seed=1), normal(5, seed=2)
    check(lambda x, y, z: cr.einsum("bij,bjk,k->bi", x, y, z), a, b, c)
    check(lambda x, y: cr.einsum("b...j,bj...->b...", x, y), a, normal(2, 4, 3, seed=3))
    check(lambda x, y: cr.bmm(x, y), a, b)
    check(lambda x, y: x[0].mm(y[0]), a, b)
    check(lambda x: cr.einsum("ij->", x[0]), a)  # every label summed away: broadcast back
    check(lambda x, y: cr.einsum("bij,bjk->bik", x[:1], y), a, b)  # size-1 batch broadcast


def test_prod_gradient_with_zeros_is_the_product_of_the_others() -> None:
    x = f64(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]))
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0],
                                           [8.0, 4.0, 2.0]])
    check(lambda t: t.prod(0), x)


def test_max_dim_sends_the_gradient_to_the_returned_index_and_max_all_shares_it() -> None:
    x = f64(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]))
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0.5, 0]])


def test_norm_at_zero_has_zero_gradient() -> None:
    for p in (2, 3, 1.5):
        x = f64(np.zeros((2, 3)))
        x.norm(p, dim=1).sum().backward()
        np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    x = f64(np.array([1.0, 0.0, -2.0]))
    x.norm(0).backward()
    assert x.norm(0).item() == 2.0 and np.all(np.asarray(x.grad) == 0)


# ---- the API: spellings, return types, dtypes ------------------------------------------------

def test_both_spellings_work_and_passing_both_is_a_type_error() -> None:
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4))
    for name in ("sum", "mean", "var", "std", "amax", "amin", "logsumexp", "any", "all",
                 "argmax", "argmin"):
        method = getattr(x, name)
        torch_style = method(dim=1, keepdim=True)
        numpy_style = method(axis=1, keepdims=True)
        np.testing.assert_array_equal(torch_style.numpy(), numpy_style.numpy())
        assert torch_style.shape == (2, 1, 4)
        with pytest.raises(TypeError, match="dim= and axis="):
            method(dim=1, axis=1)
        with pytest.raises(TypeError, match="keepdim= and keepdims="):
            method(1, keepdim=True, keepdims=True)
    assert x.sum(dim=(0, 1)).shape == (4,) and x.sum(axis=[0, 2]).shape == (3,)
    assert x.prod(axis=2).shape == (2, 3) and x.cumsum(axis=1).shape == (2, 3, 4)
    assert x.max(axis=1).shape == (2, 4)  # NumPy's axis=: values only
    assert x.squeeze(axis=0).shape == (2, 3, 4) and x.unsqueeze(axis=0).shape == (1, 2, 3, 4)
    assert cr.cat([x, x], axis=2).shape == (2, 3, 8) and cr.stack([x, x], dim=1).shape == (
        2, 2, 3, 4)


def test_max_min_forms_and_named_tuples() -> None:
    x = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    out = x.max(1)
    assert isinstance(out, cr.return_types.max) and isinstance(out, tuple)
    values, indices = out
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert indices.dtype == np.int64 and out.values is values and out[1] is indices
    assert x.min(dim=0, keepdim=True).indices.tolist() == [[0, 1, 0]]
    assert cr.max(x, 1, True).values.shape == (2, 1)
    assert x.max().item() == 7.0 and cr.min(x).item() == 0.0
    assert x.max(cr.tensor([3.0, 3.0, 3.0])).tolist() == [[3.0, 5.0, 3.0], [7.0, 3.0, 7.0]]
    assert repr(out).startswith("max(values=tensor(")
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))
    with pytest.raises(IndexError, match="out of range"):
        x.max(2)
    with pytest.raises(ValueError, match="empty"):
        cr.zeros(0, 3).max(0)
    scalar = cr.tensor(4.0).max(0)
    assert scalar.values.item() == 4.0 and scalar.indices.item() == 0


def test_argmax_argmin() -> None:
    x = cr.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    assert x.argmax().item() == 3 and x.argmax().dtype == np.int64
    assert x.argmax(dim=1).tolist() == [1, 0] and x.argmin(1, keepdim=True).shape == (2, 1)
    assert cr.argmax(x, dim=0).tolist() == [1, 0, 1] and cr.argmin(x).item() == 4
    assert x.argmax(keepdim=True).shape == (1, 1)


def test_var_std_argument_forms() -> None:
    x = cr.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=cr.float64)
    assert x.var().item() == pytest.approx(5 / 3)
    assert x.var(unbiased=False).item() == pytest.approx(1.25)
    assert x.var(False).item() == pytest.approx(1.25)
    assert x.var(1, False, True).shape == (1, 1)
    assert x.var(correction=0).item() == pytest.approx(1.25)
    assert x.std(1, unbiased=True).item() == pytest.approx(np.sqrt(5 / 3))
    with pytest.raises(TypeError, match="unbiased= and correction="):
        x.var(unbiased=True, correction=1)
    with pytest.raises(ValueError, match="too few"):
        cr.tensor([1.0]).var()


def test_reductions_keep_or_pick_dtypes() -> None:
    x32 = cr.ones(2, 3)
    for name in ("sum", "mean", "var", "std", "prod", "amax", "logsumexp", "norm", "cumsum"):
        out = getattr(x32, name)(1)
        assert out.dtype == np.float32, name
    assert x32.sum(dtype=cr.float64).dtype == np.float64
    assert x32.max(1).values.dtype == np.float32
    ints = cr.tensor([[1, 2], [3, 4]])
    assert ints.sum().dtype == np.int64 and ints.prod(1).tolist() == [2, 12]
    assert cr.tensor([True, True, False]).sum().item() == 2
    assert cr.tensor([True, False]).cumsum(0).dtype == np.int64
    assert (ints > 2).any().item() and not (ints > 2).all().item()


def test_elementwise_values_and_dtypes() -> None:
    x = cr.tensor([-1.5, -0.5, 0.0, 0.5, 2.5])
    assert x.round().tolist() == [-2.0, -0.0, 0.0, 0.0, 2.0]  # half to even, as torch
    assert cr.tensor([1.234, 5.678]).round(decimals=2).tolist() == pytest.approx([1.23, 5.68])
    assert x.floor().tolist() == [-2, -1, 0, 0, 2] and x.ceil().tolist() == [-1, -0, 0, 1, 3]
    assert x.sign().tolist() == [-1, -1, 0, 1, 1]
    for name in ("round", "floor", "ceil", "sign", "sin", "cos", "square", "neg", "expm1",
                 "clone"):
        assert getattr(x, name)().dtype == np.float32, name
    assert cr.tensor([3, -2]).floor().dtype == np.int64
    assert cr.tensor([2, 4]).reciprocal().tolist() == [0.5, 0.25]
    assert cr.tensor([2, 4]).reciprocal().dtype == np.float32
    clone = x.clone()
    clone.numpy()[0] = 99.0
    assert x.numpy()[0] == -1.5
    assert x.contiguous() is x


def test_comparisons_and_logical_methods() -> None:
    x = cr.tensor([1.0, 2.0, np.nan, np.inf])
    assert x.eq(2.0).tolist() == [False, True, False, False]
    assert x.ne(cr.tensor([1.0, 0.0, 0.0, 0.0])).tolist() == [False, True, True, True]
    assert x.lt(2).tolist() == [True, False, False, False]
    assert x.le(2).tolist() == [True, True, False, False]
    assert x.gt(1).tolist() == [False, True, False, True]
    assert x.ge(1).tolist() == [True, True, False, True]
    assert x.isnan().tolist() == [False, False, True, False]
    assert x.isinf().tolist() == [False, False, False, True]
    assert x.isfinite().tolist() == [True, True, False, False]
    mask = x.isfinite()
    assert mask.logical_not().tolist() == [False, False, True, True]
    assert (~mask).tolist() == [False, False, True, True]
    assert (mask & x.gt(1)).tolist() == [False, True, False, False]
    assert (mask | x.isnan()).tolist() == [True, True, True, False]
    assert mask.logical_and(x.lt(2)).tolist() == [True, False, False, False]
    assert mask.logical_or(x.isinf()).tolist() == [True, True, False, True]
    assert not x.gt(1).requires_grad


def test_dtype_conversion_methods() -> None:
    x = cr.tensor([1.7, -2.2], requires_grad=True)
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype == np.int32 and x.bool().tolist() == [True, True]
    assert x.half().dtype == np.float16 and x.double().dtype == np.float64
    assert not x.long().requires_grad
    assert x.type() == "torch.FloatTensor" and x.long().type() == "torch.LongTensor"
    assert x.type(cr.float64).dtype == np.float64
    assert x.type("torch.LongTensor").dtype == np.int64
    assert x.type_as(cr.tensor([1])).dtype == np.int64
    assert x.is_floating_point() and not x.long().is_floating_point()
    assert x.nelement() == 2 and cr.numel(x) == 2
    y = x.double() * 3
    y.sum().backward()
    assert np.asarray(x.grad).dtype == np.float32


def test_new_tensor_methods_take_this_tensors_dtype() -> None:
    x = cr.ones(2, dtype=cr.float64)
    assert x.new_zeros(3, 2).dtype == np.float64 and x.new_zeros((3, 2)).shape == (3, 2)
    assert x.new_ones(4).dtype == np.float64 and x.new_full((2,), 5).tolist() == [5, 5]
    assert x.new_empty(2).shape == (2,) and x.new_tensor([1, 2]).dtype == np.float64
    assert x.new_zeros(2, dtype=cr.long).dtype == np.int64


def test_shape_errors_name_the_problem() -> None:
    x = cr.ones(2, 3)
    with pytest.raises(ValueError, match="repeat"):
        x.repeat(2)
    with pytest.raises(ValueError, match="add up to"):
        x.split([1, 1], dim=1)
    with pytest.raises(ValueError, match="chunks must be positive"):
        x.chunk(0)
    with pytest.raises(ValueError, match="<= 2 dimensions"):
        cr.ones(2, 2, 2).t()
    with pytest.raises(IndexError, match="gather"):
        x.gather(1, np.array([[0, 3]]))
    with pytest.raises(ValueError, match="as many dimensions"):
        x.gather(1, np.array([0, 1]))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(0, cr.tensor([2]))
    with pytest.raises(ValueError, match="masked_fill"):
        x.masked_fill(np.ones((3, 3), bool), 0.0)
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill(np.ones(3), 0.0)
    with pytest.raises(ValueError, match="topk"):
        x.topk(4)
    with pytest.raises(ValueError, match="mm: both operands must be 2-d"):
        cr.mm(cr.ones(2, 2, 2), x)
    with pytest.raises(ValueError, match="batch sizes differ"):
        cr.bmm(cr.ones(2, 2, 3), cr.ones(3, 3, 2))
    with pytest.raises(ValueError, match="'nuc'"):
        x.norm("nuc")


def test_einsum_refuses_bad_equations_clearly() -> None:
    a = cr.ones(2, 3)
    with pytest.raises(ValueError, match="2 operand term"):
        cr.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="has 3 label"):
        cr.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="sizes 3 and 4"):
        cr.einsum("ij,ij->i", a, cr.ones(2, 4))
    with pytest.raises(ValueError, match="distinct and appear"):
        cr.einsum("ij->ik", a)
    with pytest.raises(ValueError, match="letters"):
        cr.einsum("i1->i", a)
    with pytest.raises(ValueError, match="equal sizes"):
        cr.einsum("ii->i", a)


def test_split_chunk_shapes_and_views() -> None:
    x = cr.arange(10.0).reshape(5, 2)
    assert [p.shape for p in x.split(2)] == [(2, 2), (2, 2), (1, 2)]
    assert [p.shape for p in cr.split(x, [1, 4])] == [(1, 2), (4, 2)]
    assert [p.shape for p in x.chunk(2, dim=1)] == [(5, 1), (5, 1)]
    assert [p.shape for p in cr.chunk(cr.ones(6), 4)] == [(2,), (2,), (2,)]
    assert len(cr.ones(0).split(2)) == 1


def test_sort_topk_argsort_values_and_indices() -> None:
    x = cr.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]])
    s = x.sort()
    assert isinstance(s, cr.return_types.sort)
    assert s.values.tolist() == [[1, 2, 3], [0, 5, 5]] and s.indices.tolist() == [[1, 2, 0],
                                                                                    [0, 1, 2]]
    assert x.sort(dim=0, descending=True).indices.tolist() == [[0, 1, 1], [1, 0, 0]]
    assert x.argsort(descending=True).tolist() == [[0, 2, 1], [1, 2, 0]]
    top = x.topk(2)
    assert isinstance(top, cr.return_types.topk)
    assert top.values.tolist() == [[3, 2], [5, 5]] and top.indices.tolist() == [[0, 2], [1, 2]]
    assert x.topk(1, largest=False).indices.tolist() == [[1], [0]]
    assert cr.argsort(cr.tensor([True, False, True])).tolist() == [1, 0, 2]
    assert cr.tensor([2, 0, 1], dtype=cr.uint8).sort(descending=True).values.tolist() == [
        2, 1, 0]


def test_whole_tensor_comparisons_and_type_tests() -> None:
    a = cr.tensor([1.0, 2.0])
    assert cr.allclose(a, a + 1e-9) and not cr.allclose(a, a + 1e-3)
    assert a.allclose(np.array([1.0, 2.0])) and cr.equal(a, cr.tensor([1.0, 2.0]))
    assert not cr.equal(a, cr.tensor([1.0])) and a.equal(a)
    assert cr.isclose(a, cr.tensor([1.0, 2.1])).tolist() == [True, False]
    assert cr.isclose(cr.tensor([np.nan]), cr.tensor([np.nan]), equal_nan=True).tolist() == [
        True]
    assert cr.is_tensor(a) and not cr.is_tensor(a.numpy()) and cr.is_floating_point(a)
    assert cr.numel(cr.ones(2, 3)) == 6
