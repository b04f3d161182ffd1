"""The torch.nn layers, functions and losses added for issue 12, without PyTorch: float64
central-difference gradient checks of every op, their behaviour (shapes, dtypes, random
modes, errors), and model files that round-trip every new layer."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import gradcheck
from chainrule.io import from_spec, load, save, to_spec
from chainrule.nn import functional as F


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.asarray(a, np.float64), requires_grad=grad)


def check(fn, *arrays: np.ndarray, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    result = gradcheck(fn, [t64(a) for a in arrays], atol=atol, rtol=rtol)
    assert result.passed, result.report()


def away(shape: tuple, kinks: tuple[float, ...] = (0.0,), seed: int = 0,
         scale: float = 1.0) -> np.ndarray:
    x = rng(seed).standard_normal(shape) * scale
    for k in kinks:
        x = np.where(np.abs(x - k) < 1e-2, x + 0.05, x)
    return x


# ---- gradient checks ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,widths", [((2, 5), (2, 1)), ((2, 3, 5), (-1, 3)),
                                          ((2, 4, 5), (1, 2, 3, -1)),
                                          ((1, 2, 3, 4, 3), (1, 1, 2, 0, 0, 2))])
def test_pad_gradients(mode: str, shape: tuple, widths: tuple) -> None:
    check(lambda t: F.pad(t, widths, mode=mode), rng(1).standard_normal(shape))


def test_activation_gradients() -> None:
    x = away((3, 4), (0.0, 0.5, -0.5, 0.3), seed=2)
    check(lambda t: F.threshold(t, 0.3, -1.0), x)
    check(lambda t: F.hardshrink(t), x)
    check(lambda t: F.softshrink(t), x)
    check(lambda t: F.rrelu(t), x)
    check(lambda t: F.glu(t, 1), x)
    check(lambda t: F.glu(t, 0), x[:2])
    check(lambda t: F.softmin(t, 1), x)
    check(lambda t: nn.Softmax2d()(t), rng(3).standard_normal((2, 3, 2, 2)))


def test_random_op_gradients_with_a_fixed_generator() -> None:
    x = away((4, 5), seed=4)
    gen = cr.Generator(0)
    state = gen.get_state()

    def seeded(op, **kwargs):
        def fn(t):
            gen.set_state(state)
            return op(t, generator=gen, **kwargs)
        return fn

    check(seeded(F.rrelu, training=True), x)
    check(seeded(F.gumbel_softmax, tau=0.5), x)
    # (hard Gumbel-softmax and scale_grad_by_freq change the gradient on purpose: they
    # are compared with PyTorch instead)
    check(seeded(F.alpha_dropout, p=0.3, training=True), x)
    check(seeded(F.feature_alpha_dropout, p=0.3, training=True), x.reshape(2, 2, 5))
    check(seeded(F.dropout3d, p=0.5), rng(5).standard_normal((2, 3, 2, 2, 2)))


def test_shuffle_gradients() -> None:
    check(lambda t: F.pixel_shuffle(t, 2), rng(6).standard_normal((1, 8, 2, 3)))
    check(lambda t: F.pixel_unshuffle(t, 2), rng(6).standard_normal((1, 2, 4, 2)))
    check(lambda t: F.channel_shuffle(t, 2), rng(6).standard_normal((2, 4, 3)))


def test_bilinear_gradients() -> None:
    r = rng(7)
    check(F.bilinear, r.standard_normal((3, 2)), r.standard_normal((3, 4)),
          r.standard_normal((5, 2, 4)), r.standard_normal(5))
    check(F.bilinear, r.standard_normal((2, 3, 2)), r.standard_normal((2, 3, 4)),
          r.standard_normal((5, 2, 4)))


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, math.inf])
def test_lp_pool_gradients(p: float) -> None:
    x = rng(8).uniform(0.3, 2.0, (1, 2, 5, 4))
    x.flat[::3] += np.arange(x.size)[::3] * 0.01  # distinct values: max pooling has no ties
    check(lambda t: F.lp_pool2d(t, p, 2, 1), x)
    check(lambda t: F.lp_pool1d(t, p, 3, 2, ceil_mode=True), x[0])


@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 6, 2, 2), (1, 4, 2, 1, 2)])
def test_local_response_norm_gradients(shape: tuple) -> None:
    check(lambda t: F.local_response_norm(t, 3, 0.5, 0.75, 1.0), rng(9).standard_normal(shape))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradients(mode: str) -> None:
    ids, offsets = np.array([1, 2, 4, 2, 0, 3, 3]), np.array([0, 2, 2, 5])
    check(lambda w: F.embedding_bag(ids, w, offsets, mode=mode, padding_idx=4),
          rng(10).standard_normal((6, 3)))
    check(lambda w: F.embedding_bag(ids.reshape(-1, 1)[:6].reshape(2, 3), w, mode=mode),
          rng(11).standard_normal((6, 3)))


def test_embedding_bag_per_sample_weight_gradients() -> None:
    ids, offsets = np.array([1, 2, 4, 2, 0, 3, 3]), np.array([0, 2, 2, 5])
    check(lambda w, s: F.embedding_bag(ids, w, offsets, mode="sum", per_sample_weights=s),
          rng(12).standard_normal((6, 3)), rng(13).standard_normal(7))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
def test_pdist_gradients(p: float) -> None:
    check(lambda t: F.pdist(t, p), rng(14).standard_normal((4, 3)))


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_gradients(padding_mode: str, align: bool) -> None:
    r = rng(15)
    x = r.standard_normal((1, 2, 4, 5))
    grid = r.uniform(-1.4, 1.4, (1, 3, 2, 2))
    check(lambda a, g: F.grid_sample(a, g, "bilinear", padding_mode, align), x, grid,
          atol=1e-5)
    check(lambda a: F.grid_sample(a, cr.tensor(grid), "nearest", padding_mode, align), x)


def test_affine_grid_gradients() -> None:
    check(lambda th: F.affine_grid(th, (2, 1, 3, 4), align_corners=False),
          rng(16).standard_normal((2, 2, 3)))
    check(lambda th: F.affine_grid(th, (1, 1, 2, 3, 2), align_corners=True),
          rng(16).standard_normal((1, 3, 4)))


LOSS_CASES = [
    ("margin_ranking", lambda a, b, y: F.margin_ranking_loss(a, b, y, 0.2), (5,), 3),
    ("hinge_embedding", lambda a: F.hinge_embedding_loss(a, [1.0, -1.0, 1.0, -1.0, 1.0]),
     (5,), 1),
    ("cosine_embedding", lambda a, b: F.cosine_embedding_loss(a, b, [1.0, -1.0, 1.0], 0.1),
     (3, 4), 2),
    ("triplet", lambda a, p, n: F.triplet_margin_loss(a, p, n, swap=True), (3, 4), 3),
    ("soft_margin", lambda a: F.soft_margin_loss(a, [1.0, -1.0, 1.0, 1.0, -1.0]), (5,), 1),
    ("multilabel_soft", lambda a, y: F.multilabel_soft_margin_loss(a, y), (3, 4), 2),
    ("multi_margin", lambda a: F.multi_margin_loss(a, [0, 2, 3], p=2), (3, 4), 1),
    ("multilabel_margin", lambda a: F.multilabel_margin_loss(a, [[0, 2, -1, 1], [3, -1, 0, 0],
                                                                 [1, 2, 3, 0]]), (3, 4), 1),
    ("gaussian_nll", lambda a, y, v: F.gaussian_nll_loss(a, y, v.abs() + 0.1, full=True),
     (3, 4), 3),
    ("poisson_nll", lambda a, y: F.poisson_nll_loss(a, y.abs() + 1.5, full=True), (3, 4), 2),
]


@pytest.mark.parametrize("name,fn,shape,n", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_gradients(name: str, fn, shape: tuple, n: int) -> None:
    arrays = [away(shape, (0.0,), seed=20 + k) for k in range(n)]
    if name in ("multilabel_soft",):
        arrays[1] = rng(30).random(shape)
    check(fn, *arrays)


# ---- behaviour ----------------------------------------------------------------------------------

def test_pad_values_modes_and_numpy_pairs() -> None:
    x = cr.tensor([[[0.0, 1.0, 2.0, 3.0]]])
    assert F.pad(x, (2, 1), mode="reflect").tolist() == [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]]
    assert F.pad(x, (2, 1), mode="replicate").tolist() == [[[0.0, 0.0, 0.0, 1.0, 2.0, 3.0,
                                                             3.0]]]
    assert F.pad(x, (2, 1), mode="circular").tolist() == [[[2.0, 3.0, 0.0, 1.0, 2.0, 3.0,
                                                            0.0]]]
    assert F.pad(x, (1, -2), value=9.0).tolist() == [[[9.0, 0.0, 1.0]]]
    # chainrule's older forms: NumPy pairs, and the fill value third
    assert F.pad(x, ((0, 0), (0, 0), (1, 0))).tolist() == [[[0.0, 0.0, 1.0, 2.0, 3.0]]]
    assert F.pad(x, ((0, 0), (0, 0), (0, 1)), 5.0).tolist() == [[[0.0, 1.0, 2.0, 3.0, 5.0]]]
    assert F.pad(x.float(), (1, 1), mode="reflect").dtype == np.float32


@pytest.mark.parametrize("call,match", [
    (lambda x: F.pad(x, (1, 1, 1)), "divisible by 2"),
    (lambda x: F.pad(x, (4, 0), mode="reflect"), "less than the size"),
    (lambda x: F.pad(x, (5, 0), mode="circular"), "more than once"),
    (lambda x: F.pad(x, (1, 1), mode="reflect", value=2.0), "does not take a value"),
    (lambda x: F.pad(x, (1, 1), mode="wrap"), "mode must be one of"),
    (lambda x: F.pad(x[0, 0], (1, 1), mode="reflect"), "not supported for a 1-D input"),
    (lambda x: F.pad(x, (-3, -2)), "negative output size"),
])
def test_pad_errors_name_the_problem(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(cr.ones(1, 2, 4))


def test_pad_modules_keep_torch_attributes() -> None:
    assert nn.ZeroPad2d(1).padding == (1, 1, 1, 1) and nn.ZeroPad2d(1).value == 0.0
    assert nn.ReflectionPad1d((2, 3)).padding == (2, 3)
    assert repr(nn.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    with pytest.raises(ValueError, match="widths"):
        nn.ReflectionPad2d((1, 2, 3))
    assert nn.ReplicationPad2d(1)(cr.ones(1, 2, 3, 3)).shape == (1, 2, 5, 5)


def test_shuffle_round_trips_and_errors() -> None:
    x = cr.randn(2, 8, 3, 5)
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2).numpy(),
                                  x.numpy())
    np.testing.assert_array_equal(F.channel_shuffle(F.channel_shuffle(x, 2), 4).numpy(),
                                  x.numpy())
    with pytest.raises(ValueError, match="divisible by the square"):
        F.pixel_shuffle(cr.ones(1, 5, 2, 2), 2)
    with pytest.raises(ValueError, match="divisible by groups"):
        F.channel_shuffle(cr.ones(1, 5, 2), 2)


def test_rrelu_training_draws_slopes_in_range_and_eval_is_fixed() -> None:
    x = cr.tensor(-np.linspace(0.5, 2.0, 1000))
    m = nn.RReLU(0.1, 0.3, generator=cr.Generator(0))
    slopes = (m(x) / x).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.04
    again = nn.RReLU(0.1, 0.3, generator=cr.Generator(0))(x)
    np.testing.assert_array_equal(again.numpy(), (slopes * x.numpy()))
    assert np.allclose((m.eval()(x) / x).numpy(), 0.2)
    assert m.train()(cr.tensor([2.0])).tolist() == [2.0]
    with pytest.raises(ValueError, match="lower bound"):
        nn.RReLU(0.5, 0.1)


def test_softmin_without_dim_warns_and_picks_torch_dim() -> None:
    x = cr.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmin(x)
    np.testing.assert_allclose(y.sum(1).numpy(), 1.0, rtol=1e-6)


def test_gumbel_softmax_samples_follow_the_softmax() -> None:
    logits = cr.tensor(np.log([[0.1, 0.2, 0.7]]).repeat(4000, axis=0)).float()
    y = F.gumbel_softmax(logits, hard=True, generator=cr.Generator(1))
    assert set(np.unique(y.numpy())) == {0.0, 1.0}
    np.testing.assert_allclose(y.numpy().mean(0), [0.1, 0.2, 0.7], atol=0.03)
    soft = F.gumbel_softmax(logits, tau=0.5, generator=cr.Generator(1))
    np.testing.assert_allclose(soft.sum(-1).numpy(), 1.0, rtol=1e-5)
    assert soft.dtype == np.float32
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(logits[:2], eps=1e-5)


def test_alpha_dropout_keeps_zero_mean_and_unit_variance() -> None:
    x = cr.tensor(rng(40).standard_normal(200_000))
    y = F.alpha_dropout(x, 0.2, training=True, generator=cr.Generator(2)).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    m = nn.AlphaDropout(0.2)
    assert m.eval()(x) is x
    z = F.feature_alpha_dropout(cr.ones(50, 8, 6), 0.5, True, generator=cr.Generator(3))
    per_channel = z.numpy().reshape(400, 6)
    assert np.all(per_channel.min(1) == per_channel.max(1))  # one mask value per channel


def test_dropout3d_drops_whole_channels_batched_and_unbatched() -> None:
    out = F.dropout3d(cr.ones(4, 6, 2, 2, 2), 0.5, generator=cr.Generator(4)).numpy()
    maps = out.reshape(24, 8)
    assert np.all(maps.min(1) == maps.max(1)) and set(np.unique(maps)) == {0.0, 2.0}
    un = F.dropout3d(cr.ones(6, 2, 2, 2), 0.5, generator=cr.Generator(4)).numpy()
    assert np.all(un.reshape(6, 8).min(1) == un.reshape(6, 8).max(1))
    with pytest.warns(UserWarning, match="dropout3d"):
        F.dropout3d(cr.ones(2, 3), 0.5)
    assert nn.Dropout3d(0.5).eval()(cr.ones(1, 1, 1, 1, 1)).tolist() == [[[[[1.0]]]]]


def test_embedding_bag_forms_agree() -> None:
    cr.manual_seed(0)
    bag = nn.EmbeddingBag(10, 4, mode="mean")
    ids = cr.tensor([[1, 2, 3], [4, 5, 6]])
    flat = bag(ids.flatten(), cr.tensor([0, 3]))
    np.testing.assert_allclose(bag(ids).numpy(), flat.numpy())
    np.testing.assert_allclose(bag(ids.flatten(), cr.tensor([0, 3, 6]),
                                   ).numpy()[:2], flat.numpy())
    last = nn.EmbeddingBag(10, 4, mode="mean", include_last_offset=True)
    last.load_state_dict(bag.state_dict())
    np.testing.assert_allclose(last(ids.flatten(), cr.tensor([0, 3, 6])).numpy(), flat.numpy())
    # an empty bag is zeros; padding is left out of the mean's count
    pad = nn.EmbeddingBag(10, 4, mode="mean", padding_idx=0)
    out = pad(cr.tensor([0, 3, 0, 5]), cr.tensor([0, 0, 2]))
    assert np.all(out.numpy()[0] == 0)
    np.testing.assert_allclose(out.numpy()[1], pad.weight.numpy()[3], rtol=1e-6)
    assert np.all(pad.weight.numpy()[0] == 0)


@pytest.mark.parametrize("call,match", [
    (lambda w: F.embedding_bag([[1, 2]], w, [0]), "offsets has to be None"),
    (lambda w: F.embedding_bag([1, 2], w), "offsets has to be a 1-D"),
    (lambda w: F.embedding_bag([1, 2], w, [1]), "offsets\\[0\\] has to be 0"),
    (lambda w: F.embedding_bag([1, 2], w, [0], mode="max", per_sample_weights=[1.0, 1.0]),
     "only supported for mode='sum'"),
    (lambda w: F.embedding_bag([1, 9], w, [0]), "out of range"),
    (lambda w: F.embedding_bag([1, 2], w, [0], mode="max", scale_grad_by_freq=True),
     "max mode"),
])
def test_embedding_bag_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(cr.randn(5, 2))


def test_pdist_layout_and_errors() -> None:
    x = cr.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert F.pdist(x).tolist() == [5.0, 10.0, 5.0]
    assert F.pdist(x, 0).tolist() == [2.0, 2.0, 2.0]
    assert F.pdist(x[:1]).shape == (0,)
    with pytest.raises(ValueError, match="2D"):
        F.pdist(cr.ones(3))


def test_grid_sample_identity_and_warnings() -> None:
    x = cr.randn(2, 3, 5, 4)
    theta = cr.tensor(np.tile([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], (2, 1, 1)))
    for align in (False, True):
        grid = F.affine_grid(theta, (2, 3, 5, 4), align_corners=align)
        for mode in ("bilinear", "nearest"):
            out = F.grid_sample(x, grid, mode, align_corners=align)
            np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-5)
    with pytest.warns(UserWarning, match="align_corners"):
        F.affine_grid(theta, (2, 3, 5, 4))
    with pytest.warns(UserWarning, match="align_corners"):
        F.grid_sample(x, grid)
    with pytest.raises(ValueError, match="bicubic"):
        F.grid_sample(x, grid, "bicubic", align_corners=True)
    with pytest.raises(ValueError, match="Nx2x3|\\(2, 2, 3\\)"):
        F.affine_grid(theta[:, :1], (2, 3, 5, 4), align_corners=True)


def test_losses_reduce_and_refuse_like_torch() -> None:
    x1, x2, y = cr.tensor([1.0, 2.0]), cr.tensor([2.0, 0.0]), cr.tensor([1.0, 1.0])
    per = F.margin_ranking_loss(x1, x2, y, reduction="none")
    assert per.tolist() == [1.0, 0.0]
    assert F.margin_ranking_loss(x1, x2, y).item() == 0.5
    assert F.margin_ranking_loss(x1, x2, y, reduction="sum").item() == 1.0
    with pytest.raises(ValueError, match="same shape"):
        F.margin_ranking_loss(x1, x2, cr.tensor([1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.soft_margin_loss(x1, y, reduction="avg")
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x1, y, cr.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="out of range"):
        F.multi_margin_loss(cr.ones(2, 3), [0, 3])
    assert F.poisson_nll_loss(x1.float(), y.float()).dtype == np.float32


# ---- LazyLinear ---------------------------------------------------------------------------------

def test_lazy_linear_infers_in_features_and_becomes_linear() -> None:
    cr.manual_seed(0)
    fc = nn.LazyLinear(3)
    assert fc.has_uninitialized_params() and fc.weight.shape == (0,)
    assert list(fc.state_dict()) == ["weight", "bias"]
    out = fc(cr.ones(2, 5))
    assert out.shape == (2, 3) and type(fc) is nn.Linear and fc.in_features == 5
    assert type(fc.weight) is nn.Parameter and fc.weight.shape == (3, 5)
    bound = 1 / math.sqrt(5)
    assert np.all(np.abs(fc.weight.numpy()) <= bound)
    lazy64 = nn.LazyLinear(2, bias=False).to(np.float64)  # dtype first, then the dry run
    assert lazy64(cr.ones(1, 4, dtype=np.float64)).dtype == np.float64
    assert lazy64.bias is None and lazy64.weight.dtype == np.float64


def test_lazy_linear_with_an_optimizer_made_before_the_dry_run_trains() -> None:
    cr.manual_seed(1)
    model = nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(1))
    opt = cr.optim.Adam(model.parameters(), lr=0.05)  # before the dry run
    x = cr.tensor(rng(50).standard_normal((64, 3)).astype(np.float32))
    y = (x * cr.tensor([[1.0, -2.0, 0.5]])).sum(1, keepdim=True)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_lazy_linear_loads_shapes_from_a_state_dict_and_files(tmp_path) -> None:
    cr.manual_seed(2)
    trained = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    x = cr.randn(3, 6)
    expected = trained(x).numpy()
    fresh = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    fresh.load_state_dict(trained.state_dict())
    assert fresh[0].in_features == 6 and type(fresh[2]) is nn.Linear
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    save(trained, tmp_path / "lazy.safetensors")  # after the dry run: plain Linear layers
    np.testing.assert_array_equal(load(tmp_path / "lazy.safetensors")(x).numpy(), expected)
    unrun = from_spec(to_spec(nn.Sequential(nn.LazyLinear(3))))
    assert type(unrun[0]) is nn.LazyLinear and unrun[0].out_features == 3
    with pytest.raises(ValueError, match="weight"):
        nn.LazyLinear(4).load_state_dict({"weight": np.ones((5, 2)), "bias": np.ones(5)})


# ---- model files --------------------------------------------------------------------------------

def test_every_new_layer_round_trips_through_a_model_file(tmp_path) -> None:
    cr.manual_seed(3)
    model = nn.Sequential(
        nn.ReflectionPad2d((1, 1, 2, 0)), nn.ReplicationPad2d(1), nn.CircularPad2d(1),
        nn.ZeroPad2d(1), nn.ConstantPad2d((0, 1, 1, 0), 0.5),
        nn.PixelUnshuffle(2), nn.ChannelShuffle(2), nn.PixelShuffle(2),
        nn.LocalResponseNorm(2), nn.LPPool2d(2, 2), nn.Dropout3d(0.5), nn.Threshold(0.1, 0.0),
        nn.Hardshrink(0.1), nn.Softshrink(0.01), nn.RReLU(), nn.AlphaDropout(0.1),
        nn.FeatureAlphaDropout(0.1), nn.Flatten(), nn.GLU(), nn.Softmin(1),
    )
    x = cr.tensor(rng(60).uniform(0.1, 1.0, (2, 2, 5, 5)).astype(np.float32))
    model.eval()
    expected = model(x).numpy()
    save(model, tmp_path / "m.safetensors")
    back = load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back(x).numpy(), expected)
    assert [type(m).__name__ for m in back] == [type(m).__name__ for m in model]
    for ours, theirs in zip(model, back):
        assert repr(ours) == repr(theirs)


def test_layers_with_weights_round_trip_through_a_model_file(tmp_path) -> None:
    cr.manual_seed(4)

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(12, 3, mode="max", padding_idx=1)
            self.bil = nn.Bilinear(3, 3, 2)
            self.pads = nn.ModuleList([nn.ReflectionPad1d(1), nn.Softmax2d(),
                                       nn.LPPool1d(1.5, 2), nn.ConstantPad3d(1, 2.0)])

    model = Pair()
    spec = to_spec(model.bag), to_spec(model.bil), to_spec(model.pads)
    for s, layer in zip(spec, (model.bag, model.bil, model.pads)):
        rebuilt = from_spec(s)
        assert repr(rebuilt) == repr(layer)
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
            {k: v.shape for k, v in layer.state_dict().items()}
    ids, offsets = cr.tensor([1, 2, 5, 1, 7]), cr.tensor([0, 2])
    for layer in (model.bag, model.bil):
        save(layer, tmp_path / "w.safetensors")
        back = load(tmp_path / "w.safetensors")
        if layer is model.bag:
            np.testing.assert_array_equal(back(ids, offsets).numpy(),
                                          layer(ids, offsets).numpy())
        else:
            a, b = cr.randn(4, 3), cr.randn(4, 3)
            np.testing.assert_array_equal(back(a, b).numpy(), layer(a, b).numpy())


def test_new_layers_keep_float32_and_float64() -> None:
    for dtype in (np.float32, np.float64):
        x = cr.tensor(rng(70).uniform(0.1, 1.0, (2, 4, 4, 4)).astype(dtype))
        for layer in (nn.ReflectionPad2d(1), nn.PixelShuffle(2), nn.LPPool2d(2, 2),
                      nn.LocalResponseNorm(3), nn.GLU(1), nn.Softshrink(), nn.Threshold(0.5, 0),
                      nn.CircularPad2d(1), nn.AlphaDropout(0.2)):
            assert layer(x).dtype == dtype, type(layer).__name__
        grid = F.affine_grid(cr.tensor(np.tile(np.eye(2, 3), (2, 1, 1)).astype(dtype)),
                             (2, 4, 3, 3), align_corners=True)
        assert grid.dtype == dtype and F.grid_sample(x, grid, align_corners=True).dtype == dtype
        bil = nn.Bilinear(4, 4, 2, dtype=dtype)
        assert bil(x[:, :, 0, 0], x[:, :, 0, 1]).dtype == dtype
        bag = nn.EmbeddingBag(5, 2, dtype=dtype)
        assert bag(cr.tensor([[1, 2]])).dtype == dtype


def test_embedding_bag_text_classifier_learns() -> None:
    """Bags of word ids labelled by which of two word groups dominates them: an
    EmbeddingBag + Linear model learns it on a fixed seed."""
    cr.manual_seed(5)
    r = rng(80)
    n, length, vocab = 400, 6, 20
    labels = r.integers(0, 2, n)
    ids = np.where(r.random((n, length)) < 0.8, labels[:, None] * 10, 0) + \
        r.integers(0, 10, (n, length))
    model_bag, head = nn.EmbeddingBag(vocab, 8, mode="mean"), nn.Linear(8, 2)
    params = list(model_bag.parameters()) + list(head.parameters())
    opt = cr.optim.Adam(params, lr=0.05)
    x = cr.tensor(ids.reshape(-1))
    offsets = cr.tensor(np.arange(n) * length)
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(head(model_bag(x, offsets)), labels)
        loss.backward()
        opt.step()
    accuracy = (head(model_bag(x, offsets)).numpy().argmax(1) == labels).mean()
    assert accuracy > 0.95 and loss.item() < 0.2


def test_ctc_loss_gradients_and_errors() -> None:
    targets, il, tl = np.array([[1, 1, 2], [2, 0, 0]]), np.array([6, 4]), np.array([3, 1])
    check(lambda lp: F.ctc_loss(lp, targets, il, tl, reduction="none"),
          rng(90).standard_normal((6, 2, 3)))
    check(lambda z: F.ctc_loss(z.log_softmax(2), targets, il, tl),
          rng(91).standard_normal((6, 2, 3)))
    lp = cr.zeros(3, 1, 2).log_softmax(2)
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(lp, [[1]], [4], [1])
    with pytest.raises(ValueError, match="other than the blank"):
        F.ctc_loss(lp, [[0]], [3], [1])
    assert nn.CTCLoss(blank=1).blank == 1
