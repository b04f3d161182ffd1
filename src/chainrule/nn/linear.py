"""``Linear``, ``Identity``, ``Flatten`` and ``Unflatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.linalg import Linear as _LinearOp
from chainrule.ops.shape import flatten, reshape
from chainrule.tensor import Tensor


class Linear(Module):
    """``y = x Wᵀ + b`` with ``weight`` (out_features, in_features) and ``bias``
    (out_features,), as in PyTorch. Both start from U(±1/√in_features).

    Args:
        in_features: size of each input sample's last axis.
        out_features: size of each output sample's last axis.
        bias: learn an additive bias.
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: parameter dtype (default: the global default, float32).
        generator: random source for the initial weights (default: the global one).

    Shapes: input (..., in_features) → output (..., out_features).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Linear(3, 2)(cr.ones(4, 3)).shape
        (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, "Linear")
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
    """Returns its input unchanged (a placeholder in configurable architectures).

    Any constructor arguments are accepted and ignored, as in PyTorch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

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


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (the inverse of :class:`Flatten`).

    Args:
        dim: the axis to split (negative counts from the end).
        unflattened_size: the sizes it becomes; their product must be its length (one
            of them may be -1, inferred).

    Shapes: (*before, S, *after) → (*before, *unflattened_size, *after).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Unflatten(1, (2, 3))(cr.ones(4, 6)).shape
        (4, 2, 3)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if isinstance(dim, str):
            raise TypeError("Unflatten: named dimensions are not supported; pass an int dim")
        sizes = tuple(int(n) for n in unflattened_size)
        if not sizes or sum(n == -1 for n in sizes) > 1 or any(n < -1 for n in sizes):
            raise ValueError(f"Unflatten: unflattened_size must be non-empty sizes with at "
                             f"most one -1, got {unflattened_size}")
        self.dim = dim
        self.unflattened_size = sizes

    def forward(self, x: Tensor) -> Tensor:
        shape = x._data.shape
        nd = len(shape)
        if not -nd <= self.dim < nd:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for input of shape "
                             f"{x.shape}")
        d = self.dim % nd
        sizes = self.unflattened_size
        known = int(np.prod([n for n in sizes if n != -1]))
        if (-1 not in sizes and known != shape[d]) or (
                -1 in sizes and (known == 0 or shape[d] % known)):
            raise ValueError(f"Unflatten: cannot split axis {self.dim} of size {shape[d]} "
                             f"(input shape {x.shape}) into {sizes}")
        return reshape(x, shape[:d] + sizes + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
