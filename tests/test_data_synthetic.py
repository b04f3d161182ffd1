"""Synthetic problems: shapes, dtypes, class balance, reproducibility."""

import numpy as np
import pytest

from chainrule.data import make_circles, make_moons, make_regression_curve, make_spirals, make_xor


def test_xor_truth_table():
    X, y = make_xor()
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y.tolist() == [0, 1, 1, 0]


def test_xor_noisy():
    X, y = make_xor(400, noise=0.1, seed=0)
    assert X.shape == (400, 2) and np.bincount(y).tolist() == [200, 200]
    # the label is still the XOR of the rounded inputs for almost every point
    agree = (np.round(X).astype(int).sum(axis=1) == 1) == (y == 1)
    assert agree.mean() > 0.99


@pytest.mark.parametrize("make,kwargs,classes", [
    (make_moons, {"noise": 0.1}, 2),
    (make_circles, {"noise": 0.05, "factor": 0.4}, 2),
    (make_spirals, {"classes": 2}, 2),
    (make_spirals, {"classes": 3}, 3),
])
def test_classification_generators(make, kwargs, classes):
    X, y = make(301, seed=5, **kwargs)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == classes and counts.max() - counts.min() <= 1
    X2, y2 = make(301, seed=5, **kwargs)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(301, seed=6, **kwargs)
    assert not np.array_equal(X, X3)
    assert np.all(np.abs(X) < 3)
    assert np.any(np.diff(y) < 0)  # rows are shuffled, not grouped by class


def test_circles_radii_without_noise():
    X, y = make_circles(200, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)


def test_spiral_arms_are_interleaved_not_linearly_separable():
    X, y = make_spirals(600, classes=2, noise=0.0, seed=0)
    # least-squares linear classifier does badly on spirals
    A = np.c_[X, np.ones(len(X))]
    w, *_ = np.linalg.lstsq(A, 2.0 * y - 1, rcond=None)
    acc = ((A @ w > 0) == (y == 1)).mean()
    assert acc < 0.8


def test_regression_curve():
    X, y = make_regression_curve(100, noise=0.0, seed=0)
    assert X.shape == (100, 1) and y.shape == (100, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(y, np.sin(X), atol=1e-6)
    _, yn = make_regression_curve(100, noise=0.1, seed=0)
    assert 0.05 < np.std(yn - np.sin(X)) < 0.2


def test_generator_errors():
    with pytest.raises(ValueError, match="factor"):
        make_circles(10, factor=1.5)
    with pytest.raises(ValueError, match="noise"):
        make_moons(10, noise=-1)
    with pytest.raises(ValueError, match="n=2"):
        make_spirals(2, classes=3)
