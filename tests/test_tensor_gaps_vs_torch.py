"""The functions and methods added for issue 12 against PyTorch, float64: every
differentiable op's value and input gradients (same inputs, same random output
gradient), the non-differentiable ones' values, dtypes and shapes, the memory facts
(stride, contiguity, sizes), gradcheck's verdicts and the deterministic initialisers.
Skipped cleanly when torch is not installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import init

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-10


def rnd(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def compare(cr_fn: Callable, torch_fn: Callable, *arrays: np.ndarray) -> None:
    """Same function, same float64 inputs, same output gradient: outputs and every input
    gradient agree to TOL."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = cr_fn(*xs), torch_fn(*ts)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=TOL, atol=TOL)
    g = np.random.default_rng(99).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        assert x.grad is not None and x.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad, expected, rtol=TOL, atol=TOL,
                                   err_msg=f"gradient of input {i}")


IDX = [[0, 2, 1], [1, 0, 2]]
IDX_DUP = [[0, 0, 1, 2], [2, 0, 0, 1]]
ZEROS = np.array([[1.5, 0.0, 2.0, 0.0, 0.5], [0.0, -2.0, 0.7, 1.3, 2.0],
                  [0.7, 1.3, 0.0, 0.9, 1.1]])

# name -> (chainrule function, torch function, input arrays); both called on tensors
CASES: dict[str, tuple[Callable, Callable, list[np.ndarray]]] = {
    "tan": (cr.tan, torch.tan, [rnd(3, 4) * 0.5]),
    "log2": (cr.log2, torch.log2, [np.abs(rnd(3, 4)) + 0.3]),
    "log10": (lambda x: x.log10(), lambda x: x.log10(), [np.abs(rnd(3, 4)) + 0.3]),
    "trunc": (lambda x: cr.trunc(x) * x, lambda x: torch.trunc(x) * x, [rnd(3, 4) * 3]),
    "fix": (lambda x: x.fix() * x, lambda x: x.fix() * x, [rnd(3, 4) * 3]),
    "flip": (lambda x: cr.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), [rnd(2, 3, 4)]),
    "flip_method": (lambda x: x.flip(0, 1), lambda x: x.flip(0, 1), [rnd(2, 3)]),
    "roll_dims": (lambda x: cr.roll(x, (1, -2), (0, 1)),
                  lambda x: torch.roll(x, (1, -2), (0, 1)), [rnd(3, 4)]),
    "roll_flat": (lambda x: x.roll(5), lambda x: x.roll(5), [rnd(3, 4)]),
    "movedim": (lambda x: cr.movedim(x, (0, 1), (2, 0)),
                lambda x: torch.movedim(x, (0, 1), (2, 0)), [rnd(2, 3, 4)]),
    "moveaxis": (lambda x: x.moveaxis(-1, 0), lambda x: x.moveaxis(-1, 0), [rnd(2, 3, 4)]),
    "narrow": (lambda x: cr.narrow(x, 1, -3, 2), lambda x: torch.narrow(x, 1, -3, 2),
               [rnd(2, 4)]),
    "narrow_method": (lambda x: x.narrow(0, 1, 1), lambda x: x.narrow(0, 1, 1), [rnd(2, 4)]),
    "unflatten": (lambda x: x.unflatten(1, (2, -1)), lambda x: x.unflatten(1, (2, -1)),
                  [rnd(3, 6)]),
    "unflatten_fn": (lambda x: cr.unflatten(x, -1, (3, 2)),
                     lambda x: torch.unflatten(x, -1, (3, 2)), [rnd(3, 6)]),
    "mT": (lambda x: x.mT, lambda x: x.mT, [rnd(2, 3, 4)]),
    "tile": (lambda x: cr.tile(x, (2, 1, 3)), lambda x: torch.tile(x, (2, 1, 3)),
             [rnd(2, 3)]),
    "tile_short": (lambda x: x.tile(2), lambda x: x.tile(2), [rnd(2, 3)]),
    "repeat_interleave_int": (lambda x: cr.repeat_interleave(x, 2, dim=1),
                              lambda x: torch.repeat_interleave(x, 2, dim=1), [rnd(2, 3)]),
    "repeat_interleave_counts": (
        lambda x: x.repeat_interleave(cr.tensor([2, 0, 3]), dim=0),
        lambda x: x.repeat_interleave(torch.tensor([2, 0, 3]), dim=0), [rnd(3, 2)]),
    "repeat_interleave_flat": (lambda x: cr.repeat_interleave(x, 3),
                               lambda x: torch.repeat_interleave(x, 3), [rnd(2, 2)]),
    "hstack": (lambda a, b: cr.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
               [rnd(2, 3), rnd(2, 1, seed=1)]),
    "hstack_1d": (lambda a, b: cr.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
                  [rnd(3), rnd(2, seed=1)]),
    "vstack": (lambda a, b: cr.vstack([a, b]), lambda a, b: torch.vstack([a, b]),
               [rnd(3), rnd(2, 3, seed=1)]),
    "concat": (lambda a, b: cr.concat([a, b], dim=1), lambda a, b: torch.concat([a, b], 1),
               [rnd(2, 3), rnd(2, 2, seed=1)]),
    "tril": (lambda x: cr.tril(x, -1), lambda x: torch.tril(x, -1), [rnd(2, 4, 4)]),
    "tril_wide": (lambda x: x.tril(2), lambda x: x.tril(2), [rnd(3, 6)]),
    "triu": (lambda x: cr.triu(x, 1), lambda x: torch.triu(x, 1), [rnd(3, 5)]),
    "triu_batched": (lambda x: x.triu(-1), lambda x: x.triu(-1), [rnd(2, 5, 3)]),
    "diag_vector": (lambda x: cr.diag(x, 1), lambda x: torch.diag(x, 1), [rnd(3)]),
    "diag_vector_below": (lambda x: cr.diag(x, -2), lambda x: torch.diag(x, -2), [rnd(3)]),
    "diag_matrix": (lambda x: cr.diag(x), lambda x: torch.diag(x), [rnd(3, 4)]),
    "diag_matrix_offset": (lambda x: x.diag(-1), lambda x: x.diag(-1), [rnd(4, 3)]),
    "diag_matrix_above": (lambda x: x.diag(2), lambda x: x.diag(2), [rnd(3, 5)]),
    "outer": (cr.outer, torch.outer, [rnd(3), rnd(4, seed=1)]),
    "outer_method": (lambda a, b: a.outer(b), lambda a, b: a.outer(b),
                     [rnd(3), rnd(2, seed=1)]),
    "dot": (cr.dot, torch.dot, [rnd(5), rnd(5, seed=1)]),
    "dot_method": (lambda a, b: a.dot(b), lambda a, b: a.dot(b), [rnd(4), rnd(4, seed=1)]),
    "tensordot_int": (lambda a, b: cr.tensordot(a, b, 2), lambda a, b: torch.tensordot(a, b, 2),
                      [rnd(2, 3, 4), rnd(3, 4, 2, seed=1)]),
    "tensordot_default": (cr.tensordot, torch.tensordot, [rnd(2, 3, 4), rnd(3, 4, 2, seed=1)]),
    "tensordot_lists": (lambda a, b: cr.tensordot(a, b, ([0, 2], [2, 0])),
                        lambda a, b: torch.tensordot(a, b, ([0, 2], [2, 0])),
                        [rnd(2, 3, 4), rnd(4, 5, 2, seed=1)]),
    "tensordot_zero": (lambda a, b: cr.tensordot(a, b, 0), lambda a, b: torch.tensordot(a, b, 0),
                       [rnd(2), rnd(3, seed=1)]),
    "cumprod": (lambda x: cr.cumprod(x, 1), lambda x: torch.cumprod(x, 1), [rnd(3, 4)]),
    "cumprod_zeros_dim1": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), [ZEROS]),
    "cumprod_zeros_dim0": (lambda x: x.cumprod(0), lambda x: x.cumprod(0), [ZEROS]),
    "scatter": (lambda x, s: cr.scatter(x, 0, cr.tensor(IDX), s),
                lambda x, s: torch.scatter(x, 0, torch.tensor(IDX), s),
                [rnd(3, 3), rnd(2, 3, seed=1)]),
    "scatter_dim1": (lambda x, s: x.scatter(1, cr.tensor(IDX), s),
                     lambda x, s: x.scatter(1, torch.tensor(IDX), s),
                     [rnd(2, 4), rnd(2, 3, seed=1)]),
    "scatter_value": (lambda x: cr.scatter(x, 1, cr.tensor([[2], [0]]), 4.0),
                      lambda x: torch.scatter(x, 1, torch.tensor([[2], [0]]), 4.0),
                      [rnd(2, 3)]),
    "scatter_add": (lambda x, s: cr.scatter_add(x, 1, cr.tensor(IDX_DUP), s),
                    lambda x, s: torch.scatter_add(x, 1, torch.tensor(IDX_DUP), s),
                    [rnd(2, 3), rnd(2, 4, seed=1)]),
    "scatter_add_method": (lambda x, s: x.scatter_add(0, cr.tensor(IDX), s),
                           lambda x, s: x.scatter_add(0, torch.tensor(IDX), s),
                           [rnd(3, 3), rnd(2, 3, seed=1)]),
    # torch.scatter(reduce="add") has no derivative; its gradient is scatter_add's
    "scatter_reduce_add": (lambda x, s: cr.scatter(x, 1, cr.tensor(IDX_DUP), s, reduce="add"),
                           lambda x, s: torch.scatter_add(x, 1, torch.tensor(IDX_DUP), s),
                           [rnd(2, 3), rnd(2, 4, seed=1)]),
    "masked_select": (lambda x: cr.masked_select(x, cr.tensor([True, False, True])),
                      lambda x: torch.masked_select(x, torch.tensor([True, False, True])),
                      [rnd(2, 3)]),
    "masked_select_broadcast_input": (
        lambda x: x.masked_select(cr.tensor([[True], [False], [True]])),
        lambda x: x.masked_select(torch.tensor([[True], [False], [True]])), [rnd(4)]),
    "masked_select_method": (lambda x: x.masked_select(x > 0),
                             lambda x: x.masked_select(x > 0), [rnd(3, 3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name: str) -> None:
    cr_fn, torch_fn, arrays = CASES[name]
    compare(cr_fn, torch_fn, *arrays)


# ---- functions without gradients: values, dtypes, shapes ----------------------------------

def same(ours: cr.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_comparisons_and_logical_functions_match_torch() -> None:
    a = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 0.0]])
    b = np.array([3.0, 2.0, 3.0])
    ca, cb, ta, tb = cr.tensor(a), cr.tensor(b), torch.tensor(a), torch.tensor(b)
    for name in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                 "logical_xor"):
        same(getattr(cr, name)(ca, cb), getattr(torch, name)(ta, tb))
        same(getattr(ca, name)(cb), getattr(ta, name)(tb))
    same(cr.eq(ca, 3.0), torch.eq(ta, 3.0))
    for name in ("logical_not", "isnan", "isinf", "isfinite"):
        same(getattr(cr, name)(ca), getattr(torch, name)(ta))
        same(getattr(ca, name)(), getattr(ta, name)())


def test_unique_matches_torch() -> None:
    x = np.array([[3, 1, 2], [3, 5, 1]])
    for kwargs in ({}, {"return_inverse": True}, {"return_counts": True},
                   {"return_inverse": True, "return_counts": True}):
        ours, theirs = cr.unique(cr.tensor(x), **kwargs), torch.unique(torch.tensor(x), **kwargs)
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        for o, t in zip(ours, theirs, strict=True):
            same(o, t)
    rows = np.array([[1, 2], [0, 5], [1, 2], [0, 4]])
    for o, t in zip(cr.tensor(rows).unique(dim=0, return_inverse=True, return_counts=True),
                    torch.tensor(rows).unique(dim=0, return_inverse=True, return_counts=True),
                    strict=True):
        same(o, t)
    f = np.array([2.5, -1.0, 2.5, 0.0])
    same(cr.unique(cr.tensor(f)), torch.unique(torch.tensor(f)))


def test_nonzero_matches_torch() -> None:
    x = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    same(cr.nonzero(cr.tensor(x)), torch.nonzero(torch.tensor(x)))
    for o, t in zip(cr.tensor(x).nonzero(as_tuple=True),
                    torch.tensor(x).nonzero(as_tuple=True), strict=True):
        same(o, t)
    same(cr.nonzero(cr.tensor(2.0)), torch.nonzero(torch.tensor(2.0)))
    same(cr.repeat_interleave(cr.tensor([2, 0, 3])),
         torch.repeat_interleave(torch.tensor([2, 0, 3])))


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_reduce_add_values_match_torch() -> None:
    x, src, idx = rnd(2, 3), rnd(2, 4, seed=1), np.array(IDX_DUP)
    ours = cr.scatter(cr.tensor(x), 1, cr.tensor(idx), cr.tensor(src), reduce="add")
    theirs = torch.scatter(torch.tensor(x), 1, torch.tensor(idx), torch.tensor(src),
                           reduce="add")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=TOL, atol=TOL)


def test_integer_logarithms_and_trunc_dtypes_match_torch() -> None:
    i = np.array([1, 4, 100])
    for name in ("log2", "log10", "tan"):
        ours, theirs = getattr(cr, name)(cr.tensor(i)), getattr(torch, name)(torch.tensor(i))
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    same(cr.trunc(cr.tensor(i)), torch.trunc(torch.tensor(i)))


def test_cumprod_of_integers_and_bools_matches_torch() -> None:
    same(cr.cumprod(cr.tensor([[1, 2], [3, 4]]), 0), torch.cumprod(torch.tensor([[1, 2],
                                                                               [3, 4]]), 0))
    same(cr.tensor([True, True, False]).cumprod(0),
         torch.tensor([True, True, False]).cumprod(0))


def test_memory_facts_match_torch() -> None:
    a = np.zeros((2, 3, 4), dtype=np.float32)
    ours, theirs = cr.tensor(a), torch.tensor(a)
    for f in (lambda t: t, lambda t: t.permute(2, 0, 1), lambda t: t.transpose(0, 1),
              lambda t: t[:, 1], lambda t: t.mT):
        o, t = f(ours), f(theirs)
        assert o.stride() == t.stride() and o.is_contiguous() == t.is_contiguous()
        assert o.stride(-1) == t.stride(-1)
        assert o.contiguous().stride() == t.contiguous().stride()
    for dt in (np.float32, np.float64, np.int64, np.int32, np.bool_, np.uint8, np.float16):
        o, t = cr.tensor(np.zeros((3, 5), dt)), torch.tensor(np.zeros((3, 5), dt))
        assert o.element_size() == t.element_size() and o.nbytes == t.nbytes


def test_in_place_methods_match_torch() -> None:
    base = rnd(3, 4)
    ours, theirs = cr.tensor(base.copy()), torch.tensor(base.copy())
    ours.masked_fill_(cr.tensor([True, False, False, True]), 9.0)
    theirs.masked_fill_(torch.tensor([True, False, False, True]), 9.0)
    ours.scatter_(0, cr.tensor([[2, 0, 1, 2]]), cr.tensor(rnd(1, 4, seed=3)))
    theirs.scatter_(0, torch.tensor([[2, 0, 1, 2]]), torch.tensor(rnd(1, 4, seed=3)))
    ours.scatter_(1, cr.tensor([[0], [3]]), value=-2.0)
    theirs.scatter_(1, torch.tensor([[0], [3]]), value=-2.0)
    ours.scatter_add_(1, cr.tensor([[1, 1, 2]]), cr.tensor(rnd(1, 3, seed=4)))
    theirs.scatter_add_(1, torch.tensor([[1, 1, 2]]), torch.tensor(rnd(1, 3, seed=4)))
    ours.apply_(lambda v: v * 2 - 1)
    theirs.apply_(lambda v: v * 2 - 1)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=TOL, atol=TOL)
    w, tw = cr.tensor(rnd(2), requires_grad=True), torch.tensor(rnd(2), requires_grad=True)
    h, th = (w * 2).detach_(), (tw * 2).detach_()
    assert h.is_leaf == th.is_leaf and h.requires_grad == th.requires_grad
    assert (h.grad_fn is None) == (th.grad_fn is None)


def test_sampled_parameters_get_torchs_zero_gradient() -> None:
    mean, std = cr.tensor(rnd(3), requires_grad=True), cr.tensor(np.ones(3), requires_grad=True)
    tmean, tstd = torch.tensor(rnd(3), requires_grad=True), torch.ones(3, dtype=torch.float64,
                                                                      requires_grad=True)
    cr.normal(mean, std).sum().backward()
    torch.normal(tmean, tstd).sum().backward()
    np.testing.assert_array_equal(mean.grad, tmean.grad.numpy())
    np.testing.assert_array_equal(std.grad, tstd.grad.numpy())
    p, tp = cr.tensor([0.2, 0.9], requires_grad=True), torch.tensor([0.2, 0.9],
                                                                    requires_grad=True)
    cr.bernoulli(p).sum().backward()
    torch.bernoulli(tp).sum().backward()
    np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    assert cr.bernoulli(cr.zeros(3)).dtype == np.float32  # input's dtype, as torch
    assert torch.bernoulli(torch.zeros(3)).dtype == torch.float32


def test_randint_like_dtype_matches_torch() -> None:
    for dt, tdt in ((cr.float32, torch.float32), (cr.int32, torch.int32)):
        assert str(cr.randint_like(cr.zeros(2, dtype=dt), 5).dtype) == \
            str(torch.randint_like(torch.zeros(2, dtype=tdt), 5).dtype).replace("torch.", "")


# ---- autograd.gradcheck: the same verdicts as torch's -------------------------------------

def test_gradcheck_agrees_with_torch() -> None:
    x = rnd(3, 4)
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: (t.tan() * t).cumprod(1), (ours,)) is True
    assert torch.autograd.gradcheck(lambda t: (t.tan() * t).cumprod(1), (theirs,)) is True

    class TorchWrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return 2 * t

        @staticmethod
        def backward(ctx, g):
            return 3 * g

    class Wrong(cr.autograd.Function):
        def forward(self, t):
            self.saved = None
            return 2 * t

        def backward(self, g):
            return 3 * g

    assert torch.autograd.gradcheck(TorchWrong.apply, (theirs,), raise_exception=False) is False
    assert cr.autograd.gradcheck(Wrong.apply, (ours,), raise_exception=False) is False
    with pytest.raises(RuntimeError):
        torch.autograd.gradcheck(TorchWrong.apply, (theirs,))
    with pytest.raises(RuntimeError):
        cr.autograd.gradcheck(Wrong.apply, (ours,))


# ---- deterministic initialisers and the orthogonal property -------------------------------

def test_eye_and_dirac_equal_torch() -> None:
    for shape in ((3, 5), (4, 2), (3, 3)):
        ours, theirs = cr.zeros(*shape), torch.zeros(*shape)
        np.testing.assert_array_equal(init.eye_(ours).numpy(), torch.nn.init.eye_(theirs).numpy())
    for shape, groups in (((4, 2, 3), 1), ((6, 2, 3, 3), 2), ((2, 4, 3, 3, 3), 1),
                          ((4, 3, 2, 2), 2)):
        ours, theirs = cr.zeros(*shape), torch.zeros(*shape)
        np.testing.assert_array_equal(init.dirac_(ours, groups).numpy(),
                                      torch.nn.init.dirac_(theirs, groups).numpy())


def test_orthogonal_and_trunc_normal_have_torchs_properties() -> None:
    for shape in ((4, 6), (6, 4), (5, 2, 3)):
        w = init.orthogonal_(cr.zeros(*shape, dtype=cr.float64), gain=1.5).numpy()
        t = torch.nn.init.orthogonal_(torch.zeros(*shape, dtype=torch.float64), gain=1.5)
        m, tm = w.reshape(shape[0], -1), t.reshape(shape[0], -1).numpy()
        small = min(m.shape)
        for a in (m, tm):
            gram = a @ a.T if a.shape[0] == small else a.T @ a
            np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-12)
    torch.manual_seed(0)
    cr.manual_seed(0)
    ours = init.trunc_normal_(cr.zeros(20_000, dtype=cr.float64), 0.5, 2.0, -1.0, 3.0).numpy()
    theirs = torch.nn.init.trunc_normal_(torch.zeros(20_000, dtype=torch.float64), 0.5, 2.0,
                                         -1.0, 3.0).numpy()
    assert ours.min() >= -1.0 and ours.max() <= 3.0
    # the same distribution: means and standard deviations agree to sampling error
    assert abs(ours.mean() - theirs.mean()) < 4 * np.sqrt(2 * theirs.var() / 20_000)
    assert abs(ours.std() - theirs.std()) < 0.03
