"""Lazy layers: ``LazyLinear`` infers ``in_features`` from its first input, PyTorch's
``nn.LazyLinear`` with its ``UninitializedParameter``.

Until the first forward the layer's ``weight`` and ``bias`` are
:class:`UninitializedParameter` s holding no values (shape ``(0,)``). The first forward
gives them their shapes, draws them as ``Linear`` would (U(±1/√in_features)), and turns
the layer into a plain :class:`~chainrule.nn.Linear` (PyTorch's ``cls_to_become``).
``load_state_dict`` into a layer not yet run takes the shapes from the state instead.

Do what PyTorch's documentation asks: convert the model's dtype first, then run one
batch through it (a "dry run"), then create the optimizer and save or describe the
model. The parameters stay the same objects when they are filled in, so an optimizer
created before the dry run still updates them (chainrule's optimizers create their state
at the first step, as PyTorch's); the initial values are drawn at the dry run, after the
other layers', so a seed gives other initial weights than the same model built with
``Linear``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet: no values (shape ``(0,)``) until
    :meth:`materialize` gives it a shape and it becomes a plain ``Parameter``.

    Example:
        >>> p = UninitializedParameter()
        >>> p.materialize((2, 3))
        >>> type(p).__name__, p.shape
        ('Parameter', (2, 3))
    """

    __slots__ = ()

    def __init__(self, requires_grad: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        super().__init__(np.empty((0,), dt), requires_grad=requires_grad, dtype=dt)

    def materialize(self, shape: tuple[int, ...], device: Any = None,
                    dtype: Any = None) -> None:
        """Give the parameter ``shape`` (zeros, the current dtype unless ``dtype``); it
        becomes a ``Parameter``, the same object (optimizers holding it keep working)."""
        dt = np.dtype(dtype) if dtype is not None else self._data.dtype
        self._data = np.zeros(tuple(int(n) for n in shape), dt)
        self.__class__ = Parameter

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


def _uninitialized(t: Any) -> bool:
    return isinstance(t, UninitializedParameter)


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is read from the first input's last dimension.

    Args:
        out_features: size of each output sample's last axis.
        bias: learn an additive bias.
        device: only ``None``/``'cpu'``.
        dtype: the parameters' dtype (default: the default dtype; ``model.to(dtype)``
            before the first forward works too).
        generator: random source for the initial weights, drawn at the first forward
            (keyword; default the global one).

    See the module docstring for dry runs and optimizers.

    Example:
        >>> import chainrule as cr
        >>> fc = cr.nn.LazyLinear(2)
        >>> fc.weight
        <UninitializedParameter>
        >>> fc(cr.ones(4, 3)).shape, type(fc).__name__, fc.in_features
        ((4, 2), 'Linear', 3)
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        Module.__init__(self)
        if out_features <= 0:
            raise ValueError(f"LazyLinear needs a positive out_features, got {out_features}")
        check_device(device, "LazyLinear")
        self.in_features = 0
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.__dict__["_lazy_generator"] = generator

    def has_uninitialized_params(self) -> bool:
        """Whether the first forward (or a state dict) has yet to give the shapes."""
        return _uninitialized(self.weight) or _uninitialized(self.bias)

    def initialize_parameters(self, input: Tensor) -> None:  # noqa: A002
        """Shape the parameters for ``input`` (*, in_features) and draw them."""
        if not self.has_uninitialized_params():
            return
        shape = input._data.shape if isinstance(input, Tensor) else np.shape(input)
        if not shape or shape[-1] == 0:
            raise ValueError(f"LazyLinear: cannot infer in_features from an input of shape "
                             f"{tuple(shape)}; it needs a non-empty last dimension")
        self.in_features = int(shape[-1])
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))
        init.default_uniform_(self.weight, self.bias, self.__dict__.get("_lazy_generator"))
        self._become_linear()

    def _become_linear(self) -> None:
        self.__dict__.pop("_lazy_generator", None)
        self.__class__ = self.cls_to_become

    def _materialize_from_state(self, state: dict, prefix: str) -> None:
        """Called by ``load_state_dict`` before it checks shapes: a layer not yet run
        takes its shapes from the state (PyTorch's lazy load hook)."""
        if not self.has_uninitialized_params():
            return
        weight = state.get(prefix + "weight")
        shape = tuple(np.shape(weight._data if isinstance(weight, Tensor) else weight))
        if len(shape) != 2 or shape[0] != self.out_features or shape[1] == 0:
            return  # let load_state_dict report the mismatch
        self.in_features = shape[1]
        self.weight.materialize(shape)
        if self.bias is not None and _uninitialized(self.bias):
            self.bias.materialize((self.out_features,))
        self._become_linear()

    def forward(self, x: Tensor) -> Tensor:
        self.initialize_parameters(x)
        return Linear.forward(self, x)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


__all__ = ["LazyLinear", "UninitializedParameter"]
