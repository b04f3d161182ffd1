"""``DataLoader``: batches of a dataset, shuffled reproducibly, resumable mid-epoch.

Epochs and resume
-----------------
Each ``iter(loader)`` (each ``for batch in loader``) starts a new epoch: with
``shuffle=True`` it draws the epoch's order from the loader's generator, so the sequence
of epochs is fixed by the seed. ``loader.epoch`` is the index of the current epoch while
one is being iterated, and of the next one otherwise; abandoning an epoch (``break``)
counts it as done.

``state_dict()`` records, as plain JSON values, the generator state at the start of the
current epoch, the generator state now, the epoch and how many batches of it were
already handed out. ``load_state_dict()`` on a loader over the same dataset makes the
*next* ``iter(loader)`` redraw that epoch's order and continue with the first batch not
handed out before (possibly none, when the state was taken after the last batch);
later iterations start new epochs as usual. A run that saves ``state_dict()`` after any
batch and resumes from it therefore sees exactly the batches, bit for bit, that an
uninterrupted run sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.data._rng import RandomSource, as_rng
from chainrule.data.dataset import Subset, as_array

STATE_VERSION = 1


def _stack_samples(samples: list[Any]) -> tuple[np.ndarray, ...]:
    """Batch samples of a generic dataset: stack position by position."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(np.stack([as_array(s[k]) for s in samples]) for k in range(len(first)))
    return (np.stack([as_array(s) for s in samples]),)


class DataLoader:
    """Iterate over a dataset in batches of NumPy arrays.

    Args:
        dataset: a ``TensorDataset``, ``Subset`` of one, or any dataset with ``__len__``
            and ``__getitem__`` (its samples are then stacked one by one).
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: draw a new random order every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: seed of the shuffling generator (a fresh ``PCG64``).
        generator: instead of ``seed``: a ``numpy.random.Generator`` or
            ``chainrule.Generator`` to draw orders from (shared, not copied). With neither,
            a shuffled loader seeds itself from fresh entropy (still resumable).

    Yields:
        tuples of arrays, one per dataset array, each of shape ``(B, ...)`` with the
        dataset's dtype (float32 stays float32).

    Example:
        >>> from chainrule.data import TensorDataset
        >>> X, y = np.ones((10, 3), np.float32), np.arange(10)
        >>> loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=0)
        >>> len(loader), [xb.shape[0] for xb, yb in loader]
        (3, [4, 4, 2])
    """

    def __init__(self, dataset: Any, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 generator: RandomSource = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._source: RandomSource = generator
        self._rng = as_rng(generator if generator is not None else seed) if shuffle else None
        self._batched = callable(getattr(dataset, "get_batch", None)) and (
            not isinstance(dataset, Subset) or dataset.has_batching)
        self._epoch = 0
        self._in_epoch = False
        self._next_batch = 0
        self._order: np.ndarray | None = None
        self._epoch_rng_state: dict | None = None
        self._resume = False
        self._token = 0

    # ---- sizes --------------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return len(self.dataset)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    @property
    def epoch(self) -> int:
        """Index of the epoch being iterated, or of the next one between epochs."""
        return self._epoch

    @property
    def generator(self) -> np.random.Generator | None:
        """The generator orders are drawn from (``None`` when not shuffling)."""
        if self._rng is not None and self._source is not None:
            self._rng = as_rng(self._source)  # follow a chainrule.Generator re-seeded in place
        return self._rng

    # ---- iteration ----------------------------------------------------------------
    def _draw_order(self) -> np.ndarray | None:
        rng = self.generator
        if rng is None:
            return None
        self._epoch_rng_state = rng.bit_generator.state
        return rng.permutation(self.num_samples)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        if self._resume:
            self._resume = False
        else:
            if self._in_epoch:
                self._epoch += 1  # the previous epoch was abandoned part-way
            self._order = self._draw_order()
            self._next_batch = 0
            self._in_epoch = True
        self._token += 1
        return self._batches(self._token)

    def _batches(self, token: int) -> Iterator[tuple[np.ndarray, ...]]:
        n, size, order = self.num_samples, self.batch_size, self._order
        for i in range(self._next_batch, len(self)):
            start, stop = i * size, min((i + 1) * size, n)
            idx = np.arange(start, stop) if order is None else order[start:stop]
            batch = self._fetch(idx)
            if token != self._token:
                return  # a newer iterator owns the loader's position
            self._next_batch = i + 1
            yield batch
        if token == self._token:
            self._in_epoch = False
            self._next_batch = 0
            self._epoch += 1

    def _fetch(self, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        if self._batched:
            return tuple(self.dataset.get_batch(idx))
        return _stack_samples([self.dataset[int(i)] for i in idx])

    # ---- checkpointing ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The loader's position as JSON-serialisable values (see the module docstring).

        Keys: ``epoch``, ``batch`` (batches of the current epoch handed out),
        ``in_epoch``, ``rng`` (generator state now), ``epoch_rng`` (at the start of the
        current epoch), and ``num_samples``/``batch_size``/``shuffle``/``drop_last`` to check
        that the state is loaded into a matching loader.
        """
        rng = self.generator
        return {
            "version": STATE_VERSION,
            "epoch": self._epoch,
            "batch": self._next_batch if self._in_epoch else 0,
            "in_epoch": self._in_epoch,
            "rng": None if rng is None else rng.bit_generator.state,
            "epoch_rng": self._epoch_rng_state if self._in_epoch else None,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a position saved by ``state_dict``; the next ``iter`` continues there.

        Raises:
            ValueError: the state comes from a loader over a different number of samples
                or with different ``batch_size``/``shuffle``/``drop_last``.
        """
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state.get(key) != getattr(self, key):
                raise ValueError(f"DataLoader state was saved with {key}={state.get(key)!r} "
                                 f"but this loader has {key}={getattr(self, key)!r}; resume "
                                 "with the same data and loader settings")
        rng = self.generator
        self._epoch = int(state["epoch"])
        self._in_epoch = bool(state["in_epoch"])
        self._next_batch = int(state["batch"])
        self._order, self._epoch_rng_state = None, None
        if self._in_epoch and rng is not None:
            rng.bit_generator.state = state["epoch_rng"]
            self._order = self._draw_order()
        if rng is not None:
            rng.bit_generator.state = state["rng"]
        self._resume = self._in_epoch
