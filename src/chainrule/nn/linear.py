"""``Linear``, ``Identity`` and ``Flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.linalg import Linear as _LinearOp
from chainrule.ops.shape import flatten
from chainrule.tensor import Tensor


class Linear(Module):
    """``y = x Wᵀ + b`` with ``weight`` (out_features, in_features) and ``bias``
    (out_features,), as in PyTorch. Both start from U(±1/√in_features).

    Args:
        in_features: size of each input sample's last axis.
        out_features: size of each output sample's last axis.
        bias: learn an additive bias.
        generator: random source for the initial weights (default: the global one).

    Shapes: input (..., in_features) → output (..., out_features).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Linear(3, 2)(cr.ones(4, 3)).shape
        (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 generator: Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, "
                             f"out_features={out_features}")
        self.in_features = in_features
        self.out_features = out_features
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in_features), dt), dtype=dt)
        self.bias = Parameter(np.empty(out_features, dt), dtype=dt) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        init.default_uniform_(self.weight, self.bias, generator)

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return _LinearOp.apply(x, self.weight)
        return _LinearOp.apply(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (a placeholder in configurable architectures)."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge axes ``start_dim..end_dim``; by default (N, C, H, W) → (N, C·H·W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
