"""The reverse-mode engine: the ``Function`` base class, ``backward`` and ``grad``.

A ``Function`` is one node of the graph. ``forward`` computes on raw arrays and keeps in
``self.saved`` only what ``backward`` needs; ``backward`` receives the gradient of the
node's single output and returns one gradient per input (``None`` where
``self.needs_input_grad`` says none is wanted).

``backward`` walks the graph iteratively in a deterministic order (depth-first post-order
over each node's inputs, in argument order), so graphs of any depth work and the same
program always accumulates in the same order. After a node's backward has run its saved
arrays are released unless ``retain_graph=True``.

The engine computes on arrays; it meets Tensors only at its edges: a leaf's ``.grad`` is a
Tensor wrapping the accumulated array (one wrapper per leaf, kept across passes), hooks
receive Tensors, and ``grad()`` returns Tensors.
"""

from __future__ import annotations

import functools
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np


class _State:
    """Process-wide switches, read on every op (class attributes are the cheapest lookup)."""

    grad_enabled: bool = True
    inference: bool = False  # inside inference_mode() (grad_enabled is then False too)
    anomaly: bool = False
    # (qualified path, description) of the modules whose forward is running;
    # Module.__call__ maintains it only while anomaly detection is on, so the hot path
    # pays nothing for it.
    module_stack: list[tuple[str, str]] = []
    # the active ``diagnostics.profile`` (times every forward/backward), or None
    profiler: Any = None
    # callbacks queued (``queue_callback``) to run when the current backward ends
    callbacks: list | None = None


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
            out = fn.forward(*[t._data for t in inputs], **kwargs)
        else:
            out = _State.profiler.run_forward(fn, [t._data for t in inputs], kwargs)
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


def _topological_order(roots: list[Function]) -> list[Function]:
    """Nodes reachable from ``roots``, each after all the nodes that feed it.

    Iterative depth-first post-order; roots and inputs are visited in order so the result
    is deterministic.
    """
    order: list[Function] = []
    seen: set[int] = set()
    stack: list[tuple[Function, bool]] = [(root, False) for root in reversed(roots)]
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


# ---- public entry points: backward and grad ----------------------------------------------

def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """Accumulate d(tensors)/d(leaf) into ``.grad`` of every leaf that requires grad.

    Args:
        tensors: the tensor(s) to differentiate (usually one scalar loss). With several,
            their gradients are summed, as if ``sum(t * g)`` were differentiated.
        grad_tensors: the seed gradient of each tensor, shaped like it (array or Tensor);
            None means 1 and needs a one-element tensor.
        retain_graph: keep saved arrays so that backward can run through the graph again
            (default False).
        create_graph: must be False: chainrule does not differentiate backward passes.
        inputs: only accumulate into these tensors' ``.grad`` (leaves, or non-leaves, which
            then get ``.grad`` as with ``retain_grad``); the rest of the graph is untouched.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> cr.autograd.backward((x * x).sum())
        >>> x.grad
        tensor([2., 4.])
    """
    _no_double_backward(create_graph, "backward")
    if (grad_tensors is None and inputs is None and type(tensors) is Tensor
            and tensors.requires_grad and tensors._data.size == 1):
        # loss.backward(), once per training step: skip the argument forms below
        data = tensors._data
        _run([(tensors, np.ones(data.shape, data.dtype))], bool(retain_graph), None)
        return
    seeds = _seeds(*_pair_gradients(tensors, grad_tensors))
    keep = bool(retain_graph)
    if inputs is None:
        _run(seeds, keep, None)
        return
    targets = _as_tensors(inputs, "inputs")
    if not targets:
        raise RuntimeError("backward(): inputs= must name at least one tensor")
    _check_differentiable(targets, "backward(inputs=...)")
    # Non-leaf inputs get .grad the way retain_grad() gives it, for this call only.
    added = []
    for t in targets:
        if t._ctx is not None and t._ctx.retained is None:
            t._ctx.retained = t
            added.append(t._ctx)
    try:
        captured = _run(seeds, keep, targets)
    finally:
        for ctx in added:
            ctx.retained = None
    given: set[int] = set()
    done: set[int] = set()
    for t, g in zip(targets, captured):
        if g is not None and t._ctx is None and id(t) not in done:
            done.add(id(t))
            _store_leaf_grad(t, g, given)
            if _POST_HOOKS:
                _run_post_hooks(t)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Args:
        outputs: tensor(s) to differentiate; several are summed (see ``backward``).
        inputs: tensor(s) that require grad, leaves or intermediate results.
        grad_outputs: seed gradient per output (None: 1, for one-element outputs).
        retain_graph: keep the graph for another backward (default False).
        create_graph: must be False: double backward is not supported.
        allow_unused: return None for an input the outputs do not depend on, instead of
            raising (default: the value of ``materialize_grads``).
        materialize_grads: return zeros instead of None for unused inputs.

    Returns:
        A tuple with one gradient Tensor (``requires_grad=False``, the input's shape and
        dtype) per input. Hooks registered on the tensors run as in ``backward``.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> cr.autograd.grad((x ** 3).sum(), x)
        (tensor([ 3., 12.]),)
        >>> x.grad is None
        True
    """
    _no_double_backward(create_graph, "grad")
    targets = _as_tensors(inputs, "inputs")
    if not targets:
        raise RuntimeError("grad(): inputs must name at least one tensor")
    _check_differentiable(targets, "grad()")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad(): materialize_grads=True needs allow_unused True or None")
    captured = _run(_seeds(*_pair_gradients(outputs, grad_outputs)), bool(retain_graph),
                    targets)
    given: set[int] = set()
    result: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(targets, captured)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad(): input {i} (shape {tuple(t.shape)}) was not used to compute "
                    "the outputs; pass allow_unused=True to get None for it (or "
                    "materialize_grads=True to get zeros)")
            result.append(Tensor._make(np.zeros_like(t._data), False, None)
                          if materialize_grads else None)
            continue
        result.append(Tensor._make(_owned(_checked(t, g), given), False, None))
    return tuple(result)


def _no_double_backward(create_graph: bool, who: str) -> None:
    if create_graph:
        raise NotImplementedError(
            f"{who}(create_graph=True): chainrule does not support double backward (its "
            "backward formulas compute on arrays, not on recorded tensors), so gradients of "
            "gradients are not available. Use create_graph=False.")


def _as_tensors(value: Any, what: str) -> list[Tensor]:
    items = [value] if isinstance(value, Tensor) else list(value)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def _check_differentiable(targets: list[Tensor], who: str) -> None:
    for i, t in enumerate(targets):
        if not t.requires_grad:
            raise RuntimeError(f"{who}: input {i} (shape {tuple(t.shape)}) does not "
                               "require grad, so it has no gradient")


def _pair_gradients(tensors: Any, grads: Any) -> tuple[list[Tensor], list[Any]]:
    """The roots and one seed gradient (or None) per root, from PyTorch's argument forms:
    a tensor and a gradient, or sequences of both."""
    if isinstance(tensors, Tensor):
        if (isinstance(grads, (list, tuple)) and len(grads) == 1
                and (grads[0] is None or isinstance(grads[0], (Tensor, np.ndarray)))):
            grads = grads[0]  # [g] for a single tensor
        return [tensors], [grads]
    roots = _as_tensors(tensors, "tensors")
    if grads is None:
        return roots, [None] * len(roots)
    if isinstance(grads, (Tensor, np.ndarray)):
        grads = [grads]
    grads = list(grads)
    if len(grads) != len(roots):
        raise ValueError(f"got {len(grads)} gradients for {len(roots)} tensors")
    return roots, grads


def _seeds(roots: list[Tensor], given: list[Any]) -> list[tuple[Tensor, np.ndarray]]:
    """Each root with its seed gradient: a fresh array of the root's dtype and shape."""
    seeds = []
    for i, (root, g) in enumerate(zip(roots, given)):
        which = "" if len(roots) == 1 else f" (tensor {i})"
        if not root.requires_grad:
            raise RuntimeError(
                f"backward() called on a tensor that does not require grad{which}: no "
                "input of the computation had requires_grad=True (or it ran under no_grad())"
            )
        if g is None:
            if root._data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, got shape "
                    f"{root.shape}{which}; pass a gradient of that shape or reduce first "
                    "(e.g. .sum())"
                )
            seed = np.ones(root._data.shape, root._data.dtype)
        else:
            # a copy: the seed may become a leaf's .grad, which the caller must not share
            seed = np.array(raw(g), dtype=root._data.dtype, copy=True)
            if seed.shape != root._data.shape:
                raise ValueError(
                    f"backward(): gradient shape {seed.shape} does not match output shape "
                    f"{root.shape}{which}"
                )
        seeds.append((root, seed))
    return seeds


# ---- the engine -------------------------------------------------------------------------

def _run(seeds: list[tuple[Tensor, np.ndarray]], retain_graph: bool,
         targets: list[Tensor] | None) -> list[np.ndarray | None] | None:
    """Propagate the seeds backward through the graph.

    With ``targets`` None every leaf that requires grad accumulates into ``.grad``.
    Otherwise only the nodes leading to a target run, no leaf ``.grad`` changes, and the
    gradient of each target is returned (None where the seeds do not reach it; arrays
    that may be shared or read-only: callers copy them before handing them out).
    """
    anomaly = _State.anomaly
    profiler = _State.profiler
    pending: dict[int, np.ndarray] = {}
    # Each leaf's gradient summed over all its uses, so its hooks run once per backward with
    # the total (as in PyTorch), then accumulated into .grad in first-reached order.
    leaf_grads: dict[int, list] = {}
    roots: list[Function] = []
    for root, seed in seeds:
        ctx = root._ctx
        if ctx is None:  # a leaf differentiated with respect to itself
            _add_leaf(leaf_grads, root, seed)
            continue
        prev = pending.get(id(ctx))
        if prev is None:
            roots.append(ctx)
        pending[id(ctx)] = seed if prev is None else prev + seed
    order = _topological_order(roots) if roots else []
    want_leaf: dict[int, int] = {}
    want_ctx: dict[int, int] = {}
    needed: set[int] = set()
    if targets is not None:
        for i, t in enumerate(targets):
            (want_leaf if t._ctx is None else want_ctx).setdefault(
                id(t) if t._ctx is None else id(t._ctx), i)
        needed = _nodes_leading_to(order, want_leaf, want_ctx)
    captured: list[np.ndarray | None] = [None] * (0 if targets is None else len(targets))
    # Arrays already stored as some leaf's .grad in this pass: a second leaf receiving the
    # same memory gets a copy, so in-place updates of one .grad never leak into another.
    given: set[int] = set()
    # Leaves with post-accumulate hooks are finished as soon as their last gradient
    # arrives (not after the whole graph), so their hooks (DistributedDataParallel's
    # allreduce of a full bucket) run while backward goes on for earlier layers.
    remaining = (_post_hook_edges(order) if targets is None and _POST_HOOKS else None)
    previous = _State.grad_enabled
    previous_callbacks = _State.callbacks
    _State.grad_enabled = False  # hooks and backward formulas must not record a graph
    _State.callbacks = [] if targets is None else None
    try:
        for fn in reversed(order):
            g = pending.pop(id(fn), None)
            if g is None:
                continue
            if targets is not None:
                slot = want_ctx.get(id(fn))
                if slot is not None:  # as PyTorch: the gradient before the tensor's hooks
                    captured[slot] = g
                elif id(fn) not in needed:
                    continue
            if fn.hooks is not None:
                g = _apply_hooks(fn.hooks, g, fn.name)
            if fn.retained is not None:
                _retain(fn.retained, g)
            if targets is not None and id(fn) not in needed:
                continue
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
                    if targets is None or id(t) in want_leaf:
                        entry = leaf_grads.get(id(t))  # inline _add_leaf: the hot path
                        if entry is None:
                            leaf_grads[id(t)] = [t, ig]
                        else:
                            entry[1] = entry[1] + ig
                else:
                    key = id(ctx)
                    prev = pending.get(key)
                    pending[key] = ig if prev is None else prev + ig
            if remaining is not None:
                _finish_ready_leaves(inputs, remaining, leaf_grads, given)
        if targets is None:
            if _POST_HOOKS:
                for t, g in leaf_grads.values():
                    _finish_leaf(t, g, given)
            else:  # the common case, once per parameter per step: no call layer to pass
                for t, g in leaf_grads.values():
                    if t._hooks is not None:
                        g = _apply_hooks(t._hooks, g, t.name or "leaf")
                    _store_leaf_grad(t, g, given)
            callbacks = _State.callbacks
            while callbacks:  # a callback may queue another
                callbacks.pop(0)()
            return None
        for t, g in leaf_grads.values():
            slot = want_leaf.get(id(t))
            if slot is not None:
                if t._hooks is not None:
                    g = _apply_hooks(t._hooks, g, t.name or "leaf")
                captured[slot] = g
        # the same tensor listed twice gets its gradient in every slot
        for i, t in enumerate(targets):
            first = (want_leaf if t._ctx is None else want_ctx)[
                id(t) if t._ctx is None else id(t._ctx)]
            if first != i:
                captured[i] = captured[first]
        return captured
    finally:
        _State.grad_enabled = previous
        _State.callbacks = previous_callbacks


def _post_hook_edges(order: list[Function]) -> dict[int, int]:
    """For each leaf with post-accumulate hooks, how many edges of the graph feed it: its
    gradient is complete once that many node backwards have passed it theirs."""
    counts: dict[int, int] = {}
    hooked = _POST_HOOKS
    for fn in order:
        for t in fn.inputs:
            key = id(t)
            if t._ctx is None and key in hooked and t.requires_grad:
                counts[key] = counts.get(key, 0) + 1
    return counts


def _finish_ready_leaves(inputs: tuple, remaining: dict[int, int],
                         leaf_grads: dict[int, list], given: set[int]) -> None:
    """Count one arrived edge for each hooked leaf among ``inputs``; finish (hooks, store,
    post-accumulate hooks) those whose last edge this was."""
    for t in inputs:
        key = id(t)
        left = remaining.get(key)
        if left is None:
            continue
        remaining[key] = left - 1
        if left == 1:
            entry = leaf_grads.pop(key, None)
            if entry is not None:
                _finish_leaf(t, entry[1], given)


def _finish_leaf(t: Tensor, g: np.ndarray, given: set[int]) -> None:
    """The leaf's tensor hooks, the accumulation into ``.grad``, its post-accumulate hooks."""
    if t._hooks is not None:
        g = _apply_hooks(t._hooks, g, t.name or "leaf")
    _store_leaf_grad(t, g, given)
    if _POST_HOOKS:
        _run_post_hooks(t)


def _run_post_hooks(t: Tensor) -> None:
    entry = _POST_HOOKS.get(id(t))
    if entry is not None:
        for hook in list(entry[1]):
            hook(t)


# leaf id -> (weak reference that removes the entry when the leaf dies, hooks)
_POST_HOOKS: dict[int, tuple[Any, list[Callable]]] = {}


class RemovableHandle:
    """What hook registrations return: ``handle.remove()`` (or ``handle()``) removes it."""

    __slots__ = ("_remove",)

    def __init__(self, remove: Callable[[], None]) -> None:
        self._remove = remove

    def remove(self) -> None:
        self._remove()

    def __call__(self) -> None:
        self._remove()


def register_post_accumulate_grad_hook(leaf: Tensor, hook: Callable[[Tensor], None]
                                       ) -> RemovableHandle:
    """Call ``hook(leaf)`` after each backward pass has accumulated into ``leaf.grad``
    (``Tensor.register_post_accumulate_grad_hook``; see there)."""
    if leaf._ctx is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                           "tensors")
    if not leaf.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require grad")
    key = id(leaf)
    entry = _POST_HOOKS.get(key)
    if entry is None:
        ref = weakref.ref(leaf, lambda _, key=key: _POST_HOOKS.pop(key, None))
        entry = _POST_HOOKS[key] = (ref, [])
    hooks = entry[1]
    hooks.append(hook)

    def remove() -> None:
        if hook in hooks:
            hooks.remove(hook)
        if not hooks and _POST_HOOKS.get(key) is entry:
            del _POST_HOOKS[key]

    return RemovableHandle(remove)


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the backward pass now running has finished (every leaf's
    ``.grad`` stored), like PyTorch's ``Variable._execution_engine.queue_callback``.
    Only callable from a hook during ``backward``; DistributedDataParallel uses it to
    wait for its last allreduce before ``backward()`` returns."""
    if _State.callbacks is None:
        raise RuntimeError("queue_callback() must be called from a hook during backward()")
    _State.callbacks.append(callback)


def _nodes_leading_to(order: list[Function], want_leaf: dict[int, int],
                      want_ctx: dict[int, int]) -> set[int]:
    """ids of the nodes whose backward feeds a wanted tensor (``order``: inputs first)."""
    needed: set[int] = set()
    for fn in order:
        for t in fn.inputs:
            if not t.requires_grad:
                continue
            ctx = t._ctx
            if (id(t) in want_leaf if ctx is None
                    else id(ctx) in want_ctx or id(ctx) in needed):
                needed.add(id(fn))
                break
    return needed


def _add_leaf(leaf_grads: dict[int, list], t: Tensor, g: np.ndarray) -> None:
    entry = leaf_grads.get(id(t))
    if entry is None:
        leaf_grads[id(t)] = [t, g]
    else:
        entry[1] = entry[1] + g


def _apply_hooks(hooks: list[Callable], g: np.ndarray, where: str) -> np.ndarray:
    """Run tensor hooks on ``g``: each sees a Tensor and may return a replacement (a Tensor
    or an array of the same shape)."""
    for hook in list(hooks):
        replaced = hook(Tensor._make(g, False, None))
        if replaced is None:
            continue
        new = np.asarray(raw(replaced))
        if new.shape != g.shape:
            raise RuntimeError(
                f"a hook on {where} returned a gradient of shape {new.shape}; it must "
                f"keep the gradient's shape {g.shape}")
        g = new if new.dtype == g.dtype else new.astype(g.dtype)
    return g


def _retain(t: Tensor, g: np.ndarray) -> None:
    """``.grad`` of a non-leaf that called ``retain_grad()``: a copy, since ``g`` may be
    read-only or become a leaf's ``.grad``."""
    holder = t._grad
    if holder is None:
        t._grad = Tensor._make(np.array(g), False, None)
    else:
        holder._data = holder._data + g


def _checked(leaf: Tensor, g: np.ndarray) -> np.ndarray:
    """``g`` as an array of the leaf's dtype, after checking it has the leaf's shape."""
    if not isinstance(g, np.ndarray):  # a NumPy scalar from a reduction over a 0-d input
        g = np.asarray(g)
    if g.shape != leaf._data.shape:  # a backward (or hook) that forgot to unbroadcast
        raise RuntimeError(
            f"backward produced a gradient of shape {g.shape} for a leaf of shape "
            f"{leaf._data.shape}{f' ({leaf.name})' if leaf.name else ''}; every op's "
            "backward must return gradients shaped like its inputs")
    return g if g.dtype == leaf._data.dtype else g.astype(leaf._data.dtype)


def _owned(g: np.ndarray, given: set[int]) -> np.ndarray:
    """``g``, or a copy of it when it is read-only or its memory was already handed out
    in this pass (recorded in ``given``)."""
    base = g if g.base is None else g.base
    if id(base) in given or not g.flags.writeable:
        g = g.copy()
        base = g
    given.add(id(base))
    return g


def _store_leaf_grad(leaf: Tensor, g: np.ndarray, given: set[int]) -> None:
    """Accumulate ``g`` into ``leaf.grad``. The first gradient is wrapped in a Tensor that
    later passes keep (``p.grad`` stays the same object); they replace its array with the
    sum rather than adding in place, because the old array may be shared with the caller."""
    data = leaf._data
    if type(g) is not np.ndarray or g.shape != data.shape or g.dtype != data.dtype:
        g = _checked(leaf, g)
    holder = leaf._grad
    if holder is None:
        # _owned, inlined: once per parameter per step
        base = g if g.base is None else g.base
        if id(base) in given or not g.flags.writeable:
            g = g.copy()
            base = g
        given.add(id(base))
        leaf._grad = Tensor._make(g, False, None)
    else:
        holder._data = holder._data + g


# ---- grad modes ---------------------------------------------------------------------------

class _GradMode:
    """A switch of the grad mode usable as a context manager or a decorator.

    ``@no_grad`` and ``@no_grad()`` both decorate; each call of the decorated function
    enters a fresh switch, so recursion and threads do not share saved state.
    """

    _bare_decorator = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if (cls._bare_decorator and len(args) == 1 and not kwargs and callable(args[0])
                and not isinstance(args[0], bool)):
            return cls()(args[0])  # used as @no_grad, without parentheses
        return super().__new__(cls)

    def _clone(self) -> _GradMode:
        return type(self)()

    def __call__(self, fn: Callable) -> Callable:
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}() decorates functions, got "
                            f"{type(fn).__name__}")
        clone = self._clone

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with clone():
                return fn(*args, **kwargs)

        return wrapper

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(self, *exc: Any) -> None:
        raise NotImplementedError


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Run ops without recording the graph (inference, weight updates).

    A context manager, or a decorator (``@cr.no_grad`` or ``@cr.no_grad()``).

    Example:
        >>> import chainrule as cr
        >>> with cr.no_grad():
        ...     y = cr.tensor([1.0], requires_grad=True) * 2
        >>> y.requires_grad
        False
    """

    def __enter__(self) -> None:
        self._previous = _State.grad_enabled
        _State.grad_enabled = False

    def __exit__(self, *exc: Any) -> None:
        _State.grad_enabled = self._previous


class enable_grad(_GradMode):  # noqa: N801
    """Record the graph again inside a ``no_grad`` block (context manager or decorator)."""

    def __enter__(self) -> None:
        self._previous = _State.grad_enabled
        _State.grad_enabled = True

    def __exit__(self, *exc: Any) -> None:
        _State.grad_enabled = self._previous


class set_grad_enabled(_GradMode):  # noqa: N801
    """Switch graph recording on or off: at once when called, until the end of the block
    when used in ``with``, or around each call when used as a decorator.

    Example:
        >>> import chainrule as cr
        >>> with cr.set_grad_enabled(False):
        ...     cr.is_grad_enabled()
        False
        >>> cr.is_grad_enabled()
        True
    """

    _bare_decorator = False

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._previous = _State.grad_enabled
        _State.grad_enabled = self._mode

    def _clone(self) -> _GradMode:
        return set_grad_enabled(self._mode)

    def __call__(self, fn: Callable) -> Callable:
        _State.grad_enabled = self._previous  # as a decorator it applies per call only
        return super().__call__(fn)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _State.grad_enabled = self._previous


class inference_mode(_GradMode):  # noqa: N801
    """``no_grad`` for inference (context manager or decorator); ``inference_mode(False)``
    leaves the grad mode alone.

    Unlike PyTorch, tensors made inside are ordinary tensors (there are no "inference
    tensors" to guard against later autograd use): it is ``no_grad`` with PyTorch's name.

    Example:
        >>> import chainrule as cr
        >>> @cr.inference_mode()
        ... def predict(x):
        ...     return x * 2
        >>> predict(cr.tensor([1.0], requires_grad=True)).requires_grad
        False
    """

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)

    def _clone(self) -> _GradMode:
        return inference_mode(self._mode)

    def __enter__(self) -> None:
        self._previous = (_State.grad_enabled, _State.inference)
        if self._mode:
            _State.grad_enabled = False
        _State.inference = self._mode

    def __exit__(self, *exc: Any) -> None:
        _State.grad_enabled, _State.inference = self._previous


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside ``no_grad``/``inference_mode``)."""
    return _State.grad_enabled


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is active."""
    return _State.inference


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


class set_detect_anomaly(_GradMode):  # noqa: N801 (PyTorch's name)
    """Switch anomaly detection (see ``detect_anomaly``) on or off: at once when called,
    until the end of the block when used in ``with``, like
    ``torch.autograd.set_detect_anomaly``. ``check_nan`` is accepted; NaN and Inf are
    always checked when on.

    Example:
        >>> import chainrule as cr
        >>> with cr.autograd.set_detect_anomaly(True):
        ...     cr.autograd.is_anomaly_enabled()
        True
        >>> cr.autograd.is_anomaly_enabled()
        False
    """

    _bare_decorator = False

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._mode = bool(mode)
        self._previous = _State.anomaly
        _State.anomaly = self._mode

    def _clone(self) -> _GradMode:
        return set_detect_anomaly(self._mode)

    def __call__(self, fn: Callable) -> Callable:
        _State.anomaly = self._previous  # as a decorator it applies per call only
        return super().__call__(fn)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _State.anomaly = self._previous


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``detect_anomaly`` / ``set_detect_anomaly``)."""
    return _State.anomaly


def add_node_hook(fn: Function, hook: Callable) -> None:
    if fn.hooks is None:
        fn.hooks = []
    fn.hooks.append(hook)


# Imported last: tensor.py pulls in the ops, which need Function from this module.
from chainrule.tensor import Tensor, raw  # noqa: E402

# ---- gapstensor: torch.autograd's gradcheck, gradgradcheck and Variable ------------------

def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_batched_forward_grad: bool = False, check_forward_ad: bool = False,
              check_backward_ad: bool = True, fast_mode: bool = False,
              masked: bool | None = None) -> bool:
    """Check ``func``'s gradients against central finite differences, with
    ``torch.autograd.gradcheck``'s signature; True, or raises ``GradcheckError``.

    The check is ``chainrule.diagnostics.gradcheck``: every floating input that requires
    grad is copied to float64 (the caller's tensors are untouched), the outputs are
    weighted by a fixed random tensor and summed, and the gradient of that sum is
    compared element by element with central differences: ``|analytic − numeric| <=
    atol + rtol·|numeric|``. (PyTorch compares every Jacobian entry, in the inputs'
    dtype; a random weighting catches the same errors.)

    Args:
        func: maps the inputs to a Tensor or a tuple of Tensors.
        inputs: a Tensor or a sequence of arguments; those with ``requires_grad`` are
            checked.
        eps, atol, rtol: the finite-difference step and the tolerances.
        raise_exception: raise on failure (else return False).
        check_forward_ad, check_batched_grad, check_batched_forward_grad: must be False
            (chainrule has no forward mode nor vmap). The other options are accepted
            and have no effect.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randn(3, dtype=cr.float64, requires_grad=True)
        >>> cr.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
        True
    """
    from chainrule.diagnostics.gradcheck import gradcheck as check

    for name, flag in (("check_forward_ad", check_forward_ad),
                       ("check_batched_grad", check_batched_grad),
                       ("check_batched_forward_grad", check_batched_forward_grad)):
        if flag:
            raise NotImplementedError(f"gradcheck: {name}=True needs forward-mode AD or "
                                      "vmap, which chainrule does not have")
    args = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True")
    if not check_backward_ad:
        return True

    def flat(*xs: Any) -> Tensor:
        out = func(*xs)
        if isinstance(out, Tensor):
            return out
        from chainrule.ops.shape import concatenate, reshape

        parts = [reshape(o, (-1,)) for o in out
                 if isinstance(o, Tensor) and o._data.dtype.kind == "f"]
        if not parts:
            raise TypeError("gradcheck: func must return a Tensor or a tuple of Tensors")
        return concatenate(parts, 0) if len(parts) > 1 else parts[0]

    result = check(flat, args, eps=eps, atol=atol, rtol=rtol, raise_exception=False)
    if not result.passed and raise_exception:
        raise __getattr__("GradcheckError")(result.report(), result)
    return bool(result.passed)


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None,
                  **kwargs: Any) -> bool:
    """Always raises ``NotImplementedError``: second derivatives need double backward
    (``create_graph=True``), which chainrule does not have."""
    raise NotImplementedError("gradgradcheck: chainrule has no double backward "
                              "(create_graph=True), so second derivatives cannot be "
                              "checked; gradcheck checks first derivatives")


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's deprecated ``Variable``: ``Variable(t)`` returns the Tensor ``t`` itself
    (with ``requires_grad=True`` set when asked), and every Tensor is an instance.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0])
        >>> cr.autograd.Variable(x) is x, isinstance(x, cr.autograd.Variable)
        (True, True)
    """

    def __new__(cls, data: Any = None, requires_grad: bool = False,  # type: ignore[misc]
                volatile: bool = False) -> Tensor:
        t = data if isinstance(data, Tensor) else Tensor([] if data is None else data)
        if requires_grad:
            t.requires_grad_(True)
        return t


def _gradcheck_error() -> type:
    from chainrule.diagnostics.gradcheck import GradcheckError as Base

    class GradcheckError(Base, RuntimeError):  # type: ignore[misc]
        """A gradient disagrees with finite differences (``autograd.gradcheck``); both
        chainrule's ``diagnostics.GradcheckError`` (an AssertionError) and a
        RuntimeError, as PyTorch's is."""

    GradcheckError.__qualname__ = "GradcheckError"
    GradcheckError.__module__ = __name__
    return GradcheckError


def __getattr__(name: str) -> Any:
    # GradcheckError builds on diagnostics, which imports nn: created on first use.
    if name == "GradcheckError":
        cls = globals().get("_GradcheckError") or _gradcheck_error()
        globals()["_GradcheckError"] = globals()[name] = cls
        return cls
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
