"""More of PyTorch's activations: ``threshold``, ``hardshrink``, ``softshrink``, ``rrelu``,
``glu``, ``softmin`` and ``gumbel_softmax``.

The piecewise ones pass the gradient exactly where they pass the input (1 there, 0
elsewhere, the boundary included in the flat part, as PyTorch). The random ones (rrelu
in training, gumbel_softmax) draw from chainrule's generator, so a seed gives the same
numbers every run but other numbers than PyTorch's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.backend import Generator, resolve_generator
from chainrule.ops._util import single_dim
from chainrule.ops.activations import leaky_relu, sigmoid, softmax
from chainrule.ops.arithmetic import add, mul, neg
from chainrule.ops.shape import getitem
from chainrule.tensor import Tensor


class Threshold(Function):
    """``x`` where ``x > threshold``, ``value`` elsewhere; gradient 1 where x passes."""

    __slots__ = ()

    def forward(self, x: np.ndarray, threshold: float, value: float) -> np.ndarray:
        keep = x > threshold
        self.saved = keep
        return np.where(keep, x, np.asarray(value, x.dtype))

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def threshold(input: Tensor, threshold: float, value: float,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value`` (``inplace`` is ignored).

    Example:
        >>> import chainrule as cr
        >>> threshold(cr.tensor([1.0, 2.0, 3.0]), 2.0, 9.0).tolist()
        [9.0, 9.0, 3.0]
    """
    return Threshold.apply(input, threshold=float(threshold), value=float(value))


class Shrink(Function):
    """Hard shrink ``x·[|x| > λ]`` or soft shrink ``(x − λ·sign(x))·[|x| > λ]``; the
    gradient is ``[|x| > λ]`` for both."""

    __slots__ = ()

    def forward(self, x: np.ndarray, lambd: float, soft: bool) -> np.ndarray:
        keep = np.abs(x) > lambd
        self.saved = keep
        zero = np.zeros((), x.dtype)  # +0.0, never −0.0, where the input is cut
        if soft:
            return np.where(keep, x - np.sign(x) * np.asarray(lambd, x.dtype), zero)
        return np.where(keep, x, zero)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """``x`` where ``|x| > lambd``, 0 elsewhere.

    Example:
        >>> import chainrule as cr
        >>> hardshrink(cr.tensor([-1.0, 0.2, 0.7])).tolist()
        [-1.0, 0.0, 0.699999988079071]
    """
    return Shrink.apply(input, lambd=float(lambd), soft=False)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """``x − lambd`` above ``lambd``, ``x + lambd`` below ``−lambd``, 0 between
    (``lambd`` ≥ 0).

    Example:
        >>> import chainrule as cr
        >>> softshrink(cr.tensor([-1.0, 0.2, 1.5])).tolist()
        [-0.5, 0.0, 1.0]
    """
    if not lambd >= 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Shrink.apply(input, lambd=float(lambd), soft=True)


class RandomSlope(Function):
    """``x·s`` with a fixed per-element slope array s (RReLU in training: s is 1 where
    x > 0 and a random draw elsewhere); the gradient is s."""

    __slots__ = ()

    def forward(self, x: np.ndarray, slopes: np.ndarray) -> np.ndarray:
        self.saved = slopes
        return x * slopes

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * self.saved


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
          training: bool = False, inplace: bool = False, *,
          generator: Generator | None = None) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015): ``x`` for x > 0, ``a·x`` otherwise.

    In training a is drawn from U(lower, upper) for each element (from chainrule's
    generator: other numbers than PyTorch's for the same seed); otherwise a is fixed at
    ``(lower + upper) / 2``. ``inplace`` is ignored.

    Args:
        input: any shape.
        lower, upper: the range of the slopes, lower ≤ upper.
        training: draw random slopes (PyTorch's functional default is False).
        generator: random source (default: the global one).

    Example:
        >>> import chainrule as cr
        >>> rrelu(cr.tensor([-2.0, 3.0]), 0.1, 0.3).tolist()
        [-0.4000000059604645, 3.0]
    """
    if lower > upper:
        raise ValueError(f"rrelu: lower bound {lower} should be less than or equal to the "
                         f"upper bound {upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    x = input._data
    draws = resolve_generator(generator).uniform(x.shape, float(lower), float(upper),
                                                 dtype=x.dtype)
    slopes = np.where(x > 0, np.ones((), x.dtype), draws)
    return RandomSlope.apply(input, slopes=slopes)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; ``a · σ(b)``.

    Shapes: (*, 2n, *) → (*, n, *).

    Example:
        >>> import chainrule as cr
        >>> glu(cr.tensor([[2.0, 0.0]])).tolist()
        [[1.0]]
    """
    nd = input._data.ndim
    if nd == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = single_dim("glu", dim, nd)
    n = input._data.shape[d]
    if n % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} is size "
                         f"{n} (input {input.shape})")
    lead = (slice(None),) * d
    a = getitem(input, lead + (slice(0, n // 2),))
    b = getitem(input, lead + (slice(n // 2, n),))
    return mul(a, sigmoid(b))


def implicit_softmax_dim(name: str, ndim: int, stacklevel: int = 3) -> int:
    """PyTorch's deprecated choice of dim when none is given (0 for 0-, 1- and 3-D
    inputs, else 1), with its warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                  "call to include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """``softmax(−x)`` along ``dim``: large inputs get small weights.

    Without ``dim`` PyTorch's deprecated implicit choice is made, with its warning.

    Example:
        >>> import chainrule as cr
        >>> [round(v, 4) for v in softmin(cr.tensor([0.0, 1.0]), dim=0).tolist()]
        [0.7311, 0.2689]
    """
    if dim is None:
        dim = implicit_softmax_dim("softmin", input._data.ndim, _stacklevel)
    return softmax(neg(input), dim, dtype=dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False,
                   eps: float = 1e-10, dim: int = -1, *,
                   generator: Generator | None = None) -> Tensor:
    """A differentiable sample from the categorical distribution ``softmax(logits)``
    (Jang et al. 2016): ``softmax((logits + g) / tau)`` with Gumbel noise g.

    With ``hard=True`` the result is the one-hot of the sample's argmax in the forward
    pass, with the soft sample's gradient (the straight-through estimator). The noise
    comes from chainrule's generator (other numbers than PyTorch's for one seed).

    Args:
        logits: unnormalised log-probabilities, any shape.
        tau: temperature > 0 (lower: closer to one-hot).
        hard: return one-hot vectors (with soft gradients).
        eps: deprecated and ignored, as in PyTorch (a warning when changed).
        dim: the class dimension.
        generator: random source (default: the global one).

    Example:
        >>> import chainrule as cr
        >>> y = gumbel_softmax(cr.zeros(2, 3), hard=True)
        >>> y.sum(dim=-1).tolist()
        [1.0, 1.0]
    """
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: `eps` parameter is deprecated and has no effect.",
                      UserWarning, stacklevel=2)
    if not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be positive, got {tau}")
    x = logits._data
    if x.ndim == 0:
        raise ValueError("gumbel_softmax: logits need at least one dimension")
    u = resolve_generator(generator).random(x.shape, np.float64)
    # g = −log(E) with E = −log(1 − u) ~ Exp(1); E is floored so that u = 0 stays finite
    e = np.maximum(-np.log1p(-u), np.finfo(np.float64).tiny)
    noise = (-np.log(e)).astype(x.dtype)
    y_soft = softmax(mul(add(logits, noise), 1.0 / tau), dim)
    if not hard:
        return y_soft
    d = single_dim("gumbel_softmax", dim, x.ndim)
    one_hot = np.zeros(x.shape, x.dtype)
    np.put_along_axis(one_hot, np.expand_dims(np.argmax(y_soft._data, axis=d), d), 1, axis=d)
    # y_hard − stop_gradient(y_soft) + y_soft: the value is y_hard, the gradient y_soft's
    return add(y_soft, one_hot - y_soft._data)


__all__ = [
    "glu", "gumbel_softmax", "hardshrink", "rrelu", "softmin", "softshrink", "threshold",
]
