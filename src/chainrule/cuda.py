"""``chainrule.cuda``: PyTorch's ``torch.cuda`` questions, answered for a CPU-only library.

Scripts often pick their device with ``"cuda" if torch.cuda.is_available() else "cpu"``;
with these answers they choose the CPU and run unchanged.

Example:
    >>> import chainrule as cr
    >>> cr.cuda.is_available(), cr.cuda.device_count()
    (False, 0)
"""

from __future__ import annotations


def is_available() -> bool:
    """False: chainrule has no GPU backend yet."""
    return False


def device_count() -> int:
    """0: no GPU is usable."""
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored (nothing to seed without a GPU), as PyTorch does on CPU."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as ``manual_seed``."""


def synchronize(device: object = None) -> None:
    """Nothing to wait for on the CPU."""
