"""The reverse-mode engine: the ``Function`` base class and ``backward``.

A ``Function`` is one node of the graph. ``forward`` computes on raw arrays and keeps in
``self.saved`` only what ``backward`` needs; ``backward`` receives the gradient of the
node's single output and returns one gradient per input (``None`` where
``self.needs_input_grad`` says none is wanted).

``backward`` walks the graph iteratively in a deterministic order (depth-first post-order
over each node's inputs, in argument order), so graphs of any depth work and the same
program always accumulates in the same order. After a node's backward has run its saved
arrays are released unless ``retain_graph=True``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


class _State:
    """Process-wide switches, read on every op (class attributes are the cheapest lookup)."""

    grad_enabled: bool = True
    anomaly: bool = False
    # (qualified path, description) of the modules whose forward is running;
    # Module.__call__ maintains it only while anomaly detection is on, so the hot path
    # pays nothing for it.
    module_stack: list[tuple[str, str]] = []
    # the active ``diagnostics.profile`` (times every forward/backward), or None
    profiler: Any = None


class GraphFreedError(RuntimeError):
    """Raised on a second backward through a graph whose saved arrays were released."""


class AnomalyError(FloatingPointError):
    """Raised under ``detect_anomaly`` by the first op that produces a NaN or Inf."""


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(self, *arrays, **kwargs) -> array`` and
    ``backward(self, grad) -> array | tuple``; they store what backward needs in
    ``self.saved``. Call them through ``apply`` (or the op's lowercase wrapper).
    """

    __slots__ = ("inputs", "needs_input_grad", "saved", "hooks", "retained", "meta")

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays and, when a gradient is wanted, record
        the node so ``backward`` can reach the inputs."""
        fn = cls.__new__(cls)
        try:
            needs = tuple([t.requires_grad for t in inputs])
        except AttributeError:  # NumPy arrays or numbers among the inputs: constants
            inputs = _as_inputs(cls, inputs)
            needs = tuple([t.requires_grad for t in inputs])
        fn.needs_input_grad = needs
        fn.hooks = None
        fn.retained = None
        fn.meta = None
        if _State.profiler is None:
            out = fn.forward(*[t.data for t in inputs], **kwargs)
        else:
            out = _State.profiler.run_forward(fn, [t.data for t in inputs], kwargs)
        if _State.anomaly:
            fn.meta = _creation_meta()
            _check_finite_forward(fn, out, inputs)
        if _State.grad_enabled and True in needs:
            fn.inputs = inputs
            return Tensor._make(out, True, fn)
        fn.saved = None
        return Tensor._make(out, False, None)

    @property
    def name(self) -> str:
        return type(self).__name__

    def release(self) -> None:
        """Drop saved arrays and the references to the inputs (frees activations)."""
        self.saved = None
        self.inputs = None

    def __repr__(self) -> str:
        return f"<{self.name} node>"


def _as_inputs(cls: type, inputs: tuple) -> tuple:
    """Wrap NumPy arrays and numbers given to an op as constant tensors (no copy, dtype
    kept); anything else is a TypeError naming the op and the argument."""
    out = []
    for i, value in enumerate(inputs):
        if isinstance(value, Tensor):
            out.append(value)
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            out.append(Tensor._make(value, False, None))
        elif isinstance(value, (bool, int, float, np.number, np.bool_)):
            out.append(Tensor(value))
        else:
            raise TypeError(f"{cls.__name__}: input {i} must be a Tensor or a numeric NumPy "
                            f"array, got {type(value).__module__}.{type(value).__name__}"
                            f"{f' of dtype {value.dtype}' if hasattr(value, 'dtype') else ''}")
    return tuple(out)


def _creation_meta() -> dict:
    """Where an op was created: the innermost module and the user's source line."""
    frames = traceback.extract_stack()[:-3]
    user = [f for f in frames if "/chainrule/" not in f.filename.replace("\\", "/")]
    where = user[-1] if user else (frames[-1] if frames else None)
    location = f"{where.filename}:{where.lineno} in {where.name}" if where else "<unknown>"
    code = where.line if where else ""
    module = None
    if _State.module_stack:
        path, line = _State.module_stack[-1]
        module = f"'{path}' ({line})" if path else line
    return {"location": location, "code": code, "module": module}


def _describe(fn: Function, shapes: list[tuple]) -> str:
    meta = fn.meta or {}
    parts = [f"op {fn.name}"]
    if meta.get("module"):
        parts.append(f"in layer {meta['module']}")
    parts.append(f"input shapes {shapes}")
    text = ", ".join(parts)
    if meta.get("location"):
        text += f"; created at {meta['location']}"
        if meta.get("code"):
            text += f": {meta['code']}"
    return text


def _check_finite_forward(fn: Function, out: np.ndarray, inputs: tuple) -> None:
    if not np.all(np.isfinite(out)):
        shapes = [tuple(t.shape) for t in inputs]
        raise AnomalyError(
            f"detect_anomaly: the forward pass produced NaN/Inf in {_describe(fn, shapes)}"
        )


def _check_finite_backward(fn: Function, grads: tuple, shapes: list[tuple]) -> None:
    for i, g in enumerate(grads):
        if g is not None and not np.all(np.isfinite(g)):
            raise AnomalyError(
                f"detect_anomaly: the backward pass produced NaN/Inf in the gradient of "
                f"input {i} of {_describe(fn, shapes)}"
            )


def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each after all the nodes it feeds into reversed.

    Iterative depth-first post-order; inputs are visited in argument order so the
    result is deterministic.
    """
    order: list[Function] = []
    seen: set[int] = set()
    stack: list[tuple[Function, bool]] = [(root, False)]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        key = id(fn)
        if key in seen:
            continue
        seen.add(key)
        inputs = fn.inputs
        if inputs is None:
            raise GraphFreedError(
                f"Trying to backward through the graph a second time (op {fn.name}): its "
                "saved arrays were freed after the first backward. Pass "
                "retain_graph=True to the first backward() if you need to call it twice."
            )
        stack.append((fn, True))
        for t in reversed(inputs):
            ctx = t._ctx
            if ctx is not None and id(ctx) not in seen:
                stack.append((ctx, False))
    return order


def backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``.grad`` of every leaf that requires grad.

    Args:
        root: the tensor to differentiate (usually a scalar loss).
        grad: the seed gradient, same shape as ``root``; defaults to 1 for a scalar.
        retain_graph: keep saved arrays so that backward can run through the graph again.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: no input of the "
            "computation had requires_grad=True (or it ran under no_grad())"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, got shape "
                f"{root.shape}; pass grad= of that shape or reduce first (e.g. .sum())"
            )
        seed = np.ones(root.data.shape, root.data.dtype)
    else:
        seed = np.array(raw(grad), dtype=root.data.dtype, copy=True)
        if seed.shape != root.data.shape:
            raise ValueError(
                f"backward(): gradient shape {seed.shape} does not match output shape "
                f"{root.shape}"
            )
    if root._ctx is None:  # a leaf differentiated with respect to itself
        _accumulate_leaf(root, seed, set())
        return
    anomaly = _State.anomaly
    profiler = _State.profiler
    order = _topological_order(root._ctx)
    pending: dict[int, np.ndarray] = {id(root._ctx): seed}
    # Arrays already stored as some leaf's .grad in this pass: a second leaf receiving
    # the same memory gets a copy, so in-place updates of one .grad never leak into another.
    given: set[int] = set()
    # Each leaf's gradient summed over all its uses, so its hooks run once per backward with
    # the total (as in PyTorch), then accumulated into .grad in first-reached order.
    leaf_grads: dict[int, list] = {}
    previous = _State.grad_enabled
    _State.grad_enabled = False  # hooks and backward formulas must not record a graph
    try:
        for fn in reversed(order):
            g = pending.pop(id(fn), None)
            if g is None:
                continue
            if fn.hooks is not None:
                for hook in fn.hooks:
                    replaced = hook(g)
                    if replaced is not None:
                        g = np.asarray(raw(replaced))
            if fn.retained is not None:  # a copy: g may be read-only or become a leaf's .grad
                fn.retained.grad = g.copy() if fn.retained.grad is None else fn.retained.grad + g
            inputs = fn.inputs
            grads = fn.backward(g) if profiler is None else profiler.run_backward(fn, g)
            if len(inputs) == 1:
                grads = (grads,)
            if anomaly:
                _check_finite_backward(fn, grads, [tuple(t.shape) for t in inputs])
            if not retain_graph:
                fn.release()
            for t, ig in zip(inputs, grads):
                if ig is None or not t.requires_grad:
                    continue
                ctx = t._ctx
                if ctx is None:
                    entry = leaf_grads.get(id(t))
                    if entry is None:
                        leaf_grads[id(t)] = [t, ig]
                    else:
                        entry[1] = entry[1] + ig
                else:
                    key = id(ctx)
                    prev = pending.get(key)
                    pending[key] = ig if prev is None else prev + ig
        for t, g in leaf_grads.values():
            _accumulate_leaf(t, g, given)
    finally:
        _State.grad_enabled = previous


def _accumulate_leaf(leaf: Tensor, g: np.ndarray, given: set[int]) -> None:
    if leaf._hooks is not None:
        for hook in leaf._hooks:
            replaced = hook(g)
            if replaced is not None:
                g = np.asarray(raw(replaced))
    if g.shape != leaf.data.shape:  # a backward (or hook) that forgot to unbroadcast
        raise RuntimeError(
            f"backward produced a gradient of shape {g.shape} for a leaf of shape "
            f"{leaf.data.shape}{f' ({leaf.name})' if leaf.name else ''}; every op's "
            "backward must return gradients shaped like its inputs")
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    base = g if g.base is None else g.base
    if id(base) in given or not g.flags.writeable:
        g = g.copy()
        base = g
    if leaf.grad is None:
        given.add(id(base))
        leaf.grad = g
    else:
        leaf.grad = leaf.grad + g


@contextmanager
def no_grad() -> Iterator[None]:
    """Run ops without recording the graph (inference, weight updates).

    Example:
        >>> import chainrule as cr
        >>> with cr.no_grad():
        ...     y = cr.tensor([1.0], requires_grad=True) * 2
        >>> y.requires_grad
        False
    """
    previous = _State.grad_enabled
    _State.grad_enabled = False
    try:
        yield
    finally:
        _State.grad_enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record the graph again inside a ``no_grad`` block."""
    previous = _State.grad_enabled
    _State.grad_enabled = True
    try:
        yield
    finally:
        _State.grad_enabled = previous


def is_grad_enabled() -> bool:
    return _State.grad_enabled


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Make the first op that yields NaN/Inf (forward or backward) raise ``AnomalyError``.

    The error names the op, the layer it ran in, its input shapes and the line of user
    code that created it. Slower: every op checks its output and records a stack.

    Example:
        >>> import chainrule as cr
        >>> with cr.detect_anomaly():
        ...     x = cr.tensor([-1.0], requires_grad=True)
        ...     y = x.log()          # raises AnomalyError naming op Log
        Traceback (most recent call last):
        ...
        chainrule.autograd.AnomalyError: ...
    """
    previous = _State.anomaly
    _State.anomaly = True
    try:
        yield
    finally:
        _State.anomaly = previous


def add_node_hook(fn: Function, hook: Callable) -> None:
    if fn.hooks is None:
        fn.hooks = []
    fn.hooks.append(hook)


# Imported last: tensor.py pulls in the ops, which need Function from this module.
from chainrule.tensor import Tensor, raw  # noqa: E402
