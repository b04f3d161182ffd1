"""The 8×8 handwritten digits bundled with chainrule (1,797 images, classes 0-9).

The data is the test part of the UCI "Optical Recognition of Handwritten Digits" set
(Alpaydin & Kaynak, 1998; CC BY 4.0, see ``DIGITS_LICENSE.txt``): 32×32 bitmaps
reduced to 8×8 blocks of counts of set pixels, so each pixel is an integer 0..16. It is
shipped as ``digits.npz`` (uint8 ``images`` (1797, 8, 8) and ``labels`` (1797,)).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

NUM_SAMPLES = 1797
NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8)
PIXEL_MAX = 16
_FILE = "digits.npz"


def _read() -> tuple[np.ndarray, np.ndarray]:
    with resources.files(__package__).joinpath(_FILE).open("rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            return npz["images"], npz["labels"]


def load_digits(flatten: bool = True, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled 8×8 digits.

    Args:
        flatten: return images as rows of 64 pixels; otherwise as ``(1, 8, 8)``
            single-channel images, ready for a convolution.
        scale: divide pixel values (0..16) by 16 into ``[0, 1]``.

    Returns:
        ``X`` float32 of shape ``(1797, 64)`` or ``(1797, 1, 8, 8)`` and ``y`` int64
        labels 0..9 of shape ``(1797,)`` (about 180 per class).

    Example:
        >>> X, y = load_digits()
        >>> X.shape, X.dtype, int(y.max())
        ((1797, 64), dtype('float32'), 9)
    """
    images, labels = _read()
    X = images.astype(np.float32)
    if scale:
        X /= PIXEL_MAX
    X = X.reshape(len(X), -1) if flatten else X[:, None, :, :]
    return X, labels.astype(np.int64)
