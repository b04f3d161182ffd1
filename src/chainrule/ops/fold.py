"""``unfold`` and ``fold``: the sliding-window copies behind convolution (``im2col`` and
its adjoint ``col2im`` in ``ops.windows``) as differentiable ops, in PyTorch's layout.

``unfold`` copies every kH×kW window of each channel of (N, C, H, W) into a column of
(N, C·kH·kW, L), L the number of windows; ``fold`` adds such columns back onto an image,
summing where windows overlap. Each is the other's backward:

    unfold:  cols = im2col(pad(x))          ∂E/∂x    = crop(col2im(∂E/∂cols))
    fold:    y = crop(col2im(cols))         ∂E/∂cols = im2col(pad(∂E/∂y))

so ``fold(unfold(x))`` multiplies each pixel by the number of windows that cover it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.windows import col2im, im2col, output_length, pad_spatial, spatial_tuple
from chainrule.tensor import Tensor

Pads = tuple[tuple[int, int], tuple[int, int]]


def _crop(x: np.ndarray, pads: Pads, hw: tuple[int, int]) -> np.ndarray:
    (top, _), (left, _) = pads
    return x[:, :, top:top + hw[0], left:left + hw[1]]


class Unfold(Function):
    """x (N, C, H, W) → (N, C·kH·kW, L): the windows of the padded x as columns, rows
    ordered (channel, kernel row, kernel column) and columns row-major over the windows."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, kernel: tuple[int, int], stride: tuple[int, int],
                padding: Pads, dilation: tuple[int, int], blocks: tuple[int, int]
                ) -> np.ndarray:
        xp = pad_spatial(x, padding)
        self.saved = (x.shape, xp.shape, kernel, stride, padding, dilation, blocks)
        return im2col(xp, kernel, stride, dilation, blocks)

    def backward(self, g: np.ndarray) -> np.ndarray:
        x_shape, padded_shape, kernel, stride, padding, dilation, blocks = self.saved
        n, c = x_shape[:2]
        gcols = g.reshape((n, c) + kernel + blocks)
        gxp = col2im(gcols, padded_shape, kernel, stride, dilation, blocks)
        return _crop(gxp, padding, x_shape[2:])


class Fold(Function):
    """cols (N, C·kH·kW, L) → (N, C, H, W): each column added onto its window of a zero
    (padded) image, then the padding cropped; the adjoint of ``Unfold``."""

    __slots__ = ()

    def forward(self, cols: np.ndarray, *, output_size: tuple[int, int],
                kernel: tuple[int, int], stride: tuple[int, int], padding: Pads,
                dilation: tuple[int, int], blocks: tuple[int, int]) -> np.ndarray:
        n = cols.shape[0]
        c = cols.shape[1] // (kernel[0] * kernel[1])
        padded = (n, c, output_size[0] + sum(padding[0]), output_size[1] + sum(padding[1]))
        out = col2im(cols.reshape((n, c) + kernel + blocks), padded, kernel, stride, dilation,
                     blocks)
        self.saved = (kernel, stride, padding, dilation, blocks)
        return np.ascontiguousarray(_crop(out, padding, output_size))

    def backward(self, g: np.ndarray) -> np.ndarray:
        kernel, stride, padding, dilation, blocks = self.saved
        return im2col(pad_spatial(g, padding), kernel, stride, dilation, blocks)


# ---- functional wrappers ---------------------------------------------------------------------

def _geometry(name: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any
              ) -> tuple[tuple[int, int], tuple[int, int], Pads, tuple[int, int]]:
    kernel = spatial_tuple(kernel_size, 2, "kernel_size", name)
    dil = spatial_tuple(dilation, 2, "dilation", name)
    pads = spatial_tuple(padding, 2, "padding", name)
    strides = spatial_tuple(stride, 2, "stride", name)
    if min(kernel + dil + strides) < 1 or min(pads) < 0:
        raise ValueError(f"{name}: kernel_size, dilation and stride must be positive and "
                         f"padding non-negative, got kernel_size={kernel_size!r}, "
                         f"dilation={dilation!r}, padding={padding!r}, stride={stride!r}")
    return kernel, dil, ((pads[0], pads[0]), (pads[1], pads[1])), strides


def _blocks(name: str, size: tuple[int, int], kernel: tuple[int, int], dil: tuple[int, int],
            pads: Pads, strides: tuple[int, int]) -> tuple[int, int]:
    blocks = tuple(output_length(n, k, s, p, d)
                   for n, k, s, p, d in zip(size, kernel, strides, pads, dil))
    if min(blocks) < 1:
        raise ValueError(f"{name}: a spatial size of {tuple(size)} is too small for "
                         f"kernel_size={kernel} with dilation {dil} and padding "
                         f"{(pads[0][0], pads[1][0])}: no window fits")
    return blocks[0], blocks[1]


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Extract sliding windows as columns (PyTorch's ``F.unfold``, a.k.a. im2col).

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        kernel_size: int or (kH, kW).
        dilation, padding, stride: int or pairs, as in ``conv2d`` (zero padding).

    Returns:
        (N, C·kH·kW, L) with L = Ho·Wo windows (Ho, Wo as a convolution's output);
        row ``c·kH·kW + i·kW + j`` holds element (i, j) of channel c's windows. A
        convolution is ``weight.reshape(O, -1) @ unfold(x, k)``.

    Example:
        >>> import chainrule as cr
        >>> unfold(cr.randn(2, 3, 5, 5), 3, padding=1).shape
        (2, 27, 25)
    """
    name = "unfold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input._data.ndim not in (3, 4):
        raise ValueError(f"{name}: expected input of shape (N, C, H, W) or (C, H, W), got "
                         f"{input.shape}")
    kernel, dil, pads, strides = _geometry(name, kernel_size, dilation, padding, stride)
    blocks = _blocks(name, input._data.shape[-2:], kernel, dil, pads, strides)
    unbatched = input._data.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    out = Unfold.apply(input, kernel=kernel, stride=strides, padding=pads, dilation=dil,
                       blocks=blocks)
    return out.squeeze(0) if unbatched else out


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Sum columns of windows back into an image (PyTorch's ``F.fold``, a.k.a. col2im),
    the adjoint of ``unfold``: overlapping windows add up.

    Args:
        input: (N, C·kH·kW, L), or (C·kH·kW, L) unbatched; L must be the number of windows
            that fit ``output_size`` with this geometry.
        output_size: int or (H, W) of the image.
        kernel_size, dilation, padding, stride: as in ``unfold``.

    Returns:
        (N, C, H, W).

    Example:
        >>> import chainrule as cr
        >>> x = cr.ones(1, 1, 3, 3)
        >>> fold(unfold(x, 2), 3, 2)[0, 0].tolist()   # how many windows cover each pixel
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    name = "fold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input._data.ndim not in (2, 3):
        raise ValueError(f"{name}: expected input of shape (N, C·kH·kW, L) or (C·kH·kW, L), "
                         f"got {input.shape}")
    kernel, dil, pads, strides = _geometry(name, kernel_size, dilation, padding, stride)
    size = spatial_tuple(output_size, 2, "output_size", name)
    rows, length = input._data.shape[-2:]
    if rows % (kernel[0] * kernel[1]):
        raise ValueError(f"{name}: the input's {rows} rows (shape {input.shape}) must be a "
                         f"multiple of kH·kW = {kernel[0] * kernel[1]}")
    blocks = _blocks(name, size, kernel, dil, pads, strides)
    if blocks[0] * blocks[1] != length:
        raise ValueError(f"{name}: an output of size {size} holds {blocks[0]}×{blocks[1]} = "
                         f"{blocks[0] * blocks[1]} windows of kernel_size={kernel} with this "
                         f"stride, padding and dilation, but the input (shape {input.shape}) "
                         f"has {length}")
    unbatched = input._data.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
    out = Fold.apply(input, output_size=size, kernel=kernel, stride=strides, padding=pads,
                     dilation=dil, blocks=blocks)
    return out.squeeze(0) if unbatched else out


__all__ = ["fold", "unfold"]
