"""``Optimizer``: parameter groups, per-parameter state, ``step`` and ``state_dict``.

Subclasses describe one parameter's update, MLX-style:

- ``init_single(param, state, group)`` fills a fresh ``state`` dict (moment buffers, step
  counter) the first time a parameter has a gradient;
- ``apply_single(grad, param, state, group)`` updates ``param`` (the parameter's ndarray)
  **in place**, with the group's hyperparameters.

The base class owns everything else, with PyTorch's names and layout: construction from
parameters or param-group dicts, ``zero_grad``, ``step``, ``add_param_group``,
``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from numbers import Real
from typing import Any

import numpy as np

from chainrule.autograd import _State, enable_grad
from chainrule.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class of every optimizer.

    Args:
        params: an iterable of Parameters (one group), or of dicts
            ``{"params": [...], "lr": ...}`` (one group each; keys missing from a dict take
            the optimizer's defaults).
        defaults: the hyperparameters every group starts from.

    Attributes:
        defaults: dict of default hyperparameters.
        param_groups: list of dicts; ``group["params"]`` is the list of Parameters, the
            other keys are hyperparameters (change ``group["lr"]`` to change the rate).
        state: dict keyed by Parameter → dict of that parameter's arrays and counters
            (a ``defaultdict``: ``{}`` for a parameter not stepped yet).

    Example:
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter([1.0, 2.0])
        >>> opt = cr.optim.SGD([w], lr=0.5)
        >>> w.grad = w.data.clone()
        >>> opt.step()
        >>> w.data
        tensor([0.5, 1. ])
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults: dict[str, Any] = _normalise(dict(defaults), defaults)
        self._check_group(self.defaults, name)
        self.param_groups: list[dict[str, Any]] = []
        # A defaultdict as in PyTorch: ``opt.state[p]`` is {} for a parameter never stepped.
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for group in _as_groups(params, name):
            self.add_param_group(group)

    # ---- the per-parameter update (subclasses) ---------------------------------------
    @staticmethod
    def descent_grad(grad: np.ndarray, param: np.ndarray, group: dict[str, Any],
                     l2: bool = True) -> np.ndarray:
        """The gradient every update starts from: ``−g`` if ``maximize``, plus the L2 term
        ``λ·w`` of ``weight_decay`` when ``l2``. A new array whenever it differs from
        ``grad``, which is never written to (it may be shared or read-only)."""
        if group["maximize"]:
            grad = np.negative(grad)
        weight_decay = group["weight_decay"]
        if l2 and weight_decay != 0:
            decayed = np.multiply(param, weight_decay)
            decayed += grad
            grad = decayed
        return grad

    def init_single(self, param: np.ndarray, state: dict[str, Any],
                    group: dict[str, Any]) -> None:
        """Fill ``state`` for a parameter seen for the first time (default: nothing)."""

    def apply_single(self, grad: np.ndarray, param: np.ndarray, state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        """Update ``param`` in place from ``grad``. Never writes into ``grad``."""
        raise NotImplementedError

    def validate(self, group: dict[str, Any]) -> None:
        """Raise ``ValueError`` for a bad hyperparameter in ``group`` (subclasses)."""

    def state_template(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The state a parameter holds after its first step; ``load_state_dict`` checks
        loaded state against its keys and array shapes."""
        template: dict[str, Any] = {}
        self.init_single(param, template, group)
        return template

    # ---- training-loop API -----------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient.

        Args:
            set_to_none: set ``.grad`` to None (the default, frees memory); otherwise each
                ``.grad`` stays the same Tensor and reads zero: it gets a fresh zero array.
                The old array is never written to, because it may be shared with another
                tensor or read-only.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p._grad = None  # the property setter checks a value; None needs none
                else:
                    g = p.grad
                    if g is not None:
                        g._data = np.zeros_like(g._data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (those with ``grad is None`` are
        skipped), in place.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss
                (run with gradients enabled, before the update).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        profiler = _State.profiler
        started = time.perf_counter() if profiler is not None else 0.0
        for group in self.param_groups:
            self._update_group(group)
        if profiler is not None:
            profiler.record_step(f"{type(self).__name__}.step", time.perf_counter() - started)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        """Apply ``apply_single`` to each parameter of ``group`` that has a gradient."""
        state = self.state
        init = self.init_single
        apply = self.apply_single
        for p in group["params"]:
            g = p._grad  # the .grad property's storage, read without a call per parameter
            if g is None:
                continue
            g = g._data  # the array the engine accumulated: no copy
            w = p._data
            if g.shape != w.shape:
                raise self._shape_error(p, g)
            s = state[p]
            if not s:
                init(w, s, group)
            if w.ndim == 0:
                _apply_scalar(apply, g, w, s, group)
            else:
                apply(g, w, s, group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. a layer to
        unfreeze during fine-tuning). Missing hyperparameters take ``defaults``."""
        name = type(self).__name__
        index = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: param group {index} has no 'params' key")
        params = _as_param_list(param_group["params"], f"{name} param group {index}")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group = _normalise(group, self.defaults)
        self._check_group(group, f"{name} param group {index}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters of param group {index} are already "
                             "in another group; each parameter may appear in one group only")
        group["params"] = params
        self.param_groups.append(group)

    # ---- serialisation ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout, as plain Python/NumPy values::

            {"state": {index: {"step": int, "exp_avg": ndarray, ...}},
             "param_groups": [{...hyperparameters..., "params": [indices]}]}

        Parameters are numbered in group order. The arrays are the live ones (as in
        PyTorch): copy them if you keep the dict while training goes on.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items()
                 if s and id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict``.

        Group count and sizes, state keys and array shapes must match this optimizer;
        otherwise a ``ValueError`` says what differs and nothing is changed. Arrays are
        copied and cast to each parameter's dtype; indices may be ints or strings (JSON).
        """
        name = type(self).__name__
        if (not isinstance(state_dict, dict) or "state" not in state_dict
                or "param_groups" not in state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             "'param_groups' (from Optimizer.state_dict())")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has "
                             f"{len(saved_groups)} param groups, this optimizer has "
                             f"{len(self.param_groups)}")
        by_index: dict[int, tuple[Tensor, dict[str, Any]]] = {}
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            where = f"{name}.load_state_dict: param group {gi}"
            ids = list(saved.get("params", ()))
            if len(ids) != len(group["params"]):
                raise ValueError(f"{where} has {len(ids)} parameters in the saved state, "
                                 f"{len(group['params'])} in this optimizer")
            new = {k: v for k, v in group.items() if k != "params"}
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(new.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)  # JSON turns tuples (betas) into lists
                new[k] = v
            new = _normalise(new, self.defaults)
            self._check_group(new, where)
            new["params"] = group["params"]
            new_groups.append(new)
            for i, p in zip(ids, group["params"]):
                by_index[int(i)] = (p, new)
        new_state = {}
        for key, saved_state in dict(state_dict["state"]).items():
            idx = _as_index(key, name)
            if idx not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {idx}, but the "
                                 f"optimizer has parameters 0..{len(by_index) - 1}")
            p, group = by_index[idx]
            new_state[p] = self._load_single(idx, p._data, saved_state, group)
        for group, new in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new)
        self.state.clear()
        self.state.update(new_state)

    def _load_single(self, idx: int, param: np.ndarray, saved: Any,
                     group: dict[str, Any]) -> dict[str, Any]:
        where = f"{type(self).__name__}.load_state_dict: state of parameter {idx}"
        if not isinstance(saved, dict):
            raise ValueError(f"{where} must be a dict, got {type(saved).__name__}")
        template = self.state_template(param, group)
        missing = [k for k in template if k not in saved]
        unexpected = [k for k in saved if k not in template]
        if missing or unexpected:
            raise ValueError(f"{where} (shape {param.shape}): missing keys {missing}, "
                             f"unexpected keys {unexpected}; was it saved by another "
                             "optimizer or with other options (momentum, amsgrad, centered)?")
        out: dict[str, Any] = {}
        for k, like in template.items():
            value = saved[k]
            if isinstance(like, np.ndarray):
                arr = value._data if isinstance(value, Tensor) else np.asarray(value)
                if arr.shape != like.shape:
                    raise ValueError(f"{where}: '{k}' has shape {arr.shape}, expected "
                                     f"{like.shape} (the parameter's shape)")
                out[k] = np.array(arr, dtype=param.dtype, order="C")
            else:
                try:
                    out[k] = type(like)(np.asarray(value).item())
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: '{k}' should be a number, got "
                                     f"{value!r}") from None
        return out

    # ---- helpers ---------------------------------------------------------------------
    def _check_group(self, group: dict[str, Any], where: str) -> None:
        try:
            self.validate(group)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def _shape_error(self, p: Tensor, grad: np.ndarray) -> ValueError:
        where = "a parameter"
        for gi, group in enumerate(self.param_groups):
            for pi, q in enumerate(group["params"]):
                if q is p:
                    label = f" '{p.name}'" if p.name else ""
                    where = f"parameter {pi}{label} of param group {gi}"
        return ValueError(f"{type(self).__name__}: {where} has a gradient of shape "
                          f"{grad.shape}, but the parameter's shape is {p._data.shape}")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# ---- update helpers shared by the optimizers --------------------------------------------
# Elements per block of ``subtract_scaled``: 1 MiB of float32, so the scaled block is
# still in cache when it is subtracted.
_BLOCK = 1 << 18


def subtract_scaled(param: np.ndarray, x: np.ndarray, scale: float) -> None:
    """``param -= scale · x`` in place, without a temporary the size of the parameter.

    Large parameters go block by block through one small buffer: a 25M-weight layer's
    SGD step then streams 300 MB instead of 500 MB and allocates nothing large
    (measured 35 → 9 ms on the wide MLP benchmark). Rounding is that of
    ``param -= x * scale``.
    """
    if param.size <= _BLOCK or not (param.flags.c_contiguous and x.flags.c_contiguous):
        param -= x * scale
        return
    flat_p, flat_x = param.reshape(-1), x.reshape(-1)
    buf = np.empty(_BLOCK, np.result_type(x, param))
    for start in range(0, flat_p.size, _BLOCK):
        stop = min(start + _BLOCK, flat_p.size)
        block = buf[:stop - start]
        np.multiply(flat_x[start:stop], scale, out=block)
        flat_p[start:stop] -= block


def _apply_scalar(apply: Callable[..., None], grad: np.ndarray, param: np.ndarray,
                  state: dict[str, Any], group: dict[str, Any]) -> None:
    """``apply`` for a 0-d parameter, through 1-element views of it and of its state.

    NumPy returns a scalar, not an array, from an operation on 0-d arrays, so the updates'
    ``out=`` temporaries would fail on them; the views share memory, so every in-place
    write lands in the parameter and its state, which keep their 0-d shapes (as PyTorch's).
    """
    views = {k: v.reshape(1) if isinstance(v, np.ndarray) and v.ndim == 0 else v
             for k, v in state.items()}
    apply(grad.reshape(1), param.reshape(1), views, group)
    for key, value in views.items():  # entries the update created or replaced
        before = state.get(key)
        if key not in state or (before is not value and not (
                isinstance(value, np.ndarray) and value.base is before)):
            state[key] = value.reshape(()) if isinstance(value, np.ndarray) else value


# ---- validation helpers shared by the optimizers ----------------------------------------
def check_nonnegative(group: dict[str, Any], *names: str) -> None:
    """``ValueError`` unless each ``group[name]`` is a finite number >= 0."""
    for n in names:
        v = group[n]
        if not isinstance(v, Real) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{n} must be a finite number >= 0, got {v!r}")


def check_unit_interval(group: dict[str, Any], name: str, closed: bool = False) -> None:
    """``ValueError`` unless ``0 <= group[name] < 1`` (``<= 1`` with ``closed``)."""
    v = group[name]
    ok = isinstance(v, Real) and not isinstance(v, bool) and (
        0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {v!r}")


def check_betas(group: dict[str, Any]) -> None:
    """``ValueError`` unless ``group["betas"]`` is a pair, each in [0, 1)."""
    betas = group["betas"]
    if not isinstance(betas, tuple) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i in range(2):
        check_unit_interval({f"betas[{i}]": betas[i]}, f"betas[{i}]")


def check_flags(group: dict[str, Any], *names: str) -> None:
    for n in names:
        if not isinstance(group[n], (bool, np.bool_)):
            raise ValueError(f"{n} must be True or False, got {group[n]!r}")


def check_implementation_options(who: str, foreach: Any = None, fused: Any = None,
                                 capturable: Any = False, differentiable: Any = False) -> None:
    """PyTorch's optimizer implementation switches, accepted so its scripts run unchanged.

    ``foreach`` (one multi-tensor kernel per group instead of a loop over parameters),
    ``fused`` (one fused kernel) and ``capturable`` (state kept on the GPU for CUDA-graph
    capture) choose *how* PyTorch computes the same update: chainrule's NumPy update is
    that update, so they are accepted and ignored. ``differentiable=True`` would make the
    step itself part of the autograd graph (to backpropagate through training, as in
    meta-learning); chainrule updates parameters in place outside the graph, so it
    raises ``NotImplementedError`` rather than silently training something else.
    """
    for name, value in (("foreach", foreach), ("fused", fused), ("capturable", capturable),
                        ("differentiable", differentiable)):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{who}: {name} must be True, False or None, got {value!r}")
    if differentiable:
        raise NotImplementedError(
            f"{who}: differentiable=True (backpropagating through the optimizer step) is "
            "not supported; chainrule updates parameters in place, outside the autograd "
            "graph. Pass differentiable=False.")


# ---- construction helpers ----------------------------------------------------------------
def _normalise(group: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters as plain Python values: NumPy float64 scalars would upcast float32
    parameters in the update (NumPy 2 treats them as strongly typed; Python floats are
    not), and plain values serialise to JSON."""
    for key in defaults:
        if key in group:
            group[key] = _plain(group[key])
    return group


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (Real, np.floating, np.integer)):
        return float(value)
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _plain(value.item())
    return value


def _as_groups(params: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(params, Tensor):
        raise TypeError(f"{name}: params must be an iterable of Parameters or of "
                        "param-group dicts, got a single Tensor (wrap it in a list)")
    if isinstance(params, dict):
        raise TypeError(f"{name}: params must be a list of param-group dicts, got one dict "
                        "(wrap it in a list)")
    if not isinstance(params, Iterable):
        hint = " (pass model.parameters(), not the model)" if hasattr(params, "parameters") \
            else ""
        raise TypeError(f"{name}: params must be an iterable of Parameters or of "
                        f"param-group dicts, got {type(params).__name__}{hint}")
    items = list(params)
    if not items:
        raise ValueError(f"{name} got an empty parameter list")
    if all(isinstance(x, dict) for x in items):
        return items
    if any(isinstance(x, dict) for x in items):
        raise TypeError(f"{name}: params mixes param-group dicts and Parameters; use one "
                        "or the other")
    return [{"params": items}]


def _as_param_list(params: Any, where: str) -> list[Tensor]:
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, (set, frozenset)):
        raise TypeError(f"{where}: params must be an ordered sequence (a list), not a set, "
                        "so that state_dict indices are reproducible")
    elif isinstance(params, Iterable):
        params = list(params)
    else:
        raise TypeError(f"{where}: params must be Parameters, got {type(params).__name__}")
    if not params:
        raise ValueError(f"{where} has no parameters")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            hint = " (wrap arrays in chainrule.nn.Parameter)" if isinstance(p, np.ndarray) \
                else ""
            raise TypeError(f"{where}: item {i} is a {type(p).__name__}, not a "
                            f"Parameter{hint}")
        if not p.is_leaf:
            raise ValueError(f"{where}: item {i} is the result of an operation (a non-leaf "
                             "tensor); optimize the leaf Parameters it was computed from")
        if p._data.dtype.kind != "f":
            raise ValueError(f"{where}: item {i} has dtype {p._data.dtype}; only floating "
                             "tensors can be optimized")
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"{where} lists the same parameter more than once")
    return params


def _as_index(key: Any, name: str) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{name}.load_state_dict: state keys must be parameter indices, "
                         f"got {key!r}") from None
