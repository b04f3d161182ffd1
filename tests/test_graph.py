"""to_dot: the computational graph as valid Graphviz DOT with op names, shapes and names."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import GraphFreedError
from chainrule.diagnostics import save_dot, to_dot
from chainrule.losses import mse_loss

_NODE = re.compile(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"((?:, [a-z]+=(?:"[^"]*"|[\w.#]+))*)\];$')
_EDGE = re.compile(r"^  (n\d+) -> (n\d+);$")
_HEADER = ("digraph chainrule {", "  rankdir=BT;", '  node [fontname="Helvetica", fontsize=10];',
           "  edge [arrowsize=0.7];")


def parse(dot: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Check the DOT line by line (the grammar to_dot writes) and return nodes and edges.

    Node labels come back with op nodes prefixed ``op:`` (told apart by their fill)."""
    lines = dot.splitlines()
    assert tuple(lines[:4]) == _HEADER
    assert lines[-1] == "}"
    assert dot.count("{") == dot.count("}") == 1  # labels never contain braces here
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[4:-1]:
        node, edge = _NODE.match(line), _EDGE.match(line)
        assert node or edge, f"not a DOT statement: {line!r}"
        if node:
            assert node.group(1) not in nodes, "node declared twice"
            is_op = 'fillcolor="#fde9c9"' in node.group(3)
            nodes[node.group(1)] = ("op:" if is_op else "") + node.group(2)
        else:
            edges.append((edge.group(1), edge.group(2)))
    for a, b in edges:
        assert a in nodes and b in nodes, "edge to an undeclared node"
    return nodes, edges


def mlp_loss() -> tuple[nn.Module, cr.Tensor]:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 1))
    return model, mse_loss(model(cr.randn(5, 3)), cr.randn(5, 1))


def test_mlp_graph_has_ops_shapes_and_parameter_names() -> None:
    model, loss = mlp_loss()
    dot = to_dot(loss, params=dict(model.named_parameters()))
    nodes, edges = parse(dot)
    labels = list(nodes.values())
    assert sorted(label for label in labels if label.startswith("op:")) == [
        "op:Linear", "op:Linear", "op:MSE", "op:Sigmoid"]
    for expected in ("0.weight\\n(4, 3) float32", "0.bias\\n(4,) float32",
                     "2.weight\\n(1, 4) float32", "(5, 4) float32", "constant\\n(5, 3) float32"):
        assert any(label.startswith(expected) for label in labels), expected
    root = next(n for n, label in nodes.items() if label.startswith("() float32"))
    assert "peripheries=2" in next(line for line in dot.splitlines()
                                   if line.startswith(f"  {root} "))
    # 4 ops, 3 intermediate tensors + root, 4 parameters + x + y
    assert len(nodes) == 4 + 4 + 6
    # every op has exactly one outgoing edge (to its output tensor)
    ops = [n for n, label in nodes.items() if label.startswith("op:")]
    assert all(sum(a == op for a, _ in edges) == 1 for op in ops)
    assert len(edges) == 13


def test_module_as_params_and_tensor_names() -> None:
    model, loss = mlp_loss()
    assert to_dot(loss, params=model) == to_dot(loss, params=dict(model.named_parameters()))
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.name = "x"
    dot = to_dot((x * 3).sum())
    assert 'label="x\\n(2,) float32"' in dot
    assert sorted(v for v in parse(dot)[0].values() if v.startswith("op:")) == ["op:Mul",
                                                                               "op:Sum"]


def test_show_grad_after_backward_with_retain_graph() -> None:
    model, loss = mlp_loss()
    loss.backward(retain_graph=True)
    nodes, _ = parse(to_dot(loss, show_grad=True, params=model))
    weight = next(label for label in nodes.values() if label.startswith("0.weight"))
    norm = float(np.linalg.norm(model[0].weight.grad))
    assert f"‖grad‖ = {norm:.4g}" in weight
    bias = next(label for label in nodes.values() if label.startswith("2.bias"))
    assert f"grad: [{model[2].bias.grad[0]:.4g}]" in bias


def test_graph_freed_by_backward_gives_a_clear_error() -> None:
    _, loss = mlp_loss()
    loss.backward()
    with pytest.raises(GraphFreedError, match="retain_graph=True"):
        to_dot(loss)


def test_shared_subexpression_is_one_node_with_two_edges() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y + y
    nodes, edges = parse(to_dot(z, params={"x": x}))
    add_id = next(n for n, label in nodes.items() if label == "op:Add")
    mul_id = next(n for n, label in nodes.items() if label == "op:Mul")
    y_id = next(a for a, b in edges if b == add_id)
    x_id = next(n for n, label in nodes.items() if label.startswith("x\\n"))
    assert edges.count((y_id, add_id)) == 2
    assert edges.count((x_id, mul_id)) == 2
    assert len(nodes) == 5


def test_deep_graph_is_walked_without_recursion() -> None:
    x = cr.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    nodes, edges = parse(to_dot(y))
    assert sum(label == "op:Add" for label in nodes.values()) == 5000
    assert len(edges) == 2 * 5000 + 5000  # tensor->op, constant->op, op->tensor


def test_leaf_only_quotes_and_save(tmp_path) -> None:
    t = cr.tensor([[1.0]], requires_grad=True)
    t.name = 'say "hi"\\'
    dot = to_dot(t)
    nodes, edges = parse(dot)
    assert edges == [] and len(nodes) == 1
    assert 'say \\"hi\\"\\\\' in dot
    path = tmp_path / "g.dot"
    assert save_dot(t, str(path)) == path.read_text(encoding="utf-8") == dot
    with pytest.raises(TypeError, match="Tensor"):
        to_dot(np.ones(2))
