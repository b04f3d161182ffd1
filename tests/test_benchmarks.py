"""The benchmark suite's own code keeps working: every chainrule workload builds and
trains a step, and the per-op profile prints (speed itself lives in benchmarks/, not
here)."""

from __future__ import annotations

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import workloads  # noqa: E402  (benchmarks/ is not a package)
from profile_ops import chainrule_profile  # noqa: E402


@pytest.mark.parametrize("name", ["tiny_mlp", "mnist_mlp", "lenet", "char_lstm",
                                  "tiny_transformer"])
def test_every_workload_builds_and_steps(name: str) -> None:
    step = workloads.build("chainrule", name)
    step()
    step()


def test_profile_table_names_the_workloads_ops() -> None:
    table = chainrule_profile("tiny_mlp", steps=3, top=5)
    lines = table.splitlines()
    assert lines[0].split()[0] == "op"
    assert any(line.startswith("Linear") for line in lines)
    assert lines[-1].startswith("wall")


def test_fast_worker_runs_with_the_compiled_kernels() -> None:
    """``run.py --fast``'s third worker: chainrule with CHAINRULE_FAST=1, warmed up."""
    pytest.importorskip("numba")
    from run import Worker

    src = os.path.join(os.path.dirname(BENCH), "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    worker = Worker("chainrule_fast", "mnist_mlp", env=env)
    assert worker.error is None
    assert worker.run(2) > 0
    assert worker.close() > 0
