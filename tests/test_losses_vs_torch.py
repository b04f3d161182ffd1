"""The losses and vector helpers of test_losses_more.py against PyTorch, float64: value
and every input gradient, including PyTorch's edge cases (the −100 log clamp of BCE,
zero targets of kl_div, zero vectors in normalize and cosine_similarity)."""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as CF
from helpers import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-12
REDUCTIONS = ["mean", "sum", "none"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


compare = partial(compare_with_torch, tol=TOL)  # see tests/helpers.py

def tt(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.tensor(a, dtype=torch.float64)


# ---- losses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "row", "full"])
def test_binary_cross_entropy(reduction: str, weight: str | None) -> None:
    x = rng(0).uniform(0.02, 0.98, (4, 3))
    y = rng(1).uniform(0, 1, (4, 3))
    w = {None: None, "row": rng(2).uniform(0.5, 2, 3), "full": rng(2).uniform(0.5, 2, (4, 3))}
    w = w[weight]
    compare(lambda a, b: CF.binary_cross_entropy(a, b, w, reduction=reduction),
            lambda a, b: F.binary_cross_entropy(a, b, tt(w), reduction=reduction), x, y)


def test_binary_cross_entropy_at_zero_and_one() -> None:
    # the clamp at −100 and the 1e-12 floor of the derivative's denominator, as PyTorch
    x = np.array([0.0, 1.0, 1e-50, 1.0 - 1e-16, 0.0, 1.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    compare(lambda a, b: CF.binary_cross_entropy(a, b, reduction="none"),
            lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), x, y,
            needs=(True, False))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.4, 0.0])
def test_smooth_l1(reduction: str, beta: float) -> None:
    x, y = rng(0).standard_normal((5, 3)) * 2, rng(1).standard_normal((5, 3))
    x[0, 0] = y[0, 0]  # a zero difference, where sign(0) = 0
    compare(lambda a, b: CF.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
            lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta), x, y)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    x = np.log(rng(0).dirichlet(np.ones(4), size=3))
    p = rng(1).dirichlet(np.ones(4), size=3)
    y = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's warning about reduction='mean'
        compare(lambda a, b: CF.kl_div(a, b, reduction=reduction, log_target=log_target),
                lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                x, y)


def test_kl_div_zero_target_and_0d() -> None:
    x = np.array([[-1.0, -0.5, -2.0]])
    y = np.array([[0.0, 0.4, 0.6]])
    # the target's gradient is NaN at 0 in PyTorch (xlogy's rule); the input's is fine
    compare(lambda a, b: CF.kl_div(a, b, reduction="sum"),
            lambda a, b: F.kl_div(a, b, reduction="sum"), x, y)
    compare(lambda a, b: CF.kl_div(a, b, reduction="batchmean"),
            lambda a, b: F.kl_div(a, b, reduction="batchmean"), np.array(-0.3),
            np.array(0.5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_soft_targets(reduction: str, weighted: bool, smoothing: float) -> None:
    z = rng(0).standard_normal((5, 4)) * 2
    y = rng(1).dirichlet(np.ones(4), size=5)
    w = rng(2).uniform(0.3, 2.0, 4) if weighted else None
    compare(lambda a, b: CF.cross_entropy(a, b, w, reduction=reduction,
                                          label_smoothing=smoothing),
            lambda a, b: F.cross_entropy(a, b, tt(w), reduction=reduction,
                                         label_smoothing=smoothing), z, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_soft_targets_dense_and_unbatched(reduction: str) -> None:
    z = rng(0).standard_normal((2, 3, 4, 2))
    y = np.moveaxis(rng(1).dirichlet(np.ones(3), size=(2, 4, 2)), -1, 1)
    w = np.array([0.5, 1.0, 2.0])
    compare(lambda a, b: CF.cross_entropy(a, b, w, reduction=reduction, label_smoothing=0.1),
            lambda a, b: F.cross_entropy(a, b, tt(w), reduction=reduction,
                                         label_smoothing=0.1), z, y)
    compare(lambda a, b: CF.cross_entropy(a, b, reduction=reduction),
            lambda a, b: F.cross_entropy(a, b, reduction=reduction),
            rng(2).standard_normal(5), rng(3).dirichlet(np.ones(5)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_index_targets_dense_and_unbatched(reduction: str) -> None:
    t = rng(1).integers(0, 3, (2, 4))
    t[0, 1] = -100
    w = np.array([0.5, 1.0, 2.0])
    compare(lambda a: CF.cross_entropy(a, t, w, reduction=reduction, label_smoothing=0.2),
            lambda a: F.cross_entropy(a, torch.tensor(t), tt(w), reduction=reduction,
                                      label_smoothing=0.2), rng(0).standard_normal((2, 3, 4)))
    compare(lambda a: CF.cross_entropy(a, 2, reduction=reduction),
            lambda a: F.cross_entropy(a, torch.tensor(2), reduction=reduction),
            rng(2).standard_normal(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_dense_and_unbatched(reduction: str) -> None:
    t = np.array([[0, 2, -100, 1], [1, 1, 0, 2]])
    w = np.array([1.0, 0.5, 2.0])
    compare(lambda a: CF.nll_loss(a, t, w, reduction=reduction),
            lambda a: F.nll_loss(a, torch.tensor(t), tt(w), reduction=reduction),
            rng(0).standard_normal((2, 3, 4)))
    compare(lambda a: CF.nll_loss(a, 1, reduction=reduction),
            lambda a: F.nll_loss(a, torch.tensor(1), reduction=reduction),
            rng(1).standard_normal(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression(name: str, reduction: str) -> None:
    w = rng(2).uniform(0.1, 2.0, (4, 3))
    compare(lambda a, b: getattr(CF, name)(a, b, reduction=reduction, weight=w),
            lambda a, b: getattr(F, name)(a, b, reduction=reduction, weight=tt(w)),
            rng(0).standard_normal((4, 3)) * 2, rng(1).standard_normal((4, 3)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
def test_bce_with_logits_weight(reduction: str, pos_weight: bool) -> None:
    w = rng(2).uniform(0.1, 2.0, (4, 1))
    pw = np.array([1.0, 3.0, 0.5]) if pos_weight else None
    compare(lambda a, b: CF.binary_cross_entropy_with_logits(a, b, w, reduction=reduction,
                                                             pos_weight=pw),
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, tt(w), reduction=reduction,
                                                            pos_weight=tt(pw)),
            rng(0).standard_normal((4, 3)) * 3, rng(1).uniform(0, 1, (4, 3)))


@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True),
                                                  (False, True), (True, None)])
def test_legacy_reduction_arguments_match(size_average, reduce) -> None:
    x, y = rng(0).standard_normal((3, 2)), rng(1).standard_normal((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = CF.mse_loss(cr.tensor(x, dtype="float64"), y, size_average, reduce).numpy()
        ref = F.mse_loss(tt(x), tt(y), size_average, reduce).numpy()
        module = cr.nn.L1Loss(size_average, reduce)
        ref_module = torch.nn.L1Loss(size_average, reduce)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert module.reduction == ref_module.reduction


def test_modules_match_torch_modules() -> None:
    x = rng(0).uniform(0.05, 0.95, (4, 3))
    y = rng(1).uniform(0, 1, (4, 3))
    w = rng(2).uniform(0.5, 2, 3)
    pairs = [
        (cr.nn.BCELoss(w), torch.nn.BCELoss(tt(w)), x, y),
        (cr.nn.SmoothL1Loss(reduction="sum", beta=0.5),
         torch.nn.SmoothL1Loss(reduction="sum", beta=0.5), x, y),
        (cr.nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"),
         np.log(x), y),
        (cr.nn.CrossEntropyLoss(w, label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(tt(w), label_smoothing=0.1), x, y),
        (cr.nn.BCEWithLogitsLoss(w, pos_weight=w[::-1].copy()),
         torch.nn.BCEWithLogitsLoss(tt(w), pos_weight=tt(w[::-1].copy())), x, y),
    ]
    for ours, ref, a, b in pairs:
        np.testing.assert_allclose(ours(cr.tensor(a, dtype="float64"), b).item(),
                                   ref(tt(a), tt(b)).item(), rtol=1e-12)
        assert set(ours.state_dict()) == set(ref.state_dict())


# ---- vector helpers -----------------------------------------------------------------------------
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf])
@pytest.mark.parametrize("dim", [1, -1])
def test_normalize(p: float, dim: int) -> None:
    x = rng(0).standard_normal((3, 4, 2))
    x[0, :, 0] = 0.0 if dim == 1 else x[0, :, 0]  # a zero vector along dim 1
    x[1, 2, :] = 0.0 if dim == -1 else x[1, 2, :]
    compare(lambda a: CF.normalize(a, p=p, dim=dim), lambda a: F.normalize(a, p=p, dim=dim), x)


@pytest.mark.parametrize("sa, sb, dim", [((4, 3), (4, 3), 1), ((2, 5, 3), (5, 3), -1),
                                         ((3, 1, 4), (1, 2, 4), 2), ((6,), (6,), 0),
                                         ((4, 3), (3,), 0)])
def test_cosine_similarity(sa: tuple, sb: tuple, dim: int) -> None:
    compare(lambda a, b: CF.cosine_similarity(a, b, dim=dim),
            lambda a, b: F.cosine_similarity(a, b, dim=dim),
            rng(0).standard_normal(sa), rng(1).standard_normal(sb))


def test_cosine_similarity_zero_and_tiny_vectors() -> None:
    # PyTorch clamps the norms outside autograd: below eps its gradient is not the exact
    # one, and ours follows it
    a = rng(0).standard_normal((4, 3))
    b = rng(1).standard_normal((4, 3))
    a[0] = 0.0
    a[1] *= 1e-10
    b[2] = 0.0
    compare(lambda x, y: CF.cosine_similarity(x, y), lambda x, y: F.cosine_similarity(x, y),
            a, b)
    compare(lambda x, y: cr.nn.CosineSimilarity(dim=0, eps=0.5)(x, y),
            lambda x, y: torch.nn.CosineSimilarity(dim=0, eps=0.5)(x, y),
            a * 0.2, b)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shapes", [((4, 3), (4, 3)), ((4, 3), (3,)), ((5,), (5,))])
def test_pairwise_distance(p: float, keepdim: bool, shapes: tuple) -> None:
    sa, sb = shapes
    compare(lambda a, b: cr.nn.PairwiseDistance(p=p, keepdim=keepdim)(a, b),
            lambda a, b: torch.nn.PairwiseDistance(p=p, keepdim=keepdim)(a, b),
            rng(0).standard_normal(sa), rng(1).standard_normal(sb))


def test_one_hot_matches() -> None:
    idx = rng(0).integers(0, 5, (3, 4))
    for n in (-1, 7):
        ours = CF.one_hot(cr.tensor(idx), n)
        ref = F.one_hot(torch.tensor(idx), n)
        assert ours.dtype == np.int64 and ref.dtype == torch.int64
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
