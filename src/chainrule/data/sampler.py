"""Samplers: which sample indices an epoch visits, in which order (PyTorch's names).

A sampler is any iterable of indices with ``__len__``; ``DataLoader(sampler=...)`` draws one
epoch's order by iterating it once. ``BatchSampler`` groups a sampler's indices into
batches for ``DataLoader(batch_sampler=...)``.

The random samplers draw from ``generator`` (a seed, ``numpy.random.Generator`` or
``chainrule.Generator``); without one they use chainrule's default generator, so
``chainrule.manual_seed`` makes them reproducible, as ``torch.manual_seed`` does for torch's.
They expose ``state_dict``/``load_state_dict`` so a resumed ``DataLoader`` redraws the
interrupted epoch's order exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.data._rng import RandomSource, as_rng


def default_rng_source(generator: RandomSource) -> RandomSource:
    """``generator``, or chainrule's default generator when it is None."""
    if generator is not None:
        return generator
    from chainrule.backend import default_generator

    return default_generator


class Sampler:
    """Base class: iterate indices of a data source; ``len`` is how many per epoch."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class _RandomState:
    """Shared by the random samplers: the generator and its JSON state."""

    def _init_rng(self, generator: RandomSource) -> None:
        source = default_rng_source(generator)
        # a seed becomes one generator now; generator objects are kept to be followed
        self._source = as_rng(source) if isinstance(source, (int, np.integer)) else source

    @property
    def rng(self) -> np.random.Generator:
        # looked up each time, so a chainrule.Generator re-seeded in place is followed
        return as_rng(self._source)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class SequentialSampler(Sampler):
    """Indices ``0 .. len(data_source) - 1`` in order.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_RandomState, Sampler):
    """A random permutation each epoch, or ``num_samples`` draws with replacement.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement.
        num_samples: indices per epoch (default ``len(data_source)``).
        generator: seed / generator (default: chainrule's default generator).

    Example:
        >>> sorted(RandomSampler(range(4), generator=0))
        [0, 1, 2, 3]
    """

    def __init__(self, data_source: Any, replacement: bool = False,
                 num_samples: int | None = None, generator: RandomSource = None) -> None:
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        if num_samples is not None and (isinstance(num_samples, bool) or
                                        not isinstance(num_samples, (int, np.integer))
                                        or num_samples <= 0):
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        self._init_rng(generator)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            return iter(self.rng.integers(0, n, k).tolist())
        # more samples than the data: whole permutations back to back, as torch does
        reps = [self.rng.permutation(n) for _ in range(-(-k // n))] if n else []
        order = np.concatenate(reps)[:k] if reps else np.zeros(0, np.int64)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_RandomState, Sampler):
    """The given indices in a random order each epoch.

    Example:
        >>> sorted(SubsetRandomSampler([5, 2, 9], generator=0))
        [2, 5, 9]
    """

    def __init__(self, indices: Sequence[int], generator: RandomSource = None) -> None:
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._init_rng(generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[self.rng.permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_RandomState, Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``.

    Args:
        weights: one non-negative weight per sample (need not sum to 1).
        num_samples: indices per epoch.
        replacement: draw with replacement (without: each index at most once).
        generator: seed / generator (default: chainrule's default generator).

    Example:
        >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=4, generator=0)
        >>> list(s)
        [1, 1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: RandomSource = None) -> None:
        w = np.asarray(weights._data if hasattr(weights, "numpy") else weights, np.float64)
        w = w.reshape(-1)
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
                or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples "
                             f"without replacement from {np.count_nonzero(w)} with weight > 0")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = bool(replacement)
        self._init_rng(generator)

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        picks = self.rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(picks.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        inner = getattr(self.sampler, "state_dict", None)
        return {"sampler": inner() if callable(inner) else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        inner = getattr(self.sampler, "load_state_dict", None)
        if callable(inner) and state.get("sampler") is not None:
            inner(state["sampler"])


class DistributedSampler(Sampler):
    """One rank's share of every epoch: a disjoint slice of the same shuffled order on
    every rank (PyTorch's ``DistributedSampler``).

    Each epoch's order is a permutation drawn from ``(seed, epoch)`` alone, so every rank
    draws the same one without talking to the others; rank ``r`` takes positions ``r,
    r + R, r + 2R, …`` of it (``R = num_replicas``). Together the ranks cover the data
    once per epoch. Without ``drop_last`` the order is padded with its own first indices
    to a multiple of ``R`` (a few samples seen twice), else cut to one (a few left out),
    so every rank gets ``len(sampler)`` indices and takes the same number of steps.

    Call ``set_epoch(epoch)`` before each epoch (the ``Trainer`` does) or every epoch
    repeats the first one's order. ``state_dict()`` is the epoch: a ``DataLoader`` using
    this sampler resumes mid-epoch exactly.

    Args:
        dataset: anything with ``len``.
        num_replicas: number of ranks (default: the process group's world size).
        rank: this process's rank (default: the process group's).
        shuffle: draw a new order each epoch (else ``0 .. len - 1``).
        seed: the same on every rank; with the epoch it fixes the order.
        drop_last: cut the tail instead of padding.

    Example:
        >>> s0 = DistributedSampler(range(5), num_replicas=2, rank=0, shuffle=False)
        >>> s1 = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
        >>> list(s0), list(s1)
        ([0, 2, 4], [1, 3, 0])
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from chainrule import distributed

            if not distributed.is_initialized():
                raise ValueError("DistributedSampler: give num_replicas and rank, or call "
                                 "chainrule.distributed.init_process_group() first")
            num_replicas = distributed.get_world_size() if num_replicas is None \
                else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        for name, value in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"DistributedSampler: {name} must be an int, got {value!r}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got "
                             f"{num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n, r = len(dataset), self.num_replicas
        if self.drop_last and n % r:
            self.num_samples = n // r
        else:
            self.num_samples = -(-n // r)
        self.total_size = self.num_samples * r

    def order(self) -> np.ndarray:
        """This epoch's order over all ranks (padded or cut to ``total_size``)."""
        n = len(self.dataset)
        if self.shuffle:
            # (seed, epoch) through SeedSequence: every pair its own stream (torch's
            # seed + epoch would give seed 0 epoch 1 the order of seed 1 epoch 0)
            rng = np.random.default_rng([self.seed % 2**64, self.epoch])
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:
            reps = -(-self.total_size // n)
            order = np.tile(order, reps)
        return order[:self.total_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order to draw next (the same on every rank)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seed": self.seed, "rank": self.rank,
                "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "num_replicas"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"DistributedSampler state was saved with {key}="
                                 f"{state[key]!r} but this sampler has {key}="
                                 f"{getattr(self, key)!r}")
        self.epoch = int(state["epoch"])


__all__ = ["BatchSampler", "DistributedSampler", "RandomSampler", "Sampler",
           "SequentialSampler", "SubsetRandomSampler", "WeightedRandomSampler"]
