"""Gradient averaging over ranks: ``GradientReducer`` and ``DistributedDataParallel``.

How one step's gradients travel. The parameters are laid out, last layer first (the
order backward produces their gradients in), in a few *buckets*: contiguous arrays of
at most ``bucket_cap_mb`` (the first at most 1 MB, so communication starts early, as in
PyTorch). Each parameter has a post-accumulate-grad hook: when backward has finished a
parameter's gradient the hook copies it into its bucket, and when a bucket is full a
non-blocking ``Iallreduce`` of it starts while backward goes on through earlier layers.
Buckets start strictly in order, so every rank issues the same collectives in the same
order even when a rank's backward skips a parameter. When backward ends (a callback
queued on the engine) the rest are started, all are waited for, and each parameter's
``.grad`` receives its bucket's sum divided by the world size. So ``loss.backward()``
returns with averaged gradients and ``optimizer.step()`` needs nothing more.

A parameter that got no gradient on a rank contributes zeros there; after the sync every
parameter that takes part has a ``.grad``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.autograd import queue_callback
from chainrule.distributed.group import Group, Work
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

FIRST_BUCKET_MB = 1.0
DEFAULT_BUCKET_MB = 25.0


class _Bucket:
    """Consecutive parameters (same dtype) whose gradients travel as one array."""

    __slots__ = ("params", "offsets", "flat", "ready", "filled", "work")

    def __init__(self, params: list[Any], dtype: np.dtype) -> None:
        self.params = params
        self.offsets = np.cumsum([0] + [p._data.size for p in params]).tolist()
        self.flat = np.zeros(self.offsets[-1], dtype)
        self.ready = 0
        self.filled = [False] * len(params)
        self.work: Work | None = None

    def view(self, i: int) -> np.ndarray:
        p = self.params[i]
        return self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p._data.shape)


def _unique_trainable(params: Any) -> list[Any]:
    seen: set[int] = set()
    out = []
    for p in params:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def make_buckets(params: list[Any], cap_mb: float, first_mb: float = FIRST_BUCKET_MB
                 ) -> list[list[Any]]:
    """Group ``params`` (taken last first) into buckets of one dtype each, closed once they
    hold ``cap_mb`` (the first: ``min(first_mb, cap_mb)``) megabytes.

    Example:
        >>> import chainrule as cr
        >>> ps = [cr.zeros(100, requires_grad=True) for _ in range(4)]   # 400 B each
        >>> [len(b) for b in make_buckets(ps, cap_mb=0.00075)]
        [2, 2]
    """
    buckets: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    cap = min(first_mb, cap_mb) * 2**20
    for p in reversed(params):
        if current and p._data.dtype != current[0]._data.dtype:
            buckets.append(current)
            current, size = [], 0
            cap = cap_mb * 2**20
        current.append(p)
        size += p._data.nbytes
        if size >= cap:
            buckets.append(current)
            current, size = [], 0
            cap = cap_mb * 2**20
    if current:
        buckets.append(current)
    return buckets


class GradientReducer:
    """Averages the gradients of ``params`` over ``group`` at the end of every backward.

    Args:
        params: the parameters (those with ``requires_grad``; duplicates counted once).
        group: the process group (``chainrule.distributed``'s).
        bucket_cap_mb: the most megabytes per bucket (PyTorch's default 25).
        overlap: start each bucket's allreduce as soon as it is full (default); False
            starts them all when backward ends (for measuring what the overlap buys).

    ``comm_seconds`` adds up the time spent waiting for allreduces after backward (the
    communication that did not overlap with it).
    """

    def __init__(self, params: Any, group: Group, bucket_cap_mb: float | None = None,
                 overlap: bool = True) -> None:
        cap = DEFAULT_BUCKET_MB if bucket_cap_mb is None else float(bucket_cap_mb)
        if not cap > 0:
            raise ValueError(f"bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.group = group
        self.overlap = bool(overlap)
        self.enabled = True
        self.comm_seconds = 0.0
        self.params = _unique_trainable(params)
        self.buckets = [_Bucket(ps, ps[0]._data.dtype) for ps in make_buckets(self.params, cap)]
        self._where: dict[int, tuple[_Bucket, int]] = {}
        for b in self.buckets:
            for i, p in enumerate(b.params):
                self._where[id(p)] = (b, i)
        self._active = False
        self._next = 0
        self._handles = []
        if group.size > 1:  # one process: the average is the gradient itself
            self._handles = [p.register_post_accumulate_grad_hook(self._on_grad)
                             for p in self.params]

    # ---- during backward ------------------------------------------------------------
    def _on_grad(self, p: Tensor) -> None:
        if not self.enabled:
            return
        if not self._active:
            self._begin()
        bucket, i = self._where[id(p)]
        if not bucket.filled[i]:
            bucket.filled[i] = True
            bucket.ready += 1
        np.copyto(bucket.view(i), p.grad._data)
        if bucket.ready == len(bucket.params) and self.overlap:
            self._launch_full()
        elif self._next:
            self._progress()

    def _begin(self) -> None:
        for b in self.buckets:
            if b.work is not None:  # a backward that failed half-way: finish its requests
                b.work.wait()
                b.work = None
            b.ready = 0
            b.filled = [False] * len(b.params)
        self._next = 0
        self._active = True
        queue_callback(self._finalize)

    def _launch_full(self) -> None:
        buckets = self.buckets
        while self._next < len(buckets) and buckets[self._next].ready == len(
                buckets[self._next].params):
            b = buckets[self._next]
            b.work = self.group.iallreduce(b.flat)
            self._next += 1

    def _progress(self) -> None:
        # MPI advances a non-blocking collective only inside MPI calls: a test of the
        # oldest unfinished one lets it move on while backward computes
        for b in self.buckets[:self._next]:
            if b.work is not None and not b.work.is_completed():
                return

    def _finalize(self) -> None:
        """End of backward: start what is left (zeros for gradients this rank did not
        produce), wait, and write the averages into ``.grad``."""
        if not self._active:
            return
        self._active = False
        for b in self.buckets[self._next:]:
            for i, p in enumerate(b.params):
                if not b.filled[i]:
                    g = p.grad
                    if g is None:
                        b.view(i)[...] = 0
                    else:
                        np.copyto(b.view(i), g._data)
            b.work = self.group.iallreduce(b.flat)
        self._next = len(self.buckets)
        started = time.perf_counter()
        for b in self.buckets:
            b.work.wait()
            b.work = None
        self.comm_seconds += time.perf_counter() - started
        n = self.group.size
        for b in self.buckets:
            for i, p in enumerate(b.params):
                view = b.view(i)
                holder = p._grad
                if holder is None:
                    p._grad = Tensor._make(view / n, False, None)
                else:
                    np.divide(view, n, out=holder._data)

    def finish(self) -> None:
        """Make sure the last backward's allreduces are done (normally backward already
        waited for them; a no-op then)."""
        self._finalize()

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate local gradients only; the first backward
        after the block averages the accumulated ``.grad``."""
        previous = self.enabled
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = previous

    def remove(self) -> None:
        """Unregister the hooks (the reducer does nothing after this)."""
        for h in self._handles:
            h.remove()
        self._handles = []


def broadcast_module(module: Module, group: Group, src: int = 0,
                     buffers: bool = True) -> None:
    """Copy rank ``src``'s parameters (and buffers) into every rank's ``module``."""
    if group.size == 1:
        return
    arrays = [p._data for p in module.parameters()]
    if buffers:
        arrays += [b._data for b in module.buffers() if b is not None]
    group.bcast_arrays(arrays, src)


class DistributedDataParallel(Module):
    """Wrap ``module`` so that training it on every rank trains one model: rank 0's
    parameters and buffers are copied to every rank now, and every ``backward()``
    returns with the gradients averaged over the ranks (PyTorch's
    ``DistributedDataParallel``; see the module docstring for how).

    Args:
        module: the model (its ``state_dict`` keys gain the prefix ``module.``, as in
            PyTorch; save ``ddp.module`` to keep them plain).
        broadcast_buffers: before each forward in training mode, copy rank 0's buffers
            (BatchNorm's running statistics) to every rank, as PyTorch does. The batch
            statistics themselves stay per rank; ``nn.SyncBatchNorm`` shares them.
        init_sync: copy rank 0's parameters and buffers now (default).
        bucket_cap_mb: the most megabytes per gradient bucket (default 25).
        overlap: start each bucket's allreduce during backward (default); False waits
            for the end of backward (to measure what the overlap buys).
        device_ids, output_device: must be None (CPU). The other PyTorch arguments are
            accepted; unused parameters are always handled (they contribute zeros).

    Needs ``chainrule.distributed.init_process_group()`` first.

    Example:
        >>> import chainrule.distributed as dist
        >>> from chainrule import nn
        >>> dist.init_process_group("local")
        >>> ddp = dist.DistributedDataParallel(nn.Linear(3, 2))
        >>> sorted(ddp.state_dict())
        ['module.bias', 'module.weight']
        >>> dist.destroy_process_group()
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool | None = True, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params: Any = None,
                 param_to_hook_all_reduce: Any = None, mixed_precision: Any = None,
                 device_mesh: Any = None, skip_all_reduce_unused_params: bool = False,
                 bucket_cap_mb_list: Any = None, batched_grad_copy: bool = False,
                 forward_sync_buffers: bool | None = None, *, overlap: bool = True) -> None:
        super().__init__()
        from chainrule import distributed

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a chainrule.nn.Module, got "
                            f"{type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids/output_device must be None "
                             "(chainrule runs on the CPU; one process per rank)")
        if not distributed.is_initialized():
            raise ValueError("DistributedDataParallel needs a process group: call "
                             "chainrule.distributed.init_process_group() first")
        group = distributed._current()
        self.module = module
        self.broadcast_buffers = broadcast_buffers is None or bool(broadcast_buffers)
        self.dim = dim
        object.__setattr__(self, "_group", group)
        if init_sync:
            broadcast_module(module, group)
        object.__setattr__(self, "reducer", GradientReducer(
            module.parameters(), group, bucket_cap_mb, overlap))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        group = self._group
        if self.broadcast_buffers and self.training and group.size > 1:
            buffers = [b._data for b in self.module.buffers() if b is not None]
            if buffers:
                group.bcast_arrays(buffers, 0)
        return self.module(*args, **kwargs)

    def no_sync(self) -> Any:
        """A context in which backward does not average (gradient accumulation); the
        first backward after it averages everything accumulated."""
        return self.reducer.no_sync()

    def finish_gradient_sync(self) -> None:
        """Wait for the last backward's allreduces (backward normally already has)."""
        self.reducer.finish()


__all__ = ["DistributedDataParallel", "GradientReducer", "broadcast_module", "make_buckets"]
