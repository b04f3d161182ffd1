"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``,
``AdaptiveMaxPool1d/2d`` and ``MaxUnpool1d/2d``.

They hold no parameters; each stores its settings and calls the op in
``chainrule.ops.pooling``.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
    max_unpool1d,
    max_unpool2d,
)
from chainrule.tensor import Tensor


class _MaxPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False
                 ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
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
        return_indices: also return the flat index of each maximum in its input plane
            (for ``MaxUnpool2d``): the call gives ``(output, indices)``.
        ceil_mode: round the output size up instead of down.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MaxPool2d(2)(cr.randn(8, 6, 28, 28)).shape
        (8, 6, 14, 14)
    """

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)


class MaxPool1d(_MaxPoolNd):
    """Maximum over windows of (N, C, L) inputs, PyTorch's ``nn.MaxPool1d``; arguments
    as in ``MaxPool2d`` with one spatial axis.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.MaxPool1d(3, stride=2)(cr.randn(2, 4, 11)).shape
        (2, 4, 5)
    """

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)


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


class AdaptiveAvgPool1d(Module):
    """Average pooling of (N, C, L) to a fixed length, PyTorch's ``nn.AdaptiveAvgPool1d``.

    Args:
        output_size: the output length (``None`` keeps the input's).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AdaptiveAvgPool1d(4)(cr.randn(2, 3, 10)).shape
        (2, 3, 4)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(Module):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed (Ho, Wo) whatever the input's size, PyTorch's
    ``nn.AdaptiveMaxPool2d`` (windows as in ``AdaptiveAvgPool2d``).

    Args:
        output_size: int or (Ho, Wo); ``None`` keeps that input size.
        return_indices: also return the flat index of each maximum in its input plane.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AdaptiveMaxPool2d((5, 7))(cr.randn(1, 64, 8, 9)).shape
        (1, 64, 5, 7)
    """

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) to a fixed length, PyTorch's ``nn.AdaptiveMaxPool1d``;
    arguments as in ``AdaptiveMaxPool2d``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.AdaptiveMaxPool1d(5)(cr.randn(1, 64, 8)).shape
        (1, 64, 5)
    """

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class _MaxUnpoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool2d``, PyTorch's ``nn.MaxUnpool2d``: each value
    goes back where its maximum was (the pooling's ``return_indices``), the rest is 0.

    Args:
        kernel_size, stride, padding: those of the pooling (stride defaults to kernel).

    Call: ``unpool(x, indices, output_size=None)``.

    Example:
        >>> import chainrule as cr
        >>> pool, unpool = cr.nn.MaxPool2d(2, return_indices=True), cr.nn.MaxUnpool2d(2)
        >>> out, idx = pool(cr.randn(1, 3, 6, 6))
        >>> unpool(out, idx).shape
        (1, 3, 6, 6)
    """

    def forward(self, x: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                            output_size)


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d``, PyTorch's ``nn.MaxUnpool1d``; arguments as
    in ``MaxUnpool2d`` with one spatial axis.

    Example:
        >>> import chainrule as cr
        >>> out, idx = cr.nn.MaxPool1d(2, return_indices=True)(cr.randn(1, 3, 8))
        >>> cr.nn.MaxUnpool1d(2)(out, idx).shape
        (1, 3, 8)
    """

    def forward(self, x: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return max_unpool1d(x, indices, self.kernel_size, self.stride, self.padding,
                            output_size)


__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d", "MaxUnpool1d", "MaxUnpool2d"]
