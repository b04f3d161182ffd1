"""Learning-rate schedules: set each param group's ``lr`` as training progresses.

Call ``scheduler.step()`` once per epoch (or per batch, for per-step schedules) *after*
``optimizer.step()``, as in PyTorch. Creating a scheduler performs its first step, which
sets the lr for epoch 0.

Unlike PyTorch, where most schedulers multiply the current lr ("chainable" form), every
schedule here except ``ReduceLROnPlateau`` computes the lr in closed form from
``last_epoch`` and the groups' ``initial_lr`` (``base_lrs``). So a schedule resumed from
``state_dict()`` continues exactly, with no accumulated rounding, and the numbers agree
with PyTorch's to rounding. The price: two such schedulers stacked on one optimizer
overwrite each other instead of multiplying; combine them by wrapping instead
(``LinearWarmup(opt, 100, after=CosineAnnealingLR(opt, T_max=900))``).

``state_dict()`` is plain JSON data (infinities are stored as the strings ``"inf"``,
``"-inf"``). ``load_state_dict`` also writes the restored lrs back into the optimizer's
groups, so the order in which optimizer and scheduler are restored does not matter.
"""

from __future__ import annotations

import bisect
import math
from numbers import Integral
from typing import Any, ClassVar, SupportsFloat

from chainrule.optim.optimizer import Optimizer


class LRScheduler:
    """Base class of the schedulers: ``step()``, ``get_last_lr()``, ``state_dict()``.

    Subclasses set their attributes, call ``super().__init__`` and implement ``get_lr()``,
    the lr of every group at epoch ``last_epoch``.

    Args:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` to set.
        last_epoch: the index of the last epoch done; leave at -1 for a new run (the base
            lrs are then the groups' current lrs, saved as ``group["initial_lr"]``).

    Attributes:
        base_lrs: each group's ``initial_lr``.
        last_epoch: number of ``step()`` calls since epoch 0.
    """

    #: True when ``get_lr`` depends on ``last_epoch`` alone, so another schedule can
    #: drive it (``LinearWarmup(after=...)``).
    wrappable: ClassVar[bool] = True

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(optimizer, name)
        if not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{name}: param group {i} has no 'initial_lr', needed to resume "
                        f"at last_epoch={last_epoch}; load the optimizer's state_dict first "
                        "(or use scheduler.load_state_dict)")
        self.base_lrs: list[float] = [float(g["initial_lr"]) for g in groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = [float(g["lr"]) for g in groups]
        self.step()

    def get_lr(self) -> list[float]:
        """The lr of each param group at epoch ``last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the groups' lrs."""
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def get_last_lr(self) -> list[float]:
        """The lrs set by the latest ``step()`` (one per param group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as JSON-serialisable data."""
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key == "optimizer":
                continue
            out[key] = value.state_dict() if isinstance(value, LRScheduler) else _to_json(value)
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` of the same kind of scheduler and re-apply its lrs."""
        name = type(self).__name__
        own = {k for k in vars(self) if k != "optimizer"}
        missing = sorted(own - set(state_dict))
        unexpected = sorted(set(state_dict) - own)
        if missing or unexpected:
            raise ValueError(f"{name}.load_state_dict: missing keys {missing}, unexpected "
                             f"keys {unexpected}; was it saved from another scheduler?")
        for key, value in state_dict.items():
            current = getattr(self, key)
            if isinstance(current, LRScheduler):
                current.load_state_dict(value)
            else:
                setattr(self, key, _from_json(value))
        self._set_lrs(self._last_lr)

    def _set_lrs(self, lrs: list[float]) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} param "
                             f"groups but the scheduler has {len(lrs)} lrs (was a group "
                             "added after the scheduler was created?)")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` every ``step_size`` epochs::

        lr(e) = base_lr · γ^⌊e / step_size⌋

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.StepLR(opt, step_size=2, gamma=0.5)
        >>> for _ in range(4):
        ...     sched.step()
        >>> sched.get_last_lr()
        [0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")
        self.step_size = step_size
        self.gamma = _positive("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** (self.last_epoch // self.step_size)
        return [b * factor for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` at each milestone epoch::

        lr(e) = base_lr · γ^(number of milestones ≤ e)

    A milestone listed twice counts twice, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.1]
    """

    def __init__(self, optimizer: Optimizer, milestones: list[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        ms = list(milestones)
        if not all(isinstance(m, Integral) and not isinstance(m, bool) and m >= 0
                   for m in ms):
            raise ValueError(f"MultiStepLR: milestones must be ints >= 0, got {milestones!r}")
        self.milestones = sorted(int(m) for m in ms)
        self.gamma = _positive("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** bisect.bisect_right(self.milestones, self.last_epoch)
        return [b * factor for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` every epoch::

        lr(e) = base_lr · γ^e

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.ExponentialLR(opt, gamma=0.5)
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _positive("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** self.last_epoch
        return [b * factor for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal from the base lr to ``eta_min`` along half a cosine over ``T_max`` epochs::

        lr(e) = η_min + (base_lr − η_min) · (1 + cos(π·e / T_max)) / 2

    (SGDR without restarts; past ``T_max`` the cosine rises again, as in PyTorch.)

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.CosineAnnealingLR(opt, T_max=2, eta_min=0.0)
        >>> sched.step()
        >>> round(sched.get_last_lr()[0], 6)
        0.5
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _positive("CosineAnnealingLR", "T_max", T_max)
        if not (isinstance(eta_min, (int, float)) and eta_min >= 0):
            raise ValueError(f"CosineAnnealingLR: eta_min must be >= 0, got {eta_min!r}")
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (b - self.eta_min) * cosine for b in self.base_lrs]


class LinearWarmup(LRScheduler):
    r"""Ramp the lr up linearly over ``warmup_steps``, then hold it or hand over.

    ::

        lr(e) = base_lr · (f₀ + (1 − f₀)·e / W)     for e < W   (f₀ = start_factor)
        lr(e) = base_lr                             for e ≥ W, without ``after``
        lr(e) = after's lr at epoch e − W           for e ≥ W, with ``after``

    ``after`` is another schedule on the same optimizer (StepLR, MultiStepLR,
    ExponentialLR, CosineAnnealingLR, or another LinearWarmup); this scheduler drives it,
    so step only the ``LinearWarmup``. Its state is saved inside this one's
    ``state_dict()``. Without ``after`` the schedule equals PyTorch's
    ``LinearLR(start_factor=f₀, end_factor=1, total_iters=W)``; with it,
    ``SequentialLR([LinearLR(...), after], milestones=[W])``.

    Args:
        optimizer: the optimizer.
        warmup_steps: W ≥ 1, the number of epochs (or batches) of warm-up.
        start_factor: f₀ in [0, 1], the fraction of the base lr at epoch 0.
        after: the schedule to follow the warm-up (optional).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> cosine = cr.optim.CosineAnnealingLR(opt, T_max=10)
        >>> sched = cr.optim.LinearWarmup(opt, warmup_steps=4, after=cosine)
        >>> sched.get_last_lr()
        [0.0]
        >>> for _ in range(4):
        ...     sched.step()
        >>> sched.get_last_lr()
        [1.0]
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 0.0,
                 after: LRScheduler | None = None, last_epoch: int = -1) -> None:
        if not isinstance(warmup_steps, int) or warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be an int >= 1, got "
                             f"{warmup_steps!r}")
        if not (isinstance(start_factor, (int, float)) and 0.0 <= start_factor <= 1.0):
            raise ValueError(f"LinearWarmup: start_factor must be in [0, 1], got "
                             f"{start_factor!r}")
        if after is not None:
            if not isinstance(after, LRScheduler) or not after.wrappable:
                raise ValueError(f"LinearWarmup: after must be a closed-form schedule "
                                 f"(StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, "
                                 f"LinearWarmup), got {type(after).__name__}")
            if after.optimizer is not optimizer:
                raise ValueError("LinearWarmup: after schedules a different optimizer")
        self.warmup_steps = warmup_steps
        self.start_factor = float(start_factor)
        self.after = after
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, w = self.last_epoch, self.warmup_steps
        if e < w:
            factor = self.start_factor + (1.0 - self.start_factor) * e / w
            return [b * factor for b in self.base_lrs]
        if self.after is None:
            return list(self.base_lrs)
        self.after.last_epoch = e - w
        lrs = self.after.get_lr()
        self.after._last_lr = list(lrs)
        return lrs


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2018), as PyTorch: per batch, the lr rises from
    ``max_lr/div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``,
    then anneals to ``max_lr/(div_factor·final_div_factor)``; momentum (SGD's
    ``momentum`` or Adam's β₁) moves the opposite way between ``max_momentum`` and
    ``base_momentum``.

    Each phase interpolates from its start value ``a`` to its end value ``b`` with
    ``pct`` = the fraction of the phase done::

        cos:    b + (a − b)·(1 + cos(π·pct)) / 2
        linear: a + (b − a)·pct

    Phases (step ``s``, ``T = total_steps``): ``s ≤ pct_start·T − 1``: initial → max;
    then max → min. With ``three_phase``: initial → max, max → initial (until
    ``2·pct_start·T − 2``), initial → min. The group keys ``initial_lr``, ``max_lr``,
    ``min_lr``, ``max_momentum``, ``base_momentum`` are set as PyTorch does. Stepping
    more than ``total_steps`` times raises ``ValueError``.

    Args:
        optimizer: the optimizer.
        max_lr: peak lr (one value, or one per group).
        total_steps: number of steps in the cycle; or give ``epochs`` and
            ``steps_per_epoch``.
        pct_start: fraction of the cycle spent increasing the lr (default 0.3).
        anneal_strategy: ``'cos'`` (default) or ``'linear'``.
        cycle_momentum: also cycle momentum / β₁ (default True).
        base_momentum, max_momentum: momentum range (default 0.85, 0.95).
        div_factor: initial_lr = max_lr / div_factor (default 25).
        final_div_factor: min_lr = initial_lr / final_div_factor (default 1e4).
        three_phase: use the three-phase variant.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=0.1, momentum=0.9)
        >>> sched = cr.optim.OneCycleLR(opt, max_lr=1.0, total_steps=100)
        >>> round(sched.get_last_lr()[0], 6), opt.param_groups[0]["momentum"]
        (0.04, 0.95)
    """

    wrappable = False

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        _check_optimizer(optimizer, name)
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"{name}: total_steps must be a positive int, got "
                                 f"{total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for label, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(v, int) or v <= 0:
                    raise ValueError(f"{name}: {label} must be a positive int, got {v!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        if not (isinstance(pct_start, (int, float)) and 0.0 <= pct_start <= 1.0):
            raise ValueError(f"{name}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        t = self.total_steps
        if three_phase:
            self.phases = [
                [float(pct_start * t) - 1, "initial_lr", "max_lr", "max_momentum",
                 "base_momentum"],
                [float(2 * pct_start * t) - 2, "max_lr", "initial_lr", "base_momentum",
                 "max_momentum"],
                [float(t - 1), "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]
        else:
            self.phases = [
                [float(pct_start * t) - 1, "initial_lr", "max_lr", "max_momentum",
                 "base_momentum"],
                [float(t - 1), "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]
        groups = optimizer.param_groups
        max_lrs = _per_group(name, "max_lr", max_lr, len(groups))
        if last_epoch == -1:
            for group, peak in zip(groups, max_lrs):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and not self.use_beta1:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with "
                                 f"momentum or betas, not {type(optimizer).__name__}; pass "
                                 "cycle_momentum=False")
            highs = _per_group(name, "max_momentum", max_momentum, len(groups))
            lows = _per_group(name, "base_momentum", base_momentum, len(groups))
            if last_epoch == -1:
                for group, high, low in zip(groups, highs, lows):
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _phase_values(self, group: dict[str, Any], lr: bool) -> float:
        step = self.last_epoch
        start = 0.0
        for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                # A zero-length phase (tiny total_steps) is simply complete.
                pct = (step - start) / (end - start) if end != start else 1.0
                a, b = (lr_a, lr_b) if lr else (m_a, m_b)
                return self._anneal(group[a], group[b], pct)
            start = end
        raise AssertionError("unreachable")

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {self.last_epoch} times, but the cycle "
                             f"has total_steps={self.total_steps}")
        return [self._phase_values(g, lr=True) for g in self.optimizer.param_groups]

    def _set_lrs(self, lrs: list[float]) -> None:
        super()._set_lrs(lrs)
        if not self.cycle_momentum:
            return
        for group in self.optimizer.param_groups:
            momentum = self._phase_values(group, lr=False)
            if self.use_beta1:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum


class ReduceLROnPlateau(LRScheduler):
    r"""Divide the lr when a metric has stopped improving, as PyTorch.

    ``step(metric)`` once per epoch. The metric improves when (mode min, threshold_mode
    rel) ``metric < best·(1 − threshold)`` (abs: ``metric < best − threshold``; mode max
    mirrors this). After more than ``patience`` epochs without improvement::

        lr ← max(lr · factor, min_lr)     (skipped when the change is below eps)

    and then ``cooldown`` epochs pass before bad epochs are counted again.

    Args:
        optimizer: the optimizer.
        mode: ``'min'`` (a loss) or ``'max'`` (an accuracy).
        factor: multiplier in (0, 1).
        patience: epochs without improvement tolerated before reducing.
        threshold: how much better counts as better.
        threshold_mode: ``'rel'`` or ``'abs'``.
        cooldown: epochs to wait after a reduction.
        min_lr: floor for the lr (one value, or one per group).
        eps: smallest lr change applied.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        >>> for loss in [1.0, 1.0, 1.0]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.5]
    """

    wrappable = False

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0.0,
                 eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        _check_optimizer(optimizer, name)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        if not (isinstance(factor, (int, float)) and 0.0 < factor < 1.0):
            raise ValueError(f"{name}: factor must be in (0, 1), got {factor!r}")
        for label, v in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: {label} must be an int >= 0, got {v!r}")
        for label, v in (("threshold", threshold), ("eps", eps)):
            if not (isinstance(v, (int, float)) and v >= 0):
                raise ValueError(f"{name}: {label} must be >= 0, got {v!r}")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = float(factor)
        self.patience = patience
        self.threshold = float(threshold)
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lrs = _per_group(name, "min_lr", min_lr, len(optimizer.param_groups))
        if any(v < 0 for v in self.min_lrs):
            raise ValueError(f"{name}: min_lr must be >= 0, got {min_lr!r}")
        self.eps = float(eps)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    def step(self, metric: SupportsFloat) -> None:  # type: ignore[override]
        """Record one epoch's ``metric`` (a float or a one-element tensor)."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(groups)} param "
                             f"groups but min_lr has {len(self.min_lrs)} values")
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    def _is_better(self, value: float) -> bool:
        best = self.best
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < best * (1.0 - self.threshold)
            return value < best - self.threshold
        if self.threshold_mode == "rel":
            return value > best * (1.0 + self.threshold)
        return value > best + self.threshold


# ---- helpers ---------------------------------------------------------------------------------
def _check_optimizer(optimizer: Any, name: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name} needs a chainrule Optimizer, got {type(optimizer).__name__}")


def _positive(name: str, label: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: {label} must be a finite number > 0, got {value!r}")
    return float(value)


def _per_group(name: str, label: str, value: Any, n: int) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: {label} has {len(value)} values, the optimizer has "
                             f"{n} param groups")
        return [float(v) for v in value]
    return [float(value)] * n


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _to_json(value: Any) -> Any:
    """JSON has no infinities: store them as strings (``_from_json`` reverses this)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, (list, tuple)):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    return value
