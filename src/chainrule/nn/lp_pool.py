"""``LPPool1d``/``LPPool2d`` (power-average pooling) and ``LocalResponseNorm``: layers
without parameters over ``chainrule.ops.lp_pool`` and
``chainrule.ops.local_response_norm``, PyTorch's names and arguments."""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.local_response_norm import local_response_norm
from chainrule.ops.lp_pool import lp_pool1d, lp_pool2d
from chainrule.tensor import Tensor


class _LPPoolNd(Module):
    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """``(Σ_window x^p)^(1/p)`` over windows of (N, C, L) or (C, L) inputs.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.LPPool1d(2, 3, stride=2)(cr.ones(1, 4, 9)).shape
        (1, 4, 4)
    """

    def forward(self, x: Tensor) -> Tensor:
        return lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """``(Σ_window x^p)^(1/p)`` over windows of (N, C, H, W) or (C, H, W) inputs (p = ∞:
    max pooling of |x|; p = 1: sum pooling).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.LPPool2d(2, (3, 2), stride=(2, 1))(cr.ones(1, 2, 9, 5)).shape
        (1, 2, 4, 4)
    """

    def forward(self, x: Tensor) -> Tensor:
        return lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LocalResponseNorm(Module):
    """Normalise each element by the energy of ``size`` neighbouring channels
    (AlexNet): ``x / (k + α/size · Σ x²)^β``. Input (N, C, *).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.LocalResponseNorm(2)(cr.ones(2, 4, 3, 3)).shape
        (2, 4, 3, 3)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


__all__ = ["LPPool1d", "LPPool2d", "LocalResponseNorm"]
