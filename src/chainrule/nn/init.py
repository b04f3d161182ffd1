"""Weight initialisers (in place, like ``torch.nn.init``), each with an explicit generator.

The scale matters for gradient flow: Xavier/Glorot keeps the variance of activations and
gradients about constant through tanh/sigmoid layers (Var w = 2/(fan_in + fan_out));
He/Kaiming does so for ReLU layers (Var w = 2/fan_in). Defaults per layer follow PyTorch:
``Linear`` and ``Conv`` draw U(±1/√fan_in) for weight and bias.

``meta_init()`` builds modules without any of this: parameters become shape-only
placeholders that use no memory, for when weights are about to be loaded from a file.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.backend import Generator, resolve_generator
from chainrule.tensor import Tensor, _as_array

# ---- building without initialising (PyTorch's meta device) --------------------------------


class MetaBudgetError(MemoryError):
    """Raised inside :func:`meta_init` when the modules being built declare more
    parameter values (or tensors) than the budget allows."""


@dataclass
class _Meta:
    max_elements: int | None
    max_tensors: int | None
    elements: int = 0
    tensors: int = 0
    computed: int = 0   # values of arrays built for real (see reserve_computed)


_META: ContextVar[_Meta | None] = ContextVar("chainrule_meta_init", default=None)


@contextlib.contextmanager
def meta_init(max_elements: int | None = None, max_tensors: int | None = None
              ) -> Iterator[None]:
    """Build modules whose parameters and persistent buffers are placeholders.

    Inside the block every ``Parameter`` (and every ``Buffer`` that ``state_dict()``
    saves) gets a :func:`placeholder` of its shape and dtype instead of its array, and
    the initialisers of this module do nothing, so no memory is committed and no random
    numbers are drawn (PyTorch's ``meta`` device). Fill the model afterwards with
    ``model.load_state_dict(state, assign=True)``. Non-persistent buffers (tables a layer
    computes, such as sinusoidal positions) are kept as they are.

    Args:
        max_elements: raise :class:`MetaBudgetError` once the placeholders created in the
            block hold more values than this in total (a file's declared architecture is
            checked against the values the file really holds before anything is read).
        max_tensors: the same for the number of placeholders.

    Example:
        >>> import chainrule as cr
        >>> with meta_init():
        ...     big = cr.nn.Linear(4096, 4096)
        >>> big.weight.shape, is_placeholder(big.weight.data)
        ((4096, 4096), True)
    """
    token = _META.set(_Meta(max_elements, max_tensors))
    try:
        yield
    finally:
        _META.reset(token)


def placeholder(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` that uses the memory of one element: every
    index aliases the same zero (strides 0). Writes are allowed and meaningless.

    Example:
        >>> placeholder((1000, 1000), "float32").strides
        (0, 0)
    """
    one = np.zeros(1, np.dtype(dtype))
    shape = tuple(int(n) for n in shape)
    return np.lib.stride_tricks.as_strided(one, shape, (0,) * len(shape), writeable=True)


def is_placeholder(arr: Any) -> bool:
    """Whether ``arr`` (array or Tensor) is a :func:`placeholder` with no real values."""
    data = arr._data if isinstance(arr, Tensor) else arr
    return isinstance(data, np.ndarray) and data.size > 1 and not any(data.strides)


def meta_array(data: Any, dtype: Any, persistent: bool = True) -> np.ndarray | None:
    """The placeholder a new Parameter/Buffer holds inside :func:`meta_init`, or None
    outside it (then the data is used as given). Internal to ``Parameter``/``Buffer``."""
    meta = _META.get()
    if meta is None or not persistent:
        return None
    arr = data._data if isinstance(data, Tensor) else data
    if not isinstance(arr, np.ndarray):
        return None  # a Python list or scalar is small: build it for real
    # The dtype Tensor would give this data, found on one element (no copy of the whole).
    target = _as_array(np.zeros((), arr.dtype), dtype).dtype
    meta.elements += arr.size
    meta.tensors += 1
    if meta.max_elements is not None and meta.elements > meta.max_elements:
        raise MetaBudgetError(f"the modules declare at least {meta.elements:,} parameter "
                              f"values, more than the {meta.max_elements:,} allowed")
    if meta.max_tensors is not None and meta.tensors > meta.max_tensors:
        raise MetaBudgetError(f"the modules declare at least {meta.tensors:,} tensors, "
                              f"more than the {meta.max_tensors:,} allowed")
    if arr.size <= 1:
        return np.zeros(arr.shape, target)
    return placeholder(arr.shape, target)


def filled(shape: int | tuple[int, ...], value: float, dtype: Any) -> np.ndarray:
    """``np.full(shape, value, dtype)``, but a :func:`placeholder` inside :func:`meta_init`.

    For weights and buffers that start at a constant (a norm's ones and zeros, a
    ``Standardize``'s mean and std): building one under ``meta_init`` then commits no
    memory, however large its declared size, before the file's arrays arrive.

    Example:
        >>> filled(3, 1.0, "float32")
        array([1., 1., 1.], dtype=float32)
        >>> with meta_init():
        ...     is_placeholder(filled((4096, 4096), 1.0, "float32"))
        True
    """
    if _META.get() is not None:
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims) and \
                math.prod(dims) > 1:
            return placeholder(dims, dtype)
    return np.full(shape, value, np.dtype(dtype))


# Values a layer may compute for real inside a meta_init() with a budget (tables it does
# not save, such as sinusoidal positions), whatever that budget: 4M values, 16 MB float32.
COMPUTED_FLOOR = 1 << 22


def reserve_computed(count: int, what: str) -> None:
    """Called by a layer before it computes an array that is not in its state dict (so
    :func:`meta_init` cannot make it a placeholder). Inside ``meta_init(max_elements=N)``
    such arrays may total ``max(N, COMPUTED_FLOOR)`` values; beyond that
    :class:`MetaBudgetError` is raised before anything is allocated — a file declaring a
    table of billions of values is refused, not computed. A no-op elsewhere.

    Example:
        >>> with meta_init(max_elements=100):  # doctest: +IGNORE_EXCEPTION_DETAIL
        ...     reserve_computed(10**9, "a sinusoidal table")
        Traceback (most recent call last):
        MetaBudgetError: a sinusoidal table of 1,000,000,000 values would be computed...
    """
    meta = _META.get()
    if meta is None or meta.max_elements is None:
        return
    meta.computed += int(count)
    allowed = max(meta.max_elements, COMPUTED_FLOOR)
    if meta.computed > allowed:
        raise MetaBudgetError(f"{what} of {int(count):,} values would be computed; the "
                              f"modules may compute at most {allowed:,}")


def _skipped() -> bool:
    return _META.get() is not None


_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
          "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "identity": 1.0,
          "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75, "gelu": math.sqrt(2.0)}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale for a nonlinearity (PyTorch's table)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; known: "
                         f"{sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (out, in) for linear, (out, in, *kernel) for conv."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight with at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    t._data[...] = values.astype(t._data.dtype, copy=False)
    return t


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    if _skipped():
        return tensor
    g = resolve_generator(generator)
    return _fill(tensor, g.uniform(tensor._data.shape, a, b, np.float64))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    if _skipped():
        return tensor
    g = resolve_generator(generator)
    return _fill(tensor, mean + std * g.normal(tensor._data.shape, np.float64))


def constant_(tensor: Tensor, val: float) -> Tensor:
    if _skipped():
        return tensor
    tensor._data[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Glorot uniform: U(±a), a = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor._data.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Glorot normal: N(0, σ²), σ = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor._data.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    fan_in, fan_out = fan_in_and_fan_out(tensor._data.shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "relu", generator: Generator | None = None) -> Tensor:
    """He uniform: U(±√3·σ), σ = gain/√fan (gain √2 for ReLU)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "relu", generator: Generator | None = None) -> Tensor:
    """He normal: N(0, σ²), σ = gain/√fan (gain √2 for ReLU)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def default_uniform_(weight: Tensor, bias: Tensor | None,
                     generator: Generator | None = None) -> None:
    """PyTorch's default for Linear/Conv: weight and bias from U(±1/√fan_in)."""
    fan_in, _ = fan_in_and_fan_out(weight._data.shape)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    uniform_(weight, -bound, bound, generator)
    if bias is not None:
        uniform_(bias, -bound, bound, generator)



# ---- gapstensor: orthogonal_, trunc_normal_, eye_, dirac_ -----------------------------------

def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain``, like ``torch.nn.init.orthogonal_``
    (Saxe et al. 2013): the weight viewed as ``(shape[0], rest)`` has orthonormal rows
    (or columns, whichever are fewer), from the QR decomposition of a Gaussian matrix
    with the signs fixed so the distribution is uniform (Haar).

    Example:
        >>> import numpy as np, chainrule as cr
        >>> w = orthogonal_(cr.zeros(3, 5, dtype=cr.float64))
        >>> np.allclose(w.data @ w.data.T, np.eye(3))
        True
    """
    if _skipped():
        return tensor
    shape = tensor._data.shape
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dimensions, got "
                         f"shape {shape}")
    if tensor._data.size == 0:
        return tensor
    rows = shape[0]
    cols = tensor._data.size // rows
    flat = resolve_generator(generator).normal((rows, cols), np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    signs = np.sign(np.diag(r))
    q = q * np.where(signs == 0, 1.0, signs)
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """Samples of N(mean, std²) restricted to ``[a, b]`` (``a`` and ``b`` in the values'
    own units, as in PyTorch, not in standard deviations), like
    ``torch.nn.init.trunc_normal_``.

    Drawn by rejection (out-of-range draws are drawn again), so the values follow the
    truncated normal exactly; an interval holding less than 1e-4 of the distribution is
    refused (it would take too many draws).

    Example:
        >>> import chainrule as cr
        >>> w = trunc_normal_(cr.zeros(1000), std=0.02, a=-0.04, b=0.04)
        >>> bool((w.abs() <= 0.04).all())
        True
    """
    if _skipped():
        return tensor
    if not std >= 0 or not a < b:
        raise ValueError(f"trunc_normal_: need std >= 0 and a < b, got std={std}, a={a}, "
                         f"b={b}")
    n = tensor._data.size
    if std == 0:
        if not a <= mean <= b:
            raise ValueError(f"trunc_normal_: std=0 puts every value at mean={mean}, "
                             f"outside [a, b] = [{a}, {b}]")
        return constant_(tensor, mean)
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
    if mass < 1e-4:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.2g} of "
                         f"N({mean}, {std}²); move the interval nearer the mean or widen it")
    g = resolve_generator(generator)
    out = np.empty(n, np.float64)
    filled = 0
    while filled < n:
        want = n - filled
        draws = mean + std * g.normal((int(want / mass * 1.1) + 16,), np.float64)
        keep = draws[(draws >= a) & (draws <= b)][:want]
        out[filled:filled + keep.size] = keep
        filled += keep.size
    return _fill(tensor, out.reshape(tensor._data.shape))


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (ones on the main diagonal of a 2-d, possibly rectangular,
    weight), like ``torch.nn.init.eye_``: a Linear layer that passes inputs through."""
    if _skipped():
        return tensor
    if tensor._data.ndim != 2:
        raise ValueError(f"eye_: needs a 2-d tensor, got shape {tensor._data.shape}")
    return _fill(tensor, np.eye(*tensor._data.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta for a 3-, 4- or 5-d convolution weight ``(out, in, *kernel)``: a
    1 at the kernel centre linking output channel ``k`` to input channel ``k`` of each
    group, so the convolution copies its input channels (as many as fit), like
    ``torch.nn.init.dirac_``.

    Example:
        >>> import chainrule as cr
        >>> w = dirac_(cr.zeros(2, 2, 3))
        >>> w.data[:, :, 1]
        tensor([[1., 0.],
                [0., 1.]])
    """
    if _skipped():
        return tensor
    shape = tensor._data.shape
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"dirac_: needs a 3-, 4- or 5-d convolution weight, got shape "
                         f"{shape}")
    if groups < 1 or shape[0] % groups:
        raise ValueError(f"dirac_: {shape[0]} output channels do not split into "
                         f"groups={groups}")
    per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    values = np.zeros(shape)
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            values[(g * per_group + d, d) + centre] = 1.0
    return _fill(tensor, values)
