"""DataLoader as a PyTorch script uses it: Tensor batches, samplers, collate_fn, workers,
``chainrule.utils.data``, and arrays accepted by layers."""

import threading
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)


def _xy(n=23, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)).astype(np.float32), np.arange(n) % 3


def _ids(loader):
    return [np.asarray(yb).tolist() for _, yb in loader]


def test_ordinary_pytorch_loop_trains():
    """The loop every PyTorch tutorial writes, with tensors in and tensors out."""
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.standard_normal((256, 2)).astype(np.float32))
    y = cr.tensor((X.numpy()[:, 0] * X.numpy()[:, 1] > 0).astype(np.int64))
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    for _ in range(40):
        for xb, yb in loader:
            assert isinstance(xb, cr.Tensor) and isinstance(yb, cr.Tensor)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    with cr.no_grad():
        acc = float((model(X).numpy().argmax(1) == y.numpy()).mean())
    assert acc > 0.95


def test_batches_are_tensors_sharing_dtype():
    X, y = _xy()
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    assert isinstance(xb, cr.Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert not xb.requires_grad
    np.testing.assert_array_equal(xb.numpy(), X[:4])


def test_default_batch_size_is_one_as_in_pytorch():
    X, y = _xy(5)
    loader = DataLoader(TensorDataset(X, y))
    assert len(loader) == 5 and next(iter(loader))[0].shape == (1, 3)


def test_tensor_dataset_items_and_tensors_attribute():
    X, y = _xy(5)
    ds = TensorDataset(cr.tensor(X), cr.tensor(y))
    x1, y1 = ds[1]
    assert isinstance(x1, cr.Tensor) and x1.shape == (3,) and int(y1) == 1
    assert all(isinstance(t, cr.Tensor) for t in ds.tensors)
    assert ds.tensors[0].numpy() is ds.arrays[0]


def test_shuffle_without_seed_follows_manual_seed():
    X, y = _xy()
    runs = []
    for _ in range(2):
        cr.manual_seed(5)
        runs.append(_ids(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True)))
    cr.manual_seed(6)
    other = _ids(DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True))
    assert runs[0] == runs[1] != other


def test_random_split_without_generator_follows_manual_seed():
    ds = TensorDataset(np.arange(20))
    cr.manual_seed(1)
    a = random_split(ds, [0.5, 0.5])[0].indices.tolist()
    cr.manual_seed(1)
    b = random_split(ds, [0.5, 0.5])[0].indices.tolist()
    assert a == b


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_give_identical_batches(workers):
    X, y = _xy(41)
    ref = [(np.array(a), np.array(b)) for a, b in
           DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=3)]
    got = [(np.array(a), np.array(b)) for a, b in
           DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=3,
                      num_workers=workers, prefetch_factor=2)]
    assert len(ref) == len(got)
    for (a, b), (c, d) in zip(ref, got):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


class _Slow(Dataset):
    """Each sample takes a moment and draws a random number: order must be kept."""

    def __init__(self, n=12, fail_at=None):
        self.n, self.fail_at = n, fail_at
        self.rng = np.random.default_rng(0)
        self.thread_names = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"sample {i} is broken")
        self.thread_names.add(threading.current_thread().name)
        time.sleep(0.002)
        return np.float32(self.rng.standard_normal()), i


def test_workers_prepare_in_background_in_order_with_same_random_draws():
    plain = [np.array(x).tolist() for x, _ in DataLoader(_Slow(), batch_size=3)]
    ds = _Slow()
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    threaded = [np.array(x).tolist() for x, _ in loader]
    assert threaded == plain
    assert ds.thread_names == {"chainrule-DataLoader"}


def test_worker_error_reaches_the_loop_and_threads_end():
    before = threading.active_count()
    with pytest.raises(KeyError, match="sample 7 is broken"):
        for _ in DataLoader(_Slow(fail_at=7), batch_size=2, num_workers=2):
            pass
    time.sleep(0.1)
    assert threading.active_count() == before


def test_break_mid_epoch_stops_the_background_thread():
    before = threading.active_count()
    for i, _ in enumerate(DataLoader(_Slow(40), batch_size=2, num_workers=2)):
        if i == 2:
            break
    time.sleep(0.2)
    assert threading.active_count() == before


def test_resume_with_workers_matches_uninterrupted():
    X, y = _xy(30)
    ds = TensorDataset(X, y)
    ref = _ids(DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=2))
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=2)
    it = iter(loader)
    head = [np.asarray(next(it)[1]).tolist() for _ in range(3)]
    state = loader.state_dict()
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=99, num_workers=2)
    resumed.load_state_dict(state)
    assert head + _ids(resumed) == ref


def test_worker_init_fn_and_timeout():
    called = []
    list(DataLoader(_Slow(4), batch_size=2, num_workers=1, worker_init_fn=called.append))
    assert called == [0]

    class _Stuck(_Slow):
        def __getitem__(self, i):
            time.sleep(1.0)
            return np.float32(0), i

    with pytest.raises(RuntimeError, match="timed out"):
        list(DataLoader(_Stuck(2), batch_size=1, num_workers=1, timeout=0.1))


def test_option_checks_as_in_pytorch():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=4, batch_sampler=BatchSampler(SequentialSampler(ds), 2,
                                                                False))
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)


def test_collate_fn_dicts_and_strings():
    class _Records(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "label": i, "name": f"s{i}",
                    "w": float(i) / 2}

    batch = next(iter(DataLoader(_Records(), batch_size=3)))
    assert set(batch) == {"x", "label", "name", "w"}
    assert batch["x"].shape == (3, 2) and batch["label"].dtype == np.int64
    assert batch["name"] == ["s0", "s1", "s2"]
    assert batch["w"].dtype == cr.get_default_dtype()
    custom = next(iter(DataLoader(_Records(), batch_size=2,
                                  collate_fn=lambda s: [r["name"] for r in s])))
    assert custom == ["s0", "s1"]


def test_default_collate_matches_torch_structure():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    samples = [(np.ones((2, 2), np.float32) * i, i, True, {"a": np.arange(3) + i})
               for i in range(4)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    assert len(ours) == len(theirs) == 4
    for o, t in zip(ours[:3], theirs[:3]):
        np.testing.assert_array_equal(o.numpy(), t.numpy())
        assert o.dtype == t.numpy().dtype
    np.testing.assert_array_equal(ours[3]["a"].numpy(), theirs[3]["a"].numpy())
    del torch


@pytest.mark.parametrize("n,bs,drop", [(23, 5, False), (23, 5, True), (3, 5, True),
                                       (20, 4, False)])
def test_len_and_batch_sizes_match_torch(n, bs, drop):
    torch = pytest.importorskip("torch")
    X, y = _xy(n)
    ours = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=bs,
        drop_last=drop)
    assert len(ours) == len(theirs)
    assert [len(b[1]) for b in ours] == [len(b[1]) for b in theirs]


def test_samplers():
    ds = TensorDataset(np.arange(10))
    assert _flat(DataLoader(ds, batch_size=4, sampler=SequentialSampler(ds))) == list(range(10))
    picks = _flat(DataLoader(ds, batch_size=3, sampler=SubsetRandomSampler([7, 2, 5],
                                                                            generator=0)))
    assert sorted(picks) == [2, 5, 7]
    weighted = WeightedRandomSampler([0, 0, 1, 0, 0, 0, 0, 0, 0, 3], num_samples=400,
                                     generator=1)
    counts = np.bincount(_flat(DataLoader(ds, batch_size=50, sampler=weighted)), minlength=10)
    assert counts[[0, 1, 3, 4, 5, 6, 7, 8]].sum() == 0
    assert 0.6 < counts[9] / 400 < 0.9
    rs = RandomSampler(ds, replacement=True, num_samples=25, generator=3)
    assert len(DataLoader(ds, batch_size=10, sampler=rs)) == 3
    bs = BatchSampler(SequentialSampler(ds), batch_size=4, drop_last=True)
    assert [b[0].tolist() for b in DataLoader(ds, batch_sampler=bs)] == [[0, 1, 2, 3],
                                                                       [4, 5, 6, 7]]
    with pytest.raises(ValueError, match="weights"):
        WeightedRandomSampler([0.0, -1.0], 3)


def _flat(loader):
    return [int(v) for (b,) in loader for v in np.asarray(b)]


def test_resume_with_a_random_sampler_is_exact():
    ds = TensorDataset(np.arange(30))
    ref = [np.asarray(b).tolist() for (b,) in
           DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, generator=4))]
    loader = DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, generator=4))
    it = iter(loader)
    head = [np.asarray(next(it)[0]).tolist() for _ in range(2)]
    resumed = DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, generator=77))
    resumed.load_state_dict(loader.state_dict())
    assert head + [np.asarray(b).tolist() for (b,) in resumed] == ref


def test_concat_dataset():
    ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 14))])
    assert len(ds) == 7 and int(ds[3][0]) == 10 and int(ds[-1][0]) == 13
    with pytest.raises(IndexError):
        ds[7]
    assert _flat(DataLoader(ds, batch_size=3)) == [0, 1, 2, 10, 11, 12, 13]


def test_layers_accept_numpy_arrays():
    cr.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), layer(cr.tensor(x)).numpy())
    out = cr.ops.linear(x, layer.weight, layer.bias)  # ops too, arrays as constants
    out.sum().backward()
    assert layer.weight.grad is not None
    with pytest.raises(TypeError, match="Linear: input 0 must be a Tensor or a numeric"):
        cr.ops.linear("not data", layer.weight, layer.bias)


# ---- iterable datasets -------------------------------------------------------------------

class _Stream(IterableDataset):
    """0..n-1 with features, yielded in order; len() only when asked."""

    def __init__(self, n, sized=True):
        self.n, self.sized = n, sized

    def __iter__(self):
        for i in range(self.n):
            yield np.full(2, i, np.float32), i

    def __len__(self):
        if not self.sized:
            raise TypeError("unsized")
        return self.n


def test_iterable_dataset_batches_in_stream_order():
    batches = list(DataLoader(_Stream(10), batch_size=4))
    assert [np.asarray(y).tolist() for _, y in batches] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                            [8, 9]]
    assert batches[0][0].shape == (4, 2)
    assert len(DataLoader(_Stream(10), batch_size=4, drop_last=True)) == 2
    assert [len(y) for _, y in DataLoader(_Stream(10), batch_size=4, drop_last=True)] == [4, 4]


def test_iterable_dataset_refuses_shuffle_and_samplers_and_unknown_len():
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(_Stream(5), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler"):
        DataLoader(_Stream(5), sampler=[0, 1])

    class _Endless(IterableDataset):
        def __iter__(self):
            i = 0
            while True:
                yield np.float32(i)
                i += 1

    loader = DataLoader(_Endless(), batch_size=3)
    with pytest.raises(TypeError, match="without __len__"):
        len(loader)
    first = next(iter(loader))
    assert np.asarray(first[0]).tolist() == [0, 1, 2]


def test_iterable_dataset_with_workers_and_resume():
    ref = [np.asarray(y).tolist() for _, y in DataLoader(_Stream(11), batch_size=3)]
    assert [np.asarray(y).tolist() for _, y in
            DataLoader(_Stream(11), batch_size=3, num_workers=2)] == ref
    loader = DataLoader(_Stream(11), batch_size=3)
    it = iter(loader)
    head = [np.asarray(next(it)[1]).tolist() for _ in range(2)]
    resumed = DataLoader(_Stream(11), batch_size=3)
    resumed.load_state_dict(loader.state_dict())
    assert head + [np.asarray(y).tolist() for _, y in resumed] == ref


def test_chain_stack_and_worker_info():
    chained = _Stream(2) + _Stream(3)
    assert isinstance(chained, ChainDataset) and len(chained) == 5
    assert [int(y) for _, y in chained] == [0, 1, 0, 1, 2]
    with pytest.raises(TypeError, match="only supports IterableDataset"):
        ChainDataset([TensorDataset(np.arange(3))])
    stacked = StackDataset(TensorDataset(np.arange(4)), TensorDataset(np.arange(4) * 10))
    (a,), (b,) = stacked[3]
    assert int(a) == 3 and int(b) == 30
    xb, yb = next(iter(DataLoader(StackDataset(TensorDataset(np.arange(4)),
                                               TensorDataset(np.arange(4) * 10)),
                                  batch_size=4)))
    assert np.asarray(yb[0]).tolist() == [0, 10, 20, 30]
    with pytest.raises(ValueError, match="different lengths"):
        StackDataset(TensorDataset(np.arange(3)), TensorDataset(np.arange(4)))
    assert get_worker_info() is None
