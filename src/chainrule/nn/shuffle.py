"""``PixelShuffle``, ``PixelUnshuffle`` and ``ChannelShuffle``: channel rearrangements
without parameters (PyTorch's names), over ``chainrule.ops.shuffle``."""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle
from chainrule.tensor import Tensor


class PixelShuffle(Module):
    """(*, C·r², H, W) → (*, C, H·r, W·r): sub-pixel upsampling after a convolution.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.PixelShuffle(3)(cr.ones(1, 9, 4, 4)).shape
        (1, 1, 12, 12)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H·r, W·r) → (*, C·r², H, W), the inverse of ``PixelShuffle``."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups of an (N, C, *) input (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


__all__ = ["ChannelShuffle", "PixelShuffle", "PixelUnshuffle"]
