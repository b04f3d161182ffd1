"""``DataLoader``: batches of a dataset as Tensors, shuffled reproducibly, resumable
mid-epoch, optionally prepared ahead in a background thread.

Batches
-------
Each batch is a tuple with one ``Tensor`` per dataset array (``TensorDataset``, ``Subset``
of one: gathered with one fancy-indexing operation per array), or what ``collate_fn``
makes of the list of samples (any other dataset; the default, ``default_collate``, stacks
samples position by position into Tensors, as PyTorch's does). Tensors share memory with
the gathered arrays and keep their dtypes.

Epochs and resume
-----------------
Each ``iter(loader)`` (each ``for batch in loader``) starts a new epoch: with
``shuffle=True`` it draws the epoch's order from the loader's generator, so the sequence
of epochs is fixed by the seed. Without ``seed`` or ``generator`` the loader seeds itself
once, from chainrule's default generator, so ``chainrule.manual_seed`` makes it
reproducible. ``loader.epoch`` is the index of the current epoch while one is being
iterated, and of the next one otherwise; abandoning an epoch (``break``) counts it as done.

``state_dict()`` records, as plain JSON values, the generator state at the start of the
current epoch, the generator state now, the epoch and how many batches of it were
already handed out. ``load_state_dict()`` on a loader over the same dataset makes the
*next* ``iter(loader)`` redraw that epoch's order and continue with the first batch not
handed out before (possibly none, when the state was taken after the last batch);
later iterations start new epochs as usual. A run that saves ``state_dict()`` after any
batch and resumes from it therefore sees exactly the batches, bit for bit, that an
uninterrupted run sees. With a ``sampler`` or ``batch_sampler`` of your own this holds
when it has ``state_dict``/``load_state_dict`` (chainrule's samplers do) or draws the
same order every epoch. An ``IterableDataset`` gives its samples in its own order (no
shuffle or sampler); a resumed epoch iterates past the batches already handed out, which
is exact when the dataset yields the same sequence every time it is iterated.

Workers
-------
``num_workers > 0`` prepares batches in one background thread, up to
``prefetch_factor * num_workers`` ahead, while the model trains on the current one
(NumPy releases the GIL in its copies and matrix products, so the two overlap). Batches
are made in order by that single thread, so they are the same, bit for bit, as with
``num_workers=0``, and a dataset that draws random numbers sees the same draws. Worker
*processes*, as PyTorch starts, are not used: they would copy the dataset into every
process for NumPy work that mostly does not need them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.data._rng import RandomSource, as_rng
from chainrule.data.dataset import IterableDataset, Subset, as_array
from chainrule.data.sampler import default_rng_source
from chainrule.tensor import Tensor

STATE_VERSION = 1


# ---- collation --------------------------------------------------------------------------

def _wrap(arr: np.ndarray) -> Tensor:
    return Tensor._make(arr, False, None)


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch, position by position (PyTorch's rules).

    Tensors and arrays are stacked into a Tensor (dtype kept); Python ints give int64,
    bools bool and floats the default float dtype (PyTorch gives float64, which would
    not fit a float32 model); tuples and lists are collated element-wise (a tuple stays a
    tuple), mappings key by key; strings are returned as a list.

    Example:
        >>> xb, yb = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)])
        >>> xb.shape, yb.tolist()
        ((2, 2), [1, 0])
    """
    samples = batch
    if not samples:
        raise ValueError("default_collate: no samples to collate")
    first = samples[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        return _wrap(np.stack([as_array(s) for s in samples]))
    if isinstance(first, bool):
        return _wrap(np.array(samples, dtype=bool))
    if isinstance(first, int):
        return _wrap(np.array(samples, dtype=np.int64))
    if isinstance(first, float):
        from chainrule.backend import get_default_dtype

        return _wrap(np.array(samples, dtype=get_default_dtype()))
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        size = len(first)
        if any(len(s) != size for s in samples):
            raise ValueError("default_collate: samples have different numbers of items "
                             f"({sorted({len(s) for s in samples})})")
        parts = [default_collate([s[k] for s in samples]) for k in range(size)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
            return type(first)(*parts)
        return tuple(parts) if isinstance(first, tuple) else parts
    if first is None:
        raise TypeError("default_collate: a sample is None; return arrays, Tensors, numbers "
                        "or tuples/dicts of them from the dataset")
    return _wrap(np.stack([np.asarray(s) for s in samples]))


# ---- background preparation ---------------------------------------------------------------

class _Prefetcher:
    """Makes ``fetch(item)`` for each item, in order, in one daemon thread, at most
    ``depth`` ahead of the consumer."""

    _DONE = object()

    def __init__(self, fetch: Callable[[Any], Any], items: list[Any], depth: int,
                 timeout: float, worker_init_fn: Callable[[int], Any] | None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._timeout = timeout
        self._thread = threading.Thread(target=self._run, args=(fetch, items, worker_init_fn),
                                        name="chainrule-DataLoader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, fetch: Callable[[Any], Any], items: list[Any],
             worker_init_fn: Callable[[int], Any] | None) -> None:
        try:
            if worker_init_fn is not None:
                worker_init_fn(0)
            for item in items:
                if self._stop.is_set() or not self._put((True, fetch(item))):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((False, err))
            return
        self._put((True, self._DONE))

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                ok, value = self._queue.get(timeout=self._timeout or None)
            except queue.Empty:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} s waiting "
                                   "for a batch from the background thread") from None
            if not ok:
                raise value
            if value is self._DONE:
                return
            yield value

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)


# ---- the loader ------------------------------------------------------------------------------

def _positive_int(value: Any, name: str, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _state_of(obj: Any) -> Any:
    fn = getattr(obj, "state_dict", None)
    return fn() if callable(fn) else None


def _load_state(obj: Any, state: Any) -> None:
    fn = getattr(obj, "load_state_dict", None)
    if callable(fn) and state is not None:
        fn(state)


class DataLoader:
    """Iterate over a dataset in batches of Tensors (PyTorch's ``DataLoader``).

    Args:
        dataset: a ``TensorDataset``, ``Subset`` of one, or any dataset with ``__len__``
            and ``__getitem__`` (its samples are then collated by ``collate_fn``).
        batch_size: samples per batch (the last batch may be smaller). Default 1, as in
            PyTorch.
        shuffle: draw a new random order every epoch.
        sampler: an iterable of indices (with ``len``) giving each epoch's order, e.g.
            ``WeightedRandomSampler``; excludes ``shuffle``.
        batch_sampler: an iterable of index lists, one per batch; excludes
            ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers: > 0 prepares batches ahead in a background thread (see the module
            docstring); the batches are identical to ``num_workers=0``.
        collate_fn: turns a list of samples into a batch (default ``default_collate``);
            when given it is used for every dataset, including ``TensorDataset``.
        pin_memory: accepted for compatibility; there is no device memory to pin.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the background thread (0: forever).
        worker_init_fn: called as ``worker_init_fn(0)`` in the background thread first.
        generator: a ``numpy.random.Generator``, ``chainrule.Generator`` or seed to draw
            orders from (shared, not copied).
        prefetch_factor: batches prepared ahead per worker (default 2 when workers run).
        persistent_workers, multiprocessing_context, pin_memory_device: accepted for
            compatibility; the background thread is started per epoch.
        in_order: accepted; batches always come in order (PyTorch's ``in_order=False``
            only allows, never requires, out-of-order batches from worker processes).
        seed: instead of ``generator``: the seed of a fresh ``PCG64``.

    Yields:
        tuples with one Tensor per dataset array, each of shape ``(B, ...)`` with the
        dataset's dtype (float32 stays float32), or ``collate_fn``'s result.

    Example:
        >>> from chainrule.data import TensorDataset
        >>> X, y = np.ones((10, 3), np.float32), np.arange(10)
        >>> loader = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, seed=0)
        >>> len(loader), [xb.shape[0] for xb, yb in loader]
        (3, [4, 4, 2])
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], Any] | None = None,
                 multiprocessing_context: Any = None, generator: RandomSource = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:
        shuffle = bool(shuffle)
        if isinstance(dataset, IterableDataset):
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value!r}")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
        elif batch_size is None:
            raise ValueError("batch_size=None (no batching) is not supported; give a "
                             "batch size")
        else:
            batch_size = _positive_int(batch_size, "batch_size")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        self.num_workers = _positive_int(num_workers, "num_workers", allow_zero=True)
        if prefetch_factor is not None:
            if self.num_workers == 0:
                raise ValueError("prefetch_factor option could only be specified in "
                                 "multiprocessing: let num_workers > 0 to enable it")
            prefetch_factor = _positive_int(prefetch_factor, "prefetch_factor")
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got {timeout!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        self.pin_memory = bool(pin_memory)
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None else 2
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self._source: RandomSource = generator
        self._rng = None
        if shuffle:
            if generator is None and seed is None:
                # one draw from chainrule's default generator: manual_seed makes it reproducible
                seed = int(as_rng(default_rng_source(None)).integers(0, 2**63 - 1))
            self._rng = as_rng(generator if generator is not None else seed)
        self._iterable = isinstance(dataset, IterableDataset)
        self._batched = collate_fn is None and callable(getattr(dataset, "get_batch", None)) \
            and (not isinstance(dataset, Subset) or dataset.has_batching)
        self._epoch = 0
        self._in_epoch = False
        self._next_batch = 0
        self._batches_of_epoch: list[np.ndarray] | None = None
        self._epoch_rng_state: Any = None
        self._resume = False
        self._token = 0

    # ---- sizes --------------------------------------------------------------------
    @property
    def num_samples(self) -> int | None:
        """Samples per epoch (None for an iterable dataset without ``len``)."""
        if self._iterable:
            try:
                return len(self.dataset)
            except (TypeError, NotImplementedError):  # a stream of unknown length
                return None
        return len(self.dataset)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        if self.num_samples is None:
            raise TypeError(f"{type(self.dataset).__name__} is an IterableDataset without "
                            "__len__, so the number of batches is not known in advance")
        n = len(self.sampler) if self.sampler is not None else self.num_samples
        b = self.batch_size
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
    def _draw_batches(self) -> list[np.ndarray]:
        """This epoch's batches of indices; records what redraws them on resume."""
        if self._iterable:
            return []  # an iterable dataset decides its own order
        if self.batch_sampler is not None:
            self._epoch_rng_state = _state_of(self.batch_sampler)
            return [np.asarray(b, dtype=np.int64).reshape(-1) for b in self.batch_sampler]
        if self.sampler is not None:
            self._epoch_rng_state = _state_of(self.sampler)
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        else:
            rng = self.generator
            if rng is None:
                order = None
            else:
                self._epoch_rng_state = rng.bit_generator.state
                order = rng.permutation(self.num_samples)
        n = self.num_samples if order is None else len(order)
        size = self.batch_size
        count = n // size if self.drop_last else -(-n // size)
        if order is None:
            return [np.arange(i * size, min((i + 1) * size, n)) for i in range(count)]
        return [order[i * size:(i + 1) * size] for i in range(count)]

    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            self._resume = False
        else:
            if self._in_epoch:
                self._epoch += 1  # the previous epoch was abandoned part-way
            self._batches_of_epoch = self._draw_batches()
            self._next_batch = 0
            self._in_epoch = True
        self._token += 1
        return self._batches(self._token)

    def _batches(self, token: int) -> Iterator[Any]:
        start = self._next_batch
        todo: Any = (self._batches_of_epoch or [])[start:]
        fetch = self._fetch
        if self._iterable:
            todo, fetch = self._sample_chunks(start), self._collate
        prefetcher = None
        if self.num_workers > 0 and (self._iterable or todo):
            prefetcher = _Prefetcher(fetch, todo, self.prefetch_factor * self.num_workers,
                                     self.timeout, self.worker_init_fn)
            made: Any = iter(prefetcher)
        else:
            made = (fetch(item) for item in todo)
        try:
            for i, batch in enumerate(made, start):
                if token != self._token:
                    return  # a newer iterator owns the loader's position
                self._next_batch = i + 1
                yield batch
        finally:
            if prefetcher is not None:
                prefetcher.close()
        if token == self._token:
            self._in_epoch = False
            self._next_batch = 0
            self._epoch += 1

    def _sample_chunks(self, skip_batches: int) -> Iterator[list[Any]]:
        """An iterable dataset's samples in lists of ``batch_size``, after skipping the
        batches a resumed epoch already handed out (by iterating past them)."""
        size, chunk = self.batch_size, []
        skip = skip_batches * size
        for sample in self.dataset:
            if skip:
                skip -= 1
                continue
            chunk.append(sample)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk and not self.drop_last:
            yield chunk

    def _fetch(self, idx: np.ndarray) -> Any:
        if self._batched:
            return tuple(_wrap(as_array(a)) for a in self.dataset.get_batch(idx))
        return self._collate([self.dataset[int(i)] for i in idx])

    def _collate(self, samples: list[Any]) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        batch = default_collate(samples)
        return batch if isinstance(batch, (tuple, list, dict)) else (batch,)

    # ---- checkpointing ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The loader's position as JSON-serialisable values (see the module docstring).

        Keys: ``epoch``, ``batch`` (batches of the current epoch handed out),
        ``in_epoch``, ``rng`` (generator or sampler state now), ``epoch_rng`` (at the
        start of the current epoch), and ``num_samples``/``batch_size``/``shuffle``/
        ``drop_last`` to check that the state is loaded into a matching loader.
        """
        rng = self.generator
        if rng is not None:
            now = rng.bit_generator.state
        else:
            now = _state_of(self.batch_sampler if self.batch_sampler is not None
                            else self.sampler)
        return {
            "version": STATE_VERSION,
            "epoch": self._epoch,
            "batch": self._next_batch if self._in_epoch else 0,
            "in_epoch": self._in_epoch,
            "rng": now,
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
        if not isinstance(state, dict):
            raise ValueError(f"DataLoader state must be a dict, got {type(state).__name__}")
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state.get(key) != getattr(self, key):
                raise ValueError(f"DataLoader state was saved with {key}={state.get(key)!r} "
                                 f"but this loader has {key}={getattr(self, key)!r}; resume "
                                 "with the same data and loader settings")
        rng = self.generator
        custom = self.batch_sampler if self.batch_sampler is not None else self.sampler
        self._epoch = int(state["epoch"])
        self._in_epoch = bool(state["in_epoch"])
        self._next_batch = int(state["batch"])
        self._batches_of_epoch, self._epoch_rng_state = None, None
        if self._in_epoch:
            if rng is not None:
                rng.bit_generator.state = state["epoch_rng"]
            elif custom is not None:
                _load_state(custom, state["epoch_rng"])
            self._batches_of_epoch = self._draw_batches()
        if rng is not None:
            rng.bit_generator.state = state["rng"]
        elif custom is not None:
            _load_state(custom, state["rng"])
        self._resume = self._in_epoch


__all__ = ["DataLoader", "default_collate"]
