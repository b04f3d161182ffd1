"""Convolution layers ``Conv1d`` and ``Conv2d`` (PyTorch's signatures and weight shapes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.convolution import conv1d, conv2d
from chainrule.ops.windows import spatial_tuple
from chainrule.tensor import Tensor


class _ConvNd(Module):
    """Shared constructor, checks and ``forward`` of ``Conv1d``/``Conv2d``."""

    nd = 2
    _conv = staticmethod(conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros",
                 generator: Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        for label, value in (("in_channels", in_channels), ("out_channels", out_channels),
                             ("groups", groups)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name}: {label} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = spatial_tuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = spatial_tuple(stride, self.nd, "stride", name)
        self.dilation = spatial_tuple(dilation, self.nd, "dilation", name)
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive, "
                             f"got {kernel_size!r}, {stride!r}, {dilation!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or "
                                 f"'same', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1 (as in PyTorch), "
                                 f"got stride={self.stride}")
            self.padding: str | tuple[int, ...] = padding
        else:
            self.padding = spatial_tuple(padding, self.nd, "padding", name)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dt), dtype=dt)
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dt), dtype=dt)
        else:
            self.register_parameter("bias", None)
        init.default_uniform_(self.weight, self.bias, generator)

    def forward(self, x: Tensor) -> Tensor:
        shape = getattr(x, "shape", None)
        ndim = len(shape) if shape is not None else -1
        if ndim not in (self.nd + 1, self.nd + 2) or shape[-self.nd - 1] != self.in_channels:
            spatial = "L" if self.nd == 1 else "H, W"
            raise ValueError(
                f"expected input of shape (N, {self.in_channels}, {spatial}) or "
                f"({self.in_channels}, {spatial}) for in_channels={self.in_channels}, got "
                f"{shape if shape is not None else type(x).__name__}")
        return self._conv(x, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * self.nd:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.nd:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-d convolution over (N, C, H, W) images, PyTorch's ``nn.Conv2d``.

    ``weight`` is (out_channels, in_channels/groups, kH, kW) and ``bias`` (out_channels,),
    both drawn from U(±1/√fan_in) with fan_in = in_channels/groups · kH · kW.

    Args:
        in_channels: channels C of the input.
        out_channels: number of filters O (channels of the output).
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW).
        padding: int, (pH, pW), ``'valid'`` or ``'same'`` (stride 1 only).
        dilation: int or (dH, dW).
        groups: independent channel groups (``groups=in_channels``: depthwise).
        bias: learn a per-filter bias.
        padding_mode: only ``'zeros'``.
        generator: random source for the initial weights (default: the global one).
        dtype: parameter dtype (default: the global default, float32).

    Shapes: (N, C, H, W) → (N, O, Ho, Wo), ``Ho = ⌊(H + 2pH − dH(kH − 1) − 1)/sH⌋ + 1``;
    an unbatched (C, H, W) input gives (O, Ho, Wo).

    Example:
        >>> import chainrule as cr
        >>> conv = cr.nn.Conv2d(1, 6, 5, padding=2)
        >>> conv(cr.randn(8, 1, 28, 28)).shape
        (8, 6, 28, 28)
    """

    nd = 2
    _conv = staticmethod(conv2d)


class Conv1d(_ConvNd):
    """1-d convolution over (N, C, L) sequences, PyTorch's ``nn.Conv1d``.

    ``weight`` is (out_channels, in_channels/groups, k); arguments as in ``Conv2d`` with
    one spatial axis.

    Shapes: (N, C, L) → (N, O, Lo), ``Lo = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.Conv1d(4, 8, 3, padding="same")(cr.randn(2, 4, 50)).shape
        (2, 8, 50)
    """

    nd = 1
    _conv = staticmethod(conv1d)


__all__ = ["Conv1d", "Conv2d"]
