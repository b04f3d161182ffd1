"""One framework's side of a workload, driven over stdin/stdout by ``run.py``.

Protocol: prints ``ready`` once built and warmed up; then answers each ``run N`` line with
the seconds N steps took, and ``quit`` with its peak RSS in MiB. Keeping each framework in
its own process lets the parent alternate them and read each one's own peak memory.
"""

from __future__ import annotations

import json
import os
import sys
import time

from memory import peak_rss_mib

sys.path.insert(0, os.path.dirname(__file__))


def main() -> None:
    framework, name = sys.argv[1], sys.argv[2]
    if framework.startswith("torch"):
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    if framework == "chainrule_fast":
        # chainrule with its compiled kernels (chainrule[fast]): switched on before the
        # import, as a user's CHAINRULE_FAST=1 would; the warm-up steps below compile them
        # (or load them from numba's cache), so no round times a compilation
        os.environ["CHAINRULE_FAST"] = "1"
    from workloads import build

    try:
        step = build("chainrule" if framework == "chainrule_fast" else framework, name)
        if framework == "chainrule_fast":
            from chainrule import fast

            if not fast.enabled:
                raise RuntimeError(f"the fast path is off: {fast.INSTALL_HINT}")
        for _ in range(3):
            step()
    except Exception as err:  # noqa: BLE001 - reported to the parent, which skips the row
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        return
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "run":
            n = int(cmd[1])
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            print(time.perf_counter() - t0, flush=True)
        elif cmd[0] == "quit":
            print(json.dumps({"peak_rss_mib": peak_rss_mib()}), flush=True)
            return


if __name__ == "__main__":
    main()
