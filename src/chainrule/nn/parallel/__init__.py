"""``torch.nn.parallel``'s name: ``DistributedDataParallel`` (from ``chainrule.distributed``,
imported on first use)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "DistributedDataParallel":
        from chainrule.distributed.ddp import DistributedDataParallel

        return DistributedDataParallel
    raise AttributeError(f"module 'chainrule.nn.parallel' has no attribute {name!r}")


__all__ = ["DistributedDataParallel"]
