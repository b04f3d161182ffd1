"""The model graph for TensorBoard's Graphs tab, traced from one real forward pass.

``GraphRecorder`` hooks every module of a model for a single forward (the first training
step: no extra forward, no random numbers drawn), then walks the autograd graph behind the
output and names each op after the innermost module whose forward created it. The result
is a list of ``GraphNode`` (plain data, testable without TensorBoard); ``to_graph_def``
turns it into the ``GraphDef`` protocol buffer TensorBoard reads, with one name scope per
layer (``body/0/Linear``), so the Graphs tab shows the layers as boxes that open onto
their ops and parameters.

Only ops that record a gradient node appear (those on the path from a parameter to the
output); a layer whose output needs no gradient (the input ``Standardize``) is one node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


@dataclass
class GraphNode:
    """One node of the traced graph.

    Attributes:
        name: unique, with ``/`` between name scopes (``body/0/Linear``).
        op: what it is: an op's ``Function`` name, ``Parameter``, ``Input``, ``Constant``,
            or a layer's class name for a layer that recorded no op.
        inputs: names of the nodes it reads, in argument order.
        shape: the shape of its output (for a parameter: the parameter's).
        dtype: the dtype of its output.
    """

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()
    dtype: str = ""


def _tensors(value: Any) -> list[Tensor]:
    """The Tensors in a forward's arguments or output (nested tuples and lists)."""
    out: list[Tensor] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            stack.extend(reversed(v))
    return out


def _scope(module_name: str) -> str:
    return module_name.replace(".", "/")


class GraphRecorder:
    """Record the graph of the next forward of ``model`` and hand it to ``on_graph``.

    Args:
        model: the model to trace.
        on_graph: called once with the list of ``GraphNode`` after the next forward.
        on_error: called with the exception if tracing fails (training goes on).

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
        >>> found = []
        >>> rec = GraphRecorder(net, found.extend)
        >>> _ = net(cr.randn(5, 3))
        >>> [n.name for n in found if n.op != "Parameter"][:3]
        ['batch', '0/Linear', '1/ReLU']
    """

    def __init__(self, model: Module, on_graph: Callable[[list[GraphNode]], Any],
                 on_error: Callable[[BaseException], Any] | None = None) -> None:
        self.model = model
        self.on_graph = on_graph
        self.on_error = on_error
        # (module name, class name, input tensors, output tensors), innermost first
        self._calls: list[tuple[str, str, list[Tensor], list[Tensor]]] = []
        self._removers: list[Callable[[], None]] = []
        for name, module in model.named_modules():
            self._removers.append(module.register_forward_hook(self._hook(name, module)))

    def _hook(self, name: str, module: Module) -> Callable[..., None]:
        def hook(mod: Module, inputs: tuple, output: Any) -> None:
            self._calls.append((name, type(mod).__name__, _tensors(inputs), _tensors(output)))
            if mod is self.model:  # the root's forward is over: the graph is complete
                self.remove()
                calls, self._calls = self._calls, []
                try:
                    nodes = trace(self.model, calls)
                except Exception as err:  # noqa: BLE001 - a diagnostic never stops training
                    if self.on_error is not None:
                        self.on_error(err)
                    return None
                self.on_graph(nodes)
            return None

        return hook

    def remove(self) -> None:
        """Take the hooks off the model (idempotent)."""
        for remove in self._removers:
            remove()
        self._removers = []


def trace(model: Module, calls: list[tuple[str, str, list[Tensor], list[Tensor]]]
          ) -> list[GraphNode]:
    """The graph behind the root call's output, each op named after its innermost layer.

    Args:
        model: the model (its parameters get their qualified names).
        calls: ``(module name, class name, inputs, outputs)`` per forward, innermost first
            (the order forward hooks fire); the last one is the root's.
    """
    root_name, _, root_inputs, root_outputs = calls[-1]
    params = {id(p): n for n, p in model.named_parameters()}
    # each op belongs to the innermost call whose forward ran between its inputs and output
    owner: dict[int, str] = {}
    produced_by: dict[int, tuple[str, str, list[Tensor]]] = {}
    for name, kind, inputs, outputs in calls:
        stop = {id(t) for t in inputs}
        for t in outputs:
            if t._ctx is None:
                produced_by.setdefault(id(t), (name, kind, inputs))
        stack = [t for t in outputs if id(t) not in stop]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            fn = t._ctx
            if fn is None or id(fn) in seen or fn.inputs is None:
                continue
            seen.add(id(fn))
            owner.setdefault(id(fn), name)
            stack.extend(x for x in fn.inputs if id(x) not in stop)

    top_scopes = {n.split(".")[0] for n, _ in model.named_modules() if n}
    top_scopes |= {n.split(".")[0] for n in params.values()}
    batch = "batch" if "batch" not in top_scopes else "batch_input"
    root_input_ids = {id(t): i for i, t in enumerate(root_inputs)}
    nodes: list[GraphNode] = []
    names: dict[int, str] = {}  # id of a Function or leaf Tensor -> node name
    used: set[str] = set()

    def unique(base: str) -> str:
        name, k = base, 1
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        return name

    def scoped(module_name: str, label: str) -> str:
        scope = _scope(module_name)
        return unique(f"{scope}/{label}" if scope else label)

    def add(obj_id: int, node: GraphNode) -> str:
        names[obj_id] = node.name
        nodes.append(node)
        return node.name

    # resolve leaves and ops iteratively (deep models have deep graphs): a node is added
    # once all of its inputs have names, so every node follows the nodes it reads
    pending: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(root_outputs)]
    while pending:
        t, expanded = pending.pop()
        fn = t._ctx
        key = id(fn) if fn is not None and fn.inputs is not None else id(t)
        if key in names:
            continue
        if fn is not None and fn.inputs is not None:
            parents = list(fn.inputs)
        elif id(t) in root_input_ids or id(t) in params or id(t) not in produced_by:
            parents = []
        else:
            parents = [x for x in produced_by[id(t)][2] if x is not t]
        if not expanded:
            pending.append((t, True))
            pending.extend((p, False) for p in reversed(parents))
            continue
        inputs = [names[id(p._ctx) if p._ctx is not None and p._ctx.inputs is not None
                        else id(p)] for p in parents]
        shape, dtype = tuple(int(d) for d in t._data.shape), str(t._data.dtype)
        if fn is not None and fn.inputs is not None:
            add(key, GraphNode(scoped(owner.get(key, root_name), fn.name), fn.name, inputs,
                               shape, dtype))
        elif id(t) in root_input_ids:
            label = batch if len(root_inputs) == 1 else f"{batch}_{root_input_ids[id(t)]}"
            add(key, GraphNode(unique(label), "Input", [], shape, dtype))
        elif id(t) in params:
            add(key, GraphNode(unique(_scope(params[id(t)])), "Parameter", [], shape,
                               dtype))
        elif id(t) in produced_by:
            mname, kind, _ = produced_by[id(t)]
            add(key, GraphNode(scoped(mname, kind), kind, inputs, shape, dtype))
        else:
            kind = "Parameter" if isinstance(t, Parameter) else "Constant"
            add(key, GraphNode(unique(t.name or "constant"), kind, [], shape, dtype))
    return nodes


_DTYPES = {"float16": 19, "float32": 1, "float64": 2, "int32": 3, "int64": 9, "bool": 10,
           "uint8": 4, "int8": 6, "int16": 5}  # TensorFlow's DataType enum


def to_graph_def(nodes: list[GraphNode]) -> Any:
    """A TensorBoard ``GraphDef`` (tensorboardX's protocol buffers) from traced nodes.

    Each node carries ``_output_shapes`` (shown on the edges) and its dtype.
    """
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.versions_pb2 import VersionDef

    defs = []
    for n in nodes:
        shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in n.shape])
        attr = {"_output_shapes": AttrValue(list=AttrValue.ListValue(shape=[shape]))}
        if n.dtype in _DTYPES:
            attr["dtype"] = AttrValue(type=_DTYPES[n.dtype])
        defs.append(NodeDef(name=n.name, op=n.op, input=n.inputs, attr=attr))
    return GraphDef(node=defs, versions=VersionDef(producer=22))


__all__ = ["GraphNode", "GraphRecorder", "to_graph_def", "trace"]
