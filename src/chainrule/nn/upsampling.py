"""Resizing layers: ``Upsample`` and its fixed-mode aliases ``UpsamplingNearest2d`` and
``UpsamplingBilinear2d`` (PyTorch's ``nn.Upsample`` family); they hold no parameters and
call ``chainrule.ops.resampling.interpolate``."""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.resampling import interpolate
from chainrule.tensor import Tensor


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) maps, PyTorch's ``nn.Upsample``.

    Args:
        size: output spatial size (int or one per axis); or
        scale_factor: multiplier (float or one per axis); output size ``⌊in·s⌋``.
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'`` (3-D input),
            ``'bilinear'`` (4-D input) or ``'area'``.
        align_corners: linear modes only; see ``chainrule.functional.interpolate``.
        recompute_scale_factor: sample with the ratio of the rounded sizes instead of
            ``1/scale_factor``.

    Example:
        >>> import chainrule as cr
        >>> up = cr.nn.Upsample(scale_factor=2, mode="bilinear")
        >>> up(cr.randn(1, 3, 8, 8)).shape
        (1, 3, 16, 16)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size = tuple(size) if isinstance(size, list) else size
        if isinstance(scale_factor, (list, tuple)):  # stored as floats, as PyTorch does
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` for (N, C, H, W) maps, PyTorch's
    ``nn.UpsamplingNearest2d``.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.UpsamplingNearest2d(scale_factor=2)(cr.randn(1, 1, 2, 2)).shape
        (1, 1, 4, 4)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)`` for
    (N, C, H, W) maps, PyTorch's ``nn.UpsamplingBilinear2d`` (note align_corners=True).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.UpsamplingBilinear2d(size=(3, 5))(cr.randn(1, 1, 2, 2)).shape
        (1, 1, 3, 5)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]
