"""What ``Trainer(..., distributed=True)`` does across ranks, kept out of the training
loop: one object the Trainer calls at fixed points.

- at construction: join the process group, copy rank 0's parameters and buffers to every
  rank, and attach a ``GradientReducer`` (gradients averaged by the end of backward);
- each step: copy rank 0's buffers before forward (as ``DistributedDataParallel``),
  start a non-blocking sum of ``[loss × n, n]`` before backward so the batch's loss is
  the global one when callbacks see it, and agree after the callbacks on whether to stop
  (a rank that stops alone would leave the others waiting);
- each epoch: sum the metrics' running states, shard and sum validation;
- checkpoints: every rank's own state (random generators, data loader position,
  running metric sums) gathered into rank 0's file, and handed back to each rank on
  resume.

Random numbers: at a fresh start, rank ``r`` moves its default generator (and any
layer's own) ``r`` jumps of 2^127 draws ahead (``PCG64.jumped``): rank 0 draws exactly
what one process would, and the others draw independent streams, so dropout masks differ
between ranks; a checkpoint keeps each rank's state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.distributed.ddp import GradientReducer, broadcast_module
from chainrule.distributed.group import INSTALL_HINT, Group, mpi_available


def process_group() -> Group:
    """The current process group, made first when there is none (MPI needed)."""
    from chainrule import distributed

    if not distributed.is_initialized():
        if not mpi_available():
            raise ImportError(f"distributed training needs mpi4py: {INSTALL_HINT}; then "
                              "launch with mpiexec -n N python -m mpi4py ...")
        distributed.init_process_group()
    return distributed._current()


def merge_states(states: list[Any]) -> Any:
    """The sum of several ranks' JSON states: numbers add, lists add item by item, None
    is nothing, other values must agree (they are kept).

    Example:
        >>> merge_states([{"_n": 2, "_s": [1.0, 2.0]}, {"_n": 3, "_s": [0.5, 0.5]}])
        {'_n': 5, '_s': [1.5, 2.5]}
    """
    present = [s for s in states if s is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        return {k: merge_states([s.get(k) for s in present]) for k in first}
    if isinstance(first, list):
        return [merge_states([s[i] for s in present]) for i in range(len(first))]
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    total = present[0]
    for s in present[1:]:
        total = total + s
    return total


def _fork_generator(gen: Any, jumps: int) -> None:
    state = gen.get_state()
    if jumps == 0 or state.get("bit_generator") != "PCG64":
        return
    bits = np.random.PCG64()
    bits.state = state
    gen.set_state(bits.jumped(jumps).state)


class TrainerSync:
    """The cross-rank side of one ``Trainer`` (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.group = process_group()
        self.rank = self.group.rank
        self.size = self.group.size
        self.model = model
        self.reducer: GradientReducer | None = None
        self._has_buffers = False
        self._loss = np.zeros(2, np.float64)
        self._loss_work: Any = None
        if self.size > 1:
            from chainrule.distributed.ddp import DistributedDataParallel

            if isinstance(model, DistributedDataParallel):  # already synced, hooks in place
                self.reducer = model.reducer
            else:
                broadcast_module(model, self.group)
                self.reducer = GradientReducer(model.parameters(), self.group)
            self._has_buffers = any(b is not None for b in model.buffers())

    @property
    def active(self) -> bool:
        return self.size > 1

    # ---- setup ----------------------------------------------------------------------
    def fork_random_state(self, generators: list[Any]) -> None:
        """Rank r: every generator ``r`` jumps ahead (fresh starts only)."""
        for gen in generators:
            _fork_generator(gen, self.rank)

    def same_seed(self, seed: int | None) -> int:
        """Rank 0's seed (one drawn from rank 0's default generator when None)."""
        if seed is None and self.rank == 0:
            from chainrule.backend import default_generator

            seed = int(default_generator.rng.integers(0, 2**63 - 1))
        return int(self.group.bcast_json(seed))

    # ---- each step --------------------------------------------------------------------
    def before_forward(self) -> None:
        if self._has_buffers:  # looked up each time: load_state_dict(assign=True) replaces
            self.group.bcast_arrays([b._data for b in self.model.buffers() if b is not None], 0)

    def start_loss(self, value: float, n: int) -> None:
        loss = self._loss
        loss[0] = value * n
        loss[1] = n
        self._loss_work = self.group.iallreduce(loss)

    def finish_gradient_sync(self) -> None:
        if self.reducer is not None:
            self.reducer.finish()

    def loss(self) -> tuple[float, int]:
        """The batch's loss over every rank, and its number of samples."""
        if self._loss_work is not None:
            self._loss_work.wait()
            self._loss_work = None
        total, n = self._loss
        return float(total / n) if n else float("nan"), int(n)

    def agree(self, *flags: float) -> list[float]:
        """The largest of each flag over the ranks (any rank's True wins)."""
        values = np.array(flags, np.float64)
        self.group.allreduce(values, "max")
        return values.tolist()

    def rank0_decides(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (decisions that read the clock)."""
        return bool(self.agree(float(flag) if self.rank == 0 else 0.0)[0])

    # ---- each epoch ---------------------------------------------------------------------
    def reduce_states(self, state: Any) -> Any:
        """The sum of every rank's JSON ``state`` (``merge_states``), on every rank."""
        gathered = self.group.gather_json(state, 0)
        merged = merge_states(gathered) if gathered is not None else None
        return self.group.bcast_json(merged, 0)

    def reduce_metrics(self, metrics: list[Any]) -> None:
        if not metrics:
            return
        merged = self.reduce_states([m.state_dict() for m in metrics])
        for m, state in zip(metrics, merged):
            m.load_state_dict(state)

    def check_steps(self, steps: int | None) -> None:
        """Every rank must take as many steps per epoch, or one would wait forever."""
        counts = np.array([-1 if steps is None else steps] * 2, np.float64)
        counts[1] = -counts[1]
        self.group.allreduce(counts, "max")
        low, high = -counts[1], counts[0]
        if low != high:
            raise ValueError(f"distributed training: the ranks' data loaders give {low:.0f} "
                             f"to {high:.0f} batches per epoch; every rank must take as "
                             "many steps (give the loader a DistributedSampler, which "
                             "pads or cuts every rank's share to the same length)")

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` samples (evaluation; no padding)."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    # ---- checkpoints --------------------------------------------------------------------
    def gather_rank_states(self, state: dict[str, Any]) -> list[Any] | None:
        return self.group.gather_json(state, 0)

    def check_world_size(self, path: str, extra: dict[str, Any]) -> dict[str, Any] | None:
        """This rank's saved state, after checking the checkpoint's number of ranks."""
        saved = extra.get("distributed") or {}
        size = int(saved.get("world_size", 1))
        if size != self.size:
            raise ValueError(f"{path} was written by a run of {size} process(es); resume "
                             f"it with {size} (mpiexec -n {size} ...), not {self.size}: "
                             "each rank's data shard and random state are in it")
        ranks = saved.get("ranks")
        return ranks[self.rank] if ranks else None
