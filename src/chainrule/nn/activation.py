"""Activation layers: thin modules over the functional ops.

``inplace=`` arguments are accepted for PyTorch compatibility, kept as an attribute (and in
saved architectures) and ignored: every layer returns a new tensor (see
``chainrule.ops.activations``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.devices import check_device
from chainrule.nn.init import filled
from chainrule.nn.module import Module, Parameter
from chainrule.ops import activations as A
from chainrule.tensor import Tensor


class ReLU(Module):
    """``max(0, x)``: gradient 1 for positive inputs, so it does not vanish."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.ReLU.apply(x)


class Sigmoid(Module):
    """``1/(1+e^-x)``; its derivative is at most 0.25, so deep stacks vanish."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Sigmoid.apply(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return A.Tanh.apply(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return A.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        return A.softplus(x, self.beta, self.threshold)


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return A.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---- nnbasic: more activations --------------------------------------------------------

class _Elementwise(Module):
    """An activation without hyperparameters beyond PyTorch's (ignored) ``inplace``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_Elementwise):
    """``x σ(x)`` (swish).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.SiLU()(cr.zeros(2)).tolist()
        [0.0, 0.0]
    """

    def forward(self, x: Tensor) -> Tensor:
        return A.SiLU.apply(x)


class Mish(_Elementwise):
    """``x tanh(softplus(x))``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Mish.apply(x)


class ReLU6(_Elementwise):
    """``min(max(0, x), 6)``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.relu6(x)


class SELU(_Elementwise):
    """Self-normalising ``λ·elu(x, α)`` (λ ≈ 1.0507, α ≈ 1.6733)."""

    def forward(self, x: Tensor) -> Tensor:
        return A.selu(x)


class Hardsigmoid(_Elementwise):
    """``relu6(x + 3) / 6``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Hardsigmoid.apply(x)


class Hardswish(_Elementwise):
    """``x · relu6(x + 3) / 6``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Hardswish.apply(x)


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Softsign.apply(x)


class Tanhshrink(Module):
    """``x − tanh(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.Tanhshrink.apply(x)


class LogSigmoid(Module):
    """``log σ(x)``, computed without overflow."""

    def forward(self, x: Tensor) -> Tensor:
        return A.LogSigmoid.apply(x)


class ELU(Module):
    """``x`` for x > 0, ``α(eˣ − 1)`` otherwise.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ELU(alpha=2.0)
        ELU(alpha=2.0)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """``max(0, x) + min(0, α(e^{x/α} − 1))``."""

    def forward(self, x: Tensor) -> Tensor:
        return A.celu(x, self.alpha)


class Hardtanh(Module):
    """``clip(x, min_val, max_val)``; the gradient is 1 strictly between the bounds.

    ``min_value``/``max_value`` are PyTorch's deprecated spellings of ``min_val``/
    ``max_val``: they still work, with a ``DeprecationWarning`` as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Hardtanh(-2.0, 2.0)(cr.tensor([-3.0, 1.0, 3.0])).tolist()
        [-2.0, 1.0, 2.0]
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("Hardtanh: min_value is deprecated, use min_val",
                          DeprecationWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("Hardtanh: max_value is deprecated, use max_val",
                          DeprecationWarning, stacklevel=2)
            max_val = max_value
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than "
                             f"max_val ({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return A.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        extra = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{extra}"


class PReLU(Module):
    """Parametric ReLU ``max(0, x) + a · min(0, x)`` with a learned slope ``a``.

    Args:
        num_parameters: 1 (one slope shared by all channels) or the number of channels
            C of the input's axis 1 (one slope each).
        init: the initial slope.
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: the weight's dtype (default: the default dtype).

    Shapes: input (N, C, *) (any shape when num_parameters is 1) → same shape. The
    parameter is ``weight`` of shape (num_parameters,), as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> act = cr.nn.PReLU()
        >>> act(cr.tensor([-4.0, 2.0])).tolist()
        [-1.0, 2.0]
        >>> list(act.state_dict())
        ['weight']
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "PReLU")
        if num_parameters <= 0:
            raise ValueError(f"PReLU needs num_parameters >= 1, got {num_parameters}")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(filled(num_parameters, init, dt), dtype=dt)

    def forward(self, x: Tensor) -> Tensor:
        return A.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


ACTIVATIONS = {
    "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "gelu": GELU,
    "softplus": Softplus,
    "silu": SiLU, "elu": ELU, "relu6": ReLU6, "hardtanh": Hardtanh, "mish": Mish, "selu": SELU,
    "celu": CELU, "hardsigmoid": Hardsigmoid, "hardswish": Hardswish, "softsign": Softsign,
    "tanhshrink": Tanhshrink, "logsigmoid": LogSigmoid,
}
