"""Datasets: the ``Dataset`` protocol, in-memory ``TensorDataset``, ``Subset`` and splits.

A dataset maps an index to one sample (a tuple of arrays, e.g. ``(x, y)``). Datasets that
hold whole arrays also offer ``get_batch(indices)``, which gathers a batch with one
fancy-indexing operation per array; ``DataLoader`` uses it instead of a Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.data._rng import RandomSource, as_rng
from chainrule.tensor import Tensor


class Dataset:
    """Base class: a sized, indexable collection of samples.

    Subclasses implement ``__len__`` and ``__getitem__(i)`` returning one sample, usually a
    tuple such as ``(x, y)``. They may also implement ``get_batch(indices)`` returning a
    tuple of stacked arrays, which ``DataLoader`` then uses for fast batching.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class IterableDataset(Dataset):
    """A stream of samples: subclasses implement ``__iter__`` (and ``__len__`` if known).

    ``DataLoader`` batches it in the order it yields, ``batch_size`` at a time; shuffling
    and samplers do not apply (shuffle the stream yourself).

    Example:
        >>> class Squares(IterableDataset):
        ...     def __iter__(self):
        ...         return ((np.float32(i), i * i) for i in range(5))
        >>> [s[1] for s in Squares()]
        [0, 1, 4, 9, 16]
    """

    def __iter__(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate it, do not "
                        "index it")

    def __add__(self, other: Any) -> ChainDataset:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable datasets one after another (PyTorch's ``ChainDataset``).

    Example:
        >>> class Count(IterableDataset):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self): return iter(range(self.n))
        ...     def __len__(self): return self.n
        >>> list(ChainDataset([Count(2), Count(3)])), len(Count(2) + Count(3))
        ([0, 1, 0, 1, 2], 5)
    """

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got "
                                f"{type(d).__name__}")

    def __iter__(self) -> Any:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class StackDataset(Dataset):
    """Datasets of equal length side by side: sample ``i`` is the tuple (positional
    arguments) or dict (keyword arguments) of each dataset's sample ``i``.

    Example:
        >>> images, labels = TensorDataset(np.zeros((3, 2))), TensorDataset(np.arange(3))
        >>> sample = StackDataset(image=images, label=labels)[2]
        >>> sorted(sample), int(sample["label"][0])
        (['image', 'label'], 2)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("StackDataset takes either positional or keyword datasets, "
                             "not both")
        if not args and not kwargs:
            raise ValueError("StackDataset needs at least one dataset")
        self.datasets: Any = args if args else kwargs
        parts = list(args) if args else list(kwargs.values())
        lengths = {len(d) for d in parts}
        if len(lengths) != 1:
            raise ValueError(f"StackDataset: the datasets have different lengths "
                             f"{sorted(lengths)}")
        self._length = lengths.pop()

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)


def get_worker_info() -> None:
    """``None``: chainrule's loader has no worker processes, so a dataset always sees the
    whole stream (PyTorch returns None in the main process too)."""
    return None


def as_array(a: Any) -> np.ndarray:
    """``a`` as an ndarray; a chainrule Tensor, or an object with an ndarray ``.data``,
    gives its array (shared)."""
    if isinstance(a, np.ndarray):  # ndarray.data is a memoryview: never take it
        return a
    for name in ("_data", "data"):  # a chainrule Tensor's array, or a duck-typed one's
        data = getattr(a, name, None)
        if isinstance(data, np.ndarray):
            return data
    return np.asarray(a)


class TensorDataset(Dataset):
    """Samples are rows of several arrays that share their first dimension.

    Args:
        *arrays: NumPy arrays or chainrule Tensors (their ``._data`` is used), each of shape
            ``(N, ...)``. The arrays are stored as given (no copy, dtypes kept).

    Indexing with an int returns a tuple with one Tensor per array (as PyTorch's
    ``TensorDataset``); indexing with an integer array, a boolean mask or a slice returns
    a tuple of batches. The Tensors share memory with the stored arrays. ``.tensors``
    holds the whole arrays as Tensors, ``.arrays`` as NumPy arrays.

    Example:
        >>> X, y = np.zeros((5, 3), np.float32), np.arange(5)
        >>> ds = TensorDataset(X, y)
        >>> len(ds), int(ds[1][1]), ds[np.array([0, 2])][0].shape
        (5, 1, (2, 3))
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        arrs = tuple(as_array(a) for a in arrays)
        for i, a in enumerate(arrs):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {i} is a scalar; every array needs a "
                                 "first (sample) dimension")
        n = arrs[0].shape[0]
        if any(a.shape[0] != n for a in arrs):
            shapes = ", ".join(str(a.shape) for a in arrs)
            raise ValueError(f"TensorDataset: arrays must have the same first dimension "
                             f"(number of samples), got shapes {shapes}")
        self.arrays: tuple[np.ndarray, ...] = arrs

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    @property
    def tensors(self) -> tuple[Any, ...]:
        """The stored arrays as Tensors (sharing memory), as PyTorch's attribute."""
        return tuple(Tensor._make(a, False, None) for a in self.arrays)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(Tensor._make(np.asarray(a[index]), False, None) for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Rows ``indices`` (int array, shape ``(B,)``) of every array: shapes ``(B, ...)``."""
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any dataset.
        indices: sequence of ints into ``dataset``, shape ``(M,)``.

    Example:
        >>> ds = TensorDataset(np.arange(10))
        >>> [int(v) for v in Subset(ds, [3, 1])[0]]
        [3]
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}) for a dataset of "
                             f"{n} samples, got min {idx.min()} and max {idx.max()}")
        self.dataset = dataset
        self.indices = idx

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: Any) -> Any:
        inner = self.indices[index]
        if np.ndim(inner) == 0:
            return self.dataset[int(inner)]
        return self.get_batch(inner) if self.has_batching else [self.dataset[int(i)]
                                                                for i in inner]

    @property
    def has_batching(self) -> bool:
        """Whether the underlying dataset can gather whole batches (``get_batch``)."""
        if isinstance(self.dataset, Subset):
            return self.dataset.has_batching
        return callable(getattr(self.dataset, "get_batch", None))

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Samples ``indices`` of this subset as stacked arrays (needs ``has_batching``)."""
        if not self.has_batching:
            raise TypeError(f"{type(self.dataset).__name__} has no get_batch; iterate it "
                            "with DataLoader, which stacks its samples")
        return self.dataset.get_batch(self.indices[np.asarray(indices)])


class ConcatDataset(Dataset):
    """Several datasets one after another (PyTorch's ``ConcatDataset``).

    Example:
        >>> ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))])
        >>> len(ds), int(ds[3][0])
        (5, 10)
    """

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset index {index} out of range for {n} samples")
        index = index + n if index < 0 else index
        k = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        before = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][index - before]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Absolute lengths from ints summing to ``n`` or fractions summing to 1."""
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        counts = [int(x) for x in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise ValueError(f"random_split: lengths {counts} must be >= 0 and sum to the "
                             f"dataset size {n} (sum is {sum(counts)})")
        return counts
    fracs = [float(x) for x in lengths]
    if any(f < 0 or f > 1 for f in fracs) or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {fracs} must lie in [0, 1] and sum to 1 "
                         f"(sum is {sum(fracs)}); or give integer lengths summing to {n}")
    counts = [math.floor(n * f) for f in fracs]
    # hand out what flooring left over, one each, to the splits in order (as PyTorch does)
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset: Any, lengths: Sequence[float],
                 generator: RandomSource = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random ``Subset``s.

    Args:
        dataset: any sized dataset of ``N`` samples.
        lengths: ints summing to ``N``, or fractions summing to 1 (floored; the remainder
            goes one by one to the first splits).
        generator: seed, ``numpy.random.Generator`` or ``chainrule.Generator``;
            ``None`` draws from chainrule's default generator (so ``manual_seed`` makes
            the split reproducible, as in PyTorch).

    Returns:
        one ``Subset`` per entry of ``lengths``.

    Example:
        >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2], 0)
        >>> len(train), len(val)
        (8, 2)
    """
    counts = _split_lengths(len(dataset), lengths)
    from chainrule.data.sampler import default_rng_source

    perm = as_rng(default_rng_source(generator)).permutation(len(dataset))
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _count(part: float, n: int, what: str) -> int:
    """Number of samples for a split given as a fraction (< 1) or a count (int)."""
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if not 0 <= part <= n:
            raise ValueError(f"{what}={part} must lie in [0, {n}]")
        return int(part)
    if not 0.0 <= part < 1.0:
        raise ValueError(f"{what}={part} must be a fraction in [0, 1) or a sample count")
    return 0 if part == 0 else max(1, round(part * n))  # a requested split is never empty


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Share ``total`` among groups in proportion to ``counts`` (largest remainder)."""
    scaled = total * counts.astype(np.int64)  # integer arithmetic: exact, no float ties
    share, rest = np.divmod(scaled, int(counts.sum()))
    order = np.argsort(-rest, kind="stable")
    share[order[:total - int(share.sum())]] += 1
    return share


def _split_indices(n: int, n_val: int, n_test: int, rng: np.random.Generator,
                   stratify: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if stratify is None:
        perm = rng.permutation(n)
        return perm[n_val + n_test:], perm[:n_val], perm[n_val:n_val + n_test]
    classes, codes = np.unique(stratify, return_inverse=True)
    sizes = np.bincount(codes.reshape(-1), minlength=len(classes))
    test_k = _allocate(n_test, sizes)
    val_k = _allocate(n_val, sizes - test_k)
    parts: tuple[list[np.ndarray], ...] = ([], [], [])
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(codes == k))
        t, v = test_k[k], val_k[k]
        parts[0].append(members[t + v:])
        parts[1].append(members[t:t + v])
        parts[2].append(members[:t])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def train_val_test_split(*arrays: Any, val: float = 0.1, test: float = 0.1, seed: RandomSource = 0,
                         stratify: Any = None) -> tuple[tuple[np.ndarray, ...], ...]:
    """Split arrays that share their first dimension into train, validation and test parts.

    Args:
        *arrays: arrays (or Tensors) of shape ``(N, ...)``.
        val, test: fraction of ``N`` (``0 <= f < 1``; a nonzero fraction gives at least one
            sample) or an int sample count. The rest is the training part.
        seed: seed or generator of the shuffle.
        stratify: labels of shape ``(N,)``; when given each class keeps (up to rounding)
            its proportion in every part.

    Returns:
        ``(train, val, test)``, each a tuple with one array per input array, rows in a
        random order.

    Example:
        >>> X, y = np.zeros((100, 2)), np.arange(100) % 2
        >>> (Xtr, ytr), (Xva, yva), (Xte, yte) = train_val_test_split(X, y, stratify=y)
        >>> len(Xtr), len(Xva), len(Xte), int(yte.sum())
        (80, 10, 10, 5)
    """
    if not arrays:
        raise ValueError("train_val_test_split needs at least one array")
    arrs = TensorDataset(*arrays).arrays
    n = len(arrs[0])
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n - n_val - n_test < 1:
        raise ValueError(f"train_val_test_split: {n} samples leave none for training with "
                         f"val={val} ({n_val}) and test={test} ({n_test})")
    strat = None
    if stratify is not None:
        strat = as_array(stratify)
        if strat.shape[:1] != (n,):
            raise ValueError(f"stratify must have shape ({n},), got {strat.shape}")
    parts = _split_indices(n, n_val, n_test, as_rng(seed), strat)
    return tuple(tuple(a[idx] for a in arrs) for idx in parts)
