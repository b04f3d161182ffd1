"""More activation layers, PyTorch's ``GLU``, ``Softmin``, ``Softmax2d``, ``Threshold``,
``Hardshrink``, ``Softshrink`` and ``RReLU``: thin modules over
``chainrule.ops.activations_more``. ``inplace=`` is accepted and ignored, as for every
chainrule activation.
"""

from __future__ import annotations

from chainrule.backend import Generator
from chainrule.nn.module import Module
from chainrule.ops import activations_more as A
from chainrule.ops.activations import softmax
from chainrule.tensor import Tensor


class GLU(Module):
    """Gated linear unit ``a · σ(b)`` of the two halves of ``dim``: (*, 2n, *) → (*, n, *).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.GLU()(cr.ones(4, 6)).shape
        (4, 3)
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """``softmax(−x)`` along ``dim`` (None: PyTorch's deprecated implicit choice, with its
    warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.softmin(x, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax over the channels at every location: (N, C, H, W) or (C, H, W), along
    dimension −3.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Softmax2d()(cr.zeros(1, 2, 1, 1)).flatten().tolist()
        [0.5, 0.5]
    """

    def forward(self, x: Tensor) -> Tensor:
        if x._data.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got "
                             f"{x._data.ndim}D instead (shape {x.shape})")
        return softmax(x, -3)


class Threshold(Module):
    """``x`` where ``x > threshold``, ``value`` elsewhere.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Threshold(0.5, -1.0)(cr.tensor([0.2, 0.8])).tolist()
        [-1.0, 0.800000011920929]
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        extra = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{extra}"


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, 0 elsewhere."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return A.hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``x − lambd`` above ``lambd``, ``x + lambd`` below ``−lambd``, 0 between."""

    def forward(self, x: Tensor) -> Tensor:
        return A.softshrink(x, self.lambd)


class RReLU(Module):
    """Randomized leaky ReLU: slopes for negative inputs drawn from U(lower, upper) per
    element in training mode, fixed at their mean in eval mode.

    Args:
        lower, upper: the slopes' range.
        inplace: accepted and ignored.
        generator: random source for the slopes (default: the global one; a keyword,
            chainrule's addition).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.RReLU(0.1, 0.3).eval()(cr.tensor([-1.0])).tolist()
        [-0.20000000298023224]
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False,
                 *, generator: Generator | None = None) -> None:
        super().__init__()
        if lower > upper:
            raise ValueError(f"RReLU: lower bound {lower} should be less than or equal to "
                             f"the upper bound {upper}")
        self.lower = lower
        self.upper = upper
        self.inplace = inplace
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return A.rrelu(x, self.lower, self.upper, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        extra = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{extra}"


__all__ = ["GLU", "Hardshrink", "RReLU", "Softmax2d", "Softmin", "Softshrink", "Threshold"]
