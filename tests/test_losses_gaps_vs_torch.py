"""The margin, ranking, embedding, multi-label and likelihood losses added for issue 12
against PyTorch in float64: value and every input gradient (targets included where
PyTorch differentiates them), for every reduction, functional and module forms."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as CF
from helpers import compare_with_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-10
REDUCTIONS = ["mean", "sum", "none"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


compare = partial(compare_with_torch, tol=TOL)  # see tests/helpers.py

def signs(*shape: int, seed: int = 0) -> np.ndarray:
    return rng(seed).choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss(reduction: str) -> None:
    r = rng(1)
    x1, x2, y = r.standard_normal(8), r.standard_normal(8), signs(8, seed=2)
    compare(lambda a, b, t: CF.margin_ranking_loss(a, b, t, 0.3, reduction=reduction),
            lambda a, b, t: F.margin_ranking_loss(a, b, t, 0.3, reduction=reduction),
            x1, x2, y)
    compare(lambda a, b, t: nn.MarginRankingLoss(0.1, reduction=reduction)(a, b, t),
            lambda a, b, t: torch.nn.MarginRankingLoss(0.1, reduction=reduction)(a, b, t),
            x1, x2, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_embedding_loss(reduction: str) -> None:
    x = rng(3).standard_normal((4, 5)) * 2
    y = signs(4, 5, seed=4)
    y[0, 0] = 0.5  # neither 1 nor −1: both terms, as PyTorch
    compare(lambda a: CF.hinge_embedding_loss(a, y, 1.5, reduction=reduction),
            lambda a: F.hinge_embedding_loss(a, torch.tensor(y), 1.5, reduction=reduction), x)
    compare(lambda a: nn.HingeEmbeddingLoss(reduction=reduction)(a, y),
            lambda a: torch.nn.HingeEmbeddingLoss(reduction=reduction)(a, torch.tensor(y)), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss(reduction: str) -> None:
    r = rng(5)
    x1, x2, y = r.standard_normal((6, 4)), r.standard_normal((6, 4)), signs(6, seed=6)
    compare(lambda a, b: CF.cosine_embedding_loss(a, b, y, 0.2, reduction=reduction),
            lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor(y), 0.2,
                                                 reduction=reduction), x1, x2)
    compare(lambda a, b: nn.CosineEmbeddingLoss(reduction=reduction)(a, b, y[0]),
            lambda a, b: torch.nn.CosineEmbeddingLoss(reduction=reduction)(
                a, b, torch.tensor(y[0])), x1[0], x2[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_triplet_margin_loss(reduction: str, swap: bool, p: float) -> None:
    r = rng(7)
    a, pos, neg = (r.standard_normal((5, 3)) for _ in range(3))
    compare(lambda x, y, z: CF.triplet_margin_loss(x, y, z, 1.5, p, swap=swap,
                                                   reduction=reduction),
            lambda x, y, z: F.triplet_margin_loss(x, y, z, 1.5, p, swap=swap,
                                                  reduction=reduction), a, pos, neg)
    compare(lambda x, y, z: nn.TripletMarginLoss(p=p, swap=swap, reduction=reduction)(x, y, z),
            lambda x, y, z: torch.nn.TripletMarginLoss(p=p, swap=swap, reduction=reduction)(
                x, y, z), a[0], pos[0], neg[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_with_distance_loss(reduction: str) -> None:
    r = rng(8)
    a, pos, neg = (r.standard_normal((5, 3)) for _ in range(3))
    compare(lambda x, y, z: CF.triplet_margin_with_distance_loss(x, y, z, swap=True,
                                                                 reduction=reduction),
            lambda x, y, z: F.triplet_margin_with_distance_loss(x, y, z, swap=True,
                                                                reduction=reduction),
            a, pos, neg)

    def ours(x, y, z):
        cos = nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: 1.0 - CF.cosine_similarity(u, v), margin=0.5,
            reduction=reduction)
        return cos(x, y, z)

    def theirs(x, y, z):
        cos = torch.nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: 1.0 - F.cosine_similarity(u, v), margin=0.5,
            reduction=reduction)
        return cos(x, y, z)

    compare(ours, theirs, a, pos, neg)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction: str) -> None:
    x, y = rng(9).standard_normal((4, 3)) * 3, signs(4, 3, seed=10)
    compare(lambda a, t: CF.soft_margin_loss(a, t, reduction=reduction),
            lambda a, t: F.soft_margin_loss(a, t, reduction=reduction), x, y,
            needs=(True, False))
    compare(lambda a: nn.SoftMarginLoss(reduction=reduction)(a, y),
            lambda a: torch.nn.SoftMarginLoss(reduction=reduction)(a, torch.tensor(y)), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss(reduction: str, weighted: bool) -> None:
    r = rng(11)
    x, y = r.standard_normal((4, 5)), (r.random((4, 5)) > 0.5).astype(float)
    w = r.uniform(0.5, 2.0, 5) if weighted else None
    tw = None if w is None else torch.tensor(w)
    compare(lambda a, t: CF.multilabel_soft_margin_loss(a, t, w, reduction=reduction),
            lambda a, t: F.multilabel_soft_margin_loss(a, t, tw, reduction=reduction), x, y)
    compare(lambda a: nn.MultiLabelSoftMarginLoss(w, reduction=reduction)(a, y),
            lambda a: torch.nn.MultiLabelSoftMarginLoss(tw, reduction=reduction)(
                a, torch.tensor(y)), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss(reduction: str, p: int, weighted: bool) -> None:
    r = rng(12)
    x, y = r.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])
    w = r.uniform(0.5, 2.0, 4) if weighted else None
    tw = None if w is None else torch.tensor(w)
    compare(lambda a: CF.multi_margin_loss(a, y, p, 0.7, w, reduction=reduction),
            lambda a: F.multi_margin_loss(a, torch.tensor(y), p, 0.7, tw,
                                          reduction=reduction), x)
    compare(lambda a: nn.MultiMarginLoss(p, weight=w, reduction=reduction)(a, y[0]),
            lambda a: torch.nn.MultiMarginLoss(p, weight=tw, reduction=reduction)(
                a, torch.tensor(y[0])), x[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction: str) -> None:
    x = rng(13).standard_normal((4, 5))
    y = np.array([[3, 0, -1, 1, 2], [1, 2, 4, 0, 3], [-1, 1, 1, 1, 1], [2, 2, 0, -1, -1]])
    compare(lambda a: CF.multilabel_margin_loss(a, y, reduction=reduction),
            lambda a: F.multilabel_margin_loss(a, torch.tensor(y), reduction=reduction), x)
    compare(lambda a: nn.MultiLabelMarginLoss(reduction=reduction)(a, y[0]),
            lambda a: torch.nn.MultiLabelMarginLoss(reduction=reduction)(
                a, torch.tensor(y[0])), x[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,)])
def test_gaussian_nll_loss(reduction: str, full: bool, var_shape: tuple) -> None:
    r = rng(14)
    x, y = r.standard_normal((4, 3)), r.standard_normal((4, 3))
    var = r.uniform(0.1, 2.0, var_shape)
    var.flat[0] = 1e-8  # below eps: clamped in value, not in gradient
    compare(lambda a, t, v: CF.gaussian_nll_loss(a, t, v, full, reduction=reduction),
            lambda a, t, v: F.gaussian_nll_loss(a, t, v, full, reduction=reduction),
            x, y, var)
    compare(lambda a, t: nn.GaussianNLLLoss(full=full, eps=1e-3, reduction=reduction)(
                a, t, 0.5),
            lambda a, t: torch.nn.GaussianNLLLoss(full=full, eps=1e-3, reduction=reduction)(
                a, t, 0.5), x, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(reduction: str, log_input: bool, full: bool) -> None:
    r = rng(15)
    x = r.standard_normal((4, 3)) if log_input else r.uniform(0.1, 3.0, (4, 3))
    y = r.poisson(2.0, (4, 3)).astype(float) + r.uniform(0.0, 0.5, (4, 3))
    y[0, 0], y[0, 1] = 0.0, 1.0  # the Stirling term is 0 at and below 1
    compare(lambda a, t: CF.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
            lambda a, t: F.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
            x, y, needs=(True, not full))
    compare(lambda a: nn.PoissonNLLLoss(log_input, full, reduction=reduction)(a, y),
            lambda a: torch.nn.PoissonNLLLoss(log_input, full, reduction=reduction)(
                a, torch.tensor(y)), x)


def test_poisson_full_target_gradient_where_targets_exceed_one() -> None:
    r = rng(16)
    x, y = r.standard_normal((3, 3)), r.uniform(1.5, 4.0, (3, 3))
    compare(lambda a, t: CF.poisson_nll_loss(a, t, full=True),
            lambda a, t: F.poisson_nll_loss(a, t, full=True), x, y)


def test_deprecated_size_average_and_reduce_as_torch() -> None:
    r = rng(17)
    x1, x2, y = r.standard_normal(5), r.standard_normal(5), signs(5, seed=18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kwargs in [{"size_average": False}, {"reduce": False}]:
            compare(lambda a, b, kw=kwargs: CF.margin_ranking_loss(a, b, y, **kw),
                    lambda a, b, kw=kwargs: F.margin_ranking_loss(a, b, torch.tensor(y), **kw),
                    x1, x2)


def test_weighted_loss_modules_keep_weight_in_state_dict_as_torch() -> None:
    w = np.array([1.0, 2.0, 0.5])
    for name in ("MultiLabelSoftMarginLoss", "MultiMarginLoss"):
        ours = getattr(nn, name)(weight=w)
        theirs = getattr(torch.nn, name)(weight=torch.tensor(w))
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        np.testing.assert_array_equal(ours.state_dict()["weight"], w)


# ---- CTC ----------------------------------------------------------------------------------------

CTC_TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 2, 2, 1], [4, 0, 0, 0]])
CTC_TARGET_LENGTHS = np.array([3, 2, 4, 0])  # repeated labels, and an empty target
CTC_INPUT_LENGTHS = np.array([9, 6, 9, 3])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss_through_log_softmax(reduction: str, concatenated: bool) -> None:
    """Through log_softmax, as CTC is used: values and the gradient of the logits agree
    (PyTorch's log_probs gradient carries an extra exp(log_probs) that log_softmax's
    backward cancels; ours is the exact derivative)."""
    logits = rng(20).standard_normal((9, 4, 6))
    targets = np.where(CTC_TARGETS == 0, 5, CTC_TARGETS)  # labels 1..4, blank 5 (padding)
    if concatenated:
        targets = np.concatenate([row[:n] for row, n in zip(targets, CTC_TARGET_LENGTHS)])

    def ours(z):
        return CF.ctc_loss(z.log_softmax(2), targets, CTC_INPUT_LENGTHS, CTC_TARGET_LENGTHS,
                           blank=5, reduction=reduction)

    def theirs(z):
        return F.ctc_loss(z.log_softmax(2), torch.tensor(targets),
                          torch.tensor(CTC_INPUT_LENGTHS), torch.tensor(CTC_TARGET_LENGTHS),
                          blank=5, reduction=reduction)

    compare(ours, theirs, logits)


def test_ctc_log_probs_gradient_is_torch_minus_exp_log_probs() -> None:
    lp = torch.tensor(rng(21).standard_normal((7, 2, 4)), dtype=torch.float64).log_softmax(2)
    lp.requires_grad_(True)
    tg, il, tl = np.array([[1, 2], [3, 3]]), np.array([7, 5]), np.array([2, 2])
    F.ctc_loss(lp, torch.tensor(tg), torch.tensor(il), torch.tensor(tl),
               reduction="sum").backward()
    ours = cr.tensor(lp.detach().numpy(), requires_grad=True)
    loss = CF.ctc_loss(ours, tg, il, tl, reduction="sum")
    loss.backward()
    frames = (np.arange(7)[:, None] < il[None, :])[..., None]  # torch: 0 past each input
    expected = lp.grad.numpy() - np.exp(lp.detach().numpy()) * frames
    np.testing.assert_allclose(ours.grad, expected, rtol=TOL, atol=TOL)


def test_ctc_module_unbatched_and_zero_infinity() -> None:
    logits = rng(22).standard_normal((5, 4))
    compare(lambda z: nn.CTCLoss()(z.log_softmax(1), np.array([1, 2]), 5, 2),
            lambda z: torch.nn.CTCLoss()(z.log_softmax(1), torch.tensor([1, 2]),
                                         torch.tensor(5), torch.tensor(2)), logits)
    # a target longer than its input is impossible: inf, or 0 with zero_infinity
    logits = rng(23).standard_normal((3, 2, 4))
    tg, il, tl = np.array([[1, 2, 3, 1], [1, 2, 0, 0]]), np.array([3, 3]), np.array([4, 2])
    for reduction in REDUCTIONS:
        compare(lambda z, r=reduction: CF.ctc_loss(z.log_softmax(2), tg, il, tl,
                                                   reduction=r, zero_infinity=True),
                lambda z, r=reduction: F.ctc_loss(z.log_softmax(2), torch.tensor(tg),
                                                  torch.tensor(il), torch.tensor(tl),
                                                  reduction=r, zero_infinity=True), logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = CF.ctc_loss(cr.tensor(logits).log_softmax(2), tg, il, tl, reduction="none")
    assert np.isinf(out.numpy()[0]) and np.isfinite(out.numpy()[1])
