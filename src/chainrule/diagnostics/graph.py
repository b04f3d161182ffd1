"""Export the computational graph behind a tensor to Graphviz DOT.

Each op is a node named by its ``Function`` class (``Linear``, ``Sigmoid``, ``MSE``); each
tensor is a node with its shape and dtype. Leaves are boxes (parameters named when a
``params`` mapping or a module is given), the output is drawn double. Render with
``dot -Tpng graph.dot -o graph.png`` or any Graphviz viewer.

Call ``to_dot`` *before* ``backward()`` (or after ``backward(retain_graph=True)``):
backward releases every node's references to its inputs to free memory, so afterwards
the graph cannot be walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from chainrule.autograd import Function, GraphFreedError
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _param_names(params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | Module | None
                 ) -> dict[int, str]:
    if params is None:
        return {}
    if isinstance(params, Module):
        items: Iterable[tuple[str, Tensor]] = params.named_parameters()
    elif isinstance(params, Mapping):
        items = params.items()
    else:
        items = params
    return {id(t): name for name, t in items}


def _grad_text(t: Tensor) -> str:
    if t.grad is None:
        return "grad: None"
    g = t.grad._data
    if g.size <= 4:
        values = ", ".join(f"{v:.4g}" for v in np.asarray(g, dtype=np.float64).ravel())
        return f"grad: [{values}]"
    norm = float(np.linalg.norm(np.asarray(g, dtype=np.float64).ravel()))
    return f"‖grad‖ = {norm:.4g}"


def to_dot(tensor: Tensor, show_grad: bool = False,
           params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | Module | None = None,
           rankdir: str = "BT") -> str:
    """The graph that produced ``tensor``, as a Graphviz DOT string.

    Args:
        tensor: the output (usually the loss); must still have its graph (see below).
        show_grad: label leaves with their ``.grad`` (values when ≤ 4 entries, else the norm).
        params: names for leaf tensors: a ``{name: tensor}`` mapping, ``(name, tensor)``
            pairs, or a ``Module`` (its ``named_parameters()``). Tensors with ``.name`` set
            use that name otherwise.
        rankdir: Graphviz layout direction; ``'BT'`` puts the inputs at the bottom and the
            loss on top, ``'LR'`` left to right.

    Returns:
        the DOT source (``digraph chainrule { ... }``).

    Raises:
        GraphFreedError: the graph was released by a ``backward()`` without
            ``retain_graph=True``.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.diagnostics import to_dot
        >>> w = cr.tensor([[1.0, 2.0]], requires_grad=True)
        >>> loss = (w * w).sum()
        >>> print(to_dot(loss, params={"w": w}).splitlines()[0])
        digraph chainrule {
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot() takes a Tensor, got {type(tensor).__name__}")
    names = _param_names(params)
    ids: dict[int, str] = {}
    lines = ["digraph chainrule {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];', "  edge [arrowsize=0.7];"]

    def node_id(obj: Any) -> str:
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    def tensor_node(t: Tensor, is_root: bool = False) -> str:
        nid = node_id(t)
        facts = f"{tuple(t.shape)} {t.dtype}"
        name = names.get(id(t)) or t.name
        if t._ctx is None:
            kind = "parameter" if isinstance(t, Parameter) else (
                "leaf" if t.requires_grad else "constant")
            label = f"{name}\n{facts}" if name else f"{kind}\n{facts}"
            if show_grad and t.requires_grad:
                label += f"\n{_grad_text(t)}"
            fill = "#cfe2f3" if t.requires_grad else "#eeeeee"
            style = f'shape=box, style="rounded,filled", fillcolor="{fill}"'
        else:
            label = f"{name}\n{facts}" if name else facts
            style = 'shape=ellipse, style=filled, fillcolor="#ffffff", fontsize=9'
        if is_root:
            style += ", peripheries=2"
            if t._data.size == 1 and t._data.dtype.kind == "f":
                label += f"\nvalue {float(t._data.reshape(-1)[0]):.6g}"
        lines.append(f'  {nid} [label="{_escape(label)}", {style}];')
        return nid

    def op_node(fn: Function) -> str:
        nid = node_id(fn)
        lines.append(f'  {nid} [label="{_escape(fn.name)}", shape=box, style=filled, '
                     'fillcolor="#fde9c9"];')
        return nid

    root_id = tensor_node(tensor, is_root=True)
    if tensor._ctx is None:
        lines.append("}")
        return "\n".join(lines) + "\n"
    drawn: set[int] = {id(tensor)}
    stack: list[tuple[Function, str]] = [(tensor._ctx, root_id)]
    visited: set[int] = set()
    while stack:  # iterative: graphs of any depth, deterministic order
        fn, out_id = stack.pop()
        if id(fn) in visited:
            lines.append(f"  {node_id(fn)} -> {out_id};")
            continue
        visited.add(id(fn))
        if fn.inputs is None:
            raise GraphFreedError(
                f"to_dot(): the graph was freed by backward() (op {fn.name} no longer "
                "references its inputs); call to_dot() before backward(), or pass "
                "retain_graph=True to backward()")
        fid = op_node(fn)
        lines.append(f"  {fid} -> {out_id};")
        for t in fn.inputs:
            if id(t) not in drawn:
                drawn.add(id(t))
                tid = tensor_node(t)
                if t._ctx is not None:
                    stack.append((t._ctx, tid))
            lines.append(f"  {node_id(t)} -> {fid};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_dot(tensor: Tensor, path: str, **kwargs: Any) -> str:
    """Write ``to_dot(tensor, **kwargs)`` to ``path`` and return the DOT source."""
    source = to_dot(tensor, **kwargs)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return source
