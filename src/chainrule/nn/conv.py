"""Convolution layers ``Conv1d``, ``Conv2d``, ``ConvTranspose1d`` and ``ConvTranspose2d``
(PyTorch's signatures and weight shapes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.convolution import (
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    transposed_output_size,
)
from chainrule.ops.padding import pad
from chainrule.ops.windows import spatial_tuple
from chainrule.tensor import Tensor

# PyTorch's padding modes: zeros, or F.pad's reflect/replicate/circular before the conv.
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared constructor, checks and ``forward`` of ``Conv1d``/``Conv2d``."""

    nd = 2
    _conv = staticmethod(conv2d)
    transposed = False  # weight (in, out/groups, *k) instead of (out, in/groups, *k)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        for label, value in (("in_channels", in_channels), ("out_channels", out_channels),
                             ("groups", groups)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name}: {label} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if padding_mode != "zeros" and self.transposed:
            raise ValueError(f"{name}: only padding_mode='zeros' is supported for "
                             f"transposed convolutions (as in PyTorch), got {padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = spatial_tuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = spatial_tuple(stride, self.nd, "stride", name)
        self.dilation = spatial_tuple(dilation, self.nd, "dilation", name)
        if min(self.kernel_size + self.stride + self.dilation) < 1:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive, "
                             f"got {kernel_size!r}, {stride!r}, {dilation!r}")
        if isinstance(padding, str) and self.transposed:
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got "
                             f"{padding!r}")
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
        # F.pad's widths for the other padding modes (last axis first), as PyTorch's
        # _reversed_padding_repeated_twice: 'same' puts the odd extra row at the end.
        self._mode_pad: tuple[int, ...] = ()
        for axis in reversed(range(self.nd)):
            if self.padding == "same":
                total = self.dilation[axis] * (self.kernel_size[axis] - 1)
                self._mode_pad += (total // 2, total - total // 2)
            elif self.padding == "valid":
                self._mode_pad += (0, 0)
            else:
                self._mode_pad += (self.padding[axis],) * 2
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dt), dtype=dt)
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dt), dtype=dt)
        else:
            self.register_parameter("bias", None)
        init.default_uniform_(self.weight, self.bias, generator)

    def _check_input(self, x: Tensor) -> None:
        shape = getattr(x, "shape", None)
        ndim = len(shape) if shape is not None else -1
        if ndim not in (self.nd + 1, self.nd + 2) or shape[-self.nd - 1] != self.in_channels:
            spatial = "L" if self.nd == 1 else "H, W"
            raise ValueError(
                f"expected input of shape (N, {self.in_channels}, {spatial}) or "
                f"({self.in_channels}, {spatial}) for in_channels={self.in_channels}, got "
                f"{shape if shape is not None else type(x).__name__}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        if self.padding_mode != "zeros":
            return self._conv(pad(x, self._mode_pad, mode=self.padding_mode), self.weight,
                              self.bias, self.stride, 0, self.dilation, self.groups)
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
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
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
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'`` (the
            padding is then made by ``F.pad`` with that mode).
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: parameter dtype (default: the global default, float32).
        generator: random source for the initial weights (default: the global one).

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


class _ConvTransposeNd(_ConvNd):
    """Shared constructor and ``forward`` of ``ConvTranspose1d``/``ConvTranspose2d``."""

    transposed = True
    _conv_t = staticmethod(conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                 bias: bool = True, dilation: Any = 1, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, generator=generator)
        name = type(self).__name__
        self.output_padding = spatial_tuple(output_padding, self.nd, "output_padding", name)
        # checked now rather than at the first forward (PyTorch checks it there)
        transposed_output_size(name, (1,) * self.nd, self.kernel_size, self.stride,
                               (0,) * self.nd, self.output_padding, self.dilation)

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        """The output_padding that gives ``output_size`` (PyTorch's ``output_size=``
        argument of forward): each size must lie within a stride of the smallest."""
        if output_size is None:
            return self.output_padding
        name = type(self).__name__
        sizes = tuple(int(s) for s in output_size)
        if len(sizes) == self.nd + 2 or (len(sizes) == self.nd + 1 and x._data.ndim == self.nd
                                           + 1):
            sizes = sizes[-self.nd:]
        if len(sizes) != self.nd:
            raise ValueError(f"{name}: output_size must have {self.nd} (or {self.nd + 2}) "
                             f"elements, got {output_size!r}")
        pads = []
        for axis, size in enumerate(sizes):
            k, s, d = self.kernel_size[axis], self.stride[axis], self.dilation[axis]
            smallest = ((x._data.shape[-self.nd + axis] - 1) * s - 2 * self.padding[axis]
                        + d * (k - 1) + 1)
            if not smallest <= size < smallest + s:
                raise ValueError(f"{name}: requested an output size of {sizes}, but valid "
                                 f"sizes along axis {axis} range from {smallest} to "
                                 f"{smallest + s - 1} for an input of shape {x.shape}")
            pads.append(size - smallest)
        return tuple(pads)

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        self._check_input(x)
        return self._conv_t(x, self.weight, self.bias, self.stride, self.padding,
                            self._output_padding(x, output_size), self.groups, self.dilation)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.output_padding != (0,) * self.nd:
            text += f", output_padding={self.output_padding}"
        return text


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-d convolution (a.k.a. fractionally-strided convolution), PyTorch's
    ``nn.ConvTranspose2d``: the adjoint of ``Conv2d``, typically used to upsample by the
    stride in decoders and generators.

    ``weight`` is (in_channels, out_channels/groups, kH, kW) and ``bias`` (out_channels,),
    both from U(±1/√fan_in) with fan_in = out_channels/groups · kH · kW, as in PyTorch.

    Args:
        in_channels, out_channels, kernel_size, stride, groups, bias, dilation: as in
            ``Conv2d`` (padding is an int or a pair only).
        padding: trims this many rows/columns from each side of the full output.
        output_padding: extra rows/columns on the bottom/right (smaller than the stride
            or the dilation).
        padding_mode: only ``'zeros'`` (as in PyTorch).
        device, dtype, generator: as in ``Conv2d``.

    Call: ``layer(x, output_size=None)``; ``output_size`` (Ho, Wo) picks the
    output_padding that gives that size.

    Shapes: (N, Cin, H, W) → (N, Cout, Ho, Wo),
    ``Ho = (H − 1)·sH − 2pH + dH(kH − 1) + output_padding + 1``.

    Example:
        >>> import chainrule as cr
        >>> up = cr.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        >>> up(cr.randn(2, 8, 7, 7)).shape
        (2, 4, 14, 14)
    """

    nd = 2
    _conv_t = staticmethod(conv_transpose2d)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-d convolution, PyTorch's ``nn.ConvTranspose1d``; ``weight`` is
    (in_channels, out_channels/groups, k); arguments as in ``ConvTranspose2d`` with one
    spatial axis.

    Shapes: (N, Cin, L) → (N, Cout, Lo), ``Lo = (L − 1)·s − 2p + d(k − 1) +
    output_padding + 1``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1)(cr.randn(3, 4, 10)).shape
        (3, 2, 20)
    """

    nd = 1
    _conv_t = staticmethod(conv_transpose1d)


__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
