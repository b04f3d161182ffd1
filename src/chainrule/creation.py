"""PyTorch's tensor factories beyond ``zeros``/``ones``/``randn``: ``as_tensor``,
``from_numpy``, ``eye``, ``linspace``, ``logspace``, ``empty``, the ``*_like`` family,
``randint``, ``randperm`` and ``multinomial``, each with PyTorch's keywords (``dtype=``,
``device=``, ``requires_grad=``, ``layout=``, ...; see ``chainrule.devices``).

Random ones draw from a chainrule ``Generator`` (``generator=``, default the one that
``manual_seed`` seeds), so a seeded script gives the same numbers every run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype, resolve_generator
from chainrule.devices import check_placement
from chainrule.dtypes import to_dtype
from chainrule.ops.arithmetic import cast
from chainrule.tensor import Tensor, _size, raw, tensor


def _dtype_or_default(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else to_dtype(dtype)


# ---- from existing data -----------------------------------------------------------

def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory when it can, like ``torch.as_tensor``.

    A Tensor of the right dtype is returned as is; a NumPy array of the right dtype is
    wrapped without a copy (its float dtype kept, as ``tensor`` does); anything else is
    converted (a copy). ``device`` must name the CPU.

    Example:
        >>> import numpy as np, chainrule as cr
        >>> a = np.zeros(3)
        >>> t = cr.as_tensor(a); a[0] = 5.0
        >>> t.dtype, float(t[0])
        (dtype('float64'), 5.0)
    """
    check_placement("as_tensor", device)
    dt = None if dtype is None else to_dtype(dtype)
    if isinstance(data, Tensor):
        return data if dt is None or data._data.dtype == dt else cast(data, dt)
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiub" and (
            dt is None or data.dtype == dt):
        return Tensor._make(data, False, None)
    return tensor(data, dtype=dt)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype, like ``torch.from_numpy``:
    writes to either show in both.

    Example:
        >>> import numpy as np, chainrule as cr
        >>> a = np.arange(3.0)
        >>> t = cr.from_numpy(a); t.data[0] = 9.0
        >>> a
        array([9., 1., 2.])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: cannot make a tensor from an array of dtype "
                        f"{array.dtype} (supported: bool, integers, floats)")
    return Tensor._make(array, False, None)


# ---- filled -----------------------------------------------------------------------

def eye(n: int, m: int | None = None, *, out: Any = None, dtype: Any = None,
        layout: Any = None, device: Any = None, requires_grad: bool = False,
        pin_memory: bool = False) -> Tensor:
    """The ``n × m`` (default square) identity matrix, like ``torch.eye``."""
    check_placement("eye", device, layout, pin_memory, out=out)
    dt = _dtype_or_default(dtype)
    return Tensor(np.eye(n, n if m is None else m, dtype=dt), requires_grad, dt)


def linspace(start: float, end: float, steps: int, *, out: Any = None, dtype: Any = None,
             layout: Any = None, device: Any = None, requires_grad: bool = False,
             pin_memory: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    Example:
        >>> import chainrule as cr
        >>> cr.linspace(0, 1, 5)
        tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    check_placement("linspace", device, layout, pin_memory, out=out)
    if steps < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {steps}")
    dt = _dtype_or_default(dtype)
    values = np.linspace(float(raw(start)), float(raw(end)), int(steps))
    return Tensor(values.astype(dt), requires_grad, dt)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *,
             out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``, like ``torch.logspace``."""
    check_placement("logspace", device, layout, pin_memory, out=out)
    if steps < 0:
        raise ValueError(f"logspace: steps must be >= 0, got {steps}")
    dt = _dtype_or_default(dtype)
    values = np.logspace(float(raw(start)), float(raw(end)), int(steps), base=base)
    return Tensor(values.astype(dt), requires_grad, dt)


def empty(*shape: Any, size: Any = None, out: Any = None, dtype: Any = None,
          layout: Any = None, device: Any = None, requires_grad: bool = False,
          pin_memory: bool = False, memory_format: Any = None) -> Tensor:
    """A tensor of ``size`` to be overwritten. Filled with zeros here (PyTorch leaves it
    uninitialised), so a program that reads it by mistake stays deterministic."""
    check_placement("empty", device, layout, pin_memory, memory_format, out)
    dt = _dtype_or_default(dtype)
    return Tensor(np.zeros(_size("empty", shape, size), dt), requires_grad, dt)


def _like_dtype(name: str, t: Any, dtype: Any, floating: bool = False) -> np.dtype:
    dt = np.asarray(raw(t)).dtype if dtype is None else to_dtype(dtype)
    if floating and dt.kind != "f":
        raise TypeError(f"{name}: needs a floating dtype, got {dt} (pass dtype=, e.g. "
                        "chainrule.float32)")
    return dt


def empty_like(input: Any, *, dtype: Any = None, layout: Any = None,  # noqa: A002
               device: Any = None, requires_grad: bool = False,
               memory_format: Any = None) -> Tensor:
    """Zeros shaped like ``input`` (see ``empty``)."""
    check_placement("empty_like", device, layout, memory_format=memory_format)
    dt = _like_dtype("empty_like", input, dtype)
    return Tensor(np.zeros(np.shape(raw(input)), dt), requires_grad, dt)


def full_like(input: Any, fill_value: Any, *, dtype: Any = None,  # noqa: A002
              layout: Any = None, device: Any = None, requires_grad: bool = False,
              memory_format: Any = None) -> Tensor:
    """``fill_value`` in ``input``'s shape and dtype (or ``dtype``)."""
    check_placement("full_like", device, layout, memory_format=memory_format)
    dt = _like_dtype("full_like", input, dtype)
    return Tensor(np.full(np.shape(raw(input)), raw(fill_value), dt), requires_grad, dt)


def rand_like(input: Any, *, generator: Generator | None = None,  # noqa: A002
              dtype: Any = None, layout: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Uniform [0, 1) samples in ``input``'s shape and (floating) dtype."""
    check_placement("rand_like", device, layout, memory_format=memory_format)
    dt = _like_dtype("rand_like", input, dtype, floating=True)
    data = resolve_generator(generator).random(np.shape(raw(input)), dt)
    return Tensor(data, requires_grad, dt)


def randn_like(input: Any, *, generator: Generator | None = None,  # noqa: A002
               dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Standard normal samples in ``input``'s shape and (floating) dtype."""
    check_placement("randn_like", device, layout, memory_format=memory_format)
    dt = _like_dtype("randn_like", input, dtype, floating=True)
    data = resolve_generator(generator).normal(np.shape(raw(input)), dt)
    return Tensor(data, requires_grad, dt)


# ---- random integers and sampling ---------------------------------------------------

def randint(*args: Any, size: Any = None, low: int | None = None, high: int | None = None,
            generator: Generator | None = None, out: Any = None, dtype: Any = None,
            layout: Any = None, device: Any = None, requires_grad: bool = False,
            pin_memory: bool = False) -> Tensor:
    """Uniform integers in ``[low, high)``: ``randint(high, size)`` or
    ``randint(low, high, size)``, like ``torch.randint`` (int64 by default).

    Example:
        >>> import chainrule as cr
        >>> g = cr.Generator(0)
        >>> x = cr.randint(3, 7, (2, 4), generator=g)
        >>> x.shape, x.dtype, bool(((x >= 3) & (x < 7)).all())
        ((2, 4), dtype('int64'), True)
    """
    check_placement("randint", device, layout, pin_memory, out=out)
    args = list(args)
    if size is None:
        if not args or not isinstance(args[-1], (tuple, list)):
            raise TypeError("randint needs a size: randint(high, size) or "
                            "randint(low, high, size), size a tuple such as (3,)")
        size = args.pop()
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    elif args:
        raise TypeError(f"randint takes (high, size) or (low, high, size), got {len(args)} "
                        "bounds")
    low = 0 if low is None else int(low)
    if high is None:
        raise TypeError("randint needs high, the exclusive upper bound")
    high = int(high)
    if high <= low:
        raise ValueError(f"randint: need low < high, got low={low}, high={high}")
    dt = np.dtype(np.int64) if dtype is None else to_dtype(dtype)
    data = resolve_generator(generator).integers(low, high, tuple(size))
    return Tensor(data.astype(dt, copy=False), requires_grad, dt)


def randint_like(input: Any, low: int = 0, high: int | None = None, *,  # noqa: A002
                 generator: Generator | None = None, dtype: Any = None, layout: Any = None,
                 device: Any = None, requires_grad: bool = False,
                 memory_format: Any = None) -> Tensor:
    """Uniform integers in ``[low, high)`` in ``input``'s shape and dtype (or ``dtype``),
    like ``torch.randint_like``: ``randint_like(x, high)`` or ``randint_like(x, low, high)``.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randint_like(cr.zeros(2, 3), 5, generator=cr.Generator(0))
        >>> x.shape, x.dtype, bool(((x >= 0) & (x < 5)).all())
        ((2, 3), dtype('float32'), True)
    """
    check_placement("randint_like", device, layout, memory_format=memory_format)
    if high is None:
        low, high = 0, low
    low, high = int(low), int(high)
    if high <= low:
        raise ValueError(f"randint_like: need low < high, got low={low}, high={high}")
    dt = _like_dtype("randint_like", input, dtype)
    data = resolve_generator(generator).integers(low, high, np.shape(raw(input)))
    return Tensor(data.astype(dt, copy=False), requires_grad, dt)


def randperm(n: int, *, generator: Generator | None = None, out: Any = None,
             dtype: Any = None, layout: Any = None, device: Any = None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 by default), like ``torch.randperm``."""
    check_placement("randperm", device, layout, pin_memory, out=out)
    dt = np.dtype(np.int64) if dtype is None else to_dtype(dtype)
    data = resolve_generator(generator).permutation(int(n))
    return Tensor(data.astype(dt, copy=False), requires_grad, dt)


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Generator | None = None) -> Tensor:
    """Indices drawn from the categorical distributions whose (unnormalised, non-negative)
    weights are the rows of ``input``, like ``torch.multinomial``.

    Args:
        input: weights, shape (n,) or (rows, n).
        num_samples: draws per row; without ``replacement`` at most the number of
            nonzero weights in each row.
        replacement: draw with replacement.
        generator: the random source (default: the one ``manual_seed`` seeds).

    Returns:
        int64 indices of shape (num_samples,) or (rows, num_samples).

    Example:
        >>> import chainrule as cr
        >>> cr.multinomial(cr.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
        tensor([1, 1])
    """
    w = np.asarray(raw(input), dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[-1] == 0:
        raise ValueError(f"multinomial: weights must be 1-d or 2-d and non-empty, got shape "
                         f"{w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    totals = rows.sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("multinomial: every row of weights needs a positive sum")
    k = int(num_samples)
    if k <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and k > int((rows > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {k} samples without replacement from a "
                         f"row with only {int((rows > 0).sum(axis=1).min())} nonzero weights")
    rng = resolve_generator(generator).rng
    out = np.stack([rng.choice(rows.shape[1], size=k, replace=bool(replacement),
                               p=r / t) for r, t in zip(rows, totals)])
    out = out.astype(np.int64, copy=False)
    return Tensor._make(out[0] if w.ndim == 1 else out, False, None)


__all__ = [
    "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full_like", "linspace",
    "logspace", "multinomial", "rand_like", "randint", "randint_like", "randn_like",
    "randperm",
]
