"""The torch.nn layers and torch.nn.functional functions added for issue 12 (padding,
shuffles, shrinks, RReLU, GLU, softmin, Gumbel-softmax, alpha dropout, Bilinear, LPPool,
LocalResponseNorm, EmbeddingBag, pdist, grid_sample/affine_grid, LazyLinear) against
PyTorch in float64: the value and every input and parameter gradient, layers with
weights loading torch's state_dict strictly. Random ops are compared with the same noise
(Gumbel) or through their formula (alpha dropout)."""

from __future__ import annotations

import math
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


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


compare = partial(compare_with_torch, tol=TOL)  # see tests/helpers.py

def compare_module(ours: nn.Module, theirs: torch.nn.Module, *arrays: np.ndarray,
                   tol: float = TOL) -> None:
    """Load torch's state_dict strictly into ours, then compare outputs and the gradients
    of every input and parameter."""
    theirs = theirs.double()
    ours.to(np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    compare(lambda *xs: ours(*xs), lambda *ts: theirs(*ts), *arrays, tol=tol)
    for name, p in theirs.named_parameters():
        mine = dict(ours.named_parameters())[name]
        np.testing.assert_allclose(mine.grad, p.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"gradient of parameter {name}")


# ---- padding ------------------------------------------------------------------------------------

PAD_CASES = [
    ((2, 3, 6), (2, 1)), ((3, 6), (1, 3)), ((2, 3, 6), (-1, 2)), ((2, 3, 6), (5, 0)),
    ((2, 2, 5, 4), (1, 2, 3, 0)), ((2, 5, 4), (3, 1, 1, 2)), ((2, 2, 5, 4), (-1, 2, 2, -2)),
    ((1, 2, 3, 4, 5), (1, 2, 0, 2, 2, 1)), ((2, 3, 4, 5), (2, 1, 1, 2, 1, 1)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
@pytest.mark.parametrize("shape,widths", PAD_CASES)
def test_pad_modes(mode: str, shape: tuple, widths: tuple) -> None:
    if mode == "reflect" and max(widths) >= min(shape[-len(widths) // 2:]):
        widths = tuple(min(w, 1) for w in widths)
    kwargs = {"value": 0.5} if mode == "constant" else {}
    compare(lambda t: CF.pad(t, widths, mode=mode, **kwargs),
            lambda t: F.pad(t, widths, mode=mode, **kwargs), rng(1).standard_normal(shape))


def test_pad_constant_any_rank_and_cropping() -> None:
    x = rng(2).standard_normal((2, 3, 4))
    for widths in [(1, 1), (0, 0, 2, 1, 1, 0), (-1, -2, 1, 0), (2, -1, 0, 0, -1, 0)]:
        compare(lambda t, w=widths: CF.pad(t, w), lambda t, w=widths: F.pad(t, w), x)


PAD_MODULES = [
    ("ZeroPad1d", (2, 1), (2, 3, 5)), ("ZeroPad2d", 1, (2, 3, 4, 5)),
    ("ZeroPad3d", (1, 0, 2, 1, 0, 1), (1, 2, 3, 4, 5)),
    ("ReflectionPad1d", 2, (2, 3, 5)), ("ReflectionPad2d", (1, 2, 2, 1), (2, 3, 4, 5)),
    ("ReflectionPad3d", 1, (1, 2, 3, 4, 5)),
    ("ReplicationPad1d", (3, 1), (3, 5)), ("ReplicationPad2d", 2, (3, 4, 5)),
    ("ReplicationPad3d", (1, 2, 0, 1, 2, 0), (1, 2, 3, 4, 5)),
    ("CircularPad1d", (1, 4), (2, 3, 5)), ("CircularPad2d", 2, (2, 3, 4, 5)),
    ("CircularPad3d", 1, (2, 3, 4, 5)),
]


@pytest.mark.parametrize("name,padding,shape", PAD_MODULES)
def test_pad_modules(name: str, padding, shape: tuple) -> None:
    ours, theirs = getattr(nn, name)(padding), getattr(torch.nn, name)(padding)
    assert ours.padding == theirs.padding and repr(ours) == repr(theirs)
    compare(ours, theirs, rng(3).standard_normal(shape))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_constant_pad_modules(d: int) -> None:
    shape = (2, 3, 4, 5, 3)[: d + 2]
    name = f"ConstantPad{d}d"
    ours, theirs = getattr(nn, name)(2, -1.5), getattr(torch.nn, name)(2, -1.5)
    assert repr(ours) == repr(theirs)
    compare(ours, theirs, rng(4).standard_normal(shape))


# ---- shuffles -----------------------------------------------------------------------------------

def test_pixel_shuffle_unshuffle_and_channel_shuffle() -> None:
    compare(lambda t: CF.pixel_shuffle(t, 2), lambda t: F.pixel_shuffle(t, 2),
            rng(5).standard_normal((2, 12, 3, 4)))
    compare(lambda t: CF.pixel_shuffle(t, 3), lambda t: F.pixel_shuffle(t, 3),
            rng(5).standard_normal((2, 2, 9, 2, 3)))
    compare(lambda t: CF.pixel_unshuffle(t, 2), lambda t: F.pixel_unshuffle(t, 2),
            rng(6).standard_normal((3, 2, 4, 6)))
    compare(lambda t: CF.channel_shuffle(t, 3), lambda t: F.channel_shuffle(t, 3),
            rng(7).standard_normal((2, 6, 2, 3)))
    compare(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), rng(8).standard_normal((8, 3, 3)))
    compare(nn.PixelUnshuffle(3), torch.nn.PixelUnshuffle(3), rng(8).standard_normal((1, 6, 6)))
    compare(nn.ChannelShuffle(2), torch.nn.ChannelShuffle(2), rng(9).standard_normal((2, 4, 3)))


# ---- activations --------------------------------------------------------------------------------

def away_from(values: np.ndarray, kinks: tuple[float, ...], gap: float = 1e-3) -> np.ndarray:
    for k in kinks:
        close = np.abs(values - k) < gap
        values = np.where(close, values + 2 * gap, values)
    return values


def test_threshold_shrinks_and_their_modules() -> None:
    x = away_from(rng(10).standard_normal((4, 5)) * 2, (0.3, 0.5, -0.5, 1.2, -1.2, 0.0))
    compare(lambda t: CF.threshold(t, 0.3, -2.0), lambda t: F.threshold(t, 0.3, -2.0), x)
    compare(lambda t: CF.hardshrink(t), lambda t: F.hardshrink(t), x)
    compare(lambda t: CF.hardshrink(t, 1.2), lambda t: F.hardshrink(t, 1.2), x)
    compare(lambda t: CF.softshrink(t), lambda t: F.softshrink(t), x)
    compare(lambda t: CF.softshrink(t, 1.2), lambda t: F.softshrink(t, 1.2), x)
    compare(nn.Threshold(0.3, 5.0), torch.nn.Threshold(0.3, 5.0), x)
    compare(nn.Hardshrink(1.2), torch.nn.Hardshrink(1.2), x)
    compare(nn.Softshrink(0.5), torch.nn.Softshrink(0.5), x)
    for ours, theirs in [(nn.Threshold(0.3, 5.0), torch.nn.Threshold(0.3, 5.0)),
                         (nn.Hardshrink(1.2), torch.nn.Hardshrink(1.2)),
                         (nn.Softshrink(), torch.nn.Softshrink())]:
        assert repr(ours) == repr(theirs)


def test_rrelu_in_eval_mode_is_torch_rrelu() -> None:
    x = away_from(rng(11).standard_normal((3, 4)), (0.0,))
    compare(lambda t: CF.rrelu(t), lambda t: F.rrelu(t), x)
    compare(lambda t: CF.rrelu(t, 0.2, 0.4), lambda t: F.rrelu(t, 0.2, 0.4), x)
    compare(nn.RReLU(0.1, 0.5).eval(), torch.nn.RReLU(0.1, 0.5).eval(), x)
    assert repr(nn.RReLU()) == repr(torch.nn.RReLU())


def test_glu_softmin_softmax2d() -> None:
    x = rng(12).standard_normal((2, 4, 3, 6))
    for dim in (-1, 1):
        compare(lambda t, d=dim: CF.glu(t, d), lambda t, d=dim: F.glu(t, d), x)
    compare(nn.GLU(1), torch.nn.GLU(1), x)
    for dim in (0, 2, -1):
        compare(lambda t, d=dim: CF.softmin(t, d), lambda t, d=dim: F.softmin(t, d), x)
    compare(nn.Softmin(1), torch.nn.Softmin(1), x)
    compare(nn.Softmax2d(), torch.nn.Softmax2d(), x)
    compare(nn.Softmax2d(), torch.nn.Softmax2d(), x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for shape in [(5,), (2, 3), (2, 3, 4), (2, 3, 4, 2)]:  # the implicit dim choice
            compare(lambda t: CF.softmin(t), lambda t: F.softmin(t),
                    rng(13).standard_normal(shape))


@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_with_the_same_noise(hard: bool) -> None:
    logits = rng(14).standard_normal((5, 4))
    gen = cr.Generator(7)
    state = gen.get_state()
    # the noise chainrule draws: the same generator state, the same formula
    u = gen.random(logits.shape, np.float64)
    noise = -np.log(-np.log1p(-u))
    gen.set_state(state)

    def ours(t):
        gen.set_state(state)
        return CF.gumbel_softmax(t, tau=0.7, hard=hard, dim=-1, generator=gen)

    def theirs(t):
        y_soft = ((t + torch.tensor(noise)) / 0.7).softmax(-1)
        if not hard:
            return y_soft
        index = y_soft.max(-1, keepdim=True)[1]
        y_hard = torch.zeros_like(t).scatter_(-1, index, 1.0)
        return y_hard - y_soft.detach() + y_soft

    compare(ours, theirs, logits)


@pytest.mark.parametrize("per_channel", [False, True])
def test_alpha_dropout_keeps_torch_values(per_channel: bool) -> None:
    """Every output of torch's alpha dropout is a·x + αap (kept) or −αa(1 − p) (dropped);
    ours takes the same two values, with masks of the same granularity."""
    p, x = 0.3, rng(15).standard_normal((20, 10, 5))
    torch.manual_seed(0)
    fn_t = F.feature_alpha_dropout if per_channel else F.alpha_dropout
    fn_c = CF.feature_alpha_dropout if per_channel else CF.alpha_dropout
    theirs = fn_t(torch.tensor(x), p, True).numpy()
    ours = fn_c(cr.tensor(x), p, True, generator=cr.Generator(3)).numpy()
    alpha = 1.7580993408473766
    a = 1 / math.sqrt((alpha**2 * p + 1) * (1 - p))
    kept, dropped = a * x + alpha * a * p, np.full(x.shape, -alpha * a * (1 - p))
    for out in (theirs, ours):
        is_kept = np.isclose(out, kept, rtol=0, atol=1e-12)
        assert np.all(is_kept | np.isclose(out, dropped, rtol=0, atol=1e-12))
        assert 0.2 < 1 - is_kept.mean() < 0.4
        if per_channel:
            assert np.all(is_kept.all(axis=2) | ~is_kept.any(axis=2))
    np.testing.assert_array_equal(fn_c(cr.tensor(x), p, False).numpy(), x)  # eval
    compare(lambda t: CF.alpha_dropout(t, 1.0, True), lambda t: F.alpha_dropout(t, 1.0, True),
            x)


# ---- Bilinear -----------------------------------------------------------------------------------

def test_bilinear_function_and_module_with_torch_weights() -> None:
    r = rng(16)
    x1, x2 = r.standard_normal((5, 3)), r.standard_normal((5, 4))
    w, b = r.standard_normal((2, 3, 4)), r.standard_normal(2)
    compare(CF.bilinear, F.bilinear, x1, x2, w, b)
    compare(CF.bilinear, F.bilinear, x1, x2, w)
    compare(CF.bilinear, F.bilinear, r.standard_normal((2, 3, 3)), r.standard_normal((2, 3, 4)),
            w, b)
    compare(CF.bilinear, F.bilinear, x1[0], x2[0], w, b)
    torch.manual_seed(0)
    for bias in (True, False):
        ours, theirs = nn.Bilinear(3, 4, 2, bias=bias), torch.nn.Bilinear(3, 4, 2, bias=bias)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        compare_module(ours, theirs, x1, x2)


# ---- pooling and normalisation ------------------------------------------------------------------

@pytest.mark.parametrize("p", [1, 2, 3, 1.5, math.inf])
def test_lp_pool(p: float) -> None:
    x = rng(17).uniform(0.2, 2.0, (2, 3, 7, 6))
    compare(lambda t: CF.lp_pool2d(t, p, 2), lambda t: F.lp_pool2d(t, p, 2), x)
    compare(lambda t: CF.lp_pool2d(t, p, (3, 2), stride=(2, 1), ceil_mode=True),
            lambda t: F.lp_pool2d(t, p, (3, 2), stride=(2, 1), ceil_mode=True), x)
    compare(lambda t: CF.lp_pool1d(t, p, 3, 2), lambda t: F.lp_pool1d(t, p, 3, 2), x[0])
    compare(nn.LPPool1d(p, 2), torch.nn.LPPool1d(p, 2), x[:, 0])
    compare(nn.LPPool2d(p, 3, 2, ceil_mode=True), torch.nn.LPPool2d(p, 3, 2, ceil_mode=True), x)


def test_lp_pool_of_signed_inputs_with_an_even_power() -> None:
    x = rng(18).standard_normal((2, 2, 6, 6))
    compare(lambda t: CF.lp_pool2d(t, 2, 2), lambda t: F.lp_pool2d(t, 2, 2), x)
    assert repr(nn.LPPool2d(2, 3)) == repr(torch.nn.LPPool2d(2, 3))


@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 7, 3, 4), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm(shape: tuple, size: int) -> None:
    x = rng(19).standard_normal(shape)
    compare(lambda t: CF.local_response_norm(t, size, 0.5, 0.7, 1.5),
            lambda t: F.local_response_norm(t, size, 0.5, 0.7, 1.5), x)
    compare(nn.LocalResponseNorm(size), torch.nn.LocalResponseNorm(size), x)


def test_local_response_norm_repr() -> None:
    assert repr(nn.LocalResponseNorm(3, 1e-3)) == repr(torch.nn.LocalResponseNorm(3, 1e-3))


# ---- EmbeddingBag -------------------------------------------------------------------------------

IDS_1D = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0, 7])
OFFSETS = np.array([0, 4, 4, 8])  # an empty bag in the middle


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_bag_with_offsets(mode: str, padding_idx) -> None:
    w = rng(20).standard_normal((10, 3))
    if padding_idx is not None:
        w[padding_idx] = 0

    def ours(t):
        return CF.embedding_bag(cr.tensor(IDS_1D), t, cr.tensor(OFFSETS), mode=mode,
                                padding_idx=padding_idx)

    def theirs(t):
        return F.embedding_bag(torch.tensor(IDS_1D), t, torch.tensor(OFFSETS), mode=mode,
                               padding_idx=padding_idx)

    compare(ours, theirs, w)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_is_embeddings(mode: str) -> None:
    """Gradients divided by each index's count in the batch, as F.embedding divides them
    (PyTorch's CPU embedding_bag reads the counts at the wrong positions: see NOTES)."""
    bag_of = np.repeat(np.arange(4), np.diff(np.append(OFFSETS, IDS_1D.size)))
    sizes = np.bincount(bag_of, minlength=4)

    def ours(t):
        return CF.embedding_bag(IDS_1D, t, OFFSETS, mode=mode, scale_grad_by_freq=True)

    def theirs(t):  # the bags summed from F.embedding's rows (which scale by frequency)
        rows = F.embedding(torch.tensor(IDS_1D), t, scale_grad_by_freq=True)
        if mode == "mean":
            rows = rows / torch.tensor(np.maximum(sizes, 1)[bag_of], dtype=t.dtype)[:, None]
        out = torch.zeros(4, t.shape[1], dtype=t.dtype)
        return out.index_add(0, torch.tensor(bag_of), rows)

    compare(ours, theirs, rng(20).standard_normal((10, 3)))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_fixed_length_bags_and_last_offset(mode: str) -> None:
    w = rng(21).standard_normal((10, 4))
    ids = np.array([[1, 2, 1], [3, 0, 9]])
    compare(lambda t: CF.embedding_bag(ids, t, mode=mode),
            lambda t: F.embedding_bag(torch.tensor(ids), t, mode=mode), w)
    offsets = np.array([0, 3, 5, 9])
    compare(lambda t: CF.embedding_bag(IDS_1D, t, offsets, mode=mode,
                                       include_last_offset=True),
            lambda t: F.embedding_bag(torch.tensor(IDS_1D), t, torch.tensor(offsets),
                                      mode=mode, include_last_offset=True), w)


def test_embedding_bag_per_sample_weights() -> None:
    r = rng(22)
    w, psw = r.standard_normal((10, 3)), r.standard_normal(IDS_1D.shape)
    compare(lambda t, s: CF.embedding_bag(IDS_1D, t, OFFSETS, mode="sum",
                                          per_sample_weights=s, padding_idx=2),
            lambda t, s: F.embedding_bag(torch.tensor(IDS_1D), t, torch.tensor(OFFSETS),
                                         mode="sum", per_sample_weights=s, padding_idx=2),
            w, psw)


def test_embedding_bag_module_with_torch_weights() -> None:
    torch.manual_seed(0)
    for kwargs in [{"mode": "sum"}, {"mode": "max", "padding_idx": 3},
                   {"mode": "mean", "include_last_offset": True}]:
        ours, theirs = nn.EmbeddingBag(10, 3, **kwargs), torch.nn.EmbeddingBag(10, 3, **kwargs)
        assert repr(ours) == repr(theirs)
        theirs = theirs.double()
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        ours.to(np.float64)
        out = ours(cr.tensor(IDS_1D), cr.tensor(OFFSETS))
        ref = theirs(torch.tensor(IDS_1D), torch.tensor(OFFSETS))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=TOL, atol=TOL)
        g = rng(23).standard_normal(out.shape)
        out.backward(g)
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=TOL,
                                   atol=TOL)


def test_embedding_bag_max_norm_renormalises_like_torch() -> None:
    w = rng(24).standard_normal((10, 3)) * 3
    ours, theirs = cr.tensor(w.copy(), dtype="float64"), torch.tensor(w.copy())
    out = CF.embedding_bag(IDS_1D, ours, OFFSETS, max_norm=1.0)
    ref = F.embedding_bag(torch.tensor(IDS_1D), theirs, torch.tensor(OFFSETS), max_norm=1.0)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


# ---- distances and resizing ---------------------------------------------------------------------

@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, math.inf])
def test_pdist(p: float) -> None:
    compare(lambda t: CF.pdist(t, p), lambda t: F.pdist(t, p), rng(25).standard_normal((5, 3)))


def test_pdist_p0_counts_with_zero_gradient() -> None:
    x = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 2.0], [1.0, 1.0, 1.0]])
    compare(lambda t: CF.pdist(t, 0), lambda t: F.pdist(t, 0), x)


def test_upsample_aliases_warn_and_match_torch() -> None:
    x = rng(26).standard_normal((1, 2, 3, 4))
    with pytest.warns(UserWarning, match="deprecated"):
        compare(lambda t: CF.upsample(t, scale_factor=2, mode="bilinear"),
                lambda t: F.upsample(t, scale_factor=2, mode="bilinear"), x)
    with pytest.warns(UserWarning, match="deprecated"):
        compare(lambda t: CF.upsample_nearest(t, size=(5, 7)),
                lambda t: F.upsample_nearest(t, size=(5, 7)), x)
    with pytest.warns(UserWarning, match="deprecated"):
        compare(lambda t: CF.upsample_bilinear(t, size=(5, 7)),
                lambda t: F.upsample_bilinear(t, size=(5, 7)), x)


# ---- spatial transformers -----------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Since version 1.3.0")
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 2, 4), (1, 1, 1, 3)])
def test_affine_grid(align: bool, size: tuple) -> None:
    theta = rng(27).standard_normal((size[0], len(size) - 2, len(size) - 1))
    compare(lambda t: CF.affine_grid(t, size, align_corners=align),
            lambda t: F.affine_grid(t, size, align_corners=align), theta)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample(mode: str, padding_mode: str, align: bool) -> None:
    r = rng(28)
    x = r.standard_normal((2, 3, 5, 6))
    grid = r.uniform(-1.6, 1.6, (2, 4, 7, 2))  # some samples fall outside the image
    needs = (True, mode == "bilinear")

    def ours(t, g):
        return CF.grid_sample(t, g, mode, padding_mode, align_corners=align)

    def theirs(t, g):
        return F.grid_sample(t, g, mode, padding_mode, align_corners=align)

    compare(ours, theirs, x, grid, needs=needs)


def test_spatial_transformer_pipeline() -> None:
    """affine_grid feeding grid_sample, gradients reaching theta through both."""
    r = rng(29)
    x, theta = r.standard_normal((2, 1, 6, 6)), r.standard_normal((2, 2, 3)) * 0.5

    def ours(img, th):
        return CF.grid_sample(img, CF.affine_grid(th, (2, 1, 4, 5), align_corners=False),
                              align_corners=False)

    def theirs(img, th):
        return F.grid_sample(img, F.affine_grid(th, (2, 1, 4, 5), align_corners=False),
                             align_corners=False)

    compare(ours, theirs, x, theta)


# ---- LazyLinear ---------------------------------------------------------------------------------

def test_lazy_linear_after_a_dry_run_and_state_dicts_both_ways() -> None:
    torch.manual_seed(0)
    theirs = torch.nn.LazyLinear(3).double()
    theirs(torch.ones(1, 4, dtype=torch.float64))  # PyTorch's dry run
    ours = nn.LazyLinear(3)
    compare_module(ours, theirs, rng(30).standard_normal((5, 4)))  # loads into a lazy layer
    assert type(ours) is nn.Linear and ours.in_features == 4
    fresh_torch = torch.nn.LazyLinear(3).double()
    fresh_torch.load_state_dict({k: torch.tensor(np.array(v))
                                 for k, v in ours.state_dict().items()})
    assert fresh_torch.weight.shape == (3, 4)
