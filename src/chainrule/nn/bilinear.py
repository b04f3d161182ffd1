"""``Bilinear``: ``y = x₁ᵀ A x₂ + b``, PyTorch's ``nn.Bilinear``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.bilinear import bilinear
from chainrule.tensor import Tensor


class Bilinear(Module):
    """A bilinear map of two inputs: ``y_o = x₁ᵀ A_o x₂ + b_o``.

    ``weight`` is (out_features, in1_features, in2_features) and ``bias``
    (out_features,), both from U(±1/√in1_features), as in PyTorch.

    Args:
        in1_features, in2_features: sizes of the two inputs' last axes.
        out_features: size of the output's last axis.
        bias: learn an additive bias.
        device: only ``None``/``'cpu'``.
        dtype: the parameters' dtype (default: the default dtype).
        generator: random source for the initial weights (keyword; default the global
            one).

    Shapes: (*, in1_features) and (*, in2_features) → (*, out_features).

    Example:
        >>> import chainrule as cr
        >>> m = cr.nn.Bilinear(3, 4, 5)
        >>> m(cr.ones(2, 3), cr.ones(2, 4)).shape, m.weight.shape
        ((2, 5), (5, 3, 4))
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__()
        if min(in1_features, in2_features, out_features) <= 0:
            raise ValueError(f"Bilinear needs positive sizes, got in1_features={in1_features}"
                             f", in2_features={in2_features}, out_features={out_features}")
        check_device(device, "Bilinear")
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dt),
                                dtype=dt)
        if bias:
            self.bias = Parameter(np.empty(out_features, dt), dtype=dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        """Draw weight and bias from U(±1/√in1_features) again."""
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


__all__ = ["Bilinear"]
