"""``BatchNorm1d``/``2d``/``3d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm`` and
``InstanceNorm1d``/``2d``/``3d``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.backend import get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.normalization import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)
from chainrule.ops.shape import squeeze, unsqueeze
from chainrule.tensor import Tensor


class _BatchNorm(Module):
    expected_ndim: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__} needs num_features > 0, got {num_features}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None "
                             f"(cumulative average), got {momentum}")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(init.filled(num_features, 1, dt), dtype=dt)
            if bias:
                self.bias = Parameter(init.filled(num_features, 0, dt), dtype=dt)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", init.filled(num_features, 0, dt))
            self.register_buffer("running_var", init.filled(num_features, 1, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)

    def forward(self, x: Tensor) -> Tensor:
        if x._data.ndim not in self.expected_ndim or x._data.shape[1] != self.num_features:
            raise ValueError(
                f"expected input of shape {self._expected_shape()}, got {x.shape}")
        training = self.training or not self.track_running_stats
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # cumulative moving average: the mean of all batches
                factor = 1.0 / float(self.num_batches_tracked._data)
        rm = self.running_mean._data if self.running_mean is not None else None
        rv = self.running_var._data if self.running_var is not None else None
        return batch_norm(x, rm, rv, self.weight, self.bias, training, factor, self.eps)

    def _expected_shape(self) -> str:
        spatial = {2: "", 3: ", L", 4: ", H, W", 5: ", D, H, W"}
        return " or ".join(f"(N, {self.num_features}{spatial[n]})" for n in self.expected_ndim)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the batch (and length).

    Training uses the batch's mean and biased variance; the running estimates follow
    ``running = (1 − momentum)·running + momentum·batch`` (unbiased variance), PyTorch's
    semantics, and are what eval mode normalises with. ``momentum=None`` makes them the
    plain average of every batch seen so far (factor ``1 / num_batches_tracked``). A cure
    for vanishing gradients: each layer's input keeps unit scale however deep the network.

    Args (PyTorch's): ``num_features`` (C), ``eps``, ``momentum``, ``affine`` (learn
    ``weight`` and, unless ``bias=False``, ``bias``), ``track_running_stats``, ``device``
    (must name the CPU), ``dtype`` (of the parameters and buffers).
    """

    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel."""

    expected_ndim = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs per channel."""

    expected_ndim = (5,)


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics are those of the whole batch over
    every rank of a ``chainrule.distributed`` job (PyTorch's ``SyncBatchNorm``).

    ``BatchNorm`` under ``DistributedDataParallel`` normalises each rank's batch with its
    own mean and variance (PyTorch's default, and chainrule's): with small per-rank
    batches those statistics are noisy, and training differs from one process with the
    combined batch. ``SyncBatchNorm`` sums the statistics over the ranks in forward and
    the matching sums in backward, so the gradients equal those of one process with the
    whole batch, and the running estimates are the same on every rank. Each training
    step costs three small blocking allreduces per layer. Without a process group (or
    with one rank) it is ``BatchNorm``. Eval mode uses the running estimates.

    Convert a model with ``nn.SyncBatchNorm.convert_sync_batchnorm(model)``.

    Args (PyTorch's): ``num_features``, ``eps``, ``momentum``, ``affine``,
    ``track_running_stats``, ``process_group`` (must be None: the default group),
    ``device``, ``dtype``, ``bias``. Input ``(N, C, *)``.
    """

    expected_ndim = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        if process_group is not None:
            raise ValueError("SyncBatchNorm: process_group must be None (chainrule has one "
                             "process group, the default)")
        self.process_group = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        from chainrule import distributed

        if not distributed.is_initialized() or distributed.get_world_size() == 1:
            return super().forward(x)
        if x._data.ndim < 2 or x._data.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}) expects input of shape "
                             f"(N, {self.num_features}, ...), got {x.shape}")
        from chainrule.ops.normalization import sync_batch_norm

        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked._data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked._data)
        group = distributed._current()
        rm = self.running_mean._data if self.running_mean is not None else None
        rv = self.running_var._data if self.running_var is not None else None
        return sync_batch_norm(x, rm, rv, self.weight, self.bias, factor, self.eps,
                               group.allreduce)

    def _expected_shape(self) -> str:
        return f"(N, {self.num_features}, ...)"

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every ``BatchNorm1d/2d/3d`` replaced by a ``SyncBatchNorm``
        holding the same parameters (the same objects, so an optimizer made before
        keeps working) and buffers; a BatchNorm given alone comes back converted.

        Example:
            >>> from chainrule import nn
            >>> m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
            >>> type(nn.SyncBatchNorm.convert_sync_batchnorm(m)[1]).__name__
            'SyncBatchNorm'
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                setattr(new, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                if name in module._buffers:
                    setattr(new, name, module._buffers[name])
            new.train(module.training)
            return new
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:  # in place in the registry: the order stays
                module._modules[name] = converted
                converted.__dict__["_name"] = name
                object.__setattr__(module, name, converted)
        return module


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes, then scale and
    shift (``weight``, ``bias`` of that shape). Same in training and eval."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "LayerNorm")
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(init.filled(shape, 1, dt), dtype=dt)
            if bias:
                self.bias = Parameter(init.filled(shape, 0, dt), dtype=dt)
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


# ---- nnbasic: group, RMS and instance normalisation ----------------------------------

def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


class GroupNorm(Module):
    """Group normalisation: each sample's channels are split into ``num_groups`` groups,
    each normalised over its channels and positions; then a per-channel scale and shift.
    Independent of the batch size, so the same in training and eval.

    Args:
        num_groups: how many groups (must divide ``num_channels``).
        num_channels: C of the input (N, C, *).
        eps: added to the variance.
        affine: learn ``weight`` (ones) and ``bias`` (zeros), each (C,).
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: the parameters' dtype (default: the default dtype).
        bias: with ``affine``, learn the bias too.

    Example:
        >>> import chainrule as cr
        >>> gn = cr.nn.GroupNorm(2, 4)
        >>> gn(cr.randn(3, 4, 5)).shape
        (3, 4, 5)
        >>> list(gn.state_dict())
        ['weight', 'bias']
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        check_device(device, "GroupNorm")
        if num_groups <= 0 or num_channels <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups}), both positive")
        dt = _float_dtype(dtype)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(init.filled(num_channels, 1, dt), dtype=dt)
            if bias:
                self.bias = Parameter(init.filled(num_channels, 0, dt), dtype=dt)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x._data.ndim < 2 or x._data.shape[1] != self.num_channels:
            raise ValueError(f"expected input of shape (N, {self.num_channels}, *), got "
                             f"{x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` axes:
    ``y = x / √(mean(x²) + eps) · weight`` (no centring, no bias). PyTorch 2.4+
    semantics: ``eps=None`` means the machine epsilon of the input's dtype.

    Example:
        >>> import chainrule as cr
        >>> norm = cr.nn.RMSNorm(8)
        >>> norm(cr.randn(2, 8)).shape
        (2, 8)
        >>> norm
        RMSNorm((8,), eps=None, elementwise_affine=True)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int],
                 eps: float | None = None, elementwise_affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device, "RMSNorm")
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            dt = _float_dtype(dtype)
            self.weight = Parameter(init.filled(shape, 1, dt), dtype=dt)
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _InstanceNorm(Module):
    no_batch_dim: int = 0  # axes of one unbatched sample: (C, *spatial)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__} needs num_features > 0, got {num_features}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, "
                             f"got {momentum}")
        dt = _float_dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(init.filled(num_features, 1, dt), dtype=dt)
            if bias:
                self.bias = Parameter(init.filled(num_features, 0, dt), dtype=dt)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", init.filled(num_features, 0, dt))
            self.register_buffer("running_var", init.filled(num_features, 1, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)

    def forward(self, x: Tensor) -> Tensor:
        ndim = x._data.ndim
        if ndim not in (self.no_batch_dim, self.no_batch_dim + 1):
            raise ValueError(f"expected a {self.no_batch_dim}-D (unbatched) or "
                             f"{self.no_batch_dim + 1}-D (batched) input, got shape {x.shape}")
        feature_dim = ndim - self.no_batch_dim
        if x._data.shape[feature_dim] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"expected the input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), got shape {x.shape}")
            warnings.warn(f"{type(self).__name__}: the input's size at dim={feature_dim} "
                          f"({x._data.shape[feature_dim]}) does not match num_features "
                          f"({self.num_features}), which is unused because affine=False",
                          stacklevel=2)
        unbatched = ndim == self.no_batch_dim
        if unbatched:
            x = unsqueeze(x, 0)
        # As PyTorch: instance statistics unless evaluating with tracked running ones;
        # momentum=None leaves the running estimates where they are (factor 0), and
        # num_batches_tracked is not counted.
        out = instance_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            use_input_stats=self.training or not self.track_running_stats,
            momentum=0.0 if self.momentum is None else self.momentum, eps=self.eps)
        return squeeze(out, 0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) inputs: each sample's
    channels are normalised on their own over L, then (``affine=True``) scaled and
    shifted per channel. Training and eval are the same unless
    ``track_running_stats=True``, when eval normalises with the running estimates.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.InstanceNorm1d(3)(cr.randn(2, 3, 5)).shape
        (2, 3, 5)
    """

    no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) inputs (see
    :class:`InstanceNorm1d`)."""

    no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""

    no_batch_dim = 4
