"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d`` and ``AdaptiveAvgPool2d``.

They hold no parameters; each stores its settings and calls the op in
``chainrule.ops.pooling``.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from chainrule.tensor import Tensor


class _MaxPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """Maximum over windows of (N, C, H, W) inputs, PyTorch's ``nn.MaxPool2d``.

    Args:
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW); defaults to ``kernel_size``.
        padding: int or (pH, pW), at most half the kernel (padding is −∞).
        dilation: int or (dH, dW).
        ceil_mode: round the output size up instead of down.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MaxPool2d(2)(cr.randn(8, 6, 28, 28)).shape
        (8, 6, 14, 14)
    """

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode)


class MaxPool1d(_MaxPoolNd):
    """Maximum over windows of (N, C, L) inputs, PyTorch's ``nn.MaxPool1d``; arguments
    as in ``MaxPool2d`` with one spatial axis.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MaxPool1d(3, stride=2)(cr.randn(2, 4, 11)).shape
        (2, 4, 5)
    """

    def forward(self, x: Tensor) -> Tensor:
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode)


class _AvgPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W) inputs, PyTorch's ``nn.AvgPool2d``.

    Args:
        kernel_size, stride, padding, ceil_mode: as in ``MaxPool2d`` (zero padding).
        count_include_pad: count padded zeros in the divisor (PyTorch's default).
        divisor_override: divide every window's sum by this number instead.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AvgPool2d(2)(cr.randn(8, 6, 28, 28)).shape
        (8, 6, 14, 14)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) inputs, PyTorch's ``nn.AvgPool1d``; arguments as in
    ``AvgPool2d`` with one spatial axis.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AvgPool1d(2)(cr.randn(2, 4, 10)).shape
        (2, 4, 5)
    """

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (Ho, Wo) whatever the input's size, PyTorch's
    ``nn.AdaptiveAvgPool2d``; ``AdaptiveAvgPool2d(1)`` is global average pooling, the
    usual bridge from a conv stack to a classifier head.

    Args:
        output_size: int or (Ho, Wo); ``None`` keeps that input size.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AdaptiveAvgPool2d(1)(cr.randn(8, 64, 7, 7)).shape
        (8, 64, 1, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


__all__ = ["AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"]
