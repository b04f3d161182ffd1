"""``Module``, ``Parameter`` and ``Buffer``: the containers of learnable and tracked state.

Assigning a ``Parameter``, ``Buffer`` or ``Module`` to an attribute registers it, the
way PyTorch does, so ``state_dict()`` keys (``0.weight``, ``bn.running_mean``) match.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd import _State
from chainrule.devices import no_gpu, parse_to
from chainrule.nn.init import is_placeholder, meta_array
from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A tensor a module learns: ``requires_grad`` is on and ``parameters()`` yields it.

    Example:
        >>> import chainrule as cr
        >>> p = cr.nn.Parameter([1.0, 2.0])
        >>> p.requires_grad
        True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        meta = meta_array(data, dtype)  # inside nn.init.meta_init(): a placeholder
        if meta is not None:
            data, dtype = meta, meta.dtype
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """State a module tracks but does not learn (BatchNorm's running statistics).

    ``persistent=False`` keeps it out of ``state_dict()``.
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Any, persistent: bool = True, dtype: Any = None) -> None:
        meta = meta_array(data, dtype, persistent)  # inside nn.init.meta_init()
        if meta is not None:
            data, dtype = meta, meta.dtype
        super().__init__(data, requires_grad=False, dtype=dtype)
        self.persistent = persistent


class LayerError(ValueError):
    """A ``ValueError`` raised inside a module's forward, annotated with where it happened.

    ``path`` is the module's qualified name in the model (``"encoder.2"``) and ``layer``
    its one-line description.
    """

    def __init__(self, message: str, layer: str, name: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.names: list[str] = [name] if name else []

    @property
    def path(self) -> str:
        return ".".join(reversed(self.names))

    def __str__(self) -> str:
        where = f"layer '{self.path}' ({self.layer})" if self.names else f"layer {self.layer}"
        return f"in {where}: {self.message}"


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model.

    Subclasses set parameters and sub-modules as attributes in ``__init__`` and define
    ``forward``. Calling the module runs ``forward`` (plus any forward hooks).

    Example:
        >>> import chainrule as cr
        >>> class Net(cr.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = cr.nn.Linear(2, 1)
        ...     def forward(self, x):
        ...         return self.fc(x).sigmoid()
        >>> [name for name, _ in Net().named_parameters()]
        ['fc.weight', 'fc.bias']
    """

    def __init__(self) -> None:
        d = self.__dict__
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_name"] = None
        d["training"] = True

    # ---- registration ------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign '{name}' before Module.__init__() is called: call "
                f"super().__init__() first in {type(self).__name__}.__init__"
            )
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        for registry in (params, buffers, modules):
            if name in registry and not isinstance(value, (Parameter, Buffer, Module)):
                if value is None:
                    registry[name] = None
                    object.__setattr__(self, name, None)
                    return
                if registry is buffers and isinstance(value, (Tensor, np.ndarray)):
                    value = Buffer(value, buffers[name].persistent if buffers[name] is not None
                                   else True)
                    break
                raise TypeError(f"cannot assign {type(value).__name__} to '{name}' of "
                                f"{type(self).__name__}: it is a registered "
                                f"{'parameter' if registry is params else 'sub-module'}")
        for registry in (params, buffers, modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Buffer):
            buffers[name] = value
        elif isinstance(value, Module):
            modules[name] = value
            value.__dict__["_name"] = name
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param if isinstance(param, Parameter) else Parameter(param))

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Track ``value`` (array or tensor) as state that is saved but not learned."""
        if value is None:
            self._buffers[name] = None
            object.__setattr__(self, name, None)
            return
        data = value._data if isinstance(value, Tensor) else np.asarray(value)
        setattr(self, name, Buffer(data, persistent=persistent, dtype=data.dtype))

    def add_module(self, name: str, module: Module | None) -> None:
        if module is None:
            self._modules[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    # ---- calling -----------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        anomaly = _State.anomaly
        if anomaly:
            _State.module_stack.append(self._describe_for_anomaly())
        if args and type(args[0]) is np.ndarray:  # an array from the user's own pipeline
            args = tuple(Tensor._make(a, False, None) if type(a) is np.ndarray else a
                         for a in args)
        try:
            out = self.forward(*args, **kwargs)
        except LayerError as err:
            if self._name is not None:
                err.names.append(self._name)
            raise
        except ValueError as err:
            raise LayerError(str(err), self._one_line(), self._name) from err
        finally:
            if anomaly:
                _State.module_stack.pop()
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                replaced = hook(self, args, out)
                if replaced is not None:
                    out = replaced
        return out

    def _describe_for_anomaly(self) -> tuple[str, str]:
        """(qualified path in the model being run, one-line description)."""
        parent = _State.module_stack[-1][0] if _State.module_stack else ""
        own = self._name or ""
        path = f"{parent}.{own}" if parent and own else (own or parent)
        return path, self._one_line()

    def _one_line(self) -> str:
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})"

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]
                              ) -> Callable[[], None]:
        """Call ``hook(module, inputs, output)`` after every forward; returns a remover."""
        key = id(hook)
        while key in self._forward_hooks:
            key += 1
        self._forward_hooks[key] = hook
        return lambda: self._forward_hooks.pop(key, None)

    # ---- traversal ---------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set | None = None,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Every module in the tree, depth first; a module shared by two parents once,
        under its first name, unless ``remove_duplicate=False`` (then under each)."""
        memo = set() if memo is None else memo
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m)
                        for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """``(qualified name, parameter)`` pairs; a parameter shared by two layers once."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, module in modules:
            for pname, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Buffer]]:
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, module in modules:
            for bname, b in module._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self, recurse: bool = True) -> Iterator[Buffer]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first) and on this module."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p._data.size for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    # ---- modes and gradients -------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch statistics); ``train(False)`` = ``eval()``."""
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: set ``.grad`` to None (the default), or keep
        each ``.grad`` Tensor and give it zeros (see ``Optimizer.zero_grad``)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g is not None:
                    g._data = np.zeros_like(g._data)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # ---- dtype and device ------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert floating parameters and buffers (and their gradients) to a dtype, in
        place; returns self. Takes PyTorch's forms: ``to(dtype)``, ``to("cpu")``,
        ``to(device, dtype)``, ``to(tensor)``. Only the CPU exists: ``to("cuda")`` raises
        an error naming the available backends.

        Example:
            >>> import chainrule as cr
            >>> model = cr.nn.Linear(2, 1)
            >>> model.to("cpu") is model, model.to(cr.float64).weight.dtype
            (True, dtype('float64'))
        """
        _, dt = parse_to(args, kwargs, f"{type(self).__name__}.to")
        if dt is None:
            return self
        if dt.kind != "f":
            raise ValueError(f"Module.to() takes a floating dtype, got {dt}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t._data.dtype.kind == "f" and t._data.dtype != dt:
                t._data = t._data.astype(dt)
                g = t.grad
                if g is not None:
                    g._data = g._data.astype(dt)
        return self

    def cpu(self) -> Module:
        """This module (parameters already live on the CPU)."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises: chainrule has no GPU backend yet."""
        raise no_gpu(f"{type(self).__name__}.cuda()")

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---- state ---------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by qualified name, PyTorch's key scheme.

        The arrays are the live ones (not copies), as in PyTorch; a module used at two
        places in the tree appears under both names, as in PyTorch.
        """
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for mname, module in self.named_modules(remove_duplicate=False):
            for pname, p in module._parameters.items():
                if p is not None:
                    state[f"{mname}.{pname}" if mname else pname] = p._data
            for bname, b in module._buffers.items():
                if b is not None and b.persistent:
                    state[f"{mname}.{bname}" if mname else bname] = b._data
        return state

    def _state_tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for mname, module in self.named_modules(remove_duplicate=False):
            for registry in (module._parameters, module._buffers):
                for name, t in registry.items():
                    if t is None or (isinstance(t, Buffer) and not t.persistent):
                        continue
                    out[f"{mname}.{name}" if mname else name] = t
        return out

    def load_state_dict(self, state: dict[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy arrays from ``state`` into this module's parameters and buffers.

        With ``strict`` every key must match in name and shape; otherwise one
        ``KeyError``/``ValueError`` lists all missing, unexpected and mis-shaped keys.
        Floating values are cast to each parameter's dtype; integer or boolean values are
        refused for floating parameters (and floats for integer buffers), naming the key
        and both dtypes. Nothing is changed when it fails. Values holding NaN or inf load,
        with a ``RuntimeWarning`` naming them.

        Args:
            state: ``state_dict`` key → array, Tensor or PyTorch CPU tensor (so
                ``model.load_state_dict(torch_model.state_dict())`` works; see
                docs/pytorch_weights.md).
            strict: require exactly this module's keys.
            assign: make each tensor hold the given array itself (its dtype included)
                instead of copying into the existing one, as PyTorch's ``assign=True``;
                the way to fill a model built under ``nn.init.meta_init()``.

        Example:
            >>> import chainrule as cr
            >>> net = cr.nn.Linear(2, 1)
            >>> net.load_state_dict({"weight": [[1, 2]], "bias": [0.5]})
            IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        for mname, module in self.named_modules():  # lazy layers (nn.lazy) take their shapes
            hook = getattr(module, "_materialize_from_state", None)
            if hook is not None:
                hook(state, f"{mname}." if mname else "")  # from the state first
        own = self._state_tensors()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong, kinds = [], []
        arrays = {}
        for k, t in own.items():
            if k not in state:
                continue
            value = state[k]
            if isinstance(value, Tensor):
                arr = value._data
            elif isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
                arr = np.asarray(value)  # NumPy arrays and PyTorch's CPU tensors, as they are
            else:  # Python numbers typed by hand: [[1, 2]] means floats for a weight
                arr = np.asarray(value, dtype=t._data.dtype)
            if arr.shape != t._data.shape:
                wrong.append(f"{k}: expected {t._data.shape}, got {arr.shape}")
            if not _loadable(arr.dtype, t._data.dtype):
                kinds.append(f"{k}: expected {t._data.dtype}, got {arr.dtype}")
            arrays[k] = arr
        problems = []
        if wrong:
            problems.append("mis-shaped keys: " + "; ".join(wrong))
        if kinds:
            problems.append("wrong dtypes (integer or boolean values do not load into "
                            "floating parameters, nor floats into integer ones): "
                            + "; ".join(kinds))
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed: "
                             + " | ".join(problems))
        bad = [k for k, arr in arrays.items() if not _all_finite(arr)]
        if bad:
            warnings.warn(f"load_state_dict: non-finite values (NaN or inf) in "
                          f"{', '.join(bad)}", RuntimeWarning, stacklevel=2)
        for k, arr in arrays.items():
            t = own[k]
            if assign or is_placeholder(t._data):
                t._data = arr  # a placeholder has no memory of its own to copy into
            else:
                np.copyto(t._data, arr, casting="unsafe")  # in place: optimizers keep refs
        return IncompatibleKeys(missing, unexpected)

    # ---- display -------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("
        return head + "\n" + "\n".join(lines) + "\n)"

    # ---- summary (chainrule.nn._summary builds the table) -------------------------------
    def summary(self, input_size: Any = None, *, input_data: Any = None,
                dtypes: Any = None) -> Any:
        """A table of every layer (qualified names, as ``state_dict`` prefixes) with its
        parameter count and, given an input, its output shape; then the totals.

        With ``input_size`` (batch dimension included, as torchinfo takes it; a list of
        shapes for several inputs) or ``input_data`` (the inputs themselves), one forward
        pass runs in eval mode without a graph on zeros (no random numbers drawn) and each
        layer's output shape is shown; the model's modes are put back afterwards.

        Args:
            input_size: e.g. ``(1, 64)``, or ``[(1, 5), (1, 5)]`` for two inputs.
            input_data: a Tensor/array, or a list of them, passed to ``forward``.
            dtypes: the dtype(s) of the zeros (default: the model's floating dtype; give
                ``cr.int64`` for a model that starts with ``Embedding``).

        Returns:
            a ``ModelSummary``: a ``str`` (print it) whose ``rows`` hold the numbers and
            which renders as an HTML table in a notebook.

        Example:
            >>> import chainrule as cr
            >>> net = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU())
            >>> print(net.summary(input_size=(1, 4)))
            layer  type                                              output shape  parameters
            ---------------------------------------------------------------------------------
            0      Linear(in_features=4, out_features=3, bias=True)  (1, 3)                15
            1      ReLU()                                            (1, 3)                 0
            ---------------------------------------------------------------------------------
            input (1, 4) -> output (1, 3)
            total parameters: 15 (trainable: 15)
        """
        from chainrule.nn._summary import summarize

        return summarize(self, input_size, input_data, dtypes)

    def _repr_html_(self) -> str:
        """The summary as an HTML table, for Jupyter."""
        from chainrule.nn._summary import summary_html

        return summary_html(self.summary())


def _loadable(given: np.dtype, wanted: np.dtype) -> bool:
    """Whether values of dtype ``given`` may be loaded into a tensor of dtype ``wanted``:
    floats into floats (any width), integers into integers, booleans into booleans."""
    groups = ("fc", "iu", "b")
    return any(given.kind in g and wanted.kind in g for g in groups)


def _all_finite(arr: np.ndarray) -> bool:
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return True
    # One float64 sum: NaN and inf survive it, and finite float16/32 values cannot
    # overflow it, so this needs no array-sized temporary; only a float64 sum that
    # overflows needs the exact element-wise test.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(arr, dtype=np.complex128 if arr.dtype.kind == "c" else np.float64)
    if np.isfinite(total):
        return True
    return bool(np.isfinite(arr).all())
