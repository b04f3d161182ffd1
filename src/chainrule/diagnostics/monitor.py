"""Gradient-flow monitoring: watch every layer learn, and say in words what goes wrong.

``GradientMonitor`` samples, every ``every`` steps and per layer (the module that owns
the parameters: ``0`` for ``0.weight``/``0.bias``):

- the gradient norm ‖∂E/∂w‖ and the weight norm ‖w‖,
- the update-to-weight ratio ‖Δw‖/‖w‖ of that step (healthy training sits near 1e-3),
- the number of non-finite gradient and weight entries,
- for activation layers, the mean and standard deviation of the output and, for ReLU, the
  fraction of units that never fired on the batch ("dead" units).

From those samples five detectors each fire once, with a message that names the layers
and the figures and lists the field's usual remedies: vanishing gradients, exploding
gradients, non-finite values, dead ReLU layers and stalled learning.

Sampling keeps it cheap: between samples the only cost is one Python call per layer per
forward (a forward hook that returns at once); on a sampled step it reads each gradient
and weight once and copies the weights once (for Δw).

The monitor reads; it never changes training (no gradient is touched, no step skipped).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.nn import activation as _act
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

_ACTIVATIONS = (_act.ReLU, _act.LeakyReLU, _act.Sigmoid, _act.Tanh, _act.GELU, _act.Softplus,
                _act.SiLU, _act.Mish, _act.ReLU6, _act.SELU, _act.ELU, _act.Hardtanh,
                _act.Hardsigmoid, _act.Hardswish, _act.PReLU, _act.Softsign, _act.LogSigmoid)
# units whose output is exactly 0 over a whole batch are dead (no gradient flows back)
_CAN_DIE = (_act.ReLU, _act.ReLU6)

REMEDIES = {
    "vanishing": "use ReLU instead of sigmoid/tanh, He/Xavier initialisation, batch "
                 "normalisation, residual connections",
    "exploding": "gradient clipping (clip_grad_norm_), a lower learning rate, batch "
                 "normalisation",
    "nonfinite": "lower the learning rate, check the inputs for NaN/Inf, run a step under "
                 "chainrule.detect_anomaly() to find the op that produced the first NaN",
    "dead_relu": "a lower learning rate, LeakyReLU instead of ReLU, He initialisation",
    "stalled": "raise the learning rate (if the loss is still high); check that the "
               "optimizer was given the model's parameters",
}


@dataclass
class Finding:
    """One problem the monitor detected.

    Attributes:
        kind: ``'vanishing'``, ``'exploding'``, ``'nonfinite'``, ``'dead_relu'`` or
            ``'stalled'``.
        step: the training step of the sample that triggered it.
        layers: the layers (module names) concerned, in model order.
        figures: the measured numbers behind the verdict, by name.
        message: the verdict in words, with remedies.
    """

    kind: str
    step: int
    layers: list[str]
    figures: dict[str, float]
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class MonitorHistory:
    """Everything sampled so far, as arrays: one entry per sampled step (NaN = not measured).

    Attributes:
        steps: (S,) the sampled steps.
        layers: parameter-owning layers in model order.
        grad_norm, weight_norm, update_ratio, nonfinite: per layer, arrays of shape (S,).
        activations: activation layers in model order.
        act_mean, act_std, dead_fraction: per activation layer, arrays of shape (S,)
            (``dead_fraction`` only for ReLU layers).
    """

    steps: np.ndarray
    layers: list[str]
    grad_norm: dict[str, np.ndarray]
    weight_norm: dict[str, np.ndarray]
    update_ratio: dict[str, np.ndarray]
    nonfinite: dict[str, np.ndarray]
    activations: list[str]
    act_mean: dict[str, np.ndarray]
    act_std: dict[str, np.ndarray]
    dead_fraction: dict[str, np.ndarray]


@dataclass
class _Layer:
    name: str
    kind: str  # the module's class name
    params: list[Tensor]
    has_matrix: bool  # owns a weight with >= 2 dims (Linear, Conv): used for ratios


@dataclass
class _Sample:
    step: int
    grad_norm: dict[str, float] = field(default_factory=dict)
    weight_norm: dict[str, float] = field(default_factory=dict)
    update_ratio: dict[str, float] = field(default_factory=dict)
    nonfinite_grad: dict[str, int] = field(default_factory=dict)
    nonfinite_weight: dict[str, int] = field(default_factory=dict)
    act: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    loss: float | None = None


def _squared_norm(a: np.ndarray) -> float:
    """Σ a², via BLAS; recomputed in float64 when float32 overflowed but no entry is Inf."""
    r = a.reshape(-1)
    s = float(np.dot(r, r))
    if not math.isfinite(s) and r.dtype != np.float64 and np.isfinite(r).all():
        r64 = r.astype(np.float64)
        s = float(np.dot(r64, r64))
    return s


def _count_nonfinite(a: np.ndarray) -> int:
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def _fmt(v: float) -> str:
    return f"{v:.2e}" if math.isfinite(v) else str(v)


def _names(layers: list[str], limit: int = 6) -> str:
    quoted = [f"'{n}'" for n in layers]
    if len(quoted) > limit:
        quoted = quoted[: limit - 1] + ["…", quoted[-1]]
    return ", ".join(quoted)


class GradientMonitor:
    """Samples per-layer gradient flow every ``every`` steps and detects the classic failures.

    Use it in a hand-written loop (either call ``record`` after ``loss.backward()`` and
    ``after_step`` after ``optimizer.step()``, or only ``step`` after ``optimizer.step()``)
    or pass it to the ``Trainer`` as a callback.

    Args:
        model: the module to watch (may be ``None`` when used as a Trainer callback: the
            trainer's model is taken at ``on_train_begin``).
        every: sample one step in ``every`` (steps 0, every, 2·every, …).
        vanish_ratio: vanishing when the first layer's gradient norm is this many times
            below the last layer's (default 100).
        vanish_floor: …or below this absolute value while the last layer's is above it.
        explode_norm: exploding when a layer's gradient norm exceeds this.
        explode_growth: …or when the total gradient norm has at least doubled on each of
            the last ``patience`` samples, growing by this factor overall (and exceeds 1).
        dead_fraction: a ReLU layer is dead when at least this fraction of its units never
            fired on the sampled batch.
        stall_ratio: stalled when every layer's ‖Δw‖/‖w‖ is below this.
        patience: vanishing, dead and stalled must hold on this many consecutive samples
            (exploding and non-finite fire at once).
        track_activations: hook activation layers for mean/std/dead fraction.
        verbose: print each finding when it fires.
        on_finding: called with each ``Finding`` when it fires.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.diagnostics import GradientMonitor
        >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 1))
        >>> monitor = GradientMonitor(model, every=1, verbose=False)
        >>> x, y = cr.randn(16, 4), cr.randn(16, 1)
        >>> for step in range(3):
        ...     model.zero_grad()
        ...     loss = cr.losses.mse_loss(model(x), y)
        ...     loss.backward()
        ...     for p in model.parameters():
        ...         p.data -= 0.1 * p.grad.data
        ...     monitor.step(step)
        >>> monitor.history.grad_norm["0"].shape
        (3,)
    """

    # under distributed training rank 0 alone watches (every rank has the same averaged
    # gradients) and prints
    main_process_only = True

    def __init__(self, model: Module | None = None, every: int = 10, *,
                 vanish_ratio: float = 100.0, vanish_floor: float = 1e-7,
                 explode_norm: float = 1e3, explode_growth: float = 100.0,
                 dead_fraction: float = 0.9, stall_ratio: float = 1e-5, patience: int = 3,
                 track_activations: bool = True, verbose: bool = True,
                 on_finding: Callable[[Finding], Any] | None = None) -> None:
        if int(every) < 1:
            raise ValueError(f"GradientMonitor: every must be >= 1, got {every}")
        if vanish_ratio <= 1 or explode_growth <= 1:
            raise ValueError("GradientMonitor: vanish_ratio and explode_growth must be > 1, "
                             f"got {vanish_ratio} and {explode_growth}")
        if not 0 < dead_fraction <= 1:
            raise ValueError(f"GradientMonitor: dead_fraction must be in (0, 1], got "
                             f"{dead_fraction}")
        if int(patience) < 1:
            raise ValueError(f"GradientMonitor: patience must be >= 1, got {patience}")
        self.every = int(every)
        self.vanish_ratio = float(vanish_ratio)
        self.vanish_floor = float(vanish_floor)
        self.explode_norm = float(explode_norm)
        self.explode_growth = float(explode_growth)
        self.dead_fraction = float(dead_fraction)
        self.stall_ratio = float(stall_ratio)
        self.patience = int(patience)
        self.track_activations = track_activations
        self.verbose = verbose
        self.on_finding = on_finding
        self.findings: list[Finding] = []
        self.model: Module | None = None
        self._layers: list[_Layer] = []
        self._acts: list[tuple[str, str, str | None]] = []  # (name, class, follows layer)
        self._removers: list[Callable[[], None]] = []
        self._armed = False
        self._act_values: dict[str, tuple[float, float, float]] = {}
        self._snapshot: dict[int, np.ndarray] | None = None
        self._snapshot_for: int | None = None
        self._pending: _Sample | None = None
        self._samples: list[_Sample] = []
        self._streak: dict[str, int] = {}
        self._fired: set[str] = set()
        self._next_step = 0
        self._last_step: int | None = None
        if model is not None:
            self.attach(model)

    # ---- setup ---------------------------------------------------------------------
    def attach(self, model: Module) -> GradientMonitor:
        """Watch ``model``: find its layers and hook its activation layers (idempotent)."""
        self.detach()
        self.model = model
        self._layers = []
        self._acts = []
        seen: set[int] = set()
        last_layer: str | None = None
        for name, module in model.named_modules():
            params = []
            for _, p in module.named_parameters(recurse=False):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
            label = name or "(model)"
            if params:
                matrix = any(p._data.ndim >= 2 for p in params)
                self._layers.append(_Layer(label, type(module).__name__, params, matrix))
                last_layer = label
            if self.track_activations and isinstance(module, _ACTIVATIONS):
                self._acts.append((label, type(module).__name__, last_layer))
                hook = self._activation_hook(label, isinstance(module, _CAN_DIE))
                self._removers.append(module.register_forward_hook(hook))
        self._armed = self._sampled(self._next_step)
        return self

    def detach(self) -> None:
        """Remove the forward hooks from the model (the history is kept)."""
        for remove in self._removers:
            remove()
        self._removers = []
        self._armed = False

    close = detach

    def __enter__(self) -> GradientMonitor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    @property
    def layers(self) -> list[str]:
        """The watched layers (parameter-owning modules) in model order."""
        return [layer.name for layer in self._layers]

    def _sampled(self, step: int) -> bool:
        return step % self.every == 0

    def _activation_hook(self, name: str, is_relu: bool) -> Callable:
        def hook(module: Module, inputs: tuple, output: Any) -> None:
            if not self._armed or not isinstance(output, Tensor):
                return None  # the common case: one attribute read per forward
            a = output._data
            mean = float(a.mean()) if a.size else math.nan
            std = float(a.std()) if a.size else math.nan
            dead = math.nan
            if is_relu and a.ndim >= 1 and a.size:
                unit_axis = a.ndim - 1 if a.ndim <= 2 else 1
                other = tuple(i for i in range(a.ndim) if i != unit_axis)
                fired = np.any(a > 0, axis=other) if other else a > 0
                dead = 1.0 - float(np.count_nonzero(fired)) / fired.size
            # overwritten by every armed forward: the last one before backward is kept
            self._act_values[name] = (mean, std, dead)
            return None

        return hook

    def _take_snapshot(self, for_step: int) -> None:
        self._snapshot = {id(p): p._data.copy() for layer in self._layers for p in layer.params}
        self._snapshot_for = for_step

    def _require_model(self) -> None:
        if self.model is None:
            raise ValueError("GradientMonitor has no model: pass one to GradientMonitor(model) "
                             "or attach(model) before recording")

    # ---- the hand-written-loop API -------------------------------------------------
    def record(self, step: int | None = None) -> None:
        """Measure gradients after ``loss.backward()`` (and before ``optimizer.step()``).

        Args:
            step: the training step (default: one more than the last one seen).
        """
        self._require_model()
        step = self._next_step if step is None else int(step)
        self._last_step = step
        if not self._sampled(step):
            self._pending = None
            return
        if self._snapshot_for != step:
            self._take_snapshot(step)  # the weights before this step's update
        self._pending = self._measure(step)

    def after_step(self, step: int | None = None) -> None:
        """Measure the update ‖Δw‖/‖w‖ after ``optimizer.step()``; run the detectors."""
        self._require_model()
        step = self._last_step if step is None else int(step)
        if step is None:
            raise ValueError("GradientMonitor.after_step(): call record() first or pass step")
        sample = self._pending
        if sample is not None and sample.step == step:
            self._finish(sample)
        self._pending = None
        self._prepare(step + 1, snapshot=False)

    def step(self, step: int | None = None) -> None:
        """The one-call API: after ``optimizer.step()`` (gradients are still in ``.grad``).

        The weights are copied at the end of the step before a sampled one, so that
        ‖Δw‖ of the sampled step is known without a call between backward and step.
        """
        self._require_model()
        step = self._next_step if step is None else int(step)
        self._last_step = step
        if self._sampled(step):
            self._finish(self._measure(step))
        self._pending = None
        self._prepare(step + 1, snapshot=True)

    def _prepare(self, next_step: int, snapshot: bool) -> None:
        self._next_step = next_step
        self._armed = bool(self._removers) and self._sampled(next_step)
        if self._sampled(next_step) and snapshot:
            self._take_snapshot(next_step)
        elif self._snapshot_for != next_step:
            self._snapshot = None
            self._snapshot_for = None

    # ---- measuring -----------------------------------------------------------------
    def _measure(self, step: int) -> _Sample:
        sample = _Sample(step)
        for layer in self._layers:
            g2 = w2 = 0.0
            bad_g = bad_w = 0
            grads = 0
            for p in layer.params:
                w_sq = _squared_norm(p._data)
                if not math.isfinite(w_sq):
                    bad_w += _count_nonfinite(p._data)
                w2 += w_sq
                g = p.grad
                if g is not None:
                    grads += 1
                    g_sq = _squared_norm(g._data)
                    if not math.isfinite(g_sq):
                        bad_g += _count_nonfinite(g._data)
                    g2 += g_sq
            sample.weight_norm[layer.name] = math.sqrt(w2)
            sample.grad_norm[layer.name] = math.sqrt(g2) if grads else math.nan
            sample.nonfinite_grad[layer.name] = bad_g
            sample.nonfinite_weight[layer.name] = bad_w
        sample.act = dict(self._act_values)
        self._act_values.clear()
        self._armed = False
        return sample

    def _update_ratios(self, sample: _Sample) -> None:
        snap = self._snapshot
        if snap is None or self._snapshot_for != sample.step:
            return
        for layer in self._layers:
            d2 = w2 = 0.0
            for p in layer.params:
                before = snap.get(id(p))
                if before is None or before.shape != p._data.shape:
                    break
                d2 += _squared_norm(p._data - before)
                w2 += _squared_norm(before)
            else:
                if w2 > 0:
                    sample.update_ratio[layer.name] = math.sqrt(d2) / math.sqrt(w2)
        self._snapshot = None
        self._snapshot_for = None

    def _finish(self, sample: _Sample) -> None:
        self._update_ratios(sample)
        self._samples.append(sample)
        self._detect(sample)

    # ---- detectors -----------------------------------------------------------------
    def _fire(self, kind: str, sample: _Sample, layers: list[str], figures: dict[str, float],
              text: str) -> None:
        message = f"{text} Remedies: {REMEDIES[kind]}."
        finding = Finding(kind, sample.step, layers, figures, message)
        self._fired.add(kind)
        self.findings.append(finding)
        if self.verbose:
            print(f"[GradientMonitor] step {sample.step}: {message}")
        if self.on_finding is not None:
            self.on_finding(finding)

    def _held(self, kind: str, condition: bool) -> bool:
        """Count consecutive samples on which ``condition`` held; True once patient enough."""
        self._streak[kind] = self._streak.get(kind, 0) + 1 if condition else 0
        return self._streak[kind] >= self.patience

    def _detect(self, s: _Sample) -> None:
        detectors = (self._detect_nonfinite, self._detect_exploding, self._detect_vanishing,
                     self._detect_dead, self._detect_stalled)
        for detector in detectors:
            detector(s)

    def _detect_nonfinite(self, s: _Sample) -> None:
        if "nonfinite" in self._fired:
            return
        bad = [n for n in self.layers
               if s.nonfinite_grad.get(n, 0) or s.nonfinite_weight.get(n, 0)]
        bad_acts = [n for n, v in s.act.items() if not math.isfinite(v[0])]
        bad_loss = s.loss is not None and not math.isfinite(s.loss)
        if not (bad or bad_acts or bad_loss):
            return
        parts = [f"'{n}' ({s.nonfinite_grad[n]} gradient and {s.nonfinite_weight[n]} weight "
                 "entries)" for n in bad[:6]]
        text = "Non-finite values (NaN/Inf):"
        if bad_loss:
            text += f" the loss is {s.loss};"
        if parts:
            text += f" in layer{'s' if len(bad) > 1 else ''} " + ", ".join(parts)
            if len(bad) > 6:
                text += f" and {len(bad) - 6} more"
            text += ";"
        if bad_acts:
            text += f" in the outputs of {_names(bad_acts)};"
        text = text.rstrip(";") + ". Training cannot recover from NaN weights."
        figures = {f"{n}.nonfinite_grad": float(s.nonfinite_grad[n]) for n in bad}
        figures.update({f"{n}.nonfinite_weight": float(s.nonfinite_weight[n]) for n in bad})
        if bad_loss:
            figures["loss"] = float(s.loss)
        self._fire("nonfinite", s, bad or bad_acts, figures, text)

    def _detect_exploding(self, s: _Sample) -> None:
        if "exploding" in self._fired:
            return
        norms = {n: s.grad_norm[n] for n in self.layers
                 if not s.nonfinite_grad[n] and not math.isnan(s.grad_norm[n])}
        high = [n for n, g in norms.items() if g > self.explode_norm]
        total = math.sqrt(sum(g * g for g in norms.values()))
        previous = self._growth_baseline(total)
        grew = previous is not None and total > 1.0 and total > self.explode_growth * previous
        if not (high or grew):
            return
        figures = {f"{n}.grad_norm": norms[n] for n in high}
        figures["total_grad_norm"] = total
        if high:
            worst = max(high, key=lambda n: norms[n])
            text = (f"Exploding gradients: the gradient norm of layer '{worst}' is "
                    f"{_fmt(norms[worst])}, above the ceiling {_fmt(self.explode_norm)}")
            if len(high) > 1:
                text += f" ({len(high)} layers above it: {_names(high)})"
            text += "."
            if grew:
                text += (f" The total gradient norm has at least doubled on each of the last "
                         f"{self.patience} samples ({total / previous:.3g}× overall).")
        else:
            text = (f"Exploding gradients: the total gradient norm has at least doubled on each "
                    f"of the last {self.patience} samples, from {_fmt(previous)} to "
                    f"{_fmt(total)} ({total / previous:.3g}×).")
        if grew:
            figures["growth"] = total / previous
        biggest = sorted(norms, key=lambda n: -norms[n])[:3]
        self._fire("exploding", s, high or biggest, figures,
                   text + " Large steps throw the weights far away and the loss diverges.")

    def _growth_baseline(self, total: float) -> float | None:
        """The total norm where a run of geometric growth began, or None if there is none.

        Minibatch gradient norms jump 100× from one batch to the next near convergence, so
        a single jump is not an explosion: the total must have at least doubled on each of
        the last ``patience`` samples (the signature of a diverging run).
        """
        totals = [self._total(s) for s in self._samples[:-1]] + [total]
        run = totals[-(self.patience + 1):]
        if len(run) < self.patience + 1 or not all(b >= 2 * a > 0 for a, b in zip(run, run[1:])):
            return None
        return run[0]

    @staticmethod
    def _total(s: _Sample) -> float:
        values = [g for n, g in s.grad_norm.items()
                  if not s.nonfinite_grad.get(n, 0) and not math.isnan(g)]
        return math.sqrt(sum(g * g for g in values)) if values else math.nan

    def _weight_layers(self, s: _Sample) -> list[str]:
        named = [layer.name for layer in self._layers if layer.has_matrix] or self.layers
        return [n for n in named if math.isfinite(s.grad_norm[n])]

    def _detect_vanishing(self, s: _Sample) -> None:
        if "vanishing" in self._fired:
            return
        layers = self._weight_layers(s)
        low: list[str] = []
        if len(layers) >= 2:
            last = s.grad_norm[layers[-1]]
            low = [n for n in layers[:-1] if s.grad_norm[n] * self.vanish_ratio < last
                   or (s.grad_norm[n] < self.vanish_floor <= last)]
        if not self._held("vanishing", bool(low) and low[0] == layers[0]):
            return
        first, last_name = layers[0], layers[-1]
        g_first, g_last = s.grad_norm[first], s.grad_norm[last_name]
        ratio = g_last / g_first if g_first > 0 else math.inf
        text = (f"Vanishing gradients: the gradient norm of the first layer '{first}' is "
                f"{_fmt(g_first)}, {ratio:.3g}× smaller than that of the last layer "
                f"'{last_name}' ({_fmt(g_last)}); {len(low)} of {len(layers)} layers are more "
                f"than {self.vanish_ratio:g}× below it ({_names(low)}). The early layers "
                "barely learn: each sigmoid/tanh layer multiplies the gradient by its "
                "derivative (at most 0.25 for sigmoid) on the way back.")
        figures = {f"{n}.grad_norm": s.grad_norm[n] for n in layers}
        figures["ratio"] = ratio
        self._fire("vanishing", s, low, figures, text)

    def _detect_dead(self, s: _Sample) -> None:
        if "dead_relu" in self._fired:
            return
        dead = [n for n, v in s.act.items() if v[2] >= self.dead_fraction]
        if not self._held("dead_relu", bool(dead)):
            return
        follows = {name: after for name, _, after in self._acts}
        parts = []
        for n in dead[:6]:
            where = f" (after layer '{follows[n]}')" if follows.get(n) else ""
            parts.append(f"'{n}'{where}: {100 * s.act[n][2]:.0f}% of units")
        text = (f"Dead ReLU layer{'s' if len(dead) > 1 else ''}: " + "; ".join(parts)
                + " never fired on the sampled batch. A dead unit outputs 0 for every input, "
                "so it passes no gradient back and never recovers.")
        figures = {f"{n}.dead_fraction": s.act[n][2] for n in dead}
        self._fire("dead_relu", s, dead, figures, text)

    def _detect_stalled(self, s: _Sample) -> None:
        if "stalled" in self._fired:
            return
        ratios = {n: s.update_ratio[n] for n in self._weight_layers(s) if n in s.update_ratio}
        stalled = bool(ratios) and all(r < self.stall_ratio for r in ratios.values())
        if not self._held("stalled", stalled):
            return
        top = max(ratios, key=lambda n: ratios[n])
        text = (f"Learning has stalled: for {self.patience} samples in a row every layer's "
                f"update-to-weight ratio ‖Δw‖/‖w‖ has been below {self.stall_ratio:g} (largest: "
                f"'{top}' at {_fmt(ratios[top])}; healthy training is near 1e-3). The weights "
                "are barely moving.")
        if "vanishing" in self._fired:
            text += " Gradients are also vanishing (see that finding): cure that first."
        figures = {f"{n}.update_ratio": r for n, r in ratios.items()}
        self._fire("stalled", s, list(ratios), figures, text)

    # ---- results -------------------------------------------------------------------
    @property
    def history(self) -> MonitorHistory:
        """The sampled figures as arrays (rebuilt on access)."""
        return self._history(self._samples)

    def history_since(self, step: int) -> MonitorHistory:
        """The samples taken at ``step`` or later, as ``history`` (a logger reads what it
        has not written yet without rebuilding the whole past)."""
        return self._history([s for s in self._samples if s.step >= step])

    def _history(self, samples: list[_Sample]) -> MonitorHistory:
        steps = np.array([s.step for s in samples], dtype=np.int64)

        def column(get: Callable[[_Sample], float]) -> np.ndarray:
            return np.array([get(s) for s in samples], dtype=np.float64)

        nan = math.nan
        layers = self.layers
        acts = [a[0] for a in self._acts]
        return MonitorHistory(
            steps=steps, layers=layers,
            grad_norm={n: column(lambda s, n=n: s.grad_norm.get(n, nan)) for n in layers},
            weight_norm={n: column(lambda s, n=n: s.weight_norm.get(n, nan)) for n in layers},
            update_ratio={n: column(lambda s, n=n: s.update_ratio.get(n, nan)) for n in layers},
            nonfinite={n: column(lambda s, n=n: s.nonfinite_grad.get(n, 0)
                                 + s.nonfinite_weight.get(n, 0)) for n in layers},
            activations=acts,
            act_mean={n: column(lambda s, n=n: s.act.get(n, (nan,) * 3)[0]) for n in acts},
            act_std={n: column(lambda s, n=n: s.act.get(n, (nan,) * 3)[1]) for n in acts},
            dead_fraction={n: column(lambda s, n=n: s.act.get(n, (nan,) * 3)[2])
                           for n, kind, _ in self._acts if kind == "ReLU"},
        )

    def _summary_parts(self) -> tuple[str, list[tuple[str, ...]], list[tuple[str, ...]]]:
        """The summary's title and its two tables (header row first) of the last sample."""
        s = self._samples[-1]
        title = (f"GradientMonitor: {len(self._samples)} samples (every {self.every} steps), "
                 f"last at step {s.step}")
        rows = [("layer", "type", "grad norm", "weight norm", "update/weight", "non-finite")]
        for layer in self._layers:
            n = layer.name
            ratio = s.update_ratio.get(n, math.nan)
            rows.append((n, layer.kind, _fmt(s.grad_norm[n]), _fmt(s.weight_norm[n]),
                         _fmt(ratio), str(s.nonfinite_grad[n] + s.nonfinite_weight[n])))
        acts: list[tuple[str, ...]] = []
        if s.act:
            acts.append(("activation", "type", "mean", "std", "dead units"))
            for name, kind, _ in self._acts:
                if name in s.act:
                    mean, std, dead = s.act[name]
                    dead_text = f"{100 * dead:.0f}%" if math.isfinite(dead) else "-"
                    acts.append((name, kind, f"{mean:.3g}", f"{std:.3g}", dead_text))
        return title, rows, acts

    def summary(self) -> str:
        """A table of the last sample per layer, then the findings in words."""
        if not self._samples:
            return "GradientMonitor: nothing sampled yet."
        title, rows, acts = self._summary_parts()
        lines = [title, ""] + _table(rows)
        if acts:
            lines += [""] + _table(acts)
        lines.append("")
        if self.findings:
            lines.append("Findings:")
            lines += [f"- step {f.step}, {f.kind}: {f.message}" for f in self.findings]
        else:
            lines.append("No problems detected.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter's view of ``summary()``: the findings first, then the two tables."""
        from chainrule import _html

        if not self._samples:
            return _html.paragraph("GradientMonitor: nothing sampled yet.")
        title, rows, acts = self._summary_parts()
        if self.findings:
            found = _html.items([f.message for f in self.findings],
                                [f"{f.kind} (step {f.step})" for f in self.findings])
        else:
            found = _html.paragraph("No problems detected.")
        parts = ['<div class="chainrule-monitor">', _html.paragraph(title), found,
                 _html.table(rows[0], rows[1:], left=2)]
        if acts:
            parts.append(_html.table(acts[0], acts[1:], left=2))
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return (f"GradientMonitor(layers={len(self._layers)}, every={self.every}, "
                f"samples={len(self._samples)}, findings={[f.kind for f in self.findings]})")

    # ---- Trainer callback protocol (duck-typed: no import of chainrule.train) -------
    # ``step`` is the trainer's global optimizer-step count, so samples line up with the
    # trainer's own numbering, across epochs and resumes.
    def on_train_begin(self, trainer: Any) -> None:
        model = self.model if self.model is not None else getattr(trainer, "model", None)
        if model is None:
            raise ValueError("GradientMonitor: the trainer has no .model; pass the model to "
                             "GradientMonitor(model)")
        self._next_step = int(getattr(trainer, "global_step", self._next_step))
        self.attach(model)

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        pass

    def on_after_backward(self, trainer: Any, step: int) -> None:
        self.record(step)

    def on_before_step(self, trainer: Any, step: int) -> None:
        pass  # gradients were read before clipping, where an explosion is visible

    def on_after_step(self, trainer: Any, step: int) -> None:
        self.after_step(step)

    def on_batch_end(self, trainer: Any, step: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss") if isinstance(logs, dict) else None
        if loss is None or "nonfinite" in self._fired:
            return
        try:
            value = float(loss)
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            last = self._samples[-1] if self._samples else _Sample(self._last_step or 0)
            last.loss = value
            self._detect_nonfinite(last)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        self.detach()

    # ---- resumable state (JSON-serialisable; the Trainer stores it in checkpoints) ---
    def state_dict(self) -> dict[str, Any]:
        """The samples, findings and detector state, as plain JSON-safe data."""
        return {
            "samples": [{"step": s.step, "grad_norm": _jsonable(s.grad_norm),
                         "weight_norm": _jsonable(s.weight_norm),
                         "update_ratio": _jsonable(s.update_ratio),
                         "nonfinite_grad": s.nonfinite_grad,
                         "nonfinite_weight": s.nonfinite_weight,
                         "act": {k: [_to_json(v) for v in t] for k, t in s.act.items()}}
                        for s in self._samples],
            "findings": [{"kind": f.kind, "step": f.step, "layers": f.layers,
                          "figures": _jsonable(f.figures), "message": f.message}
                         for f in self.findings],
            "streak": dict(self._streak),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (history and which detectors fired)."""
        self._samples = []
        for d in state.get("samples", []):
            s = _Sample(int(d["step"]), _floats(d["grad_norm"]), _floats(d["weight_norm"]),
                        _floats(d["update_ratio"]),
                        {k: int(v) for k, v in d["nonfinite_grad"].items()},
                        {k: int(v) for k, v in d["nonfinite_weight"].items()},
                        {k: tuple(_from_json(v) for v in t) for k, t in d["act"].items()})
            self._samples.append(s)
        self.findings = [Finding(f["kind"], int(f["step"]), list(f["layers"]),
                                 _floats(f["figures"]), f["message"])
                         for f in state.get("findings", [])]
        self._fired = {f.kind for f in self.findings}
        self._streak = {k: int(v) for k, v in state.get("streak", {}).items()}


def _to_json(v: float) -> float | str | None:
    if math.isnan(v):
        return None
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def _from_json(v: float | str | None) -> float:
    return math.nan if v is None else float(v)


def _jsonable(d: dict[str, float]) -> dict[str, float | str | None]:
    return {k: _to_json(float(v)) for k, v in d.items()}


def _floats(d: dict[str, Any]) -> dict[str, float]:
    return {k: _from_json(v) for k, v in d.items()}


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    out.insert(1, "-" * len(out[0]))
    return out
