"""Where did the first NaN come from? ``detect_anomaly`` and a one-call wrapper around it.

``chainrule.detect_anomaly()`` (in ``chainrule.autograd``) makes the first op whose
forward or backward produces NaN/Inf raise ``AnomalyError`` naming the op, the layer and
the line of user code. ``find_nan_origin`` runs a computation (and its backward) under it
and returns that error instead of raising, leaving the parameters' gradients as it found
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import AnomalyError, detect_anomaly
from chainrule.tensor import Tensor

__all__ = ["AnomalyError", "detect_anomaly", "find_nan_origin"]


def _leaves(root: Tensor) -> list[Tensor]:
    """Leaf tensors of the graph below ``root`` that will receive a gradient."""
    out: list[Tensor] = []
    seen: set[int] = set()
    stack = [root._ctx] if root._ctx is not None else []
    while stack:
        fn = stack.pop()
        if id(fn) in seen or fn.inputs is None:
            continue
        seen.add(id(fn))
        for t in fn.inputs:
            if t._ctx is not None:
                stack.append(t._ctx)
            elif t.requires_grad and id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    return out


def find_nan_origin(fn: Callable[..., Any], *args: Any, backward: bool = True,
                    **kwargs: Any) -> AnomalyError | None:
    """Run ``fn(*args, **kwargs)`` under ``detect_anomaly`` and report the first NaN/Inf.

    Args:
        fn: computes something, typically ``lambda: loss_fn(model(x), y)``.
        backward: when ``fn`` returns a scalar tensor that requires grad, also run its
            backward (NaN often first appears there, e.g. ``sqrt`` at 0). The ``.grad`` of
            every leaf is restored afterwards, so training state is untouched.

    Returns:
        the ``AnomalyError`` (its message names the op, the layer and the source line), or
        ``None`` when everything stayed finite.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.diagnostics import find_nan_origin
        >>> x = cr.tensor([-1.0, 4.0], requires_grad=True)
        >>> err = find_nan_origin(lambda: x.sqrt().sum())
        >>> "Sqrt" in str(err)
        True
    """
    # NumPy's divide/invalid warnings are the symptom being diagnosed: the error says it
    with detect_anomaly(), np.errstate(all="ignore"):
        try:
            out = fn(*args, **kwargs)
        except AnomalyError as err:
            return err
        if not (backward and isinstance(out, Tensor) and out.requires_grad
                and out._data.size == 1):
            return None
        leaves = _leaves(out)
        # Backward keeps each .grad Tensor and swaps its array: save both to restore them.
        saved = [(t.grad, None if t.grad is None else t.grad._data) for t in leaves]
        try:
            out.backward()
        except AnomalyError as err:
            return err
        finally:
            for t, (holder, arr) in zip(leaves, saved):
                if holder is not None:
                    holder._data = arr
                t.grad = holder
    return None
