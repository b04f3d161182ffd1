"""Check analytic gradients against central finite differences, in float64.

For a scalar function f and a small step ε, ``∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / 2ε``
with an error of order ε² — about 1e-12 for ε = 1e-6 in float64, far below any real bug.

- ``numerical_gradient(fn, wrt)``: the finite-difference gradient of a scalar ``fn()``.
- ``gradcheck(fn, inputs)``: a whole op or expression, through a fixed random weighting of
  its output so every entry of the vector-Jacobian product is checked.
- ``check_gradients(model, loss_fn, batch)``: every parameter of a model (a float64 copy),
  sampling large parameters, with ``format_report`` to print the result as a table.

An element passes when ``|analytic − numeric| <= atol + rtol·|numeric|`` (NumPy's
``allclose`` rule). The relative error reported is ``|a − n| / max(|a|, |n|, atol)``, so
entries that are both about zero do not produce huge ratios.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule._progress import progress_bar
from chainrule.autograd import no_grad
from chainrule.backend import Generator, default_generator
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, raw

__all__ = [
    "GradcheckError", "GradcheckResult", "InputCheck", "ParamCheck", "check_gradients",
    "format_report", "gradcheck", "numerical_gradient",
]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences; ``result`` has the details."""

    def __init__(self, message: str, result: GradcheckResult) -> None:
        super().__init__(message)
        self.result = result


# ---- finite differences -------------------------------------------------------------------

def _scalar(value: Any) -> float:
    """``fn()``'s result as a float64 number (Tensor, array or Python number)."""
    arr = np.asarray(value._data if isinstance(value, Tensor) else value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(f"numerical_gradient: fn() must return a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def _central_differences(fn: Callable[[], Any], array: np.ndarray,
                         indices: Iterable[tuple[int, ...]], eps: float,
                         tick: Callable[[], Any] | None = None) -> list[float]:
    """``∂fn/∂array[idx]`` for each idx, perturbing ``array`` in place.

    The step actually taken is measured in float64 after rounding to the array's dtype,
    so a float32 array still gets a correct quotient (just a noisier one). Every element
    is put back bit for bit, even when ``fn`` raises.
    """
    kind = array.dtype.type
    out = []
    with no_grad():
        for idx in indices:
            original = array[idx]
            try:
                up = kind(float(original) + eps)
                down = kind(float(original) - eps)
                array[idx] = up
                f_up = _scalar(fn())
                array[idx] = down
                f_down = _scalar(fn())
            finally:
                array[idx] = original
            step = float(up) - float(down)
            if step == 0.0:
                raise ValueError(f"numerical_gradient: eps={eps} is too small to change an "
                                 f"element of dtype {array.dtype} (value {float(original)})")
            out.append((f_up - f_down) / step)
            if tick is not None:
                tick()
    return out


def numerical_gradient(fn: Callable[[], Tensor | float], wrt: Tensor,
                       eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``fn()`` with respect to ``wrt``'s values.

    Each element of ``wrt`` is nudged by ±eps in place, ``fn()`` is re-evaluated (under
    ``no_grad``), and the element is restored exactly afterwards.

    Args:
        fn: takes no arguments and returns a scalar (a one-element Tensor or a number);
            it must read ``wrt`` (a closure over it).
        wrt: the tensor to differentiate with respect to; float64 gives ~1e-10 accuracy.
        eps: the step.

    Returns:
        a float64 array of ``wrt``'s shape.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], dtype="float64")
        >>> numerical_gradient(lambda: (x * x).sum(), x).round(6)
        array([2., 4.])
    """
    data = wrt._data
    if data.dtype.kind != "f":
        raise TypeError(f"numerical_gradient: wrt must be a floating tensor, got {data.dtype}")
    if not data.flags.writeable:
        raise ValueError("numerical_gradient: wrt's array is read-only; pass a writeable copy")
    values = _central_differences(fn, data, np.ndindex(data.shape), eps)
    return np.asarray(values, dtype=np.float64).reshape(data.shape)


# ---- comparing ----------------------------------------------------------------------------

@dataclass
class Comparison:
    """Analytic against numeric gradient over the checked elements: the largest absolute
    and relative errors, and the worst element (the one furthest past the tolerance)."""

    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    passed: bool


def _compare(analytic: np.ndarray, numeric: np.ndarray, shape: tuple[int, ...],
             flat_positions: np.ndarray, atol: float, rtol: float) -> Comparison:
    """Compare two flat arrays; ``flat_positions`` maps them back to indices of ``shape``."""
    if analytic.size == 0:
        return Comparison(0.0, 0.0, (), 0.0, 0.0, True)
    err = np.abs(analytic - numeric)
    # NaN anywhere is a failure: turn it into an infinite error
    err = np.where(np.isnan(err), np.inf, err)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), atol)
    rel = err / scale
    violation = err / (atol + rtol * np.abs(numeric))
    worst = int(np.argmax(violation))
    index = tuple(int(i) for i in np.unravel_index(int(flat_positions[worst]), shape))
    return Comparison(
        max_abs_error=float(err.max()), max_rel_error=float(rel.max()), worst_index=index,
        analytic=float(analytic[worst]), numeric=float(numeric[worst]),
        passed=bool(np.all(violation <= 1.0)))


@dataclass
class InputCheck(Comparison):
    """The gradient check of one input of ``gradcheck``."""

    index: int = 0
    shape: tuple[int, ...] = ()


@dataclass
class GradcheckResult:
    """What ``gradcheck`` found, one ``InputCheck`` per input with ``requires_grad``.

    ``max_abs_error``, ``max_rel_error`` and ``worst_index`` map the position of each
    checked input in ``inputs`` to its figure.
    """

    passed: bool
    inputs: list[InputCheck] = field(default_factory=list)
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def max_abs_error(self) -> dict[int, float]:
        return {c.index: c.max_abs_error for c in self.inputs}

    @property
    def max_rel_error(self) -> dict[int, float]:
        return {c.index: c.max_rel_error for c in self.inputs}

    @property
    def worst_index(self) -> dict[int, tuple[int, ...]]:
        return {c.index: c.worst_index for c in self.inputs}

    def report(self) -> str:
        """One line per checked input; failing ones name the worst element and both values."""
        head = "gradcheck passed" if self.passed else "gradcheck FAILED"
        lines = [f"{head} (pass: |analytic - numeric| <= {self.atol:g} + "
                 f"{self.rtol:g}*|numeric|)"]
        for c in self.inputs:
            status = "ok" if c.passed else "FAIL"
            lines.append(
                f"  input {c.index} shape {c.shape}: {status}, max abs error "
                f"{c.max_abs_error:.3e}, max rel error {c.max_rel_error:.3e}; worst element "
                f"{c.worst_index}: analytic {c.analytic:.10g} vs numeric {c.numeric:.10g}")
        if not self.inputs:
            lines.append("  (no input requires grad: nothing was checked)")
        return "\n".join(lines)


def _to_float64(value: Any) -> Any:
    """A float64 copy of a floating tensor (keeping requires_grad); anything else as is."""
    if isinstance(value, Tensor) and value._data.dtype.kind == "f":
        return Tensor._make(np.array(value._data, dtype=np.float64), value.requires_grad, None)
    return value


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              seed: int = 0) -> GradcheckResult:
    """Compare ``fn``'s analytic gradients with central differences, in float64.

    Floating tensors in ``inputs`` are replaced by float64 copies (whatever their dtype;
    the originals are untouched); other inputs (integer targets, masks, numbers) are passed
    as they are. The output is reduced to ``(out * r).sum()`` with a fixed random ``r``
    (seeded by ``seed``), so all of the vector-Jacobian product is exercised, not just the
    gradient of a plain sum.

    Args:
        fn: maps the inputs to a Tensor of any shape. It must be deterministic (re-seed any
            generator it uses inside it).
        inputs: the arguments of ``fn``; those with ``requires_grad`` are checked.
        eps: finite-difference step.
        atol, rtol: an element passes when ``|a − n| <= atol + rtol·|n|``.
        raise_exception: raise ``GradcheckError`` (an ``AssertionError``) on failure.
        seed: seed of the weighting ``r``.

    Returns:
        a ``GradcheckResult``; ``result.report()`` is a readable summary.

    Example:
        >>> import chainrule as cr
        >>> x = cr.randn(3, 4, requires_grad=True)
        >>> gradcheck(lambda t: (t * t).tanh(), [x]).passed
        True
    """
    args = [_to_float64(v) for v in inputs]
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    r = np.random.default_rng(seed).standard_normal(out.shape)
    weight = Tensor._make(r.astype(out._data.dtype), False, None)
    checked = [i for i, v in enumerate(args) if isinstance(v, Tensor) and v.requires_grad]
    if out.requires_grad:
        (out * weight).sum().backward()

    def weighted() -> float:
        return float(np.sum(np.asarray(fn(*args)._data, dtype=np.float64) * r))

    result = GradcheckResult(passed=True, atol=atol, rtol=rtol)
    for i in checked:
        t = args[i]
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(raw(t.grad), np.float64)
        numeric = numerical_gradient(weighted, t, eps)
        if analytic.shape != t.shape:
            raise ValueError(f"gradcheck: the gradient of input {i} has shape "
                             f"{analytic.shape}, expected {t.shape}")
        cmp = _compare(analytic.reshape(-1), numeric.reshape(-1), t.shape,
                       np.arange(t._data.size), atol, rtol)
        result.inputs.append(InputCheck(**vars(cmp), index=i, shape=tuple(t.shape)))
        result.passed = result.passed and cmp.passed
    if raise_exception and not result.passed:
        raise GradcheckError(result.report(), result)
    return result


# ---- whole models -------------------------------------------------------------------------

@dataclass
class ParamCheck(Comparison):
    """The gradient check of one parameter of a model (``check_gradients``)."""

    name: str = ""
    shape: tuple[int, ...] = ()
    checked: int = 0


def _generators(model: Module) -> list[Generator]:
    """The global generator and every generator a layer holds (dropout draws from them)."""
    found = [default_generator]
    for m in model.modules():
        for value in vars(m).values():
            if isinstance(value, Generator) and all(value is not g for g in found):
                found.append(value)
    return found


def _batch_to_float64(value: Any) -> Any:
    if isinstance(value, Tensor):
        return _to_float64(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    return value


def check_gradients(model: Module, loss_fn: Callable[[Tensor, Any], Tensor],
                    batch: tuple[Any, Any], eps: float = 1e-6, atol: float = 1e-5,
                    rtol: float = 1e-3, max_elements_per_param: int = 200,
                    seed: int = 0, progress: bool | None = None) -> list[ParamCheck]:
    """Check every parameter's gradient of ``loss_fn(model(x), y)`` on a float64 copy.

    The model is deep-copied and converted with ``.double()``, so the original (and its
    gradients) is untouched. Random state (the global generator and any generator a layer
    holds) is rewound before every evaluation, so dropout in training mode draws the same
    mask each time; the global generator is left as it was found.

    Args:
        model: the network (training or eval mode, as you want it checked).
        loss_fn: ``loss_fn(prediction, y) -> scalar Tensor``.
        batch: ``(x, y)``; floating arrays/tensors are converted to float64.
        eps, atol, rtol: as in ``gradcheck``.
        max_elements_per_param: parameters with more elements get this many, sampled
            without replacement (seeded by ``seed``).
        progress: a progress bar with the time left, on stderr (two forward passes per
            checked element add up on a deep model): True, False, or None (default) for
            one only on a terminal or in a notebook, and only once the check has taken a
            second.

    Returns:
        one ``ParamCheck`` per trainable parameter, in ``named_parameters()`` order.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.losses import mse_loss
        >>> net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 1))
        >>> checks = check_gradients(net, mse_loss, (cr.randn(5, 3), cr.randn(5, 1)))
        >>> all(c.passed for c in checks)
        True
    """
    if max_elements_per_param < 1:
        raise ValueError(f"max_elements_per_param must be >= 1, got {max_elements_per_param}")
    x, y = batch
    x, y = _batch_to_float64(x), _batch_to_float64(y)
    gens = _generators(model)
    states = [copy.deepcopy(g.get_state()) for g in gens]
    bar = None
    try:
        clone = copy.deepcopy(model).double()
        # the clone's layers hold copies of the model's generators: rewind those too
        clone_gens = [g for g in _generators(clone) if g is not default_generator]
        clone_states = [copy.deepcopy(g.get_state()) for g in clone_gens]

        def rewind() -> None:
            default_generator.set_state(copy.deepcopy(states[0]))
            for g, s in zip(clone_gens, clone_states):
                g.set_state(copy.deepcopy(s))

        def loss() -> Tensor:
            rewind()
            value = loss_fn(clone(x), y)
            if not isinstance(value, Tensor) or value._data.size != 1:
                shape = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"check_gradients: loss_fn must return a scalar Tensor, "
                                 f"got {shape}")
            return value

        clone.zero_grad()
        loss().backward()
        rng = np.random.default_rng(seed)
        checks = []
        total = sum(min(p._data.size, max_elements_per_param)
                    for p in clone.parameters() if p.requires_grad)
        bar = progress_bar(total, "check_gradients", "element", enabled=progress,
                           delay=1.0 if progress is None else 0.0)
        for name, p in clone.named_parameters():
            if not p.requires_grad:
                continue
            bar.set_postfix_str(name, refresh=False)
            size = p._data.size
            if size > max_elements_per_param:
                flat = np.sort(rng.choice(size, max_elements_per_param, replace=False))
            else:
                flat = np.arange(size)
            indices = [tuple(int(i) for i in np.unravel_index(k, p.shape)) for k in flat]
            grad = (np.zeros(p.shape) if p.grad is None
                    else np.asarray(raw(p.grad), np.float64))
            analytic = np.array([grad[idx] for idx in indices], dtype=np.float64)
            numeric = np.asarray(_central_differences(loss, p._data, indices, eps, bar.update))
            cmp = _compare(analytic, numeric, p.shape, flat, atol, rtol)
            checks.append(ParamCheck(**vars(cmp), name=name, shape=tuple(p.shape),
                                     checked=len(indices)))
    finally:
        if bar is not None:
            bar.close()
        for g, s in zip(gens, states):
            g.set_state(s)
    return checks


def format_report(checks: Sequence[ParamCheck]) -> str:
    """``check_gradients``'s result as a table, worst element shown for failures.

    Example:
        >>> print(format_report(checks))  # doctest: +SKIP
        parameter  shape   checked  max abs err  max rel err  status
        0.weight   (4, 3)       12    3.1e-11      2.0e-09    ok
    """
    header = ("parameter", "shape", "checked", "max abs err", "max rel err", "status")
    rows = [header]
    for c in checks:
        status = "ok" if c.passed else (f"FAIL at {c.worst_index}: analytic {c.analytic:.6g} "
                                        f"vs numeric {c.numeric:.6g}")
        rows.append((c.name, str(c.shape), str(c.checked), f"{c.max_abs_error:.2e}",
                     f"{c.max_rel_error:.2e}", status))
    widths = [max(len(r[k]) for r in rows) for k in range(len(header) - 1)]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [r[k].rjust(widths[k]) for k in range(2, len(header) - 1)]
        lines.append("  ".join(cells + [r[-1]]))
    lines.insert(1, "-" * max(len(line) for line in lines))
    failed = sum(not c.passed for c in checks)
    worst = max((c.max_rel_error for c in checks), default=0.0)
    verdict = "all passed" if not failed else f"{failed} of {len(checks)} FAILED"
    lines.append(f"{len(checks)} parameters checked, {verdict}; worst relative error "
                 f"{worst:.2e}" + ("" if math.isfinite(worst) else " (NaN/Inf)"))
    return "\n".join(lines)
