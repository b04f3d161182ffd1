"""``Standardize``: preprocessing that travels inside the model, as Keras's ``Normalization``.

A model whose first layer standardises its inputs (and, for regression, whose last layer
maps its outputs back to the target's units) takes raw data and gives answers in real
units: whoever loads the file needs no statistics kept beside it. The statistics are
buffers, so ``state_dict()`` and model files carry them (``input.mean``, ``input.std``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


def _shape(shape: int | Sequence[int] | None, mean: Any, std: Any) -> tuple[int, ...]:
    if shape is None:
        for given in (mean, std):
            if given is not None:
                return tuple(np.shape(given))
        raise ValueError("Standardize needs a shape, or mean/std to take it from")
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    out = tuple(int(s) for s in shape)
    if any(s < 1 for s in out):
        raise ValueError(f"Standardize: shape must have sizes >= 1, got {out}")
    return out


class Standardize(Module):
    """``y = (x - mean) / std`` per feature, or its inverse ``y = x * std + mean``.

    ``mean`` and ``std`` are buffers (saved, not learned) of one sample's shape; they
    broadcast over the batch dimension. With ``invert=True`` the layer maps standardised
    values back to real units — the last layer of a regression model trained on
    standardised targets.

    Args:
        shape: one sample's shape, e.g. ``64`` or ``(1, 8, 8)`` (default: ``mean``'s).
        mean: per-feature means (default 0).
        std: per-feature standard deviations, all > 0 (default 1).
        invert: compute ``x * std + mean`` instead.

    Shapes:
        input ``(N, *shape)``, output the same.

    Example:
        >>> import chainrule as cr
        >>> layer = Standardize(mean=[10.0, 0.0], std=[2.0, 4.0])
        >>> layer(cr.tensor([[12.0, 2.0]])).tolist()
        [[1.0, 0.5]]
        >>> Standardize(mean=[10.0, 0.0], std=[2.0, 4.0], invert=True)(
        ...     cr.tensor([[1.0, 0.5]])).tolist()
        [[12.0, 2.0]]
        >>> list(layer.state_dict())
        ['mean', 'std']
    """

    def __init__(self, shape: int | Sequence[int] | None = None, mean: Any = None,
                 std: Any = None, invert: bool = False, dtype: Any = None) -> None:
        super().__init__()
        self.shape = _shape(shape, mean, std)
        self.invert = bool(invert)
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        given = {}
        for name, value in (("mean", mean), ("std", std)):
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            if value.shape != self.shape:
                raise ValueError(f"Standardize: {name} has shape {value.shape}, expected "
                                 f"{self.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"Standardize: {name} holds non-finite values")
            given[name] = value.astype(dt)
        if "std" in given and not np.all(given["std"] > 0):
            raise ValueError("Standardize: std must be > 0 everywhere (a constant feature "
                             "takes std 1)")
        # the defaults: placeholders under nn.init.meta_init (a file's values follow)
        self.register_buffer("mean", given.get("mean", init.filled(self.shape, 0, dt)))
        self.register_buffer("std", given.get("std", init.filled(self.shape, 1, dt)))

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x._data.shape[1:]) != self.shape:
            raise ValueError(f"Standardize expects inputs of shape (N, "
                             f"{', '.join(map(str, self.shape))}), got "
                             f"{tuple(x._data.shape)}")
        if self.invert:
            return x * self.std + self.mean
        return (x - self.mean) / self.std

    def standardize(self, values: np.ndarray) -> np.ndarray:
        """``(values - mean) / std`` as a plain array (in the buffers' dtype), whichever
        way the layer points: what a loss on the standardised scale compares against."""
        return ((np.asarray(values) - self.mean._data) / self.std._data).astype(
            self.mean._data.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"shape={self.shape}" + (", invert=True" if self.invert else "")


__all__ = ["Standardize"]
