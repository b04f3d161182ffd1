"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``,
``ParameterDict`` and the ``Residual`` wrapper."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


class Sequential(Module):
    """Modules applied in order; children are named ``0``, ``1``, … (or by an OrderedDict).

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Sigmoid(), cr.nn.Linear(2, 1))
        >>> list(net.state_dict())
        ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Module | OrderedDict) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential takes Modules, argument {i} is "
                                    f"{type(m).__name__}")
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules whose parameters are registered (``0``, ``1``, … keys)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of named modules whose parameters are registered under those names."""

    def __init__(self, modules: dict[str, Module] | None = None) -> None:
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()


class Residual(Module):
    """``y = x + f(x)`` (or ``shortcut(x) + f(x)`` when the shapes differ).

    The identity path gives the gradient a route around ``f``: ``∂y/∂x = 1 + ∂f/∂x``, so
    it cannot vanish however deep the stack — the point of residual networks.

    Example:
        >>> import chainrule as cr
        >>> block = cr.nn.Residual(cr.nn.Sequential(cr.nn.Linear(8, 8), cr.nn.ReLU()))
    """

    def __init__(self, fn: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.fn = fn
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        out = self.fn(x)
        if out.shape != skip.shape:
            raise ValueError(f"residual: the block maps {skip.shape} to {out.shape}; "
                             "give a shortcut module that matches the shapes")
        return skip + out


# ---- nnbasic: parameter containers -----------------------------------------------------

def _as_parameter(value: Any, where: str) -> Parameter:
    """A Parameter as is; a Tensor or array wrapped as one, keeping its dtype (and its
    memory, as PyTorch's ``Parameter(tensor)`` does)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, (Tensor, np.ndarray)):
        data = value._data if isinstance(value, Tensor) else value
        return Parameter(data, dtype=data.dtype)
    raise TypeError(f"{where} holds Parameters (or Tensors/arrays to wrap as Parameters), "
                    f"got {type(value).__name__}")


def _describe_parameter(p: Parameter) -> str:
    size = "x".join(str(n) for n in p._data.shape) or "()"
    return f"Parameter containing: [{p._data.dtype} of size {size}]"


class _ParameterContainer(Module):
    def _put(self, name: str, value: Any) -> None:
        # Straight into the registry: Module.__setattr__ would move a replaced entry to
        # the end, changing the state_dict order.
        param = _as_parameter(value, type(self).__name__)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def __repr__(self) -> str:
        lines = [f"  ({k}): {_describe_parameter(p)}" for k, p in self._parameters.items()
                 if p is not None]
        if not lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} is a container of parameters and has "
                           "no forward(); use its parameters in your module's forward")


class ParameterList(_ParameterContainer):
    """A list of parameters registered on the module, under the names ``0``, ``1``, …
    (so ``state_dict`` keys match PyTorch's, e.g. ``weights.0``).

    Tensors and arrays are wrapped as Parameters (keeping their dtype).

    Example:
        >>> import chainrule as cr
        >>> ps = cr.nn.ParameterList([cr.nn.Parameter(cr.ones(2)) for _ in range(2)])
        >>> ps.append(cr.zeros(3))
        ParameterList(
          (0): Parameter containing: [float32 of size 2]
          (1): Parameter containing: [float32 of size 2]
          (2): Parameter containing: [float32 of size 3]
        )
        >>> list(ps.state_dict())
        ['0', '1', '2']
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, index: int) -> str:
        n = len(self._parameters)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a ParameterList of "
                             f"length {n}")
        return str(index % n)

    def append(self, value: Any) -> ParameterList:
        self._put(str(len(self._parameters)), value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, (Tensor, np.ndarray)):
            raise TypeError("ParameterList.extend takes an iterable of parameters, got a "
                            "single tensor; use append")
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[self._index(index)]

    def __setitem__(self, index: int, value: Any) -> None:
        self._put(self._index(index), value)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)


class ParameterDict(_ParameterContainer):
    """A dict of parameters registered on the module under their keys (``state_dict``
    keys ``name``, or ``prefix.name`` when nested, as in PyTorch). Insertion order is kept.

    Example:
        >>> import chainrule as cr
        >>> pd = cr.nn.ParameterDict({"scale": cr.ones(1), "shift": cr.zeros(1)})
        >>> "scale" in pd, list(pd.keys())
        (True, ['scale', 'shift'])
    """

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None
                 ) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        if not key or "." in key:
            raise KeyError(f"ParameterDict key {key!r} must be non-empty and contain no '.'")
        if key not in self._parameters and (hasattr(type(self), key) or key in self.__dict__):
            raise KeyError(f"ParameterDict key {key!r} would hide the attribute of that "
                           "name; pick another key")
        return key

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._put(self._check_key(key), value)

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]
        object.__delattr__(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        value = self._parameters[key]
        del self[key]
        return value

    def setdefault(self, key: str, default: Any = None) -> Parameter:
        if key not in self._parameters:
            self[key] = default
        return self._parameters[key]

    def clear(self) -> None:
        for key in list(self._parameters):
            del self[key]

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        items = parameters.items() if isinstance(parameters, Mapping) else parameters
        for pair in items:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError("ParameterDict.update takes a mapping or (key, parameter) "
                                f"pairs, got an element {type(pair).__name__}")
            self[pair[0]] = pair[1]
