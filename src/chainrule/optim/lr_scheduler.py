"""Learning-rate schedules: set each param group's ``lr`` as training progresses.

Call ``scheduler.step()`` once per epoch (or per batch, for per-step schedules) *after*
``optimizer.step()``, as in PyTorch. Creating a scheduler performs its first step, which
sets the lr for epoch 0.

Unlike PyTorch, where most schedulers multiply the current lr ("chainable" form), every
schedule here except ``ReduceLROnPlateau``, ``MultiplicativeLR`` (whose factors can only
multiply) and ``CosineAnnealingWarmRestarts`` (which keeps its position in the cycle)
computes the lr in closed form from ``last_epoch`` and the groups' ``initial_lr``
(``base_lrs``). So a schedule resumed from ``state_dict()`` continues exactly, with no
accumulated rounding, and the numbers agree with PyTorch's to rounding. The price: two
such schedulers stacked on one optimizer, each stepped by hand, overwrite each other
instead of multiplying. Combine them as in PyTorch with ``ChainedScheduler`` (which
applies each schedule's chainable form, PyTorch's recursion, in turn) or
``SequentialLR``, or wrap (``LinearWarmup(opt, 100, after=CosineAnnealingLR(opt,
T_max=900))``).

``state_dict()`` is plain JSON data (infinities are stored as the strings ``"inf"``,
``"-inf"``). ``load_state_dict`` also writes the restored lrs back into the optimizer's
groups, so the order in which optimizer and scheduler are restored does not matter.
"""

from __future__ import annotations

import bisect
import math
import types
from collections.abc import Callable, Sequence
from numbers import Integral, Real
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
    #: Attributes holding user callables (lr lambdas). As in PyTorch, ``state_dict``
    #: stores None for a function or lambda and the attributes (``vars``) of a callable
    #: object, which ``load_state_dict`` writes back into the callable already there.
    callables: ClassVar[tuple[str, ...]] = ()

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
        self._initial_step()

    def get_lr(self) -> list[float]:
        """The lr of each param group at epoch ``last_epoch``."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set the groups' lrs.

        Args:
            epoch: jump to this epoch instead (PyTorch's deprecated form; the lr is the
                closed form at that epoch).
        """
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = epoch
        self._set_lrs(self.get_lr())

    # ---- hooks for SequentialLR and ChainedScheduler ----------------------------------
    def _initial_step(self) -> None:
        """The step the constructor takes (and SequentialLR repeats) to reach epoch 0."""
        self.step()

    def _restart(self) -> None:
        """Jump to epoch 0 (SequentialLR at a milestone): PyTorch's ``_update_lr(0)``."""
        self.last_epoch = 0
        self._set_lrs(self.get_lr())

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        """PyTorch's chainable form: the lrs at ``last_epoch`` given the current ``lrs``
        (which other schedules in a ``ChainedScheduler`` may have changed); ``initial``
        for the constructor's step. Schedules that set the lr outright keep this
        default, their closed form."""
        return self.get_lr()

    def _chain_step(self) -> None:
        """One step inside a ``ChainedScheduler``."""
        self.last_epoch += 1
        self._set_lrs(self._chain_lrs(self._group_lrs()))

    def _group_lrs(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lrs set by the latest ``step()`` (one per param group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as JSON-serialisable data."""
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key == "optimizer":
                continue
            if key in self.callables:
                out[key] = _callable_state(value)
            elif isinstance(value, LRScheduler):
                out[key] = value.state_dict()
            else:
                out[key] = _to_json(value)
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
            if key in self.callables:
                _load_callable_state(current, value)
            elif isinstance(current, LRScheduler):
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

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        e = self.last_epoch
        return lrs if e == 0 or e % self.step_size else [lr * self.gamma for lr in lrs]


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

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        return [lr * self.gamma ** hits for lr in lrs] if hits else lrs


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

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        return lrs if initial else [lr * self.gamma for lr in lrs]


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

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        e, t, low = self.last_epoch, self.T_max, self.eta_min
        if initial:
            return lrs
        if (e - 1 - t) % (2 * t) == 0:  # leaving the trough: the ratio below would be 0/0
            lift = (1 - math.cos(math.pi / t)) / 2
            return [lr + (b - low) * lift for lr, b in zip(lrs, self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (lr - low) + low for lr in lrs]


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
                                 f"LambdaLR, ConstantLR, LinearLR, PolynomialLR, "
                                 f"LinearWarmup), got {type(after).__name__}; for others use "
                                 "SequentialLR")
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


class LambdaLR(LRScheduler):
    r"""Set the lr to the base lr times a function of the epoch::

        lr(e) = base_lr · λ(e)

    Args:
        optimizer: the optimizer.
        lr_lambda: λ, a function of the epoch (an int), or one per param group.

    ``state_dict()`` does not save functions or lambdas (as PyTorch); a callable object's
    attributes are saved and restored into the object given at construction.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.5]
    """

    callables = ("lr_lambdas",)

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]
                 | Sequence[Callable[[int], float]], last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "LambdaLR")
        self.lr_lambdas = _lambdas("LambdaLR", lr_lambda, len(optimizer.param_groups))
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e = self.last_epoch
        return [b * f(e) for f, b in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LRScheduler):
    r"""Multiply the current lr by a function of the epoch at every step::

        lr(e) = lr(e − 1) · λ(e)        (lr(0) = the group's lr)

    The factors compound on the group's lr, so this schedule is the one here that is not
    a closed form of the epoch: it resumes from the lr restored into the optimizer.

    Args:
        optimizer: the optimizer.
        lr_lambda: λ, a function of the epoch (an int), or one per param group.

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.lr_scheduler.MultiplicativeLR(opt, lambda e: 0.5)
        >>> for _ in range(3):
        ...     sched.step()
        >>> sched.get_last_lr()
        [0.125]
    """

    wrappable = False
    callables = ("lr_lambdas",)

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]
                 | Sequence[Callable[[int], float]], last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "MultiplicativeLR")
        self.lr_lambdas = _lambdas("MultiplicativeLR", lr_lambda,
                                   len(optimizer.param_groups))
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e = self.last_epoch
        return [lr * f(e) for f, lr in zip(self.lr_lambdas, self._group_lrs())]

    def _initial_step(self) -> None:
        self.last_epoch += 1  # epoch 0 keeps the group's lr
        self._set_lrs(self._group_lrs())

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        if initial:
            return lrs
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, lrs)]


class ConstantLR(LRScheduler):
    r"""Multiply the lr by a constant ``factor`` for the first ``total_iters`` epochs::

        lr(e) = base_lr · factor    for e < total_iters
        lr(e) = base_lr             afterwards

    Args:
        optimizer: the optimizer.
        factor: in [0, 1] (default 1/3).
        total_iters: epochs at the reduced lr, ≥ 0 (default 5).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=0.9)
        >>> sched = cr.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2)
        >>> lrs = [sched.get_last_lr()[0]]
        >>> for _ in range(3):
        ...     sched.step()
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [0.45, 0.45, 0.9, 0.9]
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        if isinstance(factor, bool) or not isinstance(factor, Real) or not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor!r}")
        self.factor = float(factor)
        self.total_iters = _count("ConstantLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # PyTorch's closed form (factor + (1 − factor) once done), for the same rounding
        factor = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [b * factor for b in self.base_lrs]

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in lrs]
        if self.last_epoch != self.total_iters:
            return lrs
        return [lr * (1.0 / self.factor) for lr in lrs]


class LinearLR(LRScheduler):
    r"""Move the lr's factor linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then hold it::

        lr(e) = base_lr · (s + (f − s) · min(e, T) / T)

    Args:
        optimizer: the optimizer.
        start_factor: s in (0, 1] (default 1/3).
        end_factor: f in [0, 1] (default 1).
        total_iters: T ≥ 1 (default 5).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> lrs = [sched.get_last_lr()[0]]
        >>> for _ in range(3):
        ...     sched.step()
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        name = "LinearLR"
        if isinstance(start_factor, bool) or not isinstance(start_factor, Real) \
                or not 0 < start_factor <= 1:
            raise ValueError(f"{name}: start_factor must be in (0, 1], got {start_factor!r}")
        if isinstance(end_factor, bool) or not isinstance(end_factor, Real) \
                or not 0 <= end_factor <= 1:
            raise ValueError(f"{name}: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = _count(name, "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        s, f, t = self.start_factor, self.end_factor, self.total_iters
        factor = s + (f - s) * min(t, self.last_epoch) / t
        return [b * factor for b in self.base_lrs]

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        s, f, t, e = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if e == 0:
            return [lr * s for lr in lrs]
        if initial or e > t:
            return lrs
        return [lr * (1.0 + (f - s) / (t * s + (e - 1) * (f - s))) for lr in lrs]


class PolynomialLR(LRScheduler):
    r"""Decay the lr to 0 along a polynomial over ``total_iters`` epochs::

        lr(e) = base_lr · (1 − min(e, T) / T)^power

    Args:
        optimizer: the optimizer.
        total_iters: T ≥ 1 (default 5).
        power: the polynomial's degree (default 1, linear decay).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0)
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.5625]
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        self.total_iters = _count("PolynomialLR", "total_iters", total_iters, 1)
        if isinstance(power, bool) or not isinstance(power, Real) or not math.isfinite(power):
            raise ValueError(f"PolynomialLR: power must be a finite number, got {power!r}")
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.total_iters
        factor = (1.0 - min(t, self.last_epoch) / t) ** self.power
        return [b * factor for b in self.base_lrs]

    def _chain_lrs(self, lrs: list[float], initial: bool = False) -> list[float]:
        e, t = self.last_epoch, self.total_iters
        if initial or e > t:
            return lrs
        decay = ((1.0 - e / t) / (1.0 - (e - 1) / t)) ** self.power
        return [lr * decay for lr in lrs]


class CyclicLR(LRScheduler):
    r"""Cyclical learning rates (Smith, 2017), as PyTorch: per batch, the lr runs from
    ``base_lr`` up to ``max_lr`` in ``step_size_up`` steps and back in
    ``step_size_down``, the amplitude scaled per cycle or per step.

    With step ``e``, cycle length ``L = up + down`` and ``r = up / L``::

        cycle = ⌊1 + e/L⌋,   x = 1 + e/L − cycle
        h = x / r  if x ≤ r  else  (x − 1)/(r − 1)          (0 → 1 → 0 over a cycle)
        lr = base_lr + (max_lr − base_lr) · h · scale(cycle or e)

    ``mode``: ``'triangular'`` (scale 1), ``'triangular2'`` (scale ``1/2^(cycle−1)``,
    halving each cycle) or ``'exp_range'`` (scale ``γ^e``); or a custom ``scale_fn``
    evaluated on the cycle or the step (``scale_mode``). With ``cycle_momentum`` the
    momentum (or Adam's β₁) moves the other way: ``max_momentum − (max_momentum −
    base_momentum)·h·scale``.

    Args:
        optimizer: the optimizer (its lrs are set to ``base_lr``).
        base_lr, max_lr: lower and upper lr (one value, or one per group).
        step_size_up: steps of the rising half (default 2000).
        step_size_down: steps of the falling half (default: ``step_size_up``).
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``.
        gamma: γ of ``'exp_range'`` (default 1).
        scale_fn: custom scale, a function of one number with values in [0, 1]; replaces
            ``mode``. Not saved by ``state_dict()`` when it is a function (as PyTorch).
        scale_mode: ``'cycle'`` or ``'iterations'``: what ``scale_fn`` is given.
        cycle_momentum: also cycle momentum / β₁ (default True; needs an optimizer with
            ``momentum`` or ``betas``).
        base_momentum, max_momentum: the momentum range (default 0.8, 0.9).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=0.1, momentum=0.9)
        >>> sched = cr.optim.lr_scheduler.CyclicLR(opt, 0.1, 1.0, step_size_up=2)
        >>> lrs = []
        >>> for _ in range(4):
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 6))
        >>> lrs
        [0.55, 1.0, 0.55, 0.1]
    """

    wrappable = False
    callables = ("_scale_fn_custom",)

    def __init__(self, optimizer: Optimizer, base_lr: float | list[float],
                 max_lr: float | list[float], step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.8,
                 max_momentum: float | list[float] = 0.9, last_epoch: int = -1) -> None:
        name = "CyclicLR"
        _check_optimizer(optimizer, name)
        groups = optimizer.param_groups
        base_lrs = _per_group(name, "base_lr", base_lr, len(groups))
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs):
                group["lr"] = lr
        self.max_lrs = _per_group(name, "max_lr", max_lr, len(groups))
        up = float(_count(name, "step_size_up", step_size_up, 1))
        down = up if step_size_down is None else float(
            _count(name, "step_size_down", step_size_down, 0))
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"{name}: mode must be 'triangular', 'triangular2' or "
                             f"'exp_range' (or give scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{name}: scale_mode must be 'cycle' or 'iterations', got "
                             f"{scale_mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{name}: scale_fn must be callable, got "
                            f"{type(scale_fn).__name__}")
        self.mode = mode
        self.gamma = float(gamma)
        self._scale_fn_custom = scale_fn
        # the built-in modes fix what the scale is a function of (as PyTorch)
        self.scale_mode = scale_mode if scale_fn is not None else (
            "iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with "
                                 f"momentum or betas, not {type(optimizer).__name__}; pass "
                                 "cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(name, "base_momentum", base_momentum,
                                             len(groups))
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, len(groups))
            if last_epoch == -1:
                for group, high, low in zip(groups, self.max_momentums,
                                            self.base_momentums):
                    _set_momentum(group, high, self.use_beta1)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)
        # PyTorch takes the base lrs from base_lr, not from the groups' initial_lr (which
        # another scheduler may have set first)
        self.base_lrs = base_lrs
        self._set_lrs(self.get_lr())

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at ``x`` (a cycle number or a step)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def _height(self) -> float:
        """``h · scale`` at ``last_epoch``: the fraction of the amplitude to add."""
        e = self.last_epoch
        cycle = math.floor(1 + e / self.total_size)
        x = 1.0 + e / self.total_size - cycle
        if x <= self.step_ratio:
            h = x / self.step_ratio
        else:
            h = (x - 1) / (self.step_ratio - 1)
        return h * self.scale_fn(cycle if self.scale_mode == "cycle" else e)

    def get_lr(self) -> list[float]:
        height = self._height()
        return [b + (m - b) * height for b, m in zip(self.base_lrs, self.max_lrs)]

    def _set_lrs(self, lrs: list[float]) -> None:
        super()._set_lrs(lrs)
        if not self.cycle_momentum:
            return
        height = self._height()
        for group, low, high in zip(self.optimizer.param_groups, self.base_momentums,
                                    self.max_momentums):
            _set_momentum(group, high - (high - low) * height, self.use_beta1)


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""SGDR (Loshchilov & Hutter, 2017), as PyTorch: cosine annealing from the base lr to
    ``eta_min`` over ``T_i`` epochs, then a restart, each period ``T_mult`` times the
    last::

        lr = η_min + (base_lr − η_min) · (1 + cos(π · T_cur / T_i)) / 2

    ``T_cur`` counts the epochs since the last restart (``T_0`` is the first period).
    ``step()`` advances one epoch; ``step(epoch)`` jumps to ``epoch``, which may be a
    float (``step(epoch + i / iters_per_epoch)`` for per-batch annealing).

    Args:
        optimizer: the optimizer.
        T_0: the first period, an int ≥ 1.
        T_mult: the factor between periods, an int ≥ 1 (default 1).
        eta_min: the lowest lr (default 0).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = cr.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
        >>> lrs = []
        >>> for _ in range(3):
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 6))
        >>> lrs
        [0.5, 1.0, 0.5]
    """

    wrappable = False

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1,  # noqa: N803
                 eta_min: float = 0.0, last_epoch: int = -1) -> None:
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = _count(name, "T_0", T_0, 1)
        self.T_i = self.T_0
        self.T_mult = _count(name, "T_mult", T_mult, 1)
        if isinstance(eta_min, bool) or not isinstance(eta_min, Real):
            raise ValueError(f"{name}: eta_min must be a number, got {eta_min!r}")
        self.eta_min = float(eta_min)
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (b - self.eta_min) * cosine for b in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to ``epoch`` (a float allowed).

        Raises:
            ValueError: ``epoch`` is negative.
        """
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got "
                                 f"{epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # the restart this epoch falls after: T_0·(m^n − 1)/(m − 1) ≤ epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self.get_lr())

    def _chain_step(self) -> None:
        self.step()


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


class SequentialLR(LRScheduler):
    r"""Run schedules one after another, switching at the ``milestones``, as PyTorch.

    Schedule ``i`` runs from epoch ``milestones[i−1]`` (0 for the first), restarted at its
    own epoch 0 there. The usual use is a warm-up then a decay::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, decay], milestones=[5])

    Step only the ``SequentialLR``. Its ``state_dict()`` holds the schedules' states.

    Args:
        optimizer: the optimizer all schedules belong to.
        schedulers: the schedules, in order (not ``ReduceLROnPlateau``).
        milestones: ``len(schedulers) − 1`` epochs at which to switch.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.optim import lr_scheduler as S
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> warm = S.ConstantLR(opt, factor=0.1, total_iters=2)
        >>> decay = S.ExponentialLR(opt, gamma=0.5)
        >>> sched = S.SequentialLR(opt, [warm, decay], milestones=[2])
        >>> lrs = [sched.get_last_lr()[0]]
        >>> for _ in range(4):
        ...     sched.step()
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [0.1, 0.1, 1.0, 0.5, 0.25]
    """

    wrappable = False

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        name = "SequentialLR"
        _check_optimizer(optimizer, name)
        scheds = _check_children(name, schedulers, optimizer)
        ms = list(milestones)
        if len(ms) != len(scheds) - 1:
            raise ValueError(f"{name}: {len(scheds)} schedulers need {len(scheds) - 1} "
                             f"milestones, got {len(ms)}")
        if not all(isinstance(m, Integral) and not isinstance(m, bool) for m in ms):
            raise ValueError(f"{name}: milestones must be ints, got {milestones!r}")
        self.optimizer = optimizer
        self._schedulers = scheds
        self._milestones = [int(m) for m in ms]
        self.last_epoch = last_epoch + 1
        # Back to the initial lrs, and undo the first step each schedule's constructor
        # took; then only the schedule of epoch 0 takes it again (as PyTorch).
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch in the schedule whose turn it is."""
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones),
                "_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_children(self, state_dict, ("last_epoch", "_milestones", "_last_lr"))
        self.last_epoch = int(state_dict["last_epoch"])
        self._milestones = [int(m) for m in state_dict["_milestones"]]


class ChainedScheduler(LRScheduler):
    r"""Apply several schedules at every step, each on the lr the previous one left, as
    PyTorch.

    ``step()`` steps each schedule in turn in its chainable form (PyTorch's recursive
    formula: ``ExponentialLR`` multiplies the current lr by γ, ``ConstantLR`` divides by
    its factor when it ends, ...), so the effects compose: ``ConstantLR(factor=0.1,
    total_iters=2)`` chained with ``ExponentialLR(gamma=0.9)`` gives
    ``lr(e) = base·0.9^e·(0.1 if e < 2 else 1)``. Schedules that set the lr outright
    (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``, ``CosineAnnealingWarmRestarts``,
    ``LinearWarmup``) overwrite what came before them, as in PyTorch. Construction
    composes the schedules' first steps in list order (as creating them one after
    another does in PyTorch).

    Step only the ``ChainedScheduler``. Its ``state_dict()`` holds the schedules' states.

    Args:
        schedulers: the schedules (not ``ReduceLROnPlateau``), all on one optimizer.
        optimizer: that optimizer (default: the first schedule's).

    Example:
        >>> import chainrule as cr
        >>> from chainrule.optim import lr_scheduler as S
        >>> opt = cr.optim.SGD([cr.nn.Parameter([1.0])], lr=1.0)
        >>> sched = S.ChainedScheduler([S.ConstantLR(opt, factor=0.1, total_iters=2),
        ...                             S.ExponentialLR(opt, gamma=0.5)])
        >>> lrs = [sched.get_last_lr()[0]]
        >>> for _ in range(3):
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 6))
        >>> lrs
        [0.1, 0.05, 0.25, 0.125]
    """

    wrappable = False

    def __init__(self, schedulers: Sequence[LRScheduler],
                 optimizer: Optimizer | None = None) -> None:
        name = "ChainedScheduler"
        scheds = list(schedulers)
        if not scheds:
            raise ValueError(f"{name} needs at least one scheduler")
        if optimizer is None:
            optimizer = getattr(scheds[0], "optimizer", None)
        _check_optimizer(optimizer, name)
        self.optimizer = optimizer
        self._schedulers = _check_children(name, scheds, optimizer)
        # Each schedule's constructor set its own closed form; compose their first steps
        # from the initial lrs instead, as PyTorch's chainable constructors do.
        lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        for s in self._schedulers:
            lrs = s._chain_lrs(lrs, initial=True)
            s._set_lrs(lrs)
        self._last_lr = list(lrs)

    def step(self) -> None:  # type: ignore[override]
        """Step every schedule once, in order."""
        for s in self._schedulers:
            s._chain_step()
        self._last_lr = self._group_lrs()

    def _chain_step(self) -> None:
        self.step()

    def state_dict(self) -> dict[str, Any]:
        return {"_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_children(self, state_dict, ("_last_lr",))

    def __repr__(self) -> str:
        inner = ", ".join(type(s).__name__ for s in self._schedulers)
        return f"ChainedScheduler([{inner}], lr={self._last_lr})"


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


def _count(name: str, label: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name}: {label} must be an int >= {low}, got {value!r}")
    return int(value)


def _lambdas(name: str, lr_lambda: Any, n: int) -> list[Callable[[int], float]]:
    """One lr function per param group (PyTorch: one for all, or a list of n)."""
    fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
    if len(fns) != n:
        raise ValueError(f"{name}: expected {n} lr_lambdas (one per param group), got "
                         f"{len(fns)}")
    for f in fns:
        if not callable(f):
            raise TypeError(f"{name}: lr_lambda must be callable, got {type(f).__name__}")
    return fns


def _set_momentum(group: dict[str, Any], value: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _callable_state(value: Any) -> Any:
    """What ``state_dict`` keeps of a callable (or a list of them), as PyTorch: nothing
    for a function or lambda, the attributes of a callable object."""
    if isinstance(value, list):
        return [_callable_state(v) for v in value]
    if value is None or isinstance(value, (types.FunctionType, types.MethodType,
                                           types.BuiltinFunctionType)):
        return None
    return _to_json(dict(vars(value))) if hasattr(value, "__dict__") else None


def _load_callable_state(current: Any, saved: Any) -> None:
    if isinstance(current, list):
        saved = list(saved) if isinstance(saved, (list, tuple)) else [saved] * len(current)
        if len(saved) != len(current):
            raise ValueError(f"load_state_dict: {len(saved)} saved lr functions, "
                             f"{len(current)} here")
        for c, v in zip(current, saved):
            _load_callable_state(c, v)
    elif saved is not None and current is not None:
        vars(current).update(_from_json(saved))


def _check_children(name: str, schedulers: Sequence[Any],
                    optimizer: Optimizer) -> list[LRScheduler]:
    scheds = list(schedulers)
    if not scheds:
        raise ValueError(f"{name} needs at least one scheduler")
    for i, s in enumerate(scheds):
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{name}: scheduler {i} is a {type(s).__name__}, not a "
                            "chainrule LRScheduler")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{name}: scheduler {i} is a ReduceLROnPlateau, which needs "
                             "a metric at each step; step it separately")
        if s.optimizer is not optimizer:
            raise ValueError(f"{name}: scheduler {i} ({type(s).__name__}) belongs to "
                             "another optimizer")
    return scheds


def _undo_initial_steps(scheduler: Any) -> None:
    """Take back the constructor's step of every schedule inside ``scheduler``."""
    for s in scheduler._schedulers:
        if hasattr(s, "_schedulers"):
            _undo_initial_steps(s)
        else:
            s.last_epoch -= 1


def _load_children(owner: Any, state_dict: dict[str, Any], own: tuple[str, ...]) -> None:
    name = type(owner).__name__
    expected = set(own) | {"_schedulers"}
    if set(state_dict) != expected:
        raise ValueError(f"{name}.load_state_dict: expected keys {sorted(expected)}, got "
                         f"{sorted(state_dict)}; was it saved from another scheduler?")
    saved = list(state_dict["_schedulers"])
    if len(saved) != len(owner._schedulers):
        raise ValueError(f"{name}.load_state_dict: {len(saved)} saved schedulers, "
                         f"{len(owner._schedulers)} here")
    for s, sd in zip(owner._schedulers, saved):
        s.load_state_dict(sd)
    owner._last_lr = [float(v) for v in state_dict["_last_lr"]]
    # the children each re-applied their own lrs; the composite's are the current ones
    for group, lr in zip(owner.optimizer.param_groups, owner._last_lr):
        group["lr"] = lr
