"""Channel rearrangements: ``pixel_shuffle``, ``pixel_unshuffle`` (sub-pixel convolution,
Shi et al. 2016) and ``channel_shuffle`` (ShuffleNet). Each is a reshape, a transpose and
a reshape, so its backward is theirs (the inverse permutation of the gradient).
"""

from __future__ import annotations

from chainrule.ops.shape import reshape, transpose
from chainrule.tensor import Tensor


def _factor(name: str, factor: int, label: str) -> int:
    if isinstance(factor, bool) or int(factor) != factor or factor <= 0:
        raise ValueError(f"{name}: {label} must be a positive integer, got {factor!r}")
    return int(factor)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002
    """Move channel blocks into space: (*, C·r², H, W) → (*, C, H·r, W·r).

    Output pixel ``(c, h·r + i, w·r + j)`` is input channel ``c·r² + i·r + j`` at (h, w).

    Example:
        >>> import chainrule as cr
        >>> pixel_shuffle(cr.arange(4.0).reshape(1, 4, 1, 1), 2).tolist()
        [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    name = "pixel_shuffle"
    r = _factor(name, upscale_factor, "upscale_factor")
    shape = input._data.shape
    if len(shape) < 3:
        raise ValueError(f"{name}: expects input to have at least 3 dimensions, but got "
                         f"input with {len(shape)} dimension(s), shape {input.shape}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise ValueError(f"{name}: the channel dimension (input.size(-3) = {c}) must be "
                         f"divisible by the square of upscale_factor ({r * r})")
    n = len(lead)
    x = reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = transpose(x, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002
    """The inverse of :func:`pixel_shuffle`: (*, C, H·r, W·r) → (*, C·r², H, W).

    Example:
        >>> import chainrule as cr
        >>> pixel_unshuffle(cr.arange(4.0).reshape(1, 1, 2, 2), 2).flatten().tolist()
        [0.0, 1.0, 2.0, 3.0]
    """
    name = "pixel_unshuffle"
    r = _factor(name, downscale_factor, "downscale_factor")
    shape = input._data.shape
    if len(shape) < 3:
        raise ValueError(f"{name}: expects input to have at least 3 dimensions, but got "
                         f"input with {len(shape)} dimension(s), shape {input.shape}")
    *lead, c, h, w = shape
    if h % r or w % r:
        raise ValueError(f"{name}: height {h} and width {w} of input {input.shape} must be "
                         f"divisible by downscale_factor {r}")
    n = len(lead)
    x = reshape(input, (*lead, c, h // r, r, w // r, r))
    x = transpose(x, (*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return reshape(x, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """Interleave the channels of ``groups`` groups: (N, C, *) with channel
    ``g·(C/groups) + k`` moved to ``k·groups + g``.

    Example:
        >>> import chainrule as cr
        >>> channel_shuffle(cr.arange(4.0).reshape(1, 4, 1), 2).flatten().tolist()
        [0.0, 2.0, 1.0, 3.0]
    """
    name = "channel_shuffle"
    g = _factor(name, groups, "groups")
    shape = input._data.shape
    if len(shape) <= 2:
        raise ValueError(f"{name}: expects input with > 2 dims, but got input with sizes "
                         f"{list(shape)}")
    n, c, *rest = shape
    if c % g:
        raise ValueError(f"{name}: number of channels must be divisible by groups. Got {c} "
                         f"channels and {g} groups")
    x = reshape(input, (n, g, c // g, *rest))
    x = transpose(x, (0, 2, 1, *range(3, 3 + len(rest))))
    return reshape(x, shape)


__all__ = ["channel_shuffle", "pixel_shuffle", "pixel_unshuffle"]
