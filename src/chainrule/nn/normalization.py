"""``BatchNorm1d``/``BatchNorm2d`` and ``LayerNorm``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.nn.module import Module, Parameter
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.tensor import Tensor


class _BatchNorm(Module):
    expected_ndim: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__} needs num_features > 0, got {num_features}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dt), dtype=dt)
            self.bias = Parameter(np.zeros(num_features, dt), dtype=dt)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dt))
            self.register_buffer("running_var", np.ones(num_features, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.data.ndim not in self.expected_ndim or x.data.shape[1] != self.num_features:
            raise ValueError(
                f"expected input of shape {self._expected_shape()}, got {x.shape}")
        training = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
        rm = self.running_mean.data if self.running_mean is not None else None
        rv = self.running_var.data if self.running_var is not None else None
        return batch_norm(x, rm, rv, self.weight, self.bias, training, self.momentum, self.eps)

    def _expected_shape(self) -> str:
        spatial = {2: "", 3: ", L", 4: ", H, W"}
        return " or ".join(f"(N, {self.num_features}{spatial[n]})" for n in self.expected_ndim)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the batch (and length).

    Training uses the batch's mean and biased variance; the running estimates follow
    ``running = (1 − momentum)·running + momentum·batch`` (unbiased variance), PyTorch's
    semantics, and are what eval mode normalises with. A cure for vanishing gradients:
    each layer's input keeps unit scale however deep the network.
    """

    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel."""

    expected_ndim = (4,)


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes, then scale and
    shift (``weight``, ``bias`` of that shape). Same in training and eval."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, dt), dtype=dt)
            if bias:
                self.bias = Parameter(np.zeros(shape, dt), dtype=dt)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
