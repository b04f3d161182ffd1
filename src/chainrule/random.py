"""The default generator's seed and state, PyTorch's ``torch.random`` functions:
``seed``, ``initial_seed``, ``get_rng_state``, ``set_rng_state``.

Every random number chainrule draws (initialisers, dropout, ``randn``, samplers) comes
from ``chainrule.default_generator`` unless a ``generator=`` is passed, so saving and
restoring its state with these functions replays the same numbers.

The state is a uint8 Tensor, as in PyTorch, so it can be kept in a checkpoint dict next
to a ``state_dict`` (``cr.save`` stores it), but its bytes are chainrule's own (the
NumPy PCG64 state as UTF-8 JSON): a state from ``torch.get_rng_state()`` is not
accepted here, nor the other way round.

Example:
    >>> import chainrule as cr
    >>> state = cr.get_rng_state()
    >>> a = cr.randn(3)
    >>> cr.set_rng_state(state)
    >>> bool((cr.randn(3) == a).all())
    True
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from chainrule.backend import default_generator
from chainrule.tensor import Tensor, raw

# Written into every state, checked when one is read back: a foreign byte tensor (e.g.
# torch's 5056-byte Mersenne Twister state) fails with a clear message, not a wrong state.
_FORMAT = "chainrule.rng_state.v1"


def seed() -> int:
    """Seed the default generator with a fresh non-deterministic number (from the OS) and
    return it, like ``torch.seed``.

    Example:
        >>> import chainrule as cr
        >>> s = cr.seed()
        >>> cr.initial_seed() == s
        True
    """
    value = int.from_bytes(os.urandom(8), "little") >> 1  # 63 bits: fits an int64
    default_generator.manual_seed(value)
    return value


def initial_seed() -> int:
    """The seed the default generator was last seeded with (``manual_seed`` or ``seed``;
    0 at import), like ``torch.initial_seed``."""
    value = default_generator.initial_seed()
    return 0 if value is None else int(value)


def get_rng_state() -> Tensor:
    """The default generator's state as a uint8 Tensor (chainrule's format: see the
    module docstring); ``set_rng_state`` restores it."""
    payload = {"format": _FORMAT, "state": default_generator.get_state()}
    data = np.frombuffer(json.dumps(payload).encode("utf-8"), dtype=np.uint8).copy()
    return Tensor._make(data, False, None)


def set_rng_state(new_state: Any) -> None:
    """Restore the default generator's state from ``get_rng_state()``'s uint8 Tensor.

    Raises:
        TypeError: ``new_state`` is not a uint8 tensor.
        ValueError: it is not a state chainrule wrote (e.g. one from PyTorch).
    """
    arr = np.asarray(raw(new_state))
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise TypeError(f"set_rng_state expects the 1-d uint8 tensor get_rng_state() "
                        f"returned, got dtype {arr.dtype} and shape {arr.shape}")
    try:
        payload = json.loads(arr.tobytes().decode("utf-8"))
        ok = isinstance(payload, dict) and payload.get("format") == _FORMAT
    except (UnicodeDecodeError, json.JSONDecodeError):
        ok = False
    if not ok:
        raise ValueError("set_rng_state: this is not a state from chainrule's "
                         "get_rng_state() (states from torch.get_rng_state() are a "
                         "different generator and cannot be used)")
    try:
        default_generator.set_state(payload["state"])
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"set_rng_state: the state is damaged ({err})") from None


__all__ = ["get_rng_state", "initial_seed", "seed", "set_rng_state"]
