"""PyTorch's dtype names and tensor factories: ``cr.tensor`` keeps NumPy dtypes,
``as_tensor``/``from_numpy`` share memory, random factories are reproducible under
``manual_seed`` and ``generator=``, and ``multinomial`` samples the right distribution."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_dtype_names_are_numpy_dtypes_usable_everywhere() -> None:
    pairs = {
        cr.float32: np.float32, cr.float: np.float32, cr.float64: np.float64,
        cr.double: np.float64, cr.float16: np.float16, cr.half: np.float16,
        cr.int64: np.int64, cr.long: np.int64, cr.int32: np.int32, cr.int: np.int32,
        cr.int16: np.int16, cr.short: np.int16, cr.int8: np.int8, cr.uint8: np.uint8,
        cr.bool: np.bool_,
    }
    for name, expected in pairs.items():
        assert name == np.dtype(expected)
        assert cr.zeros(3, dtype=name).dtype == expected
        assert cr.ones(2, 2, dtype=name).dtype == expected
        assert cr.full((2,), 1, dtype=name).dtype == expected
        assert cr.tensor([1, 0], dtype=name).dtype == expected
        assert cr.empty(2, dtype=name).dtype == expected
        assert cr.ones(2).to(name).dtype == expected
        assert cr.ones(2).type(name).dtype == expected
    assert cr.arange(3, dtype=cr.long).dtype == np.int64
    assert cr.randn(2, dtype=cr.double).dtype == np.float64
    assert cr.eye(2, dtype=cr.half).dtype == np.float16
    assert cr.ones(2).sum(dtype=cr.float64).dtype == np.float64


def test_default_dtype_with_the_names() -> None:
    assert cr.get_default_dtype() == cr.float32 == cr.float
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.get_default_dtype() == cr.double
        assert cr.tensor([1.0]).dtype == np.float64 and cr.zeros(2).dtype == np.float64
        assert cr.linspace(0, 1, 3).dtype == np.float64
        with pytest.raises(ValueError, match="floating"):
            cr.set_default_dtype(cr.long)
    finally:
        cr.set_default_dtype(cr.float32)
    assert cr.zeros(2).dtype == np.float32


def test_tensor_copies_and_keeps_numpy_dtypes() -> None:
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    assert t.dtype == np.float64
    a[0] = 5.0
    assert t.tolist() == [1.0, 2.0]  # a copy, as torch.tensor
    assert cr.tensor(np.float64(2.0)).dtype == np.float64
    assert cr.tensor(np.array([1, 2], np.int32)).dtype == np.int32
    assert cr.tensor(a, dtype=cr.float32).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32 and cr.tensor([1, 2]).dtype == np.int64
    src = cr.tensor(np.zeros(2), requires_grad=True)
    again = cr.tensor(src)
    assert again.dtype == np.float64 and not again.requires_grad
    assert again.numpy() is not src.numpy()
    # the legacy Tensor(...) constructor still converts NumPy floats to the default dtype
    assert cr.Tensor(np.zeros(2)).dtype == np.float32


def test_as_tensor_and_from_numpy_share_memory() -> None:
    a = np.arange(4.0)
    shared = cr.as_tensor(a)
    assert shared.dtype == np.float64 and shared.numpy() is a
    converted = cr.as_tensor(a, dtype=cr.float32)
    assert converted.dtype == np.float32 and converted.numpy() is not a
    t = cr.tensor([1.0, 2.0])
    assert cr.as_tensor(t) is t and cr.as_tensor(t, cr.float64).dtype == np.float64
    assert cr.as_tensor([1, 2]).dtype == np.int64
    b = np.zeros((2, 3), np.float32)
    view = cr.from_numpy(b)
    b[0, 0] = 7.0
    view.numpy()[1, 2] = 3.0
    assert view.dtype == np.float32 and view.numpy()[0, 0] == 7.0 and b[1, 2] == 3.0
    assert cr.from_numpy(np.arange(3)).dtype == np.int64
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cr.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="dtype"):
        cr.from_numpy(np.array(["a"]))


def test_filled_factories() -> None:
    assert cr.eye(3).tolist() == np.eye(3).tolist() and cr.eye(2, 3).shape == (2, 3)
    assert cr.eye(3).dtype == np.float32
    assert cr.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cr.linspace(2, 2, 1).tolist() == [2.0] and cr.linspace(0, 1, 0).shape == (0,)
    assert cr.logspace(0, 3, 4).tolist() == [1.0, 10.0, 100.0, 1000.0]
    assert cr.logspace(0, 2, 3, base=2).tolist() == [1.0, 2.0, 4.0]
    assert cr.empty(2, 3).shape == (2, 3) and cr.empty((4,)).shape == (4,)
    x = cr.ones(2, 3, dtype=cr.float64)
    assert cr.full_like(x, 7).tolist() == [[7.0] * 3] * 2 and cr.full_like(x, 7).dtype == (
        np.float64)
    assert cr.empty_like(x).shape == (2, 3) and cr.empty_like(x, dtype=cr.long).dtype == (
        np.int64)
    assert cr.full((2,), 3).dtype == np.int64 and cr.full((2,), True).dtype == np.bool_
    assert cr.full((2,), 0.5).dtype == np.float32 and cr.full(3, 1.0).shape == (3,)
    with pytest.raises(ValueError, match="steps"):
        cr.linspace(0, 1, -1)


def test_random_factories_are_reproducible_and_well_formed() -> None:
    def draw() -> list:
        return [cr.randint(0, 10, (3, 4)).tolist(), cr.randint(5, (6,)).tolist(),
                cr.randperm(7).tolist(), cr.rand_like(cr.ones(2, 2)).tolist(),
                cr.randn_like(cr.ones(3, dtype=cr.float64)).tolist(),
                cr.multinomial(cr.tensor([0.1, 0.2, 0.7]), 5, replacement=True).tolist()]

    cr.manual_seed(123)
    first = draw()
    cr.manual_seed(123)
    assert draw() == first
    cr.manual_seed(124)
    assert draw() != first
    g1, g2 = cr.Generator(5), cr.Generator(5)
    assert cr.randint(0, 100, (8,), generator=g1).tolist() == cr.randint(
        0, 100, (8,), generator=g2).tolist()
    assert cr.randperm(9, generator=g1).tolist() == cr.randperm(9, generator=g2).tolist()
    assert cr.rand_like(cr.ones(3), generator=g1).tolist() == cr.rand_like(
        cr.ones(3), generator=g2).tolist()
    x = cr.randint(-3, 4, (2000,))
    assert x.dtype == np.int64 and x.min().item() == -3 and x.max().item() == 3
    assert cr.randint(3, size=(5,)).max().item() < 3
    assert cr.randint(low=2, high=4, size=(5,)).min().item() >= 2
    assert cr.randint(0, 2, (3,), dtype=cr.uint8).dtype == np.uint8
    p = cr.randperm(50)
    assert sorted(p.tolist()) == list(range(50)) and p.dtype == np.int64
    assert cr.rand_like(cr.ones(2, dtype=cr.float64)).dtype == np.float64
    u = cr.rand_like(cr.ones(1000))
    assert 0.0 <= u.min().item() and u.max().item() < 1.0
    with pytest.raises(TypeError, match="floating"):
        cr.rand_like(cr.tensor([1, 2]))
    with pytest.raises(TypeError, match="size"):
        cr.randint(0, 5)
    with pytest.raises(ValueError, match="low < high"):
        cr.randint(5, 5, (2,))


def test_multinomial_samples_the_distribution() -> None:
    g = cr.Generator(0)
    probs = cr.tensor([0.1, 0.0, 0.6, 0.3])
    draws = cr.multinomial(probs, 20000, replacement=True, generator=g)
    assert draws.shape == (20000,) and draws.dtype == np.int64
    freq = np.bincount(draws.numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    rows = cr.multinomial(cr.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 6.0]]), 2, generator=g)
    assert rows.shape == (2, 2)
    assert sorted(rows[0].tolist()) == [0, 1] and sorted(rows[1].tolist()) == [1, 2]
    # without replacement, heavier items come first more often (successive sampling)
    firsts = [cr.multinomial(cr.tensor([1.0, 9.0]), 2, generator=g)[0].item()
              for _ in range(400)]
    assert 0.85 < np.mean(firsts) < 0.95
    with pytest.raises(ValueError, match="without replacement"):
        cr.multinomial(cr.tensor([1.0, 0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        cr.multinomial(cr.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="positive sum"):
        cr.multinomial(cr.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)
