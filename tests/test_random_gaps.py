"""Random functions added for issue 12: bernoulli, normal, randint_like, seed/initial_seed,
get_rng_state/set_rng_state, and the initialisers orthogonal_, trunc_normal_, eye_,
dirac_. Reproducible under cr.manual_seed; distributions checked on fixed seeds with
bounds of about 4 standard errors (so a correct sampler fails by chance ~1e-4)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import init


@pytest.fixture(autouse=True)
def _restore_default_generator():
    state = cr.get_rng_state()
    seed = cr.initial_seed()
    yield
    cr.manual_seed(seed)
    cr.set_rng_state(state)


# ---- reproducibility ----------------------------------------------------------------------

@pytest.mark.parametrize("draw", [
    lambda: cr.bernoulli(cr.full((50,), 0.5)),
    lambda: cr.normal(cr.zeros(50), cr.ones(50)),
    lambda: cr.normal(1.0, 2.0, (50,)),
    lambda: cr.randint_like(cr.zeros(50), 3, 9),
    lambda: init.orthogonal_(cr.zeros(6, 4)),
    lambda: init.trunc_normal_(cr.zeros(50)),
], ids=["bernoulli", "normal_tensors", "normal_size", "randint_like", "orthogonal_",
        "trunc_normal_"])
def test_same_seed_same_numbers(draw) -> None:
    cr.manual_seed(123)
    a = draw().numpy().copy()
    cr.manual_seed(123)
    b = draw().numpy().copy()
    cr.manual_seed(124)
    c = draw().numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_explicit_generator_leaves_the_default_alone() -> None:
    state = cr.get_rng_state()
    g = cr.Generator(5)
    first = cr.normal(0.0, 1.0, (4,), generator=g)
    cr.bernoulli(cr.full((4,), 0.5), generator=cr.Generator(1))
    init.orthogonal_(cr.zeros(3, 3), generator=cr.Generator(2))
    init.trunc_normal_(cr.zeros(3), generator=cr.Generator(3))
    assert cr.get_rng_state().tolist() == state.tolist()
    np.testing.assert_array_equal(first.numpy(), cr.normal(0.0, 1.0, (4,),
                                                        generator=cr.Generator(5)).numpy())


# ---- distributions ------------------------------------------------------------------------

def test_bernoulli_frequency_and_dtype() -> None:
    cr.manual_seed(0)
    n = 100_000
    p = np.array([0.05, 0.3, 0.5, 0.9])
    draws = cr.bernoulli(cr.tensor(np.tile(p, (n, 1)), dtype=cr.float64))
    assert draws.dtype == np.float64 and set(np.unique(draws.numpy())) <= {0.0, 1.0}
    freq = draws.numpy().mean(axis=0)
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n))
    fixed = cr.bernoulli(cr.zeros(n), 0.2)
    assert fixed.dtype == np.float32
    assert abs(fixed.numpy().mean() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)
    assert cr.bernoulli(cr.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_bernoulli_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError, match="probabilities must be in"):
        cr.bernoulli(cr.tensor([1.5]))


def test_normal_moments_for_each_form() -> None:
    cr.manual_seed(1)
    n = 40_000
    mean = cr.tensor([[-1.0], [2.0]])                  # (2, 1) broadcasts with (3,)
    std = cr.tensor([0.5, 1.0, 3.0])
    x = cr.normal(mean.expand(2, 3).repeat(n, 1), std.repeat(2 * n).reshape(2 * n, 3))
    assert x.shape == (2 * n, 3) and x.dtype == np.float32
    rows = x.numpy().reshape(n, 2, 3).astype(np.float64)
    sd = np.array([0.5, 1.0, 3.0])
    want_mean = np.array([[-1.0], [2.0]]) + 0 * sd
    assert np.all(np.abs(rows.mean(axis=0) - want_mean) < 4 * sd / math.sqrt(n))
    # the sample variance has standard error ~ sd² √(2/n)
    assert np.all(np.abs(rows.var(axis=0) - sd**2) < 4 * sd**2 * math.sqrt(2 / n))
    assert cr.normal(mean, std).shape == (2, 3)
    y = cr.normal(3.0, 0.5, (n,), dtype=cr.float64)
    assert y.dtype == np.float64
    assert abs(y.numpy().mean() - 3.0) < 4 * 0.5 / math.sqrt(n)
    assert cr.normal(cr.zeros(4), 2.0).shape == (4,) and cr.normal(0.0, cr.ones(4)).shape == (4,)


def test_normal_errors() -> None:
    with pytest.raises(TypeError, match="give size"):
        cr.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        cr.normal(cr.zeros(2), -1.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        cr.normal(cr.zeros(2), cr.ones(3))


def test_sampled_tensors_get_zero_gradients_as_in_torch() -> None:
    mean = cr.tensor([1.0, 2.0], requires_grad=True)
    std = cr.tensor([1.0, 3.0], requires_grad=True)
    p = cr.tensor([0.3, 0.7], requires_grad=True)
    (cr.normal(mean, std).sum() + cr.bernoulli(p).sum()).backward()
    for t in (mean, std, p):
        assert t.grad.tolist() == [0.0, 0.0]


def test_randint_like_range_shape_and_dtype() -> None:
    x = cr.randint_like(cr.zeros(200, 3, dtype=cr.float64), 4, 7)
    assert x.shape == (200, 3) and x.dtype == np.float64
    assert set(np.unique(x.numpy())) == {4.0, 5.0, 6.0}
    i = cr.randint_like(cr.zeros(100, dtype=cr.int32), 3)
    assert i.dtype == np.int32 and i.numpy().min() >= 0 and i.numpy().max() <= 2
    assert cr.randint_like(cr.zeros(3), 5, dtype=cr.long).dtype == np.int64
    with pytest.raises(ValueError, match="low < high"):
        cr.randint_like(cr.zeros(3), 5, 5)


# ---- seeds and generator state ------------------------------------------------------------

def test_seed_and_initial_seed() -> None:
    cr.manual_seed(42)
    assert cr.initial_seed() == 42
    s = cr.seed()
    assert isinstance(s, int) and 0 <= s < 2**63 and cr.initial_seed() == s
    a = cr.randn(3)
    cr.manual_seed(s)
    np.testing.assert_array_equal(cr.randn(3).numpy(), a.numpy())
    assert cr.seed() != s  # from the OS: a repeat is a 2**-63 event


def test_rng_state_round_trip_and_checkpoint(tmp_path) -> None:
    cr.manual_seed(3)
    state = cr.get_rng_state()
    assert state.dtype == np.uint8 and state.ndim == 1
    a = cr.randn(5).numpy().copy()
    path = os.path.join(tmp_path, "rng.pt")
    cr.save({"rng": state}, path)
    cr.randn(100)
    cr.set_rng_state(cr.load(path)["rng"])
    np.testing.assert_array_equal(cr.randn(5).numpy(), a)


def test_set_rng_state_rejects_foreign_states() -> None:
    with pytest.raises(ValueError, match="not a state from chainrule"):
        cr.set_rng_state(cr.tensor(np.zeros(5056, dtype=np.uint8)))  # torch's size
    with pytest.raises(TypeError, match="uint8"):
        cr.set_rng_state(cr.zeros(10))


# ---- initialisers -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (8, 2), (6, 2, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape) -> None:
    w = init.orthogonal_(cr.zeros(*shape, dtype=cr.float64), gain=2.0)
    m = w.numpy().reshape(shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(m.shape)), atol=1e-12)


def test_orthogonal_is_haar_distributed() -> None:
    # Without the sign fix of QR, Q's entries are biased (e.g. E[Q00] != 0); uniform
    # (Haar) orthogonal 3×3 matrices have every entry of mean 0 and variance 1/3.
    cr.manual_seed(2)
    n = 3000
    draws = np.stack([init.orthogonal_(cr.zeros(3, 3, dtype=cr.float64)).numpy()
                      for _ in range(n)])
    assert np.all(np.abs(draws.mean(axis=0)) < 4 * math.sqrt(1 / 3 / n))
    assert np.all(np.abs((draws**2).mean(axis=0) - 1 / 3) < 0.03)
    dets = np.linalg.det(draws)
    assert abs((dets > 0).mean() - 0.5) < 4 * math.sqrt(0.25 / n)


def _truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    al, be = (a - mean) / std, (b - mean) / std
    z = cdf(be) - cdf(al)
    m = (pdf(al) - pdf(be)) / z
    var = 1 + (al * pdf(al) - be * pdf(be)) / z - m * m
    return mean + std * m, std * std * var


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.01, 0.04),
                                          (1.0, 2.0, 2.0, 6.0)])
def test_trunc_normal_bounds_and_moments(mean, std, a, b) -> None:
    cr.manual_seed(4)
    n = 50_000
    w = init.trunc_normal_(cr.zeros(n, dtype=cr.float64), mean, std, a, b).numpy()
    assert w.min() >= a and w.max() <= b
    m, v = _truncated_moments(mean, std, a, b)
    assert abs(w.mean() - m) < 4 * math.sqrt(v / n)
    assert abs(w.var() - v) < 0.05 * v


def test_trunc_normal_refuses_hopeless_intervals() -> None:
    with pytest.raises(ValueError, match="holds only"):
        init.trunc_normal_(cr.zeros(3), 0.0, 1.0, 8.0, 9.0)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(cr.zeros(3), a=1.0, b=-1.0)


def test_eye_and_dirac_make_identity_layers() -> None:
    lin = cr.nn.Linear(3, 5)
    init.eye_(lin.weight)
    init.zeros_(lin.bias)
    x = cr.randn(4, 3)
    np.testing.assert_allclose(lin(x).numpy()[:, :3], x.numpy())
    assert np.all(lin(x).numpy()[:, 3:] == 0)
    conv = cr.nn.Conv2d(2, 2, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    img = cr.randn(1, 2, 5, 5)
    np.testing.assert_allclose(conv(img).numpy(), img.numpy(), rtol=1e-6, atol=1e-6)
    grouped = init.dirac_(cr.zeros(4, 2, 3), groups=2).numpy()
    assert grouped[:, :, 1].tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]
    with pytest.raises(ValueError, match="eye_: needs a 2-d"):
        init.eye_(cr.zeros(3))
    with pytest.raises(ValueError, match="groups=3"):
        init.dirac_(cr.zeros(4, 2, 3), groups=3)


def test_initialisers_do_nothing_under_meta_init() -> None:
    with init.meta_init():
        lin = cr.nn.Linear(4, 4)
        for fn in (init.orthogonal_, init.trunc_normal_, init.eye_):
            fn(lin.weight)
    assert init.is_placeholder(lin.weight)


def test_calculate_gain_knows_every_torch_convolution() -> None:
    for name in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d"):
        assert init.calculate_gain(name) == 1.0
