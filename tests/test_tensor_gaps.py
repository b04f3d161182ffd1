"""PyTorch's everyday tensor functions added for issue 12 (flip, roll, tril, diag, outer,
tensordot, cumprod, scatter, masked_select, unique, log2, ...): values, float64
central-difference gradient checks, errors, and the Tensor methods beside them (stride,
is_contiguous, apply_, in-place scatter_/masked_fill_, ...). No torch needed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from helpers import check_grads


def rnd(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def t64(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---- gradient checks: every new differentiable op, float64 central differences ----------

IDX = np.array([[0, 2, 1], [1, 0, 2]])  # a permutation per column along dim 0 of 3 rows
IDX_DUP = np.array([[0, 0, 1, 2], [2, 0, 0, 1]])  # repeats along dim 1 (scatter_add)

# name -> (function of the float64 inputs, input arrays)
CASES: dict[str, tuple[Callable, list[np.ndarray]]] = {
    "tan": (lambda x: cr.tan(x), [rnd(3, 4) * 0.5]),
    "log2": (lambda x: cr.log2(x), [np.abs(rnd(3, 4)) + 0.3]),
    "log10": (lambda x: x.log10(), [np.abs(rnd(3, 4)) + 0.3]),
    "trunc": (lambda x: cr.trunc(x) + x, [rnd(3, 4) * 3 + 0.01]),
    "flip": (lambda x: cr.flip(x, (0, 2)), [rnd(2, 3, 4)]),
    "flip_method": (lambda x: x.flip(1), [rnd(2, 3)]),
    "roll_dims": (lambda x: cr.roll(x, (1, -2), (0, 1)), [rnd(3, 4)]),
    "roll_flat": (lambda x: cr.roll(x, 5), [rnd(3, 4)]),
    "movedim": (lambda x: cr.movedim(x, (0, 1), (2, 0)), [rnd(2, 3, 4)]),
    "narrow": (lambda x: cr.narrow(x, 1, -3, 2), [rnd(2, 4)]),
    "unflatten": (lambda x: x.unflatten(1, (2, -1)), [rnd(3, 6)]),
    "tile": (lambda x: cr.tile(x, (2, 1, 3)), [rnd(2, 3)]),
    "repeat_interleave_int": (lambda x: cr.repeat_interleave(x, 2, dim=1), [rnd(2, 3)]),
    "repeat_interleave_counts": (
        lambda x: x.repeat_interleave(cr.tensor([2, 0, 3]), dim=0), [rnd(3, 2)]),
    "repeat_interleave_flat": (lambda x: cr.repeat_interleave(x, 3), [rnd(2, 2)]),
    "hstack": (lambda a, b: cr.hstack([a, b]), [rnd(2, 3), rnd(2, 1, seed=1)]),
    "hstack_1d": (lambda a, b: cr.hstack([a, b]), [rnd(3), rnd(2, seed=1)]),
    "vstack": (lambda a, b: cr.vstack([a, b]), [rnd(3), rnd(2, 3, seed=1)]),
    "concat": (lambda a, b: cr.concat([a, b], dim=1), [rnd(2, 3), rnd(2, 2, seed=1)]),
    "tril": (lambda x: cr.tril(x, -1), [rnd(2, 4, 4)]),
    "triu": (lambda x: x.triu(1), [rnd(3, 5)]),
    "diag_vector": (lambda x: cr.diag(x, 1), [rnd(3)]),
    "diag_vector_below": (lambda x: cr.diag(x, -2), [rnd(3)]),
    "diag_matrix": (lambda x: cr.diag(x), [rnd(3, 4)]),
    "diag_matrix_offset": (lambda x: x.diag(-1), [rnd(4, 3)]),
    "outer": (lambda a, b: cr.outer(a, b), [rnd(3), rnd(4, seed=1)]),
    "dot": (lambda a, b: cr.dot(a, b), [rnd(5), rnd(5, seed=1)]),
    "tensordot_int": (lambda a, b: cr.tensordot(a, b, 2), [rnd(2, 3, 4), rnd(3, 4, 2, seed=1)]),
    "tensordot_lists": (lambda a, b: cr.tensordot(a, b, ([0, 2], [2, 0])),
                        [rnd(2, 3, 4), rnd(4, 5, 2, seed=1)]),
    "tensordot_zero": (lambda a, b: cr.tensordot(a, b, 0), [rnd(2), rnd(3, seed=1)]),
    "cumprod": (lambda x: cr.cumprod(x, 1), [rnd(3, 4)]),
    "cumprod_one_zero": (lambda x: x.cumprod(0),
                         [np.array([[1.5, 0.0], [0.0, -2.0], [0.7, 1.3], [2.0, 0.9]])]),
    "cumprod_two_zeros": (lambda x: cr.cumprod(x, 1),
                          [np.array([[0.5, 0.0, 2.0, 0.0, 1.5], [1.1, 0.9, 0.0, 0.0, 3.0]])]),
    "cumprod_flat": (lambda x: cr.cumprod(x), [rnd(2, 3)]),
    "scatter": (lambda x, s: cr.scatter(x, 0, cr.tensor(IDX), s), [rnd(3, 3), rnd(2, 3, seed=1)]),
    "scatter_larger_src": (lambda x, s: x.scatter(1, cr.tensor([[1], [0]]), s),
                           [rnd(2, 3), rnd(3, 2, seed=1)]),
    "scatter_value": (lambda x: cr.scatter(x, 1, cr.tensor([[2], [0]]), value=4.0),
                      [rnd(2, 3)]),
    "scatter_add": (lambda x, s: cr.scatter_add(x, 1, cr.tensor(IDX_DUP), s),
                    [rnd(2, 3), rnd(2, 4, seed=1)]),
    "scatter_reduce_add": (lambda x, s: cr.scatter(x, 1, cr.tensor(IDX_DUP), s, reduce="add"),
                           [rnd(2, 3), rnd(2, 4, seed=1)]),
    "masked_select": (lambda x: cr.masked_select(x, cr.tensor([True, False, True])),
                      [rnd(2, 3)]),
    "masked_select_broadcast_input": (
        lambda x: x.masked_select(cr.tensor([[True], [False], [True]])), [rnd(4)]),
    "mT": (lambda x: x.mT, [rnd(2, 3, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_central_differences(name: str) -> None:
    fn, arrays = CASES[name]
    xs = [t64(a) for a in arrays]
    out = fn(*xs)
    assert out.dtype == np.float64
    w = cr.tensor(np.random.default_rng(7).standard_normal(out.shape))
    check_grads(lambda: (fn(*xs) * w).sum(), xs)


# ---- values -------------------------------------------------------------------------------

def test_values_match_numpy() -> None:
    x = rnd(2, 3, 4)
    t = cr.tensor(x)
    np.testing.assert_array_equal(cr.flip(t, [0, 2]).numpy(), np.flip(x, (0, 2)))
    np.testing.assert_array_equal(cr.roll(t, (1, 2), (0, 2)).numpy(), np.roll(x, (1, 2), (0, 2)))
    np.testing.assert_array_equal(cr.movedim(t, 0, -1).numpy(), np.moveaxis(x, 0, -1))
    np.testing.assert_array_equal(cr.tril(t, 1).numpy(), np.tril(x, 1))
    np.testing.assert_array_equal(cr.tile(t, (2,)).numpy(), np.tile(x, 2))
    np.testing.assert_allclose(cr.tensordot(t, cr.tensor(rnd(4, 2)), 1).numpy(),
                               np.tensordot(x, rnd(4, 2), 1))
    np.testing.assert_allclose(cr.cumprod(t, -1).numpy(), np.cumprod(x, -1))
    assert cr.diag(cr.tensor([1.0, 2.0]), 1).tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]
    assert cr.diag(cr.tensor(np.arange(12.0).reshape(3, 4)), -1).tolist() == [4.0, 9.0]
    assert cr.narrow(cr.arange(5), 0, 1, 3).tolist() == [1, 2, 3]
    assert cr.repeat_interleave(cr.tensor([2, 0, 1])).tolist() == [0, 0, 2]


def test_float32_stays_float32() -> None:
    x = cr.tensor(np.abs(rnd(3, 3)).astype(np.float32) + 0.5, requires_grad=True)
    outs = [cr.tan(x), cr.log2(x), cr.log10(x), cr.trunc(x), cr.flip(x, [0]), cr.roll(x, 1),
            cr.tril(x), cr.diag(x), cr.cumprod(x, 0), cr.tensordot(x, x, 1),
            cr.outer(x[0], x[1]), cr.dot(x[0], x[1]), cr.scatter(x, 0, cr.tensor([[0]]), 1.0),
            cr.masked_select(x, x > 1)]
    for out in outs:
        assert out.dtype == np.float32
    (outs[0].sum() + outs[4].sum()).backward()
    assert x.grad.dtype == np.float32


def test_integer_inputs_to_logarithms_give_the_default_float() -> None:
    assert cr.log2(cr.tensor([1, 4])).tolist() == [0.0, 2.0]
    assert cr.log10(cr.tensor([10, 100])).dtype == np.float32
    assert cr.trunc(cr.tensor([3])).dtype == np.int64


def test_comparison_and_logical_functions() -> None:
    a, b = cr.tensor([1.0, 2.0, 3.0]), cr.tensor([3.0, 2.0, 1.0])
    assert cr.eq(a, b).tolist() == [False, True, False]
    assert cr.ne(a, 2).tolist() == [True, False, True]
    assert cr.lt(a, b).tolist() == [True, False, False]
    assert cr.le(a, b).tolist() == [True, True, False]
    assert cr.gt(a, b).tolist() == [False, False, True]
    assert cr.ge(a, b).tolist() == [False, True, True]
    m = cr.tensor([True, False, True])
    assert cr.logical_and(a > 1, m).tolist() == [False, False, True]
    assert cr.logical_or(a > 2, m).tolist() == [True, False, True]
    assert cr.logical_xor(a > 1, m).tolist() == [True, True, False]
    assert cr.logical_not(cr.tensor([0.0, 2.0])).tolist() == [True, False]
    x = cr.tensor([1.0, float("nan"), float("inf"), -float("inf")], requires_grad=True)
    assert cr.isnan(x).tolist() == [False, True, False, False]
    assert cr.isinf(x).tolist() == [False, False, True, True]
    assert cr.isfinite(x).tolist() == [True, False, False, False]
    for out in (cr.eq(x, x), cr.isnan(x), cr.logical_not(x)):
        assert out.dtype == np.bool_ and not out.requires_grad


def test_unique_with_inverse_and_counts() -> None:
    x = cr.tensor([[3, 1], [3, 2]])
    values, inverse, counts = cr.unique(x, return_inverse=True, return_counts=True)
    assert values.tolist() == [1, 2, 3] and counts.tolist() == [1, 1, 2]
    assert inverse.shape == (2, 2) and values.numpy()[inverse.numpy()].tolist() == x.tolist()
    assert inverse.dtype == np.int64 and counts.dtype == np.int64
    rows, inv = cr.tensor([[1, 2], [0, 5], [1, 2]]).unique(dim=0, return_inverse=True)
    assert rows.tolist() == [[0, 5], [1, 2]] and inv.tolist() == [1, 0, 1]
    f = cr.tensor([2.0, 1.0, 2.0], requires_grad=True)
    assert not cr.unique(f).requires_grad  # not differentiable, as in torch


def test_nonzero_both_forms() -> None:
    x = cr.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert cr.nonzero(x).tolist() == [[0, 1], [1, 0]]
    rows, cols = x.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert x[cr.nonzero(x, as_tuple=True)].tolist() == [1.0, 2.0]
    assert cr.nonzero(cr.tensor(3.0)).shape == (1, 0)
    assert [t.tolist() for t in cr.nonzero(cr.tensor(3.0), as_tuple=True)] == [[0]]


def test_scatter_writes_and_scatter_add_accumulates() -> None:
    x = cr.zeros(2, 4)
    out = cr.scatter(x, 1, cr.tensor([[3, 0], [1, 1]]), cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert out.numpy()[0].tolist() == [2, 0, 0, 1] and out.numpy()[1, 1] in (3.0, 4.0)
    added = cr.scatter_add(x, 1, cr.tensor([[3, 0], [1, 1]]), cr.tensor([[1.0, 2.0],
                                                                         [3.0, 4.0]]))
    assert added.tolist() == [[2, 0, 0, 1], [0, 7, 0, 0]]
    assert x.tolist() == [[0] * 4] * 2  # out of place


def test_masked_select_order_and_broadcast() -> None:
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert cr.masked_select(x, x > 2).tolist() == [3, 4, 5]
    assert cr.masked_select(x, cr.tensor([True, False, True])).tolist() == [0, 2, 3, 5]


def test_hstack_vstack_shapes() -> None:
    assert cr.hstack([cr.ones(2, 1), cr.ones(2, 3)]).shape == (2, 4)
    assert cr.hstack([cr.tensor(1.0), cr.tensor([2.0])]).tolist() == [1.0, 2.0]
    assert cr.vstack([cr.ones(3), cr.ones(2, 3)]).shape == (3, 3)
    assert cr.row_stack is cr.vstack and cr.concat is cr.cat


def test_errors_name_the_problem() -> None:
    x = cr.ones(2, 3)
    with pytest.raises(ValueError, match="tril: needs a tensor with at least 2"):
        cr.tril(cr.ones(3))
    with pytest.raises(ValueError, match="diag: needs a 1-d or 2-d"):
        cr.diag(cr.ones(2, 2, 2))
    with pytest.raises(ValueError, match="dot: the first operand must be 1-d"):
        cr.dot(x, x)
    with pytest.raises(ValueError, match="dot: shapes"):
        cr.dot(cr.ones(2), cr.ones(3))
    with pytest.raises(TypeError, match="dtypes"):
        cr.dot(cr.ones(2), cr.ones(2, dtype=cr.float64))
    with pytest.raises(ValueError, match="tensordot: shapes"):
        cr.tensordot(cr.ones(2, 3), cr.ones(2, 3), 1)
    with pytest.raises(ValueError, match="roll: 2 shift"):
        cr.roll(x, (1, 2), 0)
    with pytest.raises(ValueError, match="narrow: start"):
        cr.narrow(x, 1, 2, 2)
    with pytest.raises(ValueError, match="unflatten: sizes"):
        x.unflatten(1, (2, 2))
    with pytest.raises(ValueError, match="movedim"):
        cr.movedim(x, (0, 1), 0)
    with pytest.raises(ValueError, match="flip: dims"):
        cr.flip(x, (0, 0))
    with pytest.raises(IndexError, match="scatter: index values"):
        cr.scatter(x, 1, cr.tensor([[3]]), 1.0)
    with pytest.raises(TypeError, match="src has dtype"):
        cr.scatter(x, 1, cr.tensor([[0]]), cr.ones(1, 1, dtype=cr.float64))
    with pytest.raises(TypeError, match="give src"):
        cr.scatter(x, 1, cr.tensor([[0]]))
    with pytest.raises(ValueError, match="reduce='multiply'"):
        cr.scatter(x, 1, cr.tensor([[0]]), 2.0, reduce="multiply")
    with pytest.raises(TypeError, match="masked_select: mask must be a bool"):
        cr.masked_select(x, cr.ones(2, 3))
    with pytest.raises(ValueError, match="repeat_interleave: repeats"):
        cr.repeat_interleave(x, cr.tensor([1, 2]), dim=1)
    with pytest.raises(ValueError, match="mT needs"):
        _ = cr.ones(3).mT


# ---- Tensor methods: memory facts, in-place updates, detach_ ------------------------------

def test_stride_contiguity_and_sizes() -> None:
    x = cr.zeros(2, 3, 4)
    assert x.stride() == (12, 4, 1) and x.stride(1) == 4 and x.stride(-1) == 1
    assert x.is_contiguous()
    y = x.permute(2, 0, 1)
    assert y.stride() == (1, 12, 4) and not y.is_contiguous()
    assert y.contiguous().is_contiguous() and x.contiguous() is x
    assert x.element_size() == 4 and x.nbytes == 96
    assert cr.zeros(3, dtype=cr.int64).element_size() == 8


def test_contiguous_copy_keeps_the_gradient_path() -> None:
    w = cr.tensor(rnd(2, 3), requires_grad=True)
    c = w.t().contiguous()
    assert c.is_contiguous() and c.grad_fn is not None
    (c * cr.tensor(rnd(3, 2, seed=1))).sum().backward()
    np.testing.assert_allclose(w.grad, rnd(3, 2, seed=1).T)


def test_data_ptr_pin_and_share() -> None:
    a = np.zeros(4)
    t = cr.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data and t[1:].data_ptr() == a.ctypes.data + 8
    assert t.pin_memory() is t and t.share_memory_() is t
    assert not t.is_pinned() and not t.is_shared()


def test_apply_in_place_and_refused_with_grad() -> None:
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.t().apply_(lambda v: v * v + 1) is not None  # a non-contiguous view works too
    assert x.tolist() == [[2, 5], [10, 17]]
    with pytest.raises(RuntimeError, match="do not require grad"):
        cr.ones(2, requires_grad=True).apply_(abs)


def test_masked_fill_scatter_in_place() -> None:
    x = cr.zeros(2, 3)
    assert x.masked_fill_(cr.tensor([True, False, True]), 5.0) is x
    assert x.tolist() == [[5, 0, 5], [5, 0, 5]]
    x.scatter_(1, cr.tensor([[1], [1]]), cr.tensor([[7.0], [8.0]]))
    assert x.numpy()[:, 1].tolist() == [7, 8]
    x.scatter_(0, cr.tensor([[0, 0, 0]]), value=-1.0)
    assert x.numpy()[0].tolist() == [-1, -1, -1]
    x.scatter_add_(1, cr.tensor([[0, 0]]), cr.tensor([[1.0, 1.0]]))
    assert x.numpy()[0, 0] == 1.0
    w = cr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.masked_fill_(cr.tensor([True, False, False]), 0.0)
    with cr.no_grad():
        w.masked_fill_(cr.tensor([True, False, False]), 0.0)
    assert w.tolist() == [0, 1, 1]
    h = w * 2
    with pytest.raises(RuntimeError, match="computed by the graph"):
        h.scatter_(0, cr.tensor([0]), 1.0)


def test_detach_in_place() -> None:
    w = cr.ones(2, requires_grad=True)
    h = w * 3
    assert h.detach_() is h
    assert h.is_leaf and not h.requires_grad and h.grad_fn is None
    assert h.tolist() == [3, 3]


def test_method_forms_exist() -> None:
    x = cr.tensor(np.abs(rnd(3, 3)) + 0.5)
    for name in ("tan", "log2", "log10", "trunc", "fix"):
        np.testing.assert_allclose(getattr(x, name)().numpy(), getattr(cr, name)(x).numpy())
    assert x.tile(2).shape == (3, 6) and x.roll(1, 0).shape == (3, 3)
    assert x.moveaxis(0, 1).shape == (3, 3) and x.outer is not None
    assert x[0].dot(x[1]).shape == ()
