"""Data-parallel training over MPI: throughput, allreduce bandwidth, the time spent
communicating with and without overlap, and a scaling model for many machines.

    python benchmarks/distributed.py                  # everything, 3 interleaved repeats
    python benchmarks/distributed.py --repeats 5 --seconds 3
    python benchmarks/distributed.py --ranks 1 2      # fewer rank counts

Each measurement is its own job, ``mpiexec -n N python -m mpi4py`` this file ``worker ...``;
the parent interleaves them (every model × ranks × mode once per repeat, in turn) and
reports medians, because a shared machine's load drifts. Each rank uses one BLAS thread.
Workloads (``workloads.py``): ``mnist_mlp`` (784-512-256-10, batch 128 per rank, Adam) and
``lenet`` (LeNet-5 on 28×28, batch 64 per rank, SGD+momentum); throughput counts the
samples of all ranks (weak scaling: the global batch grows with the ranks).

Modes: ``local`` (no_sync(): the same processes, no communication: the compute time
under the same CPU sharing), ``end`` (every bucket's allreduce started when backward
ends), ``overlap`` (each bucket's allreduce started from the gradient hooks as soon as
it is full, the default; with the default buckets, 1 MB first then 25 MB, both models'
gradients fit the first bucket, so there is nothing to overlap) and ``overlap-small``
(0.25 MB buckets: several, the first started while backward is still in the first
layers). The communication share of a step is ``(t_mode − t_local) /
t_mode``; ``wait`` is the time ranks spent blocked on allreduces after backward.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ("mnist_mlp", "lenet")
MODES = ("local", "end", "overlap", "overlap-small")
SMALL_BUCKET_MB = 0.25  # overlap-small: many buckets, so reductions start early
SIZES = [2**k for k in range(10, 27, 2)]  # bytes: 1 KiB .. 64 MiB
# links for the scaling model: (name, bytes/s, latency per message in s)
LINKS = [("1 GbE", 117e6, 50e-6), ("10 GbE", 1.17e9, 20e-6), ("25 GbE", 2.9e9, 10e-6),
         ("100 Gb InfiniBand", 11.5e9, 2e-6)]


# ---- one rank's side (run under mpiexec) -------------------------------------------------------

def _worker(model_name: str, mode: str, seconds: float, bucket_mb: float | None) -> None:
    import workloads

    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.distributed.ddp import DistributedDataParallel

    cr.set_num_threads(1)
    dist.init_process_group()
    group = dist._current()
    rank, size = group.rank, group.size
    api = workloads._API("chainrule")
    spec = workloads.SPECS[model_name]
    model = workloads._model(api, model_name)
    if mode == "overlap-small":
        bucket_mb = SMALL_BUCKET_MB
    ddp = DistributedDataParallel(model, bucket_cap_mb=bucket_mb, overlap=mode != "end")
    opt = workloads._optimizer(api, list(model.parameters()), spec, fused=False)
    data = workloads._data(model_name)
    x, y = cr.tensor(data["x"]), data["y"]
    F = api.F

    def step() -> None:
        opt.zero_grad()
        loss = F.cross_entropy(ddp(x), y)
        if mode == "local":
            with ddp.no_sync():
                loss.backward()
        else:
            loss.backward()
        opt.step()

    for _ in range(3):
        step()
    # rank 0 times a few steps and decides how many to run, so every rank runs as many
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    per = (time.perf_counter() - t0) / 3
    count = np.array([max(5, int(seconds / max(per, 1e-4)))], np.int64)
    group.bcast(count, 0)
    times = []
    waited = ddp.reducer.comm_seconds
    for _ in range(int(count[0])):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    wait = (ddp.reducer.comm_seconds - waited) / len(times)
    mine = np.array([statistics.median(times), wait])
    group.allreduce(mine, "max")  # the slowest rank sets the pace
    if rank == 0:
        grad_bytes = sum(p.numpy().nbytes for p in model.parameters())
        print(json.dumps({"model": model_name, "ranks": size, "mode": mode,
                          "step_s": mine[0], "wait_s": mine[1],
                          "samples_per_s": size * spec["batch"] / mine[0],
                          "grad_bytes": grad_bytes, "buckets": len(ddp.reducer.buckets),
                          "steps": int(count[0])}), flush=True)


def _allreduce_worker(repeat_seconds: float) -> None:
    import chainrule.distributed as dist

    dist.init_process_group()
    group = dist._current()
    out = []
    for nbytes in SIZES:
        buf = np.ones(nbytes // 4, np.float32)
        t0 = time.perf_counter()
        for _ in range(3):
            group.allreduce(buf)
        # rank 0 says how many to time, so that every rank calls as many
        reps = np.array([max(3, int(repeat_seconds * 3 / (time.perf_counter() - t0)))])
        group.bcast(reps, 0)
        group.barrier()
        t0 = time.perf_counter()
        for _ in range(int(reps[0])):
            group.allreduce(buf)
        t = np.array([(time.perf_counter() - t0) / int(reps[0])])
        group.allreduce(t, "max")
        out.append({"bytes": nbytes, "seconds": float(t[0])})
    if group.rank == 0:
        print(json.dumps({"ranks": group.size, "allreduce": out}), flush=True)


# ---- the parent -------------------------------------------------------------------------------

def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        raise SystemExit('no mpiexec: pip install "chainrule[mpi]"')
    return found


def _launch(ranks: int, args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    src = HERE.parent / "src"
    env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(Path(__file__)),
           *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ring_seconds(grad_bytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    """Ring allreduce: 2(N−1) messages of G/N bytes each way: 2(N−1)·α + 2(N−1)/N·G/β."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * grad_bytes / bandwidth


def scaling_table(name: str, grad_bytes: float, compute_s: float) -> list[str]:
    """For each link: the communication time at N = 2, 8, 64 and the largest N (up to 1024)
    at which a step stays at least half compute, without overlap (t_c / (t_c + T)) and with
    perfect overlap (t_c / max(t_c, T))."""
    lines = [f"{name}: gradients {grad_bytes / 1e6:.2f} MB, compute {compute_s * 1e3:.1f} ms "
             "per step (1 rank, 1 thread, here)",
             "  link                  T(N=2)    T(N=8)    T(N=64)   eff(8) no/with overlap   "
             "N where eff < 50% (no overlap / overlap)"]
    for link, beta, alpha in LINKS:
        t = {n: ring_seconds(grad_bytes, n, beta, alpha) for n in (2, 8, 64)}

        def eff(n: int, overlap: bool, beta: float = beta, alpha: float = alpha) -> float:
            comm = ring_seconds(grad_bytes, n, beta, alpha)
            return compute_s / (max(compute_s, comm) if overlap else compute_s + comm)

        def limit(overlap: bool, eff=eff) -> str:  # noqa: ANN001
            for n in range(2, 1025):
                if eff(n, overlap) < 0.5:
                    return str(n)
            return ">1024"

        lines.append(f"  {link:<20} {t[2] * 1e3:7.2f}ms {t[8] * 1e3:7.2f}ms {t[64] * 1e3:7.2f}ms"
                     f"   {eff(8, False):5.0%} / {eff(8, True):5.0%}            "
                     f"{limit(False)} / {limit(True)}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per job")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--bucket-mb", type=float, default=None,
                   help="bucket size (default 25, the first 1)")
    p.add_argument("--json", metavar="FILE", help="also write every measurement here")
    args = p.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {os.cpu_count()} cores, load average {load:.1f} at start; "
          f"{args.repeats} interleaved repeats; medians", flush=True)
    runs: list[dict] = []
    extra = [] if args.bucket_mb is None else ["--bucket-mb", str(args.bucket_mb)]
    for rep in range(args.repeats):
        for model in args.models:
            for ranks in args.ranks:
                for mode in (("local",) if ranks == 1 else MODES):
                    r = _launch(ranks, ["worker", model, mode, str(args.seconds), *extra])
                    r["repeat"] = rep
                    runs.append(r)
                    print(f"  [{rep}] {model:<9} N={ranks} {mode:<13} "
                          f"{r['step_s'] * 1e3:7.2f} ms/step  {r['samples_per_s']:8.0f} "
                          f"samples/s  wait {r['wait_s'] * 1e3:6.2f} ms", flush=True)
    bandwidth = {n: _launch(n, ["allreduce", "0.3"]) for n in args.ranks if n > 1}

    def med(model: str, ranks: int, mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["model"] == model
                                 and r["ranks"] == ranks and r["mode"] == mode)

    print("\n## throughput (samples/s, all ranks; per-rank batch fixed) and communication")
    print("model      N  mode           ms/step  samples/s  speedup  comm share  wait ms")
    for model in args.models:
        base = med(model, 1, "local", "samples_per_s") if 1 in args.ranks else float("nan")
        for ranks in args.ranks:
            local = med(model, ranks, "local", "step_s")
            for mode in (("local",) if ranks == 1 else MODES):
                step = med(model, ranks, mode, "step_s")
                share = (step - local) / step if mode != "local" else 0.0
                print(f"{model:<9} {ranks:>2}  {mode:<13} {step * 1e3:8.2f} "
                      f"{med(model, ranks, mode, 'samples_per_s'):10.0f} "
                      f"{med(model, ranks, mode, 'samples_per_s') / base:8.2f} "
                      f"{share:10.0%} {med(model, ranks, mode, 'wait_s') * 1e3:8.2f}")
    print("\n## allreduce (in place, float32), this machine's shared memory")
    print("bytes       " + "  ".join(f"N={n}: µs / algbw / busbw" for n in bandwidth))
    for i, nbytes in enumerate(SIZES):
        cells = []
        for n, res in bandwidth.items():
            t = res["allreduce"][i]["seconds"]
            alg = nbytes / t
            cells.append(f"{t * 1e6:9.1f} {alg / 1e9:6.2f} {alg * 2 * (n - 1) / n / 1e9:6.2f} GB/s")
        print(f"{nbytes:>10}  " + "  ".join(cells))
    print("\n## scaling model: ring allreduce 2(N-1)/N x G / bandwidth + 2(N-1) x latency,"
          " against the compute of one step")
    for model in args.models:
        grad = next(r["grad_bytes"] for r in runs if r["model"] == model)
        compute = med(model, 1, "local", "step_s") if 1 in args.ranks else med(
            model, min(args.ranks), "local", "step_s")
        print("\n".join(scaling_table(model, grad, compute)))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "allreduce": bandwidth}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        bucket = None
        if "--bucket-mb" in sys.argv:
            bucket = float(sys.argv[sys.argv.index("--bucket-mb") + 1])
        _worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), bucket)
    elif len(sys.argv) > 1 and sys.argv[1] == "allreduce":
        _allreduce_worker(float(sys.argv[2]))
    else:
        main()
