"""Standardizer, MinMaxScaler and one_hot."""

import json

import numpy as np
import pytest

from chainrule.data import MinMaxScaler, Standardizer, one_hot


def test_standardizer_zero_mean_unit_std_and_inverse():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 3)) * [1, 10, 100] + [5, -3, 0]).astype(np.float32)
    s = Standardizer().fit(X)
    Z = s.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-5, atol=1e-4)


def test_standardizer_constant_feature_and_state_dict():
    X = np.array([[1.0, 7.0], [3.0, 7.0]], dtype=np.float32)
    s = Standardizer().fit(X)
    assert s.transform(X)[:, 1].tolist() == [0.0, 0.0]
    state = json.loads(json.dumps(s.state_dict()))
    assert state == {"mean": [2.0, 7.0], "std": [1.0, 1.0]}
    s2 = Standardizer.from_state_dict(state)
    np.testing.assert_array_equal(s2.transform(X), s.transform(X))


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer().fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        s.transform(np.zeros((2, 3)))


def test_minmax_scaler():
    X = np.array([[0.0, 5.0], [10.0, 5.0], [5.0, 5.0]])
    s = MinMaxScaler().fit(X)
    np.testing.assert_allclose(s.transform(X), [[0, 0], [1, 0], [0.5, 0]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(X)), X)
    assert set(s.state_dict()) == {"min", "range"}


def test_one_hot():
    out = one_hot(np.array([2, 0, 1]), 4)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    assert out.argmax(axis=1).tolist() == [2, 0, 1]
    assert out.sum() == 3
    assert one_hot([1, 1]).shape == (2, 2)
    with pytest.raises(ValueError, match="label 5"):
        one_hot(np.array([5]), 3)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.5]), 3)
