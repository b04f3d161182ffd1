"""The bundled 8x8 digits."""

from pathlib import Path

import numpy as np

import chainrule.data as crd
from chainrule.data import load_digits


def test_digits_shape_labels_range():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == 10 and counts.min() >= 170 and counts.max() <= 190
    assert X.min() == 0.0 and X.max() == 1.0


def test_digits_unscaled_and_images():
    X, y = load_digits(flatten=False, scale=False)
    assert X.shape == (1797, 1, 8, 8)
    assert np.array_equal(X, np.round(X)) and X.max() == 16
    Xf, _ = load_digits()
    np.testing.assert_allclose(X.reshape(1797, 64) / 16, Xf)


def test_digits_file_is_small_and_credited():
    folder = Path(crd.__file__).parent
    assert (folder / "digits.npz").stat().st_size < 100_000
    text = (folder / "DIGITS_LICENSE.txt").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text
