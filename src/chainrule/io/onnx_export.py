"""ONNX export: ``export_onnx(model, example_input, path)`` writes a chainrule model as an
ONNX graph that onnxruntime (and every other ONNX runtime) can run.

How it works. The model is walked layer by layer from the top, the way its ``forward``
calls them, with *values* instead of tensors: a :class:`Value` names an ONNX tensor of
the graph being built and carries what chainrule computes for it on the example input
(its shape and dtype, and the numbers, so converters can read sizes). Each layer family
has a converter (``chainrule.io.onnx_layers``) that emits its ONNX nodes; containers and
composite layers (``Sequential``, ``Residual``, the transformer blocks) call their
children's converters. A layer of your own without a converter is followed through its
``forward``: calls to registered layers and the tensor methods of :class:`Value` (``+``,
``@``, indexing, ``reshape``, ``transpose``, ``mean``, ``relu`` ...) are recorded. Anything
else stops the export with an :class:`OnnxExportError` naming the layer's path in the
model; :func:`register_onnx_converter` teaches the exporter a layer.

The graph is exported in eval mode (dropout is the identity, batch norm uses its running
statistics), with a symbolic batch dimension, using only standard ``ai.onnx`` operators of
opset 17 (the default; 17 to 21 are accepted). Building it needs the ``onnx`` package,
imported only here: ``pip install 'chainrule[onnx]'``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["DEFAULT_OPSET", "OnnxExportError", "Value", "export_onnx", "export_onnx_file",
           "register_onnx_converter"]

DEFAULT_OPSET = 17
"""The opset written by default: LayerNormalization is standard from 17, and every
onnxruntime the ``[onnx]`` extra allows (1.17+) runs it."""
MIN_OPSET, MAX_OPSET = 17, 21
INSTALL_HINT = "pip install 'chainrule[onnx]'"
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


class OnnxExportError(RuntimeError):
    """A model that cannot be written as ONNX; the message names the layer's path in the
    model (``layer '3.attn' (MyLayer) has no ONNX export ...``) and what to do.

    ``path`` is that layer's path (``""`` for the model itself), or None when the error
    has not yet been tied to a layer.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _onnx() -> Any:
    """The ``onnx`` package, or an ImportError with the install hint."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from None
    return onnx


# ---- the converter table ---------------------------------------------------------------------

Converter = Callable[..., Any]
_CONVERTERS: dict[type, Converter] = {}


def register_onnx_converter(cls: type, fn: Converter | None = None) -> Any:
    """Teach :func:`export_onnx` a layer: ``fn(graph, module, *inputs, **kwargs)``.

    The converter receives the graph builder, the layer, and its inputs as :class:`Value`
    objects (plus the keyword arguments of the call). It returns what the layer's
    ``forward`` returns, with ONNX value names (``str``) or Values in place of tensors:
    ``graph.op(op_type, *inputs, **attributes)`` emits one ONNX node and returns its
    output's name; ``graph.call(child, value)`` converts a child layer;
    ``graph.param(tensor)`` names a weight. Usable as a decorator. Subclasses that keep
    ``cls.forward`` share its converter.

    Example:
        >>> import chainrule as cr
        >>> class Scale(cr.nn.Module):
        ...     def forward(self, x):
        ...         return x * 2.0
        >>> @register_onnx_converter(Scale)
        ... def _scale(graph, module, x):
        ...     return graph.op("Mul", x, graph.f(2.0))
    """
    if fn is None:
        return lambda f: register_onnx_converter(cls, f)
    if not isinstance(cls, type) or not issubclass(cls, Module):
        raise TypeError(f"register_onnx_converter takes a Module subclass, got {cls!r}")
    _CONVERTERS[cls] = fn
    return fn


def register_builtin(cls: type, fn: Converter) -> None:
    """Register chainrule's own converter for ``cls``, unless one is registered already
    (yours win, whenever they were registered)."""
    _CONVERTERS.setdefault(cls, fn)


def _load_builtins() -> None:
    # Imported on first use, not with chainrule.io: chainrule.nn may import chainrule.io
    # while it is still being imported itself, and the converters need the whole of nn.
    from chainrule.io import onnx_layers  # noqa: F401


def converter_for(module: Module) -> Converter | None:
    """The converter of ``module``'s class, or of the nearest registered base class whose
    ``forward`` it still uses; None when there is none."""
    _load_builtins()
    cls = type(module)
    for klass in cls.__mro__:
        fn = _CONVERTERS.get(klass)
        if fn is not None:
            return fn if klass is cls or cls.forward is klass.forward else None
    return None


# ---- values: ONNX tensors with chainrule's numbers beside them --------------------------------

def _example_of(value: Any) -> Any:
    """What chainrule's own layer gets for ``value``: Tensors for Values, recursively."""
    if isinstance(value, Value):
        return Tensor._make(value.example, False, None)
    if isinstance(value, (tuple, list)):
        return type(value)(_example_of(v) for v in value)
    return value


def _has_value(args: tuple, kwargs: dict) -> bool:
    for a in (*args, *kwargs.values()):
        if isinstance(a, Value) or (isinstance(a, (tuple, list))
                                    and any(isinstance(v, Value) for v in a)):
            return True
    return False


class Value:
    """One tensor of the ONNX graph being built, with chainrule's value for it on the
    example input (``example``, a NumPy array): what a layer's ``forward`` receives during
    the export instead of a Tensor.

    Its methods mirror Tensor's where ONNX has the operation (arithmetic, ``@``, indexing
    with ints, slices and None, ``reshape``/``view``, ``flatten``, ``transpose``,
    ``permute``, ``squeeze``/``unsqueeze``, ``sum``/``mean``, ``relu``, ``sigmoid``,
    ``tanh``, ``exp``, ``softmax``, ``log_softmax``), each recording an ONNX node.
    ``shape`` and ``size()`` are the example's: a size computed from them is fixed in the
    graph, except a leading size that reshape keeps from its input (``x.view(x.size(0),
    -1)`` keeps the batch dynamic).
    """

    __slots__ = ("graph", "name", "example")

    def __init__(self, graph: OnnxGraph, name: str, example: np.ndarray) -> None:
        self.graph = graph
        self.name = name
        self.example = np.asarray(example)

    # ---- what the example says ----
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.example.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.example.dtype

    @property
    def ndim(self) -> int:
        return self.example.ndim

    def dim(self) -> int:
        return self.example.ndim

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Value({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise OnnxExportError(f"{self!r} was used as an array: the ONNX export follows "
                              "layers and Value methods, not computations on the numbers")

    def __bool__(self) -> bool:
        raise OnnxExportError(f"{self!r} decides a Python branch: its value is not known "
                              "when the ONNX graph runs")

    __array_ufunc__ = None  # ndarray op Value → Value's reflected method

    # ---- recording ----
    def _new(self, name: str, example: np.ndarray) -> Value:
        return Value(self.graph, name, example)

    def _operand(self, other: Any) -> tuple[str, np.ndarray]:
        g = self.graph
        if isinstance(other, Value):
            return other.name, other.example
        if isinstance(other, Tensor):
            return g.param(other), other._data
        arr = np.asarray(other)
        if arr.dtype.kind in "fiub" and not isinstance(other, np.ndarray):
            arr = arr.astype(self.dtype)  # a Python number takes this value's dtype
        return g.const(arr), arr

    def _binary(self, op: str, other: Any, fn: Callable, reverse: bool = False) -> Value:
        name, ex = self._operand(other)
        if reverse:
            return self._new(self.graph.op(op, name, self.name), fn(ex, self.example))
        return self._new(self.graph.op(op, self.name, name), fn(self.example, ex))

    def __add__(self, o: Any) -> Value:
        return self._binary("Add", o, np.add)

    def __radd__(self, o: Any) -> Value:
        return self._binary("Add", o, np.add, True)

    def __sub__(self, o: Any) -> Value:
        return self._binary("Sub", o, np.subtract)

    def __rsub__(self, o: Any) -> Value:
        return self._binary("Sub", o, np.subtract, True)

    def __mul__(self, o: Any) -> Value:
        return self._binary("Mul", o, np.multiply)

    def __rmul__(self, o: Any) -> Value:
        return self._binary("Mul", o, np.multiply, True)

    def __truediv__(self, o: Any) -> Value:
        return self._binary("Div", o, np.divide)

    def __rtruediv__(self, o: Any) -> Value:
        return self._binary("Div", o, np.divide, True)

    def __matmul__(self, o: Any) -> Value:
        return self._binary("MatMul", o, np.matmul)

    def __rmatmul__(self, o: Any) -> Value:
        return self._binary("MatMul", o, np.matmul, True)

    def __pow__(self, o: Any) -> Value:
        return self._binary("Pow", o, np.power)

    def __neg__(self) -> Value:
        return self._new(self.graph.op("Neg", self.name), -self.example)

    def _unary(self, op: str, fn: Callable, **attrs: Any) -> Value:
        return self._new(self.graph.op(op, self.name, **attrs), fn(self.example))

    def relu(self) -> Value:
        return self._unary("Relu", lambda a: np.maximum(a, 0))

    def sigmoid(self) -> Value:
        return self._unary("Sigmoid", lambda a: (1 / (1 + np.exp(-a))).astype(a.dtype))

    def tanh(self) -> Value:
        return self._unary("Tanh", np.tanh)

    def exp(self) -> Value:
        return self._unary("Exp", np.exp)

    def abs(self) -> Value:
        return self._unary("Abs", np.abs)

    def sqrt(self) -> Value:
        return self._unary("Sqrt", np.sqrt)

    def softmax(self, dim: int = -1) -> Value:
        def fn(a: np.ndarray) -> np.ndarray:
            e = np.exp(a - a.max(axis=dim, keepdims=True))
            return e / e.sum(axis=dim, keepdims=True)
        return self._unary("Softmax", fn, axis=dim)

    def log_softmax(self, dim: int = -1) -> Value:
        def fn(a: np.ndarray) -> np.ndarray:
            s = a - a.max(axis=dim, keepdims=True)
            return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))
        return self._unary("LogSoftmax", fn, axis=dim)

    # ---- reductions ----
    def _reduce(self, op: str, fn: Callable, dim: Any, keepdim: bool) -> Value:
        axes = list(range(self.ndim)) if dim is None else (
            [dim] if isinstance(dim, int) else list(dim))
        name = self.graph.reduce(op, self.name, axes, keepdim)
        return self._new(name, fn(self.example, axis=tuple(axes), keepdims=keepdim))

    def sum(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Value:
        return self._reduce("ReduceSum", np.sum, dim if axis is None else axis,
                            keepdim if keepdims is None else keepdims)

    def mean(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> Value:
        return self._reduce("ReduceMean", np.mean, dim if axis is None else axis,
                            keepdim if keepdims is None else keepdims)

    def max(self, dim: Any = None, keepdim: bool = False) -> Value:
        return self._reduce("ReduceMax", np.max, dim, keepdim)

    # ---- shape ----
    def reshape(self, *shape: Any) -> Value:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        target = [int(s) for s in shape]
        example = self.example.reshape(target)
        # A leading size equal to the input's is copied from it (0 in ONNX's Reshape):
        # right for a fixed size, and keeps a batch size read off .shape dynamic.
        for i, s in enumerate(target):
            if i >= self.ndim or s != self.shape[i] or s == -1:
                break
            target[i] = 0
        return self._new(self.graph.op("Reshape", self.name, self.graph.ints(target)),
                         example)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Value:
        return self._new(self.graph.flatten(self.name, self.shape, start_dim, end_dim),
                         _flat(self.example, start_dim, end_dim))

    def permute(self, *dims: Any) -> Value:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        perm = [d % self.ndim for d in dims]
        return self._new(self.graph.op("Transpose", self.name, perm=perm),
                         np.transpose(self.example, perm))

    def transpose(self, dim0: int = 0, dim1: int = 1) -> Value:
        perm = list(range(self.ndim))
        a, b = dim0 % self.ndim, dim1 % self.ndim
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(perm)

    @property
    def T(self) -> Value:  # noqa: N802  (Tensor's name)
        return self.permute(list(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Value:
        d = dim % (self.ndim + 1)
        return self._new(self.graph.op("Unsqueeze", self.name, self.graph.ints([d])),
                         np.expand_dims(self.example, d))

    def squeeze(self, dim: int | None = None) -> Value:
        if dim is None:
            axes = [i for i, n in enumerate(self.shape) if n == 1]
        else:
            axes = [dim % self.ndim] if self.shape[dim] == 1 else []
        if not axes:
            return self
        return self._new(self.graph.op("Squeeze", self.name, self.graph.ints(axes)),
                         np.squeeze(self.example, tuple(axes)))

    def contiguous(self) -> Value:
        return self

    def __getitem__(self, index: Any) -> Value:
        return self._new(self.graph.index(self.name, self.shape, index),
                         self.example[index])


def _flat(a: np.ndarray, start: int, end: int) -> np.ndarray:
    if a.ndim == 0:
        return a.reshape(1)
    s, e = start % a.ndim, end % a.ndim
    return a.reshape(a.shape[:s] + (-1,) + a.shape[e + 1:])


# ---- the graph builder -----------------------------------------------------------------------

class OnnxGraph:
    """The ONNX graph being built: nodes, initializers, and unique names. Converters call
    :meth:`op`, :meth:`param`, :meth:`const`, :meth:`f`, :meth:`ints`, :meth:`reduce`
    and :meth:`call`.

    Attributes:
        opset: the opset being written.
        dtype: the model's floating dtype (what constants take).
        dynamic_batch: whether the batch size is symbolic.
    """

    def __init__(self, model: Module, opset: int, dtype: np.dtype, dynamic_batch: bool) -> None:
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.dynamic_batch = dynamic_batch
        self.nodes: list[tuple[str, list[str], list[str], str, dict]] = []
        self.initializers: dict[str, np.ndarray] = {}
        self._taken: set[str] = set()
        self._tensors: dict[int, str] = {}
        self._keys = {id(t): k for k, t in model._state_tensors().items()}
        for mname, m in model.named_modules():
            for bname, b in m._buffers.items():  # non-persistent buffers too
                if b is not None:
                    self._keys.setdefault(id(b), f"{mname}.{bname}" if mname else bname)
        self._paths = {id(m): name for name, m in model.named_modules()}
        self._stack: list[str] = []

    # ---- names ----
    def fresh(self, hint: str) -> str:
        """A value name not used yet, made from ``hint``."""
        base = hint.replace(" ", "_") or "v"
        name, i = base, 0
        while name in self._taken:
            i += 1
            name = f"{base}_{i}"
        self._taken.add(name)
        return name

    def path_of(self, module: Module) -> str | None:
        return self._paths.get(id(module))

    def _path(self, module: Module) -> str:
        path = self.path_of(module)
        return f"<{type(module).__name__}>" if path is None else path

    def where(self, module: Module) -> str:
        """``layer '3.attn' (MyLayer)``: how errors name a layer."""
        path = self.path_of(module)
        if path == "":
            return f"the model itself ({type(module).__name__})"
        if path is None:
            return f"a {type(module).__name__} layer that is not part of the model"
        return f"layer '{path}' ({type(module).__name__})"

    # ---- nodes and constants ----
    def op(self, op_type: str, *inputs: Any, outputs: int = 1, **attrs: Any) -> Any:
        """Emit one node; returns its output name (a list of names for ``outputs > 1``).

        Inputs are value names, :class:`Value` objects, NumPy arrays (become constants)
        or None (an optional input left out). Attributes are ONNX's, by name.
        """
        names = [self._input(v) for v in inputs]
        while names and names[-1] == "":  # trailing optional inputs are simply absent
            names.pop()
        prefix = f"{self._stack[-1]}/" if self._stack and self._stack[-1] else ""
        outs = [self.fresh(f"{prefix}{op_type}") for _ in range(outputs)]
        node_name = self.fresh(f"node:{prefix}{op_type}")
        self.nodes.append((op_type, names, outs, node_name,
                           {k: v for k, v in attrs.items() if v is not None}))
        return outs[0] if outputs == 1 else outs

    def _input(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, Value):
            return value.name
        if isinstance(value, Tensor):
            return self.param(value)
        return self.const(np.asarray(value))

    def const(self, array: np.ndarray, hint: str = "const") -> str:
        """A constant (an initializer) holding ``array`` as it is."""
        name = self.fresh(hint)
        self.initializers[name] = np.ascontiguousarray(array)
        return name

    def f(self, values: Any, hint: str = "const") -> str:
        """A constant in the model's floating dtype."""
        return self.const(np.asarray(values, dtype=self.dtype), hint)

    def ints(self, values: Any, hint: str = "shape") -> str:
        """An int64 constant (shapes, axes, indices)."""
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def param(self, tensor: Tensor | np.ndarray, hint: str | None = None) -> str:
        """The initializer of a model tensor, named by its ``state_dict`` key; a tensor
        used twice (tied weights) is stored once."""
        data = tensor._data if isinstance(tensor, Tensor) else tensor
        key = id(tensor)
        if key not in self._tensors:
            name = self.fresh(self._keys.get(key) or hint or "weight")
            self.initializers[name] = np.ascontiguousarray(data)
            self._tensors[key] = name
        return self._tensors[key]

    # ---- small patterns every converter needs ----
    def reduce(self, op: str, x: Any, axes: list[int], keepdims: bool = True) -> str:
        """``ReduceMean``/``ReduceSum``/``ReduceMax`` over ``axes`` (an input from opset 18,
        13 for ReduceSum; an attribute before)."""
        as_input = self.opset >= 18 or op == "ReduceSum"
        if as_input:
            return self.op(op, x, self.ints(axes, "axes"), keepdims=int(keepdims))
        return self.op(op, x, axes=list(axes), keepdims=int(keepdims))

    def flatten(self, x: Any, shape: tuple[int, ...], start_dim: int, end_dim: int) -> str:
        """Axes ``start_dim..end_dim`` of ``x`` (of ``shape``) merged into one."""
        nd = len(shape)
        if nd == 0:
            return self.op("Reshape", x, self.ints([1]))
        s, e = start_dim % nd, end_dim % nd
        if s == 1 and e == nd - 1:
            return self.op("Flatten", x, axis=1)
        return self.op("Reshape", x, self.ints([0] * s + [-1] + list(shape[e + 1:])))

    def index(self, x: Any, shape: tuple[int, ...], index: Any) -> str:
        """``x[index]`` for ints, slices, None and Ellipsis (NumPy's basic indexing)."""
        items = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis for i in items):
            k = items.index(Ellipsis)
            used = sum(1 for i in items if i is not None and i is not Ellipsis)
            items = items[:k] + (slice(None),) * (len(shape) - used) + items[k + 1:]
        starts, ends, axes, steps, drop, new = [], [], [], [], [], []
        axis = out_axis = 0
        for item in items:
            if item is None:
                new.append(out_axis)
                out_axis += 1
                continue
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                i = int(item)
                starts.append(i)
                ends.append(i + 1 if i != -1 else _INT64_MAX)
                axes.append(axis)
                steps.append(1)
                drop.append(axis)
            elif isinstance(item, slice):
                step = 1 if item.step is None else int(item.step)
                if item != slice(None):  # open ends run to the far end either way
                    first = 0 if step > 0 else -1
                    last = _INT64_MAX if step > 0 else _INT64_MIN
                    starts.append(first if item.start is None else int(item.start))
                    ends.append(last if item.stop is None else int(item.stop))
                    axes.append(axis)
                    steps.append(step)
                out_axis += 1
            else:
                raise OnnxExportError(f"indexing with {type(item).__name__} is not "
                                      "exported (ints, slices, None and ... are)")
            axis += 1
        y = x
        if axes:
            y = self.op("Slice", y, self.ints(starts), self.ints(ends), self.ints(axes),
                        self.ints(steps))
        if drop:
            y = self.op("Squeeze", y, self.ints(drop))
        if new:
            y = self.op("Unsqueeze", y, self.ints(new))
        if y is x:
            y = self.op("Identity", x)
        return y

    def value(self, name: str, example: Any) -> Value:
        """A :class:`Value` for ``name`` with chainrule's ``example`` (a Tensor or array)."""
        return Value(self, name, example._data if isinstance(example, Tensor) else example)

    def emit(self, x: Value, emitter: Callable[[str], str], reference: Callable) -> Value:
        """The Value of ``emitter(x.name)`` (nodes), with ``reference(Tensor)`` (the
        chainrule function it mirrors) computing its example."""
        with no_grad():
            ref = reference(Tensor._make(x.example, False, None))
        return self.value(emitter(x.name), ref)

    # ---- layers ----
    def call(self, module: Module, *args: Any, **kwargs: Any) -> Any:
        """Convert ``module`` applied to ``args`` (Values and plain arguments); returns its
        outputs as Values, shaped like what its ``forward`` returns.

        Raises:
            OnnxExportError: naming the layer, when it has no ONNX export.
        """
        fn = converter_for(module)
        self._stack.append(self.path_of(module) or "")
        try:
            if fn is None:
                return self._follow_forward(module, args, kwargs)
            try:
                out = fn(self, module, *args, **kwargs)
                if _holds_name(out):  # the converter gave names: take chainrule's values
                    with no_grad():
                        real = module(*_example_of(args),
                                      **{k: _example_of(v) for k, v in kwargs.items()})
                    out = self._pair(out, real)
            except OnnxExportError as err:
                if err.path is not None:
                    raise
                raise OnnxExportError(f"{self.where(module)} cannot be exported: {err}",
                                      self._path(module)) from err
            except Exception as err:
                raise OnnxExportError(f"{self.where(module)} cannot be exported: "
                                      f"{type(err).__name__}: {err}",
                                      self._path(module)) from err
            return out
        finally:
            self._stack.pop()

    def _pair(self, names: Any, real: Any) -> Any:
        if isinstance(names, str):
            return self.value(names, real)
        if isinstance(names, (tuple, list)):
            return type(names)(self._pair(n, r) for n, r in zip(names, real))
        return names

    def _follow_forward(self, module: Module, args: tuple, kwargs: dict) -> Any:
        """Run a layer without a converter on Values: its ``forward`` records the ONNX
        of every registered layer it calls and every Value method it uses."""
        path = self._path(module)
        if type(module).__module__.startswith("chainrule."):
            raise OnnxExportError(f"{self.where(module)} has no ONNX export", path)
        hint = ("; use chainrule's layers and Tensor methods in its forward, or register a "
                "converter with chainrule.io.register_onnx_converter")
        try:
            out = type(module).forward(module, *args, **kwargs)
        except OnnxExportError as err:
            if err.path is not None:  # a layer inside it, already named
                raise
            raise OnnxExportError(f"{self.where(module)} has no ONNX export: {err}{hint}",
                                  path) from err
        except Exception as err:
            raise OnnxExportError(
                f"{self.where(module)} has no ONNX export: its forward does what the "
                f"exporter cannot follow ({type(err).__name__}: {err}){hint}", path) from err
        if not _only_values(out):
            raise OnnxExportError(f"{self.where(module)} has no ONNX export: its forward "
                                  "returns something not computed from its inputs", path)
        return out


def _holds_name(out: Any) -> bool:
    if isinstance(out, str):
        return True
    return isinstance(out, (tuple, list)) and any(_holds_name(o) for o in out)


def _only_values(out: Any) -> bool:
    if isinstance(out, Value) or out is None:
        return True
    return isinstance(out, (tuple, list)) and all(_only_values(o) for o in out)


@contextmanager
def _following(graph: OnnxGraph, model: Module) -> Iterator[None]:
    """While exporting, a layer called with Values (from a ``forward`` being followed)
    is converted instead of run: each module's ``forward`` is shadowed on the instance,
    handing Values to ``graph.call`` and anything else to the real ``forward``."""
    saved = []
    for m in model.modules():
        d = m.__dict__
        saved.append((d, d.get("forward", _MISSING)))
        d["forward"] = _shadow(graph, m)
    try:
        yield
    finally:
        for d, old in saved:
            if old is _MISSING:
                d.pop("forward", None)
            else:
                d["forward"] = old


_MISSING = object()


def _shadow(graph: OnnxGraph, module: Module) -> Callable:
    real = type(module).forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if _has_value(args, kwargs):
            return graph.call(module, *args, **kwargs)
        return real(module, *args, **kwargs)

    return forward


# ---- export ------------------------------------------------------------------------------

def _as_inputs(example_input: Any) -> list[np.ndarray]:
    items = list(example_input) if isinstance(example_input, tuple) else [example_input]
    out = []
    for item in items:
        arr = item._data if isinstance(item, Tensor) else np.asarray(item)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"export_onnx: example inputs must be numeric arrays or Tensors, "
                            f"got dtype {arr.dtype}")
        out.append(arr)
    return out


def _model_dtype(model: Module, inputs: list[np.ndarray]) -> np.dtype:
    for p in model.parameters():
        if p._data.dtype.kind == "f":
            return p._data.dtype
    for arr in inputs:
        if arr.dtype.kind == "f":
            return arr.dtype
    return np.dtype(np.float32)


def _check_opset(opset: int | None, onnx: Any) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"export_onnx: opset must be an int from {MIN_OPSET} to {MAX_OPSET} "
                         f"(default {DEFAULT_OPSET}), got {opset!r}")
    if opset > onnx.defs.onnx_opset_version():
        raise ValueError(f"export_onnx: opset {opset} is newer than this onnx package knows "
                         f"({onnx.defs.onnx_opset_version()}); upgrade onnx or pass a lower "
                         "opset")
    return int(opset)


def _leaves(out: Any) -> list[Value]:
    if isinstance(out, Value):
        return [out]
    if isinstance(out, (tuple, list)):
        return [v for o in out for v in _leaves(o)]
    return []


def _batch_axes(model: Module, inputs: list[np.ndarray], batch_axis: int,
                results: list[Value]) -> list[set[int]]:
    """Which axes of each output follow the batch size: chainrule runs the model once
    more on a batch one larger (the last sample repeated), and the axes that grew are
    the outputs' batch axes."""
    grown = [np.concatenate([a, np.take(a, [-1], axis=batch_axis)], axis=batch_axis)
             for a in inputs]
    with no_grad():
        out = model(*[Tensor._make(a, False, None) for a in grown])
    shapes = [np.shape(t._data if isinstance(t, Tensor) else t) for t in _tensors(out)]
    if len(shapes) != len(results):
        return [set() for _ in results]
    return [{i for i, (a, b) in enumerate(zip(v.shape, s)) if a != b} if len(s) == v.ndim
            else set() for v, s in zip(results, shapes)]


def _tensors(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return [] if out is None else [out]


def export_onnx(model: Module, example_input: Any, path: str | os.PathLike,
                opset: int | None = None, dynamic_batch: bool = True, *,
                batch_axis: int = 0, input_names: list[str] | None = None,
                output_names: list[str] | None = None,
                metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` as an ONNX file that onnxruntime runs with the same outputs.

    Args:
        model: a chainrule model (exported in eval mode; its mode is restored after).
        example_input: one input (array, Tensor; ids as integers) of the shape the model
            takes, e.g. ``np.zeros((1, 64), np.float32)``, or a tuple of them for a model
            taking several inputs. Its values only matter where the model branches on them.
        path: the ``.onnx`` file to write (atomically).
        opset: the ONNX opset, 17 (default) to 21.
        dynamic_batch: make axis ``batch_axis`` of every input (and of the outputs that
            carry it) a symbolic ``batch`` dimension; otherwise every size is fixed.
        batch_axis: which input axis is the batch: 0, or 1 for sequence-first inputs
            (recurrent layers and attention with ``batch_first=False``).
        input_names, output_names: graph names (default ``input``/``output``, numbered
            when there are several).
        metadata: strings (or JSON-able values) stored in the model's ``metadata_props``.

    Raises:
        OnnxExportError: a layer has no ONNX export (the message names its path).
        ImportError: the ``onnx`` package is missing (``pip install 'chainrule[onnx]'``).

    Example:
        >>> import numpy as np, chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
        >>> export_onnx(net, np.zeros((1, 4), np.float32), "net.onnx")  # doctest: +SKIP
        >>> import onnxruntime as ort  # doctest: +SKIP
        >>> ort.InferenceSession("net.onnx").run(None, {"input": x})[0]  # doctest: +SKIP
    """
    onnx = _onnx()
    from onnx import helper, numpy_helper

    if not isinstance(model, Module):
        raise TypeError(f"export_onnx takes a chainrule Module, got {type(model).__name__}")
    opset = _check_opset(opset, onnx)
    inputs = _as_inputs(example_input)
    for arr in inputs:
        if dynamic_batch and not 0 <= batch_axis < arr.ndim:
            raise ValueError(f"export_onnx: batch_axis={batch_axis} does not exist in an "
                             f"example input of shape {arr.shape}")
    in_names = input_names or (["input"] if len(inputs) == 1 else
                               [f"input_{i}" for i in range(len(inputs))])
    if len(in_names) != len(inputs):
        raise ValueError(f"export_onnx: {len(in_names)} input names for {len(inputs)} inputs")
    dtype = _model_dtype(model, inputs)
    if dtype == np.float64:
        warnings.warn("export_onnx: a float64 model makes a float64 graph, for which "
                      "onnxruntime's CPU kernels are missing (Conv, Erf, LSTM ...); export "
                      "model.float() to run it there", UserWarning, stacklevel=2)
    # floating inputs take the model's dtype (a float64 example for a float32 model would
    # make a graph whose input and weights disagree)
    inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    graph = OnnxGraph(model, opset, dtype, dynamic_batch)
    for name in in_names:
        graph._taken.add(name)
    values = [Value(graph, name, arr) for name, arr in zip(in_names, inputs)]
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with _following(graph, model):
            results = _leaves(graph.call(model, *values))
        if not results:
            raise OnnxExportError(f"{graph.where(model)} returns no tensor to export", "")
        batched = _batch_axes(model, inputs, batch_axis, results) if dynamic_batch else None
    finally:
        for m, mode in was_training:
            m.training = mode
    out_names = output_names or (["output"] if len(results) == 1 else
                                 [f"output_{i}" for i in range(len(results))])
    if len(out_names) != len(results):
        raise ValueError(f"export_onnx: {len(out_names)} output names for {len(results)} "
                         "outputs")
    def dims(shape: tuple[int, ...], axes: Any) -> list:
        return ["batch" if axes is not None and i in axes else n for i, n in enumerate(shape)]

    nodes = [helper.make_node(op, ins, outs, name=name, **attrs)
             for op, ins, outs, name, attrs in graph.nodes]
    for value, name in zip(results, out_names):
        nodes.append(helper.make_node("Identity", [value.name], [name], name=f"node:{name}"))
    elem = helper.np_dtype_to_tensor_dtype
    graph_inputs = [helper.make_tensor_value_info(
        v.name, elem(v.dtype), dims(v.shape, {batch_axis} if dynamic_batch else None))
        for v in values]
    graph_outputs = [helper.make_tensor_value_info(
        name, elem(v.dtype), dims(v.shape, None if batched is None else batched[i]))
        for i, (v, name) in enumerate(zip(results, out_names))]
    size = sum(a.nbytes for a in graph.initializers.values())
    if size > 2_000_000_000:
        raise OnnxExportError(f"the model's {size / 1e9:.1f} GB of weights exceed what one "
                              "ONNX file holds (2 GB)")
    initializers = [numpy_helper.from_array(a, name) for name, a in graph.initializers.items()]
    onnx_graph = helper.make_graph(nodes, type(model).__name__, graph_inputs, graph_outputs,
                                   initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="chainrule",
                              producer_version=_version(),
                              ir_version=helper.find_min_ir_version_for(opsets))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key = str(key)
        entry.value = value if isinstance(value, str) else json.dumps(value)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:  # a converter bug, not the user's
        raise OnnxExportError(f"the ONNX graph built for {type(model).__name__} does not "
                              f"pass onnx.checker: {err}") from err
    from chainrule.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, proto.SerializeToString())


def _takes_ids(model: Module) -> bool:
    """Whether the model's first layer reads token ids (an Embedding at the front)."""
    from chainrule import nn

    m = model
    while True:
        if isinstance(m, (nn.Embedding, nn.DecoderOnlyTransformer)):
            return True
        children = list(m.children())
        if not children:
            return False
        m = children[0]


def export_onnx_file(model_path: str | os.PathLike, path: str | os.PathLike,
                     input_shape: Any = None, opset: int | None = None,
                     dynamic_batch: bool = True, input_dtype: Any = None) -> str:
    """Export a model file (``chainrule.io.save``, ``chainrule train``'s model) to ONNX;
    what ``chainrule export MODEL --onnx OUT`` runs. Returns a one-line description.

    Args:
        model_path: the ``.safetensors`` model file.
        path: the ``.onnx`` file to write.
        input_shape: one sample's shape (without the batch), e.g. ``(64,)``; default:
            the ``input_shape`` recorded in the file's metadata (``chainrule train``
            records it).
        opset, dynamic_batch: as :func:`export_onnx`.
        input_dtype: the input's dtype; default int64 for models that start with an
            Embedding (token ids), else the model's floating dtype.

    The file's metadata (class names, feature names, task ...) is kept in the ONNX
    model's ``metadata_props``, as JSON.

    Example:
        >>> export_onnx_file("runs/digits/model.safetensors", "digits.onnx")  # doctest: +SKIP
        'wrote digits.onnx: opset 17, input (batch, 64) float32, output (batch, 10)'
    """
    from chainrule.io.model_file import load_with_metadata

    model, meta = load_with_metadata(model_path)
    shape = input_shape if input_shape is not None else meta.get("input_shape")
    if shape is None:
        raise ValueError(f"{os.fspath(model_path)}: the file records no input_shape; give "
                         "one sample's shape (e.g. --input-shape 64, or 1,8,8)")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in
                                                                             shape)
    if any(n < 1 for n in shape):
        raise ValueError(f"input shape must have sizes >= 1, got {shape}")
    if input_dtype is None:
        input_dtype = np.int64 if _takes_ids(model) else _model_dtype(model, [])
    example = np.zeros((1, *shape), np.dtype(input_dtype))
    stored = {k: v for k, v in meta.items() if v is not None}
    export_onnx(model, example, path, opset, dynamic_batch, metadata=stored)
    onnx = _onnx()
    proto = onnx.load(os.fspath(path), load_external_data=False)

    def describe(info: Any) -> str:
        dims = [d.dim_param or str(d.dim_value) for d in info.type.tensor_type.shape.dim]
        elem = onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type)
        return f"({', '.join(dims)}) {elem}"

    outs = ", ".join(describe(o) for o in proto.graph.output)
    return (f"wrote {os.fspath(path)}: opset {proto.opset_import[0].version}, input "
            f"{describe(proto.graph.input[0])}, output {outs}")


def _version() -> str:
    from chainrule import __version__

    return __version__

