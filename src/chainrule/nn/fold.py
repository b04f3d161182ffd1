"""``Unfold`` and ``Fold``: sliding windows to columns and back (PyTorch's ``nn.Unfold`` /
``nn.Fold``); they hold no parameters and call ``chainrule.ops.fold``."""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.fold import fold, unfold
from chainrule.tensor import Tensor


class Unfold(Module):
    """Extract sliding windows: (N, C, H, W) → (N, C·kH·kW, L), PyTorch's ``nn.Unfold``.

    Args:
        kernel_size: int or (kH, kW).
        dilation, padding, stride: int or pairs, as in ``Conv2d``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Unfold(kernel_size=(2, 3))(cr.randn(2, 5, 3, 4)).shape
        (2, 30, 4)
    """

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum columns of windows into an image: (N, C·kH·kW, L) → (N, C, H, W), PyTorch's
    ``nn.Fold`` (the adjoint of ``Unfold``; overlapping windows add up).

    Args:
        output_size: int or (H, W).
        kernel_size, dilation, padding, stride: as in ``Unfold``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(cr.randn(1, 12, 12)).shape
        (1, 3, 4, 5)
    """

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


__all__ = ["Fold", "Unfold"]
