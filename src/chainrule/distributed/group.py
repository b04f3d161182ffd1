"""The process group: which processes take part in a job, and collectives on arrays.

Two kinds, one interface. ``MPIGroup`` talks MPI through mpi4py (a duplicate of
``COMM_WORLD``, so chainrule's messages never mix with the program's own); ``LocalGroup``
is the one-process group a script gets when it was not launched by ``mpiexec``, so the
same script runs both ways. Collectives work on NumPy arrays in place and use only
mpi4py's buffer methods (``Allreduce``, ``Bcast``…): nothing is pickled. Structured data
(per-rank checkpoint state) travels as JSON bytes.

Nothing here imports mpi4py until an MPI group is made.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

INSTALL_HINT = ('pip install "chainrule[mpi]" (brings mpi4py and the MPICH wheel: no '
                "compiler or system MPI needed)")

# environment variables that MPI launchers set in the processes they start (MPICH/Hydra,
# Intel MPI, Open MPI, PMIx, MVAPICH)
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                      "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


class ReduceOp:
    """How ``all_reduce`` combines the ranks' values (``torch.distributed.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"

    ALL = (SUM, AVG, PRODUCT, MIN, MAX)


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher (or already imported MPI)."""
    return "mpi4py.MPI" in sys.modules or any(v in os.environ for v in LAUNCHER_VARIABLES)


def mpi_available() -> bool:
    """Whether mpi4py can be imported (without importing it: that would start MPI)."""
    if "mpi4py.MPI" in sys.modules:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):
        return False


def import_mpi(what: str = "MPI") -> Any:
    """``mpi4py.MPI``, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"{what} needs mpi4py, which is not installed: {INSTALL_HINT}"
                          f" ({err})") from None
    return MPI


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` finishes it."""

    def __init__(self, request: Any = None, then: Any = None) -> None:
        self._request = request
        self._then = then

    def is_completed(self) -> bool:
        return self._request is None or bool(self._request.Test())

    def wait(self, timeout: Any = None) -> bool:
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._then is not None:
            then, self._then = self._then, None
            then()
        return True


class Group:
    """The interface both groups implement (arrays are changed in place)."""

    backend = "none"
    rank = 0
    size = 1

    def allreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> None:
        raise NotImplementedError

    def iallreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> Work:
        raise NotImplementedError

    def bcast(self, arr: np.ndarray, src: int = 0) -> None:
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def gather_bytes(self, data: bytes, root: int = 0) -> list[bytes] | None:
        raise NotImplementedError

    def bcast_bytes(self, data: bytes | None, root: int = 0) -> bytes:
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        os._exit(code)

    def close(self) -> None:
        pass

    # ---- built on the above -----------------------------------------------------------
    def gather_json(self, value: Any, root: int = 0) -> list[Any] | None:
        """Every rank's JSON-able ``value``, in rank order, on ``root`` (None elsewhere)."""
        parts = self.gather_bytes(json.dumps(value).encode(), root)
        return None if parts is None else [json.loads(p) for p in parts]

    def bcast_json(self, value: Any, root: int = 0) -> Any:
        """``root``'s JSON-able ``value`` on every rank."""
        data = json.dumps(value).encode() if self.rank == root else None
        return json.loads(self.bcast_bytes(data, root))

    def bcast_arrays(self, arrays: list[np.ndarray], src: int = 0) -> None:
        """Broadcast many arrays in place with one message per dtype."""
        by_dtype: dict[np.dtype, list[np.ndarray]] = {}
        for a in arrays:
            by_dtype.setdefault(a.dtype, []).append(a)
        for group in by_dtype.values():
            flat = np.concatenate([a.reshape(-1) for a in group])
            if flat.size == 0:
                continue
            self.bcast(flat, src)
            start = 0
            for a in group:
                a[...] = flat[start:start + a.size].reshape(a.shape)
                start += a.size


def _check_op(op: Any) -> str:
    if op not in ReduceOp.ALL:
        raise ValueError(f"unknown reduce op {op!r}; use chainrule.distributed.ReduceOp."
                         "SUM, AVG, PRODUCT, MIN or MAX")
    return op


class LocalGroup(Group):
    """One process, no MPI: every collective is the identity."""

    backend = "local"

    def allreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> None:
        _check_op(op)

    def iallreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> Work:
        _check_op(op)
        return Work()

    def bcast(self, arr: np.ndarray, src: int = 0) -> None:
        if src != 0:
            raise ValueError(f"broadcast from rank {src}: this one-process group has only "
                             "rank 0")

    def barrier(self) -> None:
        pass

    def gather_bytes(self, data: bytes, root: int = 0) -> list[bytes] | None:
        return [data]

    def bcast_bytes(self, data: bytes | None, root: int = 0) -> bytes:
        assert data is not None
        return data


class MPIGroup(Group):
    """Every process of ``MPI.COMM_WORLD``, over a duplicate communicator."""

    backend = "mpi"

    def __init__(self) -> None:
        MPI = import_mpi("chainrule.distributed over MPI")
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}

    def _buffer(self, arr: np.ndarray) -> np.ndarray:
        if not arr.flags.c_contiguous:
            raise ValueError("collectives need C-contiguous arrays (use .contiguous())")
        return arr

    def allreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> None:
        self.comm.Allreduce(self.MPI.IN_PLACE, self._buffer(arr), self._ops[_check_op(op)])
        if op == ReduceOp.AVG:
            _divide(arr, self.size)

    def iallreduce(self, arr: np.ndarray, op: str = ReduceOp.SUM) -> Work:
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, self._buffer(arr),
                                   self._ops[_check_op(op)])
        then = (lambda: _divide(arr, self.size)) if op == ReduceOp.AVG else None
        return Work(req, then)

    def bcast(self, arr: np.ndarray, src: int = 0) -> None:
        if not 0 <= src < self.size:
            raise ValueError(f"broadcast from rank {src}: the group has ranks 0..{self.size - 1}")
        self.comm.Bcast(self._buffer(arr), root=src)

    def barrier(self) -> None:
        self.comm.Barrier()

    def gather_bytes(self, data: bytes, root: int = 0) -> list[bytes] | None:
        send = np.frombuffer(data, np.uint8)
        counts = np.zeros(self.size, np.int64)
        self.comm.Allgather(np.array([send.size], np.int64), counts)
        if self.rank != root:
            self.comm.Gatherv(send, None, root=root)
            return None
        recv = np.empty(int(counts.sum()), np.uint8)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.comm.Gatherv(send, [recv, counts.tolist(), displs.tolist(), self.MPI.BYTE],
                          root=root)
        return [recv[d:d + c].tobytes() for d, c in zip(displs, counts)]

    def bcast_bytes(self, data: bytes | None, root: int = 0) -> bytes:
        n = np.array([len(data) if self.rank == root and data is not None else 0], np.int64)
        self.comm.Bcast(n, root=root)
        buf = (np.frombuffer(data, np.uint8).copy() if self.rank == root and data is not None
               else np.empty(int(n[0]), np.uint8))
        self.comm.Bcast(buf, root=root)
        return buf.tobytes()

    def abort(self, code: int = 1) -> None:
        self.MPI.COMM_WORLD.Abort(code)

    def close(self) -> None:
        comm, self.comm = self.comm, None
        if comm is not None and not self.MPI.Is_finalized():
            comm.Free()


def _divide(arr: np.ndarray, n: int) -> None:
    if arr.dtype.kind in "fc":
        arr /= n
    else:
        arr //= n
