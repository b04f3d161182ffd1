"""Data-parallel training over MPI, with ``torch.distributed``'s names.

Launch one process per rank with MPI's own launcher, through mpi4py so that an exception
on any rank ends the whole job::

    mpiexec -n 4 python -m mpi4py train.py
    mpiexec -n 4 python -m mpi4py -m chainrule train --distributed ...

In the script::

    import chainrule.distributed as dist
    dist.init_process_group()            # MPI under mpiexec; one process otherwise
    model = dist.DistributedDataParallel(model)   # rank 0's weights everywhere
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=64, sampler=sampler)   # 64 per rank
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step()

or ``Trainer(..., distributed=True)``, which does all of it (and reduces metrics, and
writes files on rank 0 only). ``backward()`` returns with every gradient averaged over the
ranks: ``DistributedDataParallel`` packs gradients into buckets and starts a non-blocking
allreduce of each as soon as backward has filled it.

What it needs: mpi4py and an MPI library (``pip install "chainrule[mpi]"`` brings mpi4py
and the MPICH wheel). Without a launcher, ``init_process_group()`` makes a one-process
group and everything here still works (each collective is then the identity).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from chainrule.distributed.group import (
    INSTALL_HINT,
    Group,
    LocalGroup,
    ReduceOp,
    Work,
    launched_by_mpi,
    mpi_available,
)

_GROUP: Group | None = None
_HOOK: Any = None  # the excepthook we installed (to remove it again)

BACKENDS = ("mpi", "local")


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       store: Any = None, group_name: str = "", pg_options: Any = None,
                       device_id: Any = None) -> None:
    """Join the job's process group (``torch.distributed.init_process_group``).

    Args:
        backend: ``'mpi'`` (mpi4py; needs it installed), ``'local'`` (one process, no
            MPI) or None: MPI when the process was started by an MPI launcher
            (``mpiexec``, ``srun``…) or already imported mpi4py, one process otherwise.
        world_size, rank: -1, or the values the launcher gave (checked, not chosen: MPI
            assigns ranks).
        init_method, timeout, store, group_name, pg_options, device_id: accepted for
            compatibility; MPI's launcher does the rendezvous.

    Under MPI with more than one rank, an exception that reaches the top of any rank
    aborts every rank (``MPI_Abort``), so a failure never leaves the others waiting.

    Example:
        >>> import chainrule.distributed as dist
        >>> dist.init_process_group("local"); dist.get_rank(), dist.get_world_size()
        (0, 1)
        >>> dist.destroy_process_group()
    """
    global _GROUP
    if _GROUP is not None:
        raise RuntimeError("trying to initialize the default process group twice; call "
                           "destroy_process_group() first")
    if backend is not None and str(backend).lower() not in BACKENDS:
        raise ValueError(f"init_process_group: backend {backend!r} is not available here; "
                         "chainrule uses 'mpi' (through mpi4py) or 'local' (one process)")
    name = None if backend is None else str(backend).lower()
    if name is None:
        name = "mpi" if launched_by_mpi() else "local"
        if name == "mpi" and not mpi_available():
            raise ImportError("this process was started by an MPI launcher but mpi4py is "
                              f"not installed: {INSTALL_HINT}")
    if name == "mpi":
        from chainrule.distributed.group import MPIGroup

        group: Group = MPIGroup()
    else:
        group = LocalGroup()
    for what, given, real in (("world_size", world_size, group.size), ("rank", rank,
                                                                        group.rank)):
        if given is not None and given != -1 and given != real:
            group.close()
            raise ValueError(f"init_process_group: {what}={given} but the launcher started "
                             f"this process with {what} {real}")
    _GROUP = group
    if group.size > 1:
        _install_abort_hook(group)


def _install_abort_hook(group: Group) -> None:
    """An unhandled exception on one rank aborts all of them (as ``python -m mpi4py``
    does): the others would otherwise wait forever in their next collective."""
    global _HOOK
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        previous(kind, value, tb)
        if not issubclass(kind, SystemExit) or value.code not in (None, 0):
            sys.stderr.flush()
            group.abort(1)

    hook.previous = previous  # type: ignore[attr-defined]
    sys.excepthook = hook
    _HOOK = hook


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group (a no-op when none was made); MPI itself is finalized
    by mpi4py when the program ends."""
    global _GROUP, _HOOK
    if _GROUP is None:
        return
    if _HOOK is not None and sys.excepthook is _HOOK:
        sys.excepthook = _HOOK.previous
    _HOOK = None
    _GROUP.close()
    _GROUP = None


def is_available() -> bool:
    """True: the package works (with one process when mpi4py is missing)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (``pip install "chainrule[mpi]"``)."""
    return mpi_available()


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not destroyed)."""
    return _GROUP is not None


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 .. world_size - 1."""
    return _current().rank


def get_world_size(group: Any = None) -> int:
    """How many processes take part."""
    return _current().size


def get_backend(group: Any = None) -> str:
    """``'mpi'`` or ``'local'``."""
    return _current().backend


def _current() -> Group:
    """The current process group; ValueError (PyTorch's message) when there is none."""
    if _GROUP is None:
        raise ValueError("Default process group has not been initialized, please make "
                           "sure to call init_process_group.")
    return _GROUP


def is_main_process() -> bool:
    """True on rank 0, and when no process group was made: the process that writes files
    and prints (a chainrule helper; ``get_rank() == 0`` needs a group)."""
    return _GROUP is None or _GROUP.rank == 0


def _array_of(tensor: Any, what: str) -> np.ndarray:
    data = tensor if isinstance(tensor, np.ndarray) else getattr(tensor, "_data", None)
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{what} takes a Tensor or a NumPy array, got {type(tensor).__name__}")
    return data


def _in_place(tensor: Any, what: str, run: Any) -> Any:
    """Run a collective on the tensor's array; a non-contiguous or read-only array is
    worked on through a contiguous copy, written back afterwards."""
    data = _array_of(tensor, what)
    if data.flags.c_contiguous and data.flags.writeable:
        return run(data)
    if not data.flags.writeable:
        raise ValueError(f"{what}: the tensor's array is read-only")
    buf = np.ascontiguousarray(data)
    result = run(buf)
    if isinstance(result, Work):
        after = result._then

        def write_back() -> None:
            if after is not None:
                after()
            data[...] = buf

        result._then = write_back
        return result
    data[...] = buf
    return result


def all_reduce(tensor: Any, op: str = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across ranks, in place: every rank ends with the result.

    Args:
        tensor: a Tensor (its array is changed) or a NumPy array, same shape and dtype
            on every rank.
        op: ``ReduceOp.SUM`` (default), ``AVG``, ``MAX``, ``MIN`` or ``PRODUCT``.
        async_op: return a ``Work`` at once; ``work.wait()`` finishes the reduction.

    Example:
        >>> import chainrule as cr, chainrule.distributed as dist
        >>> dist.init_process_group("local")
        >>> t = cr.tensor([1.0, 2.0]); dist.all_reduce(t, dist.ReduceOp.SUM); t
        tensor([1., 2.])
        >>> dist.destroy_process_group()
    """
    g = _current()
    if async_op:
        return _in_place(tensor, "all_reduce", lambda a: g.iallreduce(a, op))
    _in_place(tensor, "all_reduce", lambda a: g.allreduce(a, op))
    return None


def broadcast(tensor: Any, src: int = 0, group: Any = None,
              async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (in place)."""
    g = _current()
    _in_place(tensor, "broadcast", lambda a: g.bcast(a, src))
    return Work() if async_op else None


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> None:
    """Wait until every rank has reached this call."""
    _current().barrier()


def __getattr__(name: str) -> Any:
    # DDP pulls in nn; the sampler lives with the data pipeline: imported on first use
    if name == "DistributedDataParallel":
        from chainrule.distributed.ddp import DistributedDataParallel

        return DistributedDataParallel
    if name == "DistributedSampler":
        from chainrule.data.sampler import DistributedSampler

        return DistributedSampler
    raise AttributeError(f"module 'chainrule.distributed' has no attribute {name!r}")


__all__ = ["DistributedDataParallel", "DistributedSampler", "ReduceOp", "Work",
           "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_backend",
           "get_rank", "get_world_size", "init_process_group", "is_available",
           "is_initialized", "is_main_process", "is_mpi_available"]
