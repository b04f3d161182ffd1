"""Where one benchmark workload's step spends its time, in chainrule and in PyTorch.

    python benchmarks/profile_ops.py lenet            # both frameworks, 30 steps each
    python benchmarks/profile_ops.py char_lstm --steps 10 --top 8

chainrule's side is ``chainrule.diagnostics.profile`` (each op's forward and backward,
split by input shapes, plus the optimizer step); PyTorch's is ``torch.profiler`` (self CPU
time per aten op, which counts forward and backward kernels as separate ops). Both are in
milliseconds per step, so a missed speed target can be traced to the ops that miss it.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import WORKLOADS, build  # noqa: E402


def chainrule_profile(name: str, steps: int, top: int) -> str:
    from chainrule.diagnostics import profile

    step = build("chainrule", name)
    for _ in range(5):
        step()
    with profile(by_shape=True) as prof:
        for _ in range(steps):
            step()
    return prof.table(steps=steps, top=top)


def torch_profile(name: str, steps: int, top: int) -> str:
    try:
        import torch
        from torch.profiler import profile as torch_profiler
    except ImportError:
        return "PyTorch is not installed (pip install torch==2.13.0 for the comparison)"
    torch.set_num_threads(os.cpu_count() or 1)
    step = build("torch", name)
    for _ in range(5):
        step()
    with torch_profiler() as prof:
        for _ in range(steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top]
    total_us = sum(e.self_cpu_time_total for e in prof.key_averages())
    width = max([len(e.key) for e in rows] + [24])
    lines = [f"{'aten op (self CPU)':<{width}}  {'calls':>6}  {'ms/step':>9}  {'share':>6}"]
    for e in rows:
        lines.append(f"{e.key:<{width}}  {e.count / steps:>6.1f}  "
                     f"{e.self_cpu_time_total / steps / 1e3:>9.3f}  "
                     f"{100 * e.self_cpu_time_total / total_us:>5.1f}%")
    lines.append(f"{'all ops':<{width}}  {'':>6}  {total_us / steps / 1e3:>9.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--steps", type=int, default=30, help="profiled steps (default 30)")
    parser.add_argument("--top", type=int, default=12, help="rows per table (default 12)")
    args = parser.parse_args()
    print(f"== chainrule: {args.workload}, ms per step over {args.steps} steps")
    print(chainrule_profile(args.workload, args.steps, args.top))
    print(f"\n== PyTorch eager: {args.workload}")
    print(torch_profile(args.workload, args.steps, args.top))


if __name__ == "__main__":
    main()
