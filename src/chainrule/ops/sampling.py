"""Random samples whose parameters are tensors: ``bernoulli`` and ``normal``.

They draw from a chainrule ``Generator`` (``generator=``, default the one ``manual_seed``
seeds), so a seeded script gives the same numbers every run (not torch's numbers: the
generators differ). As in PyTorch, the sample is connected to the graph with a zero
gradient for its parameters (``torch.normal`` does not reparameterise: write
``mean + std * cr.randn_like(std)`` for a pathwise gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import Generator, get_default_dtype, resolve_generator
from chainrule.dtypes import to_dtype
from chainrule.tensor import Tensor, raw


class Sampled(Function):
    """A sample drawn outside the graph (``values``), attached to its parameters with a
    zero gradient, as PyTorch's ``bernoulli``/``normal`` are."""

    __slots__ = ()

    def forward(self, *params: np.ndarray, values: np.ndarray) -> np.ndarray:
        self.saved = tuple(p.shape for p in params)
        return values

    def backward(self, g: np.ndarray) -> Any:
        grads = tuple(np.zeros(s, g.dtype) if need else None
                      for s, need in zip(self.saved, self.needs_input_grad))
        return grads[0] if len(grads) == 1 else grads  # one input: the array itself


def bernoulli(input: Any, p: float | None = None, *,  # noqa: A002
              generator: Generator | None = None) -> Tensor:
    """0/1 samples, 1 with probability ``input`` (elementwise), like ``torch.bernoulli``;
    ``bernoulli(input, p)`` uses the one probability ``p`` in ``input``'s shape. The
    result has ``input``'s dtype.

    Args:
        input: probabilities in [0, 1], any shape.
        p: a single probability instead of ``input``'s values.
        generator: the random source (default: the one ``manual_seed`` seeds).

    Example:
        >>> import chainrule as cr
        >>> cr.bernoulli(cr.tensor([0.0, 1.0, 1.0]))
        tensor([0., 1., 1.])
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    probs = np.asarray(x._data if p is None else p, dtype=np.float64)
    if probs.size and (np.isnan(probs).any() or probs.min() < 0 or probs.max() > 1):
        raise ValueError("bernoulli: probabilities must be in [0, 1]")
    draws = resolve_generator(generator).random(x._data.shape, np.float64) < probs
    values = draws.astype(x._data.dtype if x._data.dtype.kind != "b" else np.bool_)
    if x.requires_grad:
        return Sampled.apply(x, values=values)
    return Tensor._make(values, False, None)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *,
           generator: Generator | None = None, dtype: Any = None,
           requires_grad: bool = False, device: Any = None) -> Tensor:
    """Samples of N(mean, std²), like ``torch.normal``: ``mean`` and/or ``std`` may be
    tensors (they broadcast; the result has their shape), or both numbers with ``size``.

    Args:
        mean, std: tensors or numbers (std >= 0).
        size: the shape, when mean and std are numbers.
        generator: the random source (default: the one ``manual_seed`` seeds).
        dtype, requires_grad, device: for the numbers-and-size form (floats default to
            the default dtype; ``device`` must be the CPU).

    Example:
        >>> import chainrule as cr
        >>> _ = cr.manual_seed(0)
        >>> cr.normal(cr.zeros(2, 3), 1.0).shape, cr.normal(0.0, 1.0, (4,)).shape
        ((2, 3), (4,))
    """
    if device is not None:
        from chainrule.devices import device as as_device

        as_device(device)
    gen = resolve_generator(generator)
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    m, s = np.asarray(raw(mean)), np.asarray(raw(std))
    if s.size and (np.isnan(s).any() or s.min() < 0):
        raise ValueError("normal: std must be >= 0")
    if not tensors:
        if size is None:
            raise TypeError("normal: with numbers for mean and std give size (a shape)")
        shape = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
        dt = get_default_dtype() if dtype is None else to_dtype(dtype)
        values = (m + s * gen.normal(shape, np.float64)).astype(dt)
        return Tensor(values, requires_grad, dt)
    if size is not None:
        raise TypeError("normal: size is only for the form with numbers for mean and std")
    try:
        shape = np.broadcast_shapes(m.shape, s.shape)
    except ValueError:
        raise ValueError(f"normal: mean of shape {m.shape} and std of shape {s.shape} do "
                         "not broadcast together") from None
    dt = np.result_type(*[t._data.dtype for t in tensors])
    if dt.kind != "f":
        raise TypeError(f"normal: mean and std must be floating tensors, got {dt}")
    values = (m + s * gen.normal(shape, np.float64)).astype(dt)
    if any(t.requires_grad for t in tensors):
        return Sampled.apply(*tensors, values=values)
    return Tensor._make(values, False, None)


__all__ = ["bernoulli", "normal"]
