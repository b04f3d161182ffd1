"""BCE on probabilities, smooth L1, KL divergence, soft-target cross-entropy, weighted
regression losses, dense NLL, and the vector helpers (normalize, cosine_similarity,
pairwise_distance, one_hot): float64 central differences, dtypes, errors, module forms.
No torch here (see test_losses_vs_torch.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import functional as F
from chainrule import losses
from helpers import check_grads

REDUCTIONS = ["mean", "sum", "none"]


def T(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a, requires_grad=True, dtype="float64")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def scalar(fn, *ts):
    """A scalar from a possibly unreduced loss: a fixed random projection, so every
    element of the gradient is exercised with a different weight."""
    def run():
        out = fn(*ts)
        if out.ndim == 0:
            return out
        proj = rng(42).standard_normal(out.shape)
        return (out * proj).sum()
    return run


# ---- losses: gradients ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_gradients(reduction: str, weighted: bool) -> None:
    x = T(rng(0).uniform(0.05, 0.95, (4, 3)))
    y = T(rng(1).uniform(0, 1, (4, 3)))
    w = rng(2).uniform(0.5, 2.0, (3,)) if weighted else None
    check_grads(scalar(lambda a, b: F.binary_cross_entropy(a, b, w, reduction=reduction),
                       x, y), [x, y])


def test_binary_cross_entropy_value_by_hand_and_clamp() -> None:
    x = cr.tensor([0.25, 0.0, 1.0], dtype="float64")
    y = cr.tensor([1.0, 1.0, 1.0], dtype="float64")
    out = F.binary_cross_entropy(x, y, reduction="none").numpy()
    np.testing.assert_allclose(out, [-math.log(0.25), 100.0, 0.0])
    assert np.isfinite(F.binary_cross_entropy(x, 1 - y.numpy(), reduction="sum").item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_gradients(reduction: str, beta: float) -> None:
    y = rng(1).standard_normal((3, 4))
    # differences away from the kinks at |d| = beta (and 0), where the derivative jumps
    sign = rng(2).choice([-1.0, 1.0], (3, 4))
    mag = np.where(rng(3).uniform(size=(3, 4)) < 0.5, rng(4).uniform(0.05, 0.4, (3, 4)),
                   rng(5).uniform(1.2, 2.0, (3, 4)))
    x, t = T(y + sign * mag), T(y)
    check_grads(scalar(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                       x, t), [x, t])


def test_smooth_l1_is_huber_over_beta_and_l1_at_zero() -> None:
    x = cr.tensor(rng(0).standard_normal((5, 2)) * 2, dtype="float64")
    y = cr.tensor(rng(1).standard_normal((5, 2)), dtype="float64")
    for beta in (0.3, 1.0, 2.5):
        np.testing.assert_allclose(F.smooth_l1_loss(x, y, beta=beta).item(),
                                   F.huber_loss(x, y, delta=beta).item() / beta, rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(x, y, beta=0.0).item(),
                               F.l1_loss(x, y).item(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_gradients(reduction: str, log_target: bool) -> None:
    logq = T(np.log(rng(0).dirichlet(np.ones(4), size=3)))
    p = rng(1).dirichlet(np.ones(4), size=3)
    t = T(np.log(p) if log_target else p)
    check_grads(scalar(lambda a, b: F.kl_div(a, b, reduction=reduction,
                                             log_target=log_target), logq, t), [logq, t])


def test_kl_div_batchmean_is_the_divergence_per_sample() -> None:
    p = rng(0).dirichlet(np.ones(5), size=4)
    q = rng(1).dirichlet(np.ones(5), size=4)
    expected = np.sum(p * np.log(p / q)) / 4
    got = F.kl_div(cr.tensor(np.log(q), dtype="float64"), p, reduction="batchmean").item()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the same in log space, and a zero target contributes zero (0·log 0 = 0)
    got_log = F.kl_div(cr.tensor(np.log(q), dtype="float64"), np.log(p),
                       reduction="batchmean", log_target=True).item()
    np.testing.assert_allclose(got_log, expected, rtol=1e-12)
    p0 = np.array([[0.0, 1.0]])
    assert F.kl_div(cr.tensor([[-1.0, -0.5]], dtype="float64"), p0,
                    reduction="sum").item() == pytest.approx(0.5)


SOFT_CASES = {
    "plain": {},
    "weight": {"weight": np.array([0.5, 2.0, 1.0, 1.5])},
    "smoothing": {"label_smoothing": 0.2},
    "both": {"weight": np.array([0.5, 2.0, 1.0, 1.5]), "label_smoothing": 0.1},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(SOFT_CASES))
def test_soft_target_cross_entropy_gradients(case: str, reduction: str) -> None:
    z = T(rng(0).standard_normal((5, 4)))
    y = T(rng(1).dirichlet(np.ones(4), size=5))
    kw = SOFT_CASES[case]
    check_grads(scalar(lambda a, b: F.cross_entropy(a, b, reduction=reduction, **kw), z, y),
                [z, y])


def test_soft_target_cross_entropy_dense_and_unbatched_gradients() -> None:
    z = T(rng(0).standard_normal((2, 3, 4, 2)))
    y = T(np.moveaxis(rng(1).dirichlet(np.ones(3), size=(2, 4, 2)), -1, 1))
    check_grads(scalar(lambda a, b: F.cross_entropy(a, b, reduction="none"), z, y), [z, y])
    check_grads(lambda: F.cross_entropy(z, y, label_smoothing=0.1), [z, y])
    z1 = T(rng(2).standard_normal(3))
    y1 = T(rng(3).dirichlet(np.ones(3)))
    check_grads(lambda: F.cross_entropy(z1, y1), [z1, y1])


def test_soft_targets_equal_index_targets_when_one_hot() -> None:
    z = cr.tensor(rng(0).standard_normal((6, 4)), dtype="float64")
    idx = np.array([0, 3, 1, 1, 2, 0])
    onehot = np.eye(4)[idx]
    w = np.array([1.0, 2.0, 0.5, 1.0])
    for kw in ({}, {"label_smoothing": 0.3}):
        np.testing.assert_allclose(F.cross_entropy(z, onehot, **kw).item(),
                                   F.cross_entropy(z, idx, **kw).item(), rtol=1e-12)
    # with weights, index targets divide by the summed weights, probabilities by N
    np.testing.assert_allclose(F.cross_entropy(z, onehot, w, reduction="sum").item(),
                               F.cross_entropy(z, idx, w, reduction="sum").item(),
                               rtol=1e-12)


def test_index_cross_entropy_unbatched_and_dense() -> None:
    z = T(rng(0).standard_normal(5))
    check_grads(lambda: F.cross_entropy(z, 3, label_smoothing=0.1), [z])
    assert F.cross_entropy(z, np.array(3), reduction="none").shape == ()
    zd = T(rng(1).standard_normal((2, 3, 4)))
    t = rng(2).integers(0, 3, (2, 4))
    check_grads(scalar(lambda a: F.cross_entropy(a, t, reduction="none"), zd), [zd])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_dense_and_unbatched(reduction: str) -> None:
    lp = T(rng(0).standard_normal((2, 3, 4)))
    t = np.array([[0, 2, -100, 1], [1, 1, 0, 2]])
    w = np.array([1.0, 0.5, 2.0])
    check_grads(scalar(lambda a: F.nll_loss(a, t, w, reduction=reduction), lp), [lp])
    out = F.nll_loss(lp, t, reduction="none")
    assert out.shape == (2, 4) and out.numpy()[0, 2] == 0
    lp1 = T(rng(1).standard_normal(4))
    assert F.nll_loss(lp1, 2).item() == pytest.approx(-lp1.numpy()[2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(name: str, reduction: str) -> None:
    x, y = T(rng(0).standard_normal((4, 3)) * 2), T(rng(1).standard_normal((4, 3)))
    w = rng(2).uniform(0.1, 2.0, (4, 3))
    fn = getattr(F, name)
    check_grads(scalar(lambda a, b: fn(a, b, reduction=reduction, weight=w), x, y), [x, y])
    per = fn(x, y, reduction="none").numpy() * w
    expected = {"none": per, "sum": per.sum(),
                "mean": per.sum() / w.sum() if name != "huber_loss" else per.mean()}
    np.testing.assert_allclose(fn(x, y, reduction=reduction, weight=w).numpy(),
                               expected[reduction], rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_weight(reduction: str) -> None:
    z, y = T(rng(0).standard_normal((4, 3)) * 2), T(rng(1).uniform(0, 1, (4, 3)))
    w = rng(2).uniform(0.1, 2.0, (4, 1))
    pw = np.array([1.0, 3.0, 0.5])
    check_grads(scalar(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, w, reduction=reduction, pos_weight=pw), z, y), [z, y])


# ---- losses: dtypes, arguments, errors ------------------------------------------------------
DTYPE_CASES = {
    "bce": lambda x, y: F.binary_cross_entropy(x.sigmoid(), y, np.ones(3)),
    "smooth_l1": lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
    "kl_div": lambda x, y: F.kl_div(x.log_softmax(-1), y, reduction="batchmean"),
    "soft_ce": lambda x, y: F.cross_entropy(x, y, np.ones(3), label_smoothing=0.1),
    "weighted_mse": lambda x, y: F.mse_loss(x, y, weight=np.ones((2, 3))),
    "bce_logits_weight": lambda x, y: F.binary_cross_entropy_with_logits(x, y, np.ones(3)),
    "normalize": lambda x, y: F.normalize(x).sum(),
    "cosine": lambda x, y: F.cosine_similarity(x, y).sum(),
    "pairwise": lambda x, y: F.pairwise_distance(x, y).sum(),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
def test_dtype_is_kept(case: str, dtype: str) -> None:
    x = cr.tensor(rng(0).standard_normal((2, 3)), requires_grad=True, dtype=dtype)
    # float64 constants must not upcast a float32 input
    y = cr.tensor(rng(1).dirichlet(np.ones(3), size=2), requires_grad=True, dtype=dtype)
    out = DTYPE_CASES[case](x, y)
    assert out.dtype == np.dtype(dtype)
    out.backward()
    assert np.asarray(x.grad).dtype == np.dtype(dtype)


def test_legacy_size_average_and_reduce() -> None:
    x, y = cr.tensor([1.0, 3.0]), cr.tensor([0.0, 0.0])
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert F.mse_loss(x, y, size_average=False).item() == 10.0
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.l1_loss(x, y, reduce=False).shape == (2,)
    with pytest.warns(UserWarning):
        assert cr.nn.MSELoss(size_average=False)(x, y).item() == 10.0
    with pytest.warns(UserWarning):
        assert cr.nn.CrossEntropyLoss(reduce=False).reduction == "none"


def test_reduction_as_third_positional_argument_still_works() -> None:
    x, y = cr.tensor([1.0, 3.0]), cr.tensor([0.0, 0.0])
    assert F.mse_loss(x, y, "sum").item() == 10.0
    z = cr.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert F.cross_entropy(z, [0, 1], "none").shape == (2,)
    assert cr.nn.CrossEntropyLoss("sum").reduction == "sum"
    assert cr.nn.MSELoss("sum").reduction == "sum"


def test_pytorch_positional_weight() -> None:
    z = cr.tensor(rng(0).standard_normal((4, 3)), dtype="float64")
    t = np.array([0, 1, 2, 1])
    w = np.array([1.0, 2.0, 3.0])
    a = cr.nn.CrossEntropyLoss(w)(z, t).item()
    b = F.cross_entropy(z, t, w).item()
    c = F.cross_entropy(z, t, weight=w).item()
    assert a == b == c
    assert a != F.cross_entropy(z, t).item()


def test_weighted_loss_modules_keep_weight_as_buffer() -> None:
    w = np.array([1.0, 2.0, 3.0])
    for module in (cr.nn.CrossEntropyLoss(w), cr.nn.NLLLoss(w), cr.nn.BCELoss(w)):
        np.testing.assert_array_equal(module.state_dict()["weight"], w)
    bce = cr.nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0])
    assert set(bce.state_dict()) == {"pos_weight"}
    assert cr.nn.CrossEntropyLoss().state_dict() == {}


def test_new_modules_match_their_functions() -> None:
    x = cr.tensor(rng(0).uniform(0.1, 0.9, (3, 2)), dtype="float64")
    y = cr.tensor(rng(1).uniform(0.0, 1.0, (3, 2)), dtype="float64")
    pairs = [
        (cr.nn.BCELoss(reduction="sum"), lambda: F.binary_cross_entropy(x, y, None,
                                                                        reduction="sum")),
        (cr.nn.SmoothL1Loss(beta=0.3), lambda: F.smooth_l1_loss(x, y, beta=0.3)),
        (cr.nn.KLDivLoss(reduction="batchmean", log_target=True),
         lambda: F.kl_div(x.log(), y.log(), reduction="batchmean", log_target=True)),
    ]
    for module, fn in pairs:
        inp = x.log() if isinstance(module, losses.KLDivLoss) else x
        tgt = y.log() if isinstance(module, losses.KLDivLoss) else y
        assert module(inp, tgt).item() == fn().item()
    assert cr.nn.SmoothL1Loss is losses.SmoothL1Loss
    assert "smooth_l1" in losses.LOSSES


@pytest.mark.parametrize("call, message", [
    (lambda: F.binary_cross_entropy(cr.tensor([1.5]), [1.0]), "probability in"),
    (lambda: F.binary_cross_entropy(cr.tensor([float("nan")]), [1.0]), "probability in"),
    (lambda: F.binary_cross_entropy(cr.tensor([[0.5, 0.5]]), [[1.0, 0.0]], np.ones(3)),
     "does not broadcast"),
    (lambda: F.kl_div(cr.tensor([0.0]), [1.0], reduction="avg"), "reduction must be"),
    (lambda: F.mse_loss(cr.tensor([0.0]), [1.0], reduction="batchmean"), "reduction must"),
    (lambda: F.smooth_l1_loss(cr.tensor([0.0]), [1.0], beta=-1.0), "beta"),
    (lambda: F.mse_loss(cr.tensor([0.0, 1.0]), [1.0, 2.0], weight=np.ones(3)), "weight"),
    (lambda: F.cross_entropy(cr.tensor([[0.0, 1.0]]), [[0.5, 0.5]], np.ones(3)),
     "one entry per class"),
    (lambda: F.cross_entropy(cr.tensor([[0.0, 1.0]]), [0.5]), "integer class indices"),
    (lambda: F.cross_entropy(cr.tensor([[0.0, 1.0]]), [2]), "out of range"),
    (lambda: F.cross_entropy(cr.tensor([[0.0, 1.0]]), [0], label_smoothing=1.5),
     "label_smoothing"),
    (lambda: F.nll_loss(cr.tensor([[0.0, 1.0]]), [[0]]), "targets of shape"),
    (lambda: cr.nn.KLDivLoss(reduction="avg"), "reduction must"),
])
def test_bad_arguments_raise_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ---- vector helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("dim", [1, -1, 0])
def test_normalize_gradients(p: float, dim: int) -> None:
    # |x| all distinct (no two values k/10 − 1.12 are opposite): no ties for the ∞-norm
    x = T(rng(0).permutation(24).reshape(2, 3, 4) * 0.1 - 1.12)
    check_grads(scalar(lambda a: F.normalize(a, p=p, dim=dim), x), [x])
    out = F.normalize(x, p=p, dim=dim).numpy()
    norms = np.linalg.norm(np.moveaxis(out, dim, -1), ord=p, axis=-1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def test_normalize_zero_vector_stays_zero() -> None:
    x = cr.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True, dtype="float64")
    out = F.normalize(x)
    np.testing.assert_array_equal(out.numpy(), [[0.0, 0.0], [0.6, 0.8]])
    out.sum().backward()
    assert np.all(np.isfinite(np.asarray(x.grad)))


@pytest.mark.parametrize("sa, sb, dim", [((4, 3), (4, 3), 1), ((2, 5, 3), (5, 3), -1),
                                         ((3, 1, 4), (1, 2, 4), 2), ((6,), (6,), 0),
                                         ((4, 3), (3,), 0)])
def test_cosine_similarity_gradients(sa: tuple, sb: tuple, dim: int) -> None:
    a, b = T(rng(0).standard_normal(sa)), T(rng(1).standard_normal(sb))
    if sa == (4, 3) and sb == (3,):  # dim 0 of the broadcast shape (4, 3): columns
        check_grads(scalar(lambda x, y: F.cosine_similarity(x, y, dim=0), a, b), [a, b])
        return
    check_grads(scalar(lambda x, y: F.cosine_similarity(x, y, dim=dim), a, b), [a, b])
    out = F.cosine_similarity(a, b, dim=dim).numpy()
    fa, fb = np.broadcast_arrays(a.numpy(), b.numpy())
    expected = np.sum(fa * fb, axis=dim) / (np.linalg.norm(fa, axis=dim)
                                            * np.linalg.norm(fb, axis=dim))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_cosine_similarity_module_and_bounds() -> None:
    a = cr.tensor(rng(0).standard_normal((5, 3)))
    out = cr.nn.CosineSimilarity(dim=1, eps=1e-8)(a, a * 3.0)
    np.testing.assert_allclose(out.numpy(), 1.0, rtol=1e-6)
    assert F.cosine_similarity(a, -a).numpy().min() >= -1.0
    z = cr.tensor([[0.0, 0.0]])
    assert F.cosine_similarity(z, cr.tensor([[1.0, 2.0]])).item() == 0.0
    with pytest.raises(ValueError, match="out of range"):
        F.cosine_similarity(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="broadcast"):
        F.cosine_similarity(cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((2, 4))))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_gradients(p: float, keepdim: bool) -> None:
    a, b = T(rng(0).standard_normal((4, 3))), T(rng(1).standard_normal((4, 3)))
    check_grads(scalar(lambda x, y: F.pairwise_distance(x, y, p=p, keepdim=keepdim), a, b),
                [a, b])
    out = cr.nn.PairwiseDistance(p=p, keepdim=keepdim)(a, b)
    expected = np.linalg.norm(a.numpy() - b.numpy() + 1e-6, ord=p, axis=-1, keepdims=keepdim)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_one_hot() -> None:
    out = F.one_hot(cr.tensor([[0, 2], [1, 1]]))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 1]]])
    assert F.one_hot(np.array([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]
    assert F.one_hot(np.zeros(0, dtype=np.int64), 3).shape == (0, 3)
    with pytest.raises(TypeError, match="integers"):
        F.one_hot(cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="out of range"):
        F.one_hot(np.array([3]), num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        F.one_hot(np.array([-1]))


def test_reachable_under_pytorch_paths_and_rebuilt_from_spec() -> None:
    from chainrule.io.architecture import from_spec, to_spec

    for name in ("BCELoss", "SmoothL1Loss", "KLDivLoss", "CrossEntropyLoss", "NLLLoss",
                 "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss"):
        assert getattr(cr.nn, name) is getattr(losses, name)
    for name in ("binary_cross_entropy", "smooth_l1_loss", "kl_div", "one_hot", "normalize",
                 "cosine_similarity", "pairwise_distance"):
        assert getattr(cr.nn.functional, name) is getattr(F, name)
    for module in (cr.nn.CosineSimilarity(dim=2, eps=1e-6),
                   cr.nn.PairwiseDistance(p=1.0, eps=0.0, keepdim=True)):
        rebuilt = from_spec(to_spec(module))
        assert type(rebuilt) is type(module) and repr(rebuilt) == repr(module)
