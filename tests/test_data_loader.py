"""DataLoader: batching, reproducible shuffling and exact mid-epoch resume."""

import json

import numpy as np
import pytest

from chainrule.data import DataLoader, Dataset, Subset, TensorDataset


def _data(n=23):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


def _epochs(loader, k):
    return [[(np.array(xb), np.array(yb)) for xb, yb in loader] for _ in range(k)]


def _ids(epoch):
    return [yb.tolist() for _, yb in epoch]


@pytest.mark.parametrize("n,bs,drop,expect", [(23, 5, False, 5), (23, 5, True, 4),
                                              (20, 5, True, 4), (20, 5, False, 4),
                                              (3, 5, True, 0), (3, 5, False, 1)])
def test_len_and_drop_last(n, bs, drop, expect):
    loader = DataLoader(TensorDataset(*_data(n)), batch_size=bs, drop_last=drop)
    batches = list(loader)
    assert len(loader) == expect == len(batches)
    sizes = [len(yb) for _, yb in batches]
    assert all(s == bs for s in sizes[:-1])
    if drop:
        assert sum(sizes) == (n // bs) * bs
    else:
        assert sum(sizes) == n


def test_no_shuffle_keeps_order_and_dtypes():
    X, y = _data()
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(xb, X[:4])
    np.testing.assert_array_equal(yb, y[:4])


def test_shuffle_covers_every_sample_once_per_epoch():
    loader = DataLoader(TensorDataset(*_data()), batch_size=5, shuffle=True, seed=3)
    e1, e2 = _epochs(loader, 2)
    for epoch in (e1, e2):
        assert sorted(sum(_ids(epoch), [])) == list(range(23))
    assert _ids(e1) != _ids(e2)  # a new order each epoch
    for xb, yb in e1:  # rows stay paired
        np.testing.assert_array_equal(xb[:, 0], yb * 3)


def test_same_seed_same_batches_different_seed_different():
    ds = TensorDataset(*_data())
    a = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=7), 3)
    b = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=7), 3)
    c = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=8), 3)
    assert [_ids(e) for e in a] == [_ids(e) for e in b]
    for ea, eb in zip(a, b):
        for (xa, _), (xb, _) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb)
    assert [_ids(e) for e in a] != [_ids(e) for e in c]


def test_numpy_generator_is_accepted_and_shared():
    ds = TensorDataset(*_data())
    a = _ids(list(DataLoader(ds, 4, shuffle=True, generator=np.random.default_rng(1))))
    rng = np.random.default_rng(1)
    loader = DataLoader(ds, 4, shuffle=True, generator=rng)
    assert _ids(list(loader)) == a
    assert loader.generator is rng  # drawn from the caller's generator, not a copy
    with pytest.raises(ValueError, match="either seed or generator"):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("stop_epoch,stop_batch", [(0, 0), (0, 2), (1, 4), (2, 5)])
def test_resume_mid_epoch_matches_uninterrupted(shuffle, stop_epoch, stop_batch):
    """Save after batch `stop_batch` of epoch `stop_epoch`, resume in a new loader."""
    ds = TensorDataset(*_data())
    ref = _epochs(DataLoader(ds, batch_size=4, shuffle=shuffle, seed=11), 4)

    loader = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=11)
    seen = []
    for _ in range(stop_epoch):
        seen.append([yb.tolist() for _, yb in loader])
    it = iter(loader)
    partial = [next(it)[1].tolist() for _ in range(stop_batch + 1)]
    state = json.loads(json.dumps(loader.state_dict()))  # must survive JSON

    resumed = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=999)  # seed is overridden
    resumed.load_state_dict(state)
    assert resumed.epoch == stop_epoch
    rest = [yb.tolist() for _, yb in resumed]
    seen.append(partial + rest)
    while len(seen) < 4:
        seen.append([yb.tolist() for _, yb in resumed])
    assert seen == [_ids(e) for e in ref]


def test_resume_after_last_batch_gives_empty_rest_then_next_epoch():
    ds = TensorDataset(*_data(8))
    ref = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=0), 2)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    it = iter(loader)
    next(it), next(it)
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    resumed.load_state_dict(loader.state_dict())
    assert list(resumed) == []
    assert [yb.tolist() for _, yb in resumed] == _ids(ref[1])


def test_state_at_epoch_boundary_starts_next_epoch():
    ds = TensorDataset(*_data())
    ref = _epochs(DataLoader(ds, batch_size=5, shuffle=True, seed=4), 3)
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=4)
    list(loader)
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["in_epoch"] is False
    resumed = DataLoader(ds, batch_size=5, shuffle=True, seed=4)
    resumed.load_state_dict(state)
    assert [_ids(e) for e in _epochs(resumed, 2)] == [_ids(e) for e in ref[1:]]


def test_abandoned_epoch_counts_and_new_iter_restarts():
    loader = DataLoader(TensorDataset(*_data()), batch_size=5, shuffle=False)
    first = next(iter(loader))[1].tolist()
    assert next(iter(loader))[1].tolist() == first  # no silent continuation
    assert loader.epoch == 1


def test_load_state_dict_rejects_mismatch():
    loader = DataLoader(TensorDataset(*_data(23)), batch_size=4, shuffle=True, seed=0)
    state = loader.state_dict()
    with pytest.raises(ValueError, match="batch_size=4"):
        DataLoader(TensorDataset(*_data(23)), batch_size=8, shuffle=True).load_state_dict(state)
    with pytest.raises(ValueError, match="num_samples=23"):
        DataLoader(TensorDataset(*_data(22)), batch_size=4, shuffle=True).load_state_dict(state)


class _Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


def test_generic_dataset_is_stacked():
    batches = list(DataLoader(_Squares(), batch_size=4))
    xb, yb = batches[0]
    assert xb.shape == (4, 2) and xb.dtype == np.float32
    assert yb.tolist() == [0, 1, 2, 3]
    assert [len(b[1]) for b in batches] == [4, 4, 2]


def test_subset_uses_vectorised_batches(monkeypatch):
    ds = TensorDataset(*_data())
    sub = Subset(ds, [5, 1, 7, 3])

    def _no_items(*_):  # the fast path must not index sample by sample
        raise AssertionError("per-sample indexing used")

    monkeypatch.setattr(TensorDataset, "__getitem__", _no_items)
    (xb, yb), = list(DataLoader(sub, batch_size=4))
    assert yb.tolist() == [5, 1, 7, 3]


def test_tensor_like_inputs_use_data_attribute():
    class _T:
        def __init__(self, a):
            self.data = a

    X, y = _data(6)
    ds = TensorDataset(_T(X), _T(y))
    assert ds.arrays[0] is X


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(*_data()), batch_size=0)
