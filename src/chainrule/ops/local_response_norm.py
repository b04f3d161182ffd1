"""Local response normalisation (AlexNet), PyTorch's ``F.local_response_norm``:

    y[n, c] = x[n, c] / (k + α/size · Σ_{c' ∈ window(c)} x[n, c']²)^β

the window running over ``size`` neighbouring channels, from ``c − size//2`` to
``c + (size − 1)//2``, zero beyond the edges. Built from differentiable ops (a
channel-padded square, ``size`` shifted slices summed), as PyTorch builds it from
average pooling; the gradient follows.
"""

from __future__ import annotations

from chainrule.ops.arithmetic import add, div, mul
from chainrule.ops.arithmetic import pow as _pow
from chainrule.ops.shape import getitem
from chainrule.ops.shape import pad as _pad_pairs
from chainrule.tensor import Tensor


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4,  # noqa: A002
                        beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Normalise each element by the energy of its neighbouring channels.

    Args:
        input: (N, C, *), at least 3 dimensions.
        size: how many channels the window spans.
        alpha: multiplicative factor (of the window's mean square).
        beta: exponent.
        k: additive constant.

    Returns:
        The input's shape.

    Example:
        >>> import chainrule as cr
        >>> y = local_response_norm(cr.ones(1, 3, 2), size=2, alpha=1.0, beta=1.0)
        >>> y[0, :, 0].tolist()
        [0.6666666865348816, 0.5, 0.5]
    """
    shape = input._data.shape
    if len(shape) < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input "
                         f"(got {len(shape)} dimensions, shape {input.shape})")
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
    size = int(size)
    if input._data.size == 0:
        return input
    c = shape[1]
    sq = mul(input, input)
    widths = [(0, 0)] * len(shape)
    widths[1] = (size // 2, (size - 1) // 2)
    padded = _pad_pairs(sq, widths, 0.0)
    total = None
    for t in range(size):
        part = getitem(padded, (slice(None), slice(t, t + c)))
        total = part if total is None else add(total, part)
    denom = _pow(add(mul(total, float(alpha) / size), float(k)), float(beta))
    return div(input, denom)


__all__ = ["local_response_norm"]
