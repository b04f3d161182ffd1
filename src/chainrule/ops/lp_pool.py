"""Power-average pooling, PyTorch's ``F.lp_pool1d`` and ``F.lp_pool2d``:
``(Σ_window x^p)^(1/p)`` per window, no padding.

Built as PyTorch builds it, from average pooling, so every derivative (and the
convention at a zero window sum) is the same as theirs:

    s = avg_pool(x^p) · k          (k: the window's element count)
    y = (sign(s)·relu(|s|))^(1/p)

p = ∞ is max pooling of |x|. For non-integer p, negative inputs give NaN, as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.ops.activations import relu
from chainrule.ops.arithmetic import abs as _abs
from chainrule.ops.arithmetic import mul, neg
from chainrule.ops.arithmetic import pow as _pow
from chainrule.ops.elementwise import sign
from chainrule.ops.pooling import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from chainrule.ops.windows import spatial_tuple
from chainrule.tensor import Tensor


def _lp_pool(nd: int, x: Tensor, norm_type: float, kernel_size: Any, stride: Any,
             ceil_mode: bool) -> Tensor:
    name = f"lp_pool{nd}d"
    p = float(norm_type)
    max_pool, avg_pool = (max_pool1d, avg_pool1d) if nd == 1 else (max_pool2d, avg_pool2d)
    if p == math.inf:
        return max_pool(_abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if p == -math.inf:
        return neg(max_pool(neg(_abs(x)), kernel_size, stride, 0, 1, ceil_mode))
    if p == 0:
        raise ValueError(f"{name}: norm_type must not be 0 (the result is x^(1/p))")
    kernel = spatial_tuple(kernel_size, nd, "kernel_size", name)
    s = avg_pool(_pow(x, norm_type), kernel_size, stride, 0, ceil_mode)
    s = mul(mul(sign(s), relu(_abs(s))), float(math.prod(kernel)))
    return _pow(s, 1.0 / p)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any,  # noqa: A002
              stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """2-d power-average pooling: ``(Σ_window x^p)^(1/p)`` (p = 1: sum pooling, p = ∞:
    max pooling of |x|).

    Args:
        input: (N, C, H, W) or (C, H, W).
        norm_type: p.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW), default ``kernel_size``.
        ceil_mode: keep a last partial window.

    Example:
        >>> import chainrule as cr
        >>> lp_pool2d(cr.ones(1, 1, 4, 4), 2, 2).tolist()
        [[[[2.0, 2.0], [2.0, 2.0]]]]
    """
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any,  # noqa: A002
              stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """1-d power-average pooling over (N, C, L) or (C, L); arguments as ``lp_pool2d``.

    Example:
        >>> import chainrule as cr
        >>> lp_pool1d(cr.tensor([[[3.0, 4.0]]]), 2, 2).tolist()
        [[[5.0]]]
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


__all__ = ["lp_pool1d", "lp_pool2d"]
