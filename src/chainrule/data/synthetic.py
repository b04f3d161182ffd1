"""Small synthetic problems for teaching and tests: XOR, moons, spirals, circles, a curve.

Every generator takes a ``seed`` (int or generator) and returns ``(X, y)``: ``X`` float32
of shape ``(n, d)``; ``y`` int64 class labels of shape ``(n,)`` for classification, or
float32 targets of shape ``(n, 1)`` for regression. Classes are as balanced as ``n``
allows (sizes differ by at most one) and rows come in a random order.
"""

from __future__ import annotations

import numpy as np

from chainrule.data._rng import RandomSource, as_rng

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_TARGETS = np.array([0, 1, 1, 0], dtype=np.int64)


def _class_sizes(n: int, classes: int) -> list[int]:
    if classes < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    if n < classes:
        raise ValueError(f"n={n} is too small for {classes} classes (need n >= {classes})")
    return [n // classes + (k < n % classes) for k in range(classes)]


def _check_noise(noise: float) -> None:
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


def _finish(rng: np.random.Generator, parts: list[np.ndarray],
            noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-class point sets, add Gaussian noise, label and shuffle."""
    X = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(parts)])
    if noise:
        X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def make_xor(n: int = 4, noise: float = 0.0,
             seed: RandomSource = 0) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: label 1 when exactly one of the two inputs is 1.

    Args:
        n: 4 gives the truth table itself, in order ``00, 01, 10, 11`` (nothing random);
            more gives ``n`` copies of the four corners (balanced) plus noise, shuffled.
        noise: standard deviation of Gaussian noise added to the inputs.
        seed: seed or generator.

    Returns:
        ``X`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``.

    Example:
        >>> X, y = make_xor()
        >>> y.tolist()
        [0, 1, 1, 0]
    """
    _check_noise(noise)
    if n < 4:
        raise ValueError(f"make_xor needs n >= 4 (the four corners), got {n}")
    if n == 4 and noise == 0:
        return XOR_INPUTS.copy(), XOR_TARGETS.copy()
    rng = as_rng(seed)
    corner = np.arange(n) % 4
    X = XOR_INPUTS[corner].astype(np.float64)
    if noise:
        X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(n)
    return X[order].astype(np.float32), XOR_TARGETS[corner][order]


def make_moons(n: int = 200, noise: float = 0.1,
               seed: RandomSource = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (class 0 arches up, class 1 arches down).

    Returns ``X`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``.

    Example:
        >>> X, y = make_moons(100, noise=0.05, seed=1)
        >>> X.shape, np.bincount(y).tolist()
        ((100, 2), [50, 50])
    """
    _check_noise(noise)
    rng = as_rng(seed)
    a, b = _class_sizes(n, 2)
    ta, tb = rng.uniform(0.0, np.pi, a), rng.uniform(0.0, np.pi, b)
    upper = np.stack([np.cos(ta), np.sin(ta)], axis=1)
    lower = np.stack([1.0 - np.cos(tb), 0.5 - np.sin(tb)], axis=1)
    return _finish(rng, [upper, lower], noise)


def make_spirals(n: int = 300, classes: int = 2, noise: float = 0.05, seed: RandomSource = 0,
                 turns: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: the classic problem a linear model cannot fit.

    Arm ``k`` starts at angle ``2πk / classes`` near the origin and winds outwards
    ``turns`` times to radius 1.

    Args:
        n: number of points.
        classes: number of arms (2 or 3 are the usual choices).
        noise: standard deviation of Gaussian noise added to the coordinates.
        seed: seed or generator.
        turns: how many times each arm winds around the origin.

    Returns:
        ``X`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``.

    Example:
        >>> X, y = make_spirals(300, classes=3, seed=0)
        >>> np.bincount(y).tolist()
        [100, 100, 100]
    """
    _check_noise(noise)
    rng = as_rng(seed)
    parts = []
    for k, m in enumerate(_class_sizes(n, classes)):
        r = rng.uniform(0.05, 1.0, m)
        angle = 2 * np.pi * (k / classes + turns * r)
        parts.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
    return _finish(rng, parts, noise)


def make_circles(n: int = 200, noise: float = 0.05, factor: float = 0.5,
                 seed: RandomSource = 0) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius 1 (class 0) around a smaller one of radius ``factor`` (class 1).

    Returns ``X`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``.

    Example:
        >>> X, y = make_circles(10, noise=0.0)
        >>> bool(np.allclose(np.hypot(*X[y == 1].T), 0.5))
        True
    """
    _check_noise(noise)
    if not 0 < factor < 1:
        raise ValueError(f"factor (inner radius / outer radius) must lie in (0, 1), "
                         f"got {factor}")
    rng = as_rng(seed)
    parts = []
    for radius, m in zip((1.0, factor), _class_sizes(n, 2)):
        t = rng.uniform(0.0, 2 * np.pi, m)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return _finish(rng, parts, noise)


def make_regression_curve(n: int = 200, noise: float = 0.1,
                          seed: RandomSource = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples of ``y = sin(x)`` for ``x`` uniform in ``[-π, π]``.

    Returns ``X`` float32 ``(n, 1)`` and ``y`` float32 ``(n, 1)``.

    Example:
        >>> X, y = make_regression_curve(50, noise=0.0)
        >>> bool(np.allclose(y, np.sin(X), atol=1e-6))
        True
    """
    _check_noise(noise)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = as_rng(seed)
    x = rng.uniform(-np.pi, np.pi, (n, 1))
    y = np.sin(x)
    if noise:
        y = y + noise * rng.standard_normal(y.shape)
    return x.astype(np.float32), y.astype(np.float32)
