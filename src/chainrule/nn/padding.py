"""Padding layers, PyTorch's ``nn.ZeroPad*``, ``ConstantPad*``, ``ReflectionPad*``,
``ReplicationPad*`` and ``CircularPad*`` (1d, 2d, 3d): each calls
``chainrule.functional.pad`` with its mode; none holds parameters.

``padding`` is an int (the same width on every side) or PyTorch's tuple, last dimension
first: ``(left, right)``, ``(left, right, top, bottom)`` or ``(left, right, top, bottom,
front, back)``. Negative widths crop.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.padding import pad
from chainrule.tensor import Tensor


def _widths(name: str, padding: Any, dims: int) -> tuple[int, ...]:
    if isinstance(padding, (int,)) and not isinstance(padding, bool):
        return (int(padding),) * (2 * dims)
    try:
        widths = tuple(int(p) for p in padding)
    except TypeError:
        raise TypeError(f"{name}: padding must be an int or a tuple of ints, got "
                        f"{padding!r}") from None
    if not widths or len(widths) % 2 or len(widths) > 2 * dims:
        raise ValueError(f"{name}: padding needs {2 * dims} widths (last dimension first), "
                         f"got {widths}")
    return widths


class _PadNd(Module):
    _mode = "constant"
    _dims = 1

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _widths(type(self).__name__, padding, self._dims)

    def forward(self, x: Tensor) -> Tensor:
        return pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``: (*, W) → (*, W + left + right).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ConstantPad1d((1, 2), 9.0)(cr.tensor([[1.0, 2.0]])).tolist()
        [[9.0, 1.0, 2.0, 9.0, 9.0]]
    """


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``: (*, H, W) → (*, H + top + bottom,
    W + left + right)."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``."""

    _dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ZeroPad1d(1)(cr.tensor([[1.0]])).tolist()
        [[0.0, 1.0, 0.0]]
    """

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ZeroPad1d):
    """Pad the last two dimensions with zeros: (N, C, H, W) → (N, C, H + top + bottom,
    W + left + right).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ZeroPad2d((1, 1, 2, 0))(cr.ones(1, 1, 2, 2)).shape
        (1, 1, 4, 4)
    """

    _dims = 2


class ZeroPad3d(ZeroPad1d):
    """Pad the last three dimensions with zeros."""

    _dims = 3


class ReflectionPad1d(_PadNd):
    """Mirror the last dimension at its edges (the edge not repeated); each width below
    the dimension's size. Input (N, C, W) or (C, W).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ReflectionPad1d(2)(cr.tensor([[0.0, 1.0, 2.0]])).tolist()
        [[2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]]
    """

    _mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirror the last two dimensions; input (N, C, H, W) or (C, H, W)."""

    _dims = 2


class ReflectionPad3d(ReflectionPad1d):
    """Mirror the last three dimensions; input (N, C, D, H, W) or (C, D, H, W)."""

    _dims = 3


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of the last dimension. Input (N, C, W) or (C, W).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ReplicationPad1d((2, 1))(cr.tensor([[0.0, 1.0]])).tolist()
        [[0.0, 0.0, 0.0, 1.0, 1.0]]
    """

    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edges of the last two dimensions; input (N, C, H, W) or (C, H, W)."""

    _dims = 2


class ReplicationPad3d(ReplicationPad1d):
    """Repeat the edges of the last three dimensions."""

    _dims = 3


class CircularPad1d(_PadNd):
    """Wrap the last dimension around (periodic padding); widths at most its size.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.CircularPad1d(1)(cr.tensor([[0.0, 1.0, 2.0]])).tolist()
        [[2.0, 0.0, 1.0, 2.0, 0.0]]
    """

    _mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wrap the last two dimensions around; input (N, C, H, W) or (C, H, W)."""

    _dims = 2


class CircularPad3d(CircularPad1d):
    """Wrap the last three dimensions around."""

    _dims = 3


__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
]
