"""TensorDataset, Subset, random_split and train_val_test_split."""

import numpy as np
import pytest

from chainrule.data import Subset, TensorDataset, random_split, train_val_test_split


def test_tensor_dataset_indexing():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    x1, y1 = ds[1]
    np.testing.assert_array_equal(x1, [2, 3])
    assert y1 == 1
    xb, yb = ds[np.array([4, 0])]
    assert xb.shape == (2, 2) and yb.tolist() == [4, 0]


def test_tensor_dataset_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


@pytest.mark.parametrize("lengths,expect", [([3, 7], [3, 7]), ([0.5, 0.5], [5, 5]),
                                            ([0.34, 0.33, 0.33], [4, 3, 3])])
def test_random_split_lengths_disjoint(lengths, expect):
    ds = TensorDataset(np.arange(10))
    parts = random_split(ds, lengths, 0)
    assert [len(p) for p in parts] == expect
    ids = np.concatenate([p.indices for p in parts])
    assert sorted(ids.tolist()) == list(range(10))
    again = random_split(ds, lengths, 0)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))


def test_random_split_bad_lengths():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [3, 3], 0)
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [0.5, 0.2], 0)


def test_subset_of_subset_and_items():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(Subset(ds, [9, 8, 7, 6]), [3, 0])
    assert len(sub) == 2 and sub[0][0] == 60
    assert sub.has_batching
    assert sub.get_batch(np.array([0, 1]))[0].tolist() == [60, 90]
    with pytest.raises(IndexError):
        Subset(ds, [10])


def test_train_val_test_split_sizes_and_partition():
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    y = np.arange(100)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train_val_test_split(X, y, val=0.1, test=0.2, seed=1)
    assert (len(ytr), len(yva), len(yte)) == (70, 10, 20)
    assert sorted(np.concatenate([ytr, yva, yte]).tolist()) == list(range(100))
    np.testing.assert_array_equal(Xtr[:, 0], ytr * 2)  # rows stay paired
    again = train_val_test_split(X, y, val=0.1, test=0.2, seed=1)
    np.testing.assert_array_equal(again[0][1], ytr)


def test_train_val_test_split_stratified():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.zeros((100, 1))
    (_, ytr), (_, yva), (_, yte) = train_val_test_split(X, y, val=0.1, test=0.2, seed=0,
                                                        stratify=y)
    assert np.bincount(yte).tolist() == [10, 6, 4]
    assert np.bincount(yva).tolist() == [5, 3, 2]
    assert np.bincount(ytr).tolist() == [35, 21, 14]


def test_train_val_test_split_small_and_errors():
    (tr,), (va,), (te,) = train_val_test_split(np.arange(3), val=0.1, test=0.1)
    assert (len(tr), len(va), len(te)) == (1, 1, 1)
    with pytest.raises(ValueError, match="none for training"):
        train_val_test_split(np.arange(2), val=0.1, test=0.1)
    with pytest.raises(ValueError, match="val"):
        train_val_test_split(np.arange(10), val=1.5)
