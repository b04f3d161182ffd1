"""Batch, layer, group, instance and RMS normalisation as fused nodes (one pass forward,
one backward).

With ``x̂ = (x − μ) / √(σ² + ε)`` and ``y = γ x̂ + β`` over m normalised elements,
the backward is ``∂E/∂x = (1/(m √(σ²+ε))) (m ĝ − Σĝ − x̂ Σ(ĝ x̂))`` where ``ĝ = γ g``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import fast as _fast
from chainrule.autograd import Function
from chainrule.ops._util import kernel_array, ones_vector
from chainrule.tensor import Tensor


def _affine_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over (N, C, *spatial)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class BatchNormTrain(Function):
    """Normalise with the batch's statistics over every axis but the channel axis 1."""

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, eps: float,
                stats: list) -> np.ndarray:
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = centered * inv_std
        stats.extend((mean.reshape(-1), var.reshape(-1)))  # for the running estimates
        shape = _affine_shape(x)
        out = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.saved = (xhat, inv_std, weight, axes)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight, axes = self.saved
        needs = self.needs_input_grad
        m = xhat.size // xhat.shape[1]
        ghat = g if weight is None else g * weight.reshape(_affine_shape(g))
        gx = None
        if needs[0]:
            sum_g = ghat.sum(axis=axes, keepdims=True)
            sum_gx = (ghat * xhat).sum(axis=axes, keepdims=True)
            gx = (inv_std / m) * (m * ghat - sum_g - xhat * sum_gx)
        grads = [gx]
        if len(needs) > 1:
            grads.append((g * xhat).sum(axis=axes) if needs[1] else None)
        if len(needs) > 2:
            grads.append(g.sum(axis=axes) if needs[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


class BatchNormEval(Function):
    """Normalise with fixed (running) statistics: an affine map per channel."""

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, mean: np.ndarray, var: np.ndarray,
                eps: float) -> np.ndarray:
        shape = _affine_shape(x)
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        xhat = (x - mean.reshape(shape)) * inv_std
        out = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.saved = (xhat, inv_std, weight)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight = self.saved
        needs = self.needs_input_grad
        axes = (0,) + tuple(range(2, g.ndim))
        scale = inv_std if weight is None else inv_std * weight.reshape(inv_std.shape)
        grads = [g * scale if needs[0] else None]
        if len(needs) > 1:
            grads.append((g * xhat).sum(axis=axes) if needs[1] else None)
        if len(needs) > 2:
            grads.append(g.sum(axis=axes) if needs[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


def batch_norm(input: Tensor, running_mean: np.ndarray | Tensor | None,
               running_var: np.ndarray | Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalisation of x (N, C) or (N, C, *spatial) over all axes but C.

    In training the batch statistics normalise and the running estimates are updated in
    place, PyTorch's way: ``running = (1 − momentum) running + momentum batch`` with the
    unbiased batch variance. In evaluation the running estimates normalise.
    """
    if input._data.ndim < 2:
        raise ValueError(f"batch_norm expects (N, C) or (N, C, ...) input, got {input.shape}")
    channels = input._data.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p._data.shape != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {p.shape} but the input has "
                             f"{channels} channels (shape {input.shape})")
    params = [t for t in (weight, bias) if t is not None]
    if weight is None and bias is not None:
        raise ValueError("batch_norm: a bias without a weight is not supported")
    rm = running_mean._data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var._data if isinstance(running_var, Tensor) else running_var
    if momentum is None and training and rm is not None:
        raise ValueError("batch_norm: momentum must be a number; the cumulative average of "
                         "BatchNorm(momentum=None) is the module's (it counts batches)")
    if training or rm is None:
        m = input._data.size // channels
        if m <= 1 and training:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got "
                f"input of shape {input.shape}")
        stats: list = []
        out = BatchNormTrain.apply(input, *params, eps=eps, stats=stats)
        if training and rm is not None:
            mean, var = stats
            rm *= 1 - momentum
            rm += momentum * mean.astype(rm.dtype, copy=False)
            rv *= 1 - momentum
            rv += (momentum * m / max(m - 1, 1)) * var.astype(rv.dtype, copy=False)
        return out
    return BatchNormEval.apply(input, *params, mean=rm, var=rv, eps=eps)


class SyncBatchNormTrain(Function):
    """``BatchNormTrain`` with the statistics of the whole batch spread over many ranks.

    ``allreduce`` sums a float64 array in place across the ranks. Forward reduces the
    per-channel sums and counts, then the sums of squared deviations (two passes, as the
    one-process op); backward reduces ``Σĝ`` and ``Σĝx̂``, so each rank's input gradient
    is that of the sum of all ranks' losses. The weight and bias gradients stay local
    sums: ``DistributedDataParallel`` averages them with the other parameters'.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, eps: float, stats: list,
                allreduce: Any) -> np.ndarray:
        axes = (0,) + tuple(range(2, x.ndim))
        channels = x.shape[1]
        shape = _affine_shape(x)
        sums = np.empty(channels + 1, np.float64)
        sums[:channels] = x.sum(axis=axes, dtype=np.float64)
        sums[channels] = x.size // channels
        allreduce(sums)
        count = float(sums[channels])
        mean = (sums[:channels] / count).astype(x.dtype).reshape(shape)
        centered = x - mean
        squares = (centered * centered).sum(axis=axes, dtype=np.float64)
        allreduce(squares)
        var = (squares / count).astype(x.dtype).reshape(shape)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = centered * inv_std
        stats.extend((mean.reshape(-1), var.reshape(-1), count))
        out = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        self.saved = (xhat, inv_std, weight, axes, count, allreduce)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight, axes, count, allreduce = self.saved
        needs = self.needs_input_grad
        channels = xhat.shape[1]
        ghat = g if weight is None else g * weight.reshape(_affine_shape(g))
        # every rank runs this reduction, whatever its needs (the others wait for it)
        sums = np.empty(2 * channels, np.float64)
        sums[:channels] = ghat.sum(axis=axes, dtype=np.float64)
        sums[channels:] = (ghat * xhat).sum(axis=axes, dtype=np.float64)
        allreduce(sums)
        shape = _affine_shape(g)
        sum_g = sums[:channels].astype(g.dtype).reshape(shape)
        sum_gx = sums[channels:].astype(g.dtype).reshape(shape)
        gx = None
        if needs[0]:
            gx = (inv_std / count) * (count * ghat - sum_g - xhat * sum_gx)
        grads = [gx]
        if len(needs) > 1:
            grads.append((g * xhat).sum(axis=axes) if needs[1] else None)
        if len(needs) > 2:
            grads.append(g.sum(axis=axes) if needs[2] else None)
        return tuple(grads) if len(grads) > 1 else grads[0]


def sync_batch_norm(input: Tensor, running_mean: np.ndarray | None,
                    running_var: np.ndarray | None, weight: Tensor | None,
                    bias: Tensor | None, momentum: float, eps: float,
                    allreduce: Any) -> Tensor:
    """Training-mode batch normalisation with statistics over every rank's batch.

    ``allreduce(array)`` sums a float64 array in place over the ranks (with one rank,
    a no-op: the result is ``batch_norm``'s). The running estimates are updated with the
    global mean and unbiased variance, so they are the same on every rank.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0], [3.0]])
        >>> sync_batch_norm(x, None, None, None, None, 0.1, 0.0, lambda a: None)
        tensor([[-1.],
                [ 1.]])
    """
    if input._data.ndim < 2:
        raise ValueError(f"SyncBatchNorm expects (N, C, ...) input, got {input.shape}")
    params = [t for t in (weight, bias) if t is not None]
    if weight is None and bias is not None:
        raise ValueError("sync_batch_norm: a bias without a weight is not supported")
    stats: list = []
    out = SyncBatchNormTrain.apply(input, *params, eps=eps, stats=stats, allreduce=allreduce)
    mean, var, count = stats
    if count <= 1:
        raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all "
                         f"ranks when training, got input of shape {input.shape}")
    if running_mean is not None and running_var is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean.astype(running_mean.dtype, copy=False)
        running_var *= 1 - momentum
        running_var += (momentum * count / (count - 1)) * var.astype(running_var.dtype,
                                                                       copy=False)
    return out


class LayerNorm(Function):
    """Normalise over the trailing axes of ``normalized_shape``, per sample.

    Works on x as a (rows, m) matrix. Every sum along a row or down a column is a
    matrix-vector product (``x @ 1``, ``1 @ g``, ``g @ γ``): BLAS does those several
    times faster than NumPy's axis reductions over short rows. The backward's two row
    sums need no ĝ = γ g array: ``Σ ĝ = g @ γ`` and ``Σ ĝ x̂ = (g x̂) @ γ``, and ``g x̂``
    is ``∂E/∂γ``'s summand anyway. With ``chainrule.fast`` on, float32 runs the compiled
    row loops of ``chainrule.fast.normalization`` instead (one pass each way).
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None, *, ndim: int, eps: float) -> np.ndarray:
        m = 1
        for size in x.shape[x.ndim - ndim:]:
            m *= size
        if (_fast.enabled and x.dtype == np.float32 and x.size
                and (weight is None or weight.dtype == np.float32)
                and (bias is None or bias.dtype == np.float32)):
            kernels = _layer_norm_kernels()
            if kernels is not None:
                return self._forward_fast(kernels[0], x, weight, bias, m, ndim, eps)
        x2 = x.reshape(-1, m)
        ones = ones_vector(m, x.dtype)
        mean = x2 @ ones
        mean *= 1 / m
        xhat = x2 - mean[:, None]
        var = np.einsum("ij,ij->i", xhat, xhat)
        var *= 1 / m
        var += eps
        inv_std = np.sqrt(var, out=var)
        np.divide(1, inv_std, out=inv_std)
        xhat *= inv_std[:, None]
        w2 = None if weight is None else weight.reshape(m)
        if w2 is None:
            out = xhat
        else:
            out = xhat * w2
            if bias is not None:
                out += bias.reshape(m)
        self.saved = (xhat, inv_std, w2, x.shape, x.shape[x.ndim - ndim:])
        return out.reshape(x.shape)

    def _forward_fast(self, kernel: Callable[..., Any], x: np.ndarray,
                      weight: np.ndarray | None, bias: np.ndarray | None, m: int,
                      ndim: int, eps: float) -> np.ndarray:
        """float32 with ``chainrule.fast``: one compiled pass over the rows writes y and
        each row's μ and σ⁻¹; backward's kernel recomputes x̂ from them and x (kept by
        reference: no x̂ array is written or held)."""
        x2 = kernel_array(x).reshape(-1, m)
        rows = x2.shape[0]
        out = np.empty((rows, m), np.float32)
        mean = np.empty(rows, np.float32)
        inv_std = np.empty(rows, np.float32)
        if weight is None:
            w2 = None
            kernel(x2, _NO_F32, _NO_F32, eps, False, out, mean, inv_std)
        else:
            w2 = kernel_array(weight).reshape(m)
            b2 = np.zeros(m, np.float32) if bias is None else kernel_array(bias).reshape(m)
            kernel(x2, w2, b2, eps, True, out, mean, inv_std)
        # None first marks the fast path's layout (NumPy's starts with x̂)
        self.saved = (None, x2, mean, inv_std, w2, x.shape, x.shape[x.ndim - ndim:])
        return out.reshape(x.shape)

    def backward(self, g: np.ndarray) -> tuple:
        if self.saved[0] is None:  # saved by _forward_fast
            kernels = _layer_norm_kernels()
            if kernels is not None:
                return self._backward_fast(kernels[1], g)
            _, x2, mean, inv_std, w2, shape, affine = self.saved  # the path went off
            xhat = (x2 - mean[:, None]) * inv_std[:, None]
        else:
            xhat, inv_std, w2, shape, affine = self.saved
        needs = self.needs_input_grad
        rows, m = xhat.shape
        g2 = g.reshape(rows, m)
        scale = ones_vector(m, g.dtype) if w2 is None else w2
        g_xhat = g2 * xhat if needs[0] or (len(needs) > 1 and needs[1]) else None
        grads: list = [None]
        if len(needs) > 1:
            ones_rows = ones_vector(rows, g.dtype)
            grads.append((ones_rows @ g_xhat).reshape(affine) if needs[1] else None)
            if len(needs) > 2:
                grads.append((ones_rows @ g2).reshape(affine) if needs[2] else None)
        if needs[0]:
            # ∂E/∂x = σ⁻¹ (ĝ − Σĝ/m − x̂ Σ(ĝ x̂)/m), row by row
            c = inv_std * (-1 / m)
            sum_g = g2 @ scale
            sum_g *= c
            sum_gx = g_xhat @ scale
            sum_gx *= c
            gx = xhat * sum_gx[:, None]
            ghat = g_xhat  # ∂E/∂γ is taken: reuse its buffer for σ⁻¹ ĝ
            if w2 is None:
                np.multiply(g2, inv_std[:, None], out=ghat)
            else:
                np.multiply(g2, w2, out=ghat)
                ghat *= inv_std[:, None]
            gx += ghat
            gx += sum_g[:, None]
            grads[0] = gx.reshape(shape)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array

    def _backward_fast(self, kernel: Callable[..., Any], g: np.ndarray) -> tuple:
        _, x2, mean, inv_std, w2, shape, affine = self.saved
        needs = self.needs_input_grad
        rows, m = x2.shape
        need_w = len(needs) > 1 and needs[1]
        need_b = len(needs) > 2 and needs[2]
        gx = np.empty((rows, m), np.float32) if needs[0] else _NO_F32_2D
        gw = np.zeros(m) if need_w else _NO_F64
        gb = np.zeros(m) if need_b else _NO_F64
        kernel(kernel_array(g.astype(np.float32, copy=False)).reshape(rows, m), x2, mean,
               inv_std, np.ones(m, np.float32) if w2 is None else w2, needs[0], need_w,
               need_b, gx, gw, gb)
        grads: list = [gx.reshape(shape) if needs[0] else None]
        if len(needs) > 1:
            grads.append(gw.astype(np.float32).reshape(affine) if need_w else None)
            if len(needs) > 2:
                grads.append(gb.astype(np.float32).reshape(affine) if need_b else None)
        return tuple(grads) if len(grads) > 1 else grads[0]


_NO_F32 = np.zeros(1, np.float32)  # placeholders for the arguments a kernel call skips
_NO_F32_2D = np.zeros((1, 1), np.float32)
_NO_F64 = np.zeros(1)


def _layer_norm_kernels() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    def build() -> tuple[Callable[..., Any], Callable[..., Any]]:
        module = importlib.import_module("chainrule.fast.normalization")
        return module.build_layer_norm_forward(), module.build_layer_norm_backward()

    return _fast.kernel("layer_norm", build)


def layer_norm(input: Tensor, normalized_shape: int | tuple[int, ...],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes (PyTorch semantics)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input._data.shape[input._data.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: input shape {input.shape} does not end with "
                         f"normalized_shape {shape}")
    if weight is None and bias is not None:
        raise ValueError("layer_norm: a bias without a weight is not supported")
    params = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(input, *params, ndim=len(shape), eps=eps)


# ---- nnbasic: group, instance and RMS normalisation --------------------------------------

def _normalize_rows(x2: np.ndarray, eps: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x̂, σ⁻¹, mean, biased variance) of each row of the matrix x2, row sums as GEMVs."""
    m = x2.shape[1]
    mean = x2 @ ones_vector(m, x2.dtype)
    mean *= 1 / m
    xhat = x2 - mean[:, None]
    var = np.einsum("ij,ij->i", xhat, xhat)
    var *= 1 / m
    inv_std = var + eps
    np.sqrt(inv_std, out=inv_std)
    np.divide(1, inv_std, out=inv_std)
    xhat *= inv_std[:, None]
    return xhat, inv_std, mean, var


def _split_affine(params: tuple, has_weight: bool, has_bias: bool
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    it = iter(params)
    weight = next(it) if has_weight else None
    bias = next(it) if has_bias else None
    return weight, bias


class GroupNorm(Function):
    """Normalise x (N, C, *) over each group of C/G channels (and all positions) per
    sample, then scale and shift per channel.

    Works on x as an (N·G, m) matrix of rows, m = (C/G)·(spatial size), and sums down
    the positions and across a group's channels as GEMVs. With ``groups = C`` this is
    instance normalisation. ``stats`` (when given) receives each row's mean and biased
    variance, for running estimates.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, *params: np.ndarray, has_weight: bool, has_bias: bool,
                groups: int, eps: float, stats: list | None = None) -> np.ndarray:
        weight, bias = _split_affine(params, has_weight, has_bias)
        n, c = x.shape[:2]
        spatial = x.size // max(n * c, 1)
        x2 = x.reshape(n * groups, -1)
        xhat, inv_std, mean, var = _normalize_rows(x2, eps)
        if stats is not None:
            stats.extend((mean, var))
        xh3 = xhat.reshape(n, c, spatial)
        if weight is None and bias is None:
            out = xh3
        else:
            out = xh3 * weight[:, None] if weight is not None else xh3.copy()
            if bias is not None:
                out += bias[:, None]
        self.saved = (xhat, inv_std, weight, has_bias, groups, x.shape)
        return out.reshape(x.shape)

    def backward(self, g: np.ndarray) -> tuple:
        xhat, inv_std, weight, has_bias, groups, shape = self.saved
        needs = self.needs_input_grad
        need_w = weight is not None and needs[1]
        need_b = has_bias and needs[-1]
        rows, m = xhat.shape
        n, c = shape[:2]
        spatial = xhat.size // max(n * c, 1)
        g2 = g.reshape(n * c, spatial)
        ones_s = ones_vector(spatial, g.dtype)
        ones_n = ones_vector(n, g.dtype)
        gxh = None
        t = u = None  # per (sample, channel) sums of g·x̂ and of g
        if needs[0] or need_w:
            gxh = g2 * xhat.reshape(n * c, spatial)
            t = (gxh @ ones_s).reshape(n, c)
        if needs[0] or need_b:
            u = (g2 @ ones_s).reshape(n, c)
        grads: list = [None]
        if weight is not None:
            grads.append(ones_n @ t if need_w else None)
        if has_bias:
            grads.append(ones_n @ u if need_b else None)
        if needs[0]:
            # ∂E/∂x = σ⁻¹ (ĝ − Σĝ/m − x̂ Σ(ĝ x̂)/m) per row, ĝ = γ g; the row sums are the
            # per-channel sums t, u weighted by γ and added over the group's channels
            if weight is not None:
                t = t * weight
                u = u * weight
            k = c // groups
            ones_k = ones_vector(k, g.dtype)
            coef = inv_std * (-1 / m)
            sum_gx = t.reshape(rows, k) @ ones_k
            sum_gx *= coef
            sum_g = u.reshape(rows, k) @ ones_k
            sum_g *= coef
            ghat = gxh  # its sums are taken: reuse the buffer for σ⁻¹ ĝ
            if weight is None:
                np.copyto(ghat, g2)
            else:
                np.multiply(g2.reshape(n, c, spatial), weight[:, None],
                            out=ghat.reshape(n, c, spatial))
            ghat = ghat.reshape(rows, m)
            ghat *= inv_std[:, None]
            gx = xhat * sum_gx[:, None]
            gx += ghat
            gx += sum_g[:, None]
            grads[0] = gx.reshape(shape)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


def _check_affine(name: str, channels: int, shape: tuple, weight: Tensor | None,
                  bias: Tensor | None) -> list[Tensor]:
    for pname, p in (("weight", weight), ("bias", bias)):
        if p is not None and p._data.shape != (channels,):
            raise ValueError(f"{name}: {pname} has shape {p.shape} but the input has "
                             f"{channels} channels (shape {shape})")
    return [t for t in (weight, bias) if t is not None]


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation (Wu & He 2018) of x (N, C, *), PyTorch's ``F.group_norm``.

    Each sample's C channels are split into ``num_groups`` groups; each group is
    normalised to zero mean and unit (biased) variance over its channels and positions,
    then ``weight``/``bias`` (C,) scale and shift per channel. Same in training and eval.

    Example:
        >>> import chainrule as cr
        >>> y = group_norm(cr.tensor([[1.0, 3.0, 5.0, 7.0]]), 2)
        >>> [round(v, 3) for v in y.tolist()[0]]
        [-1.0, 1.0, -1.0, 1.0]
    """
    if input._data.ndim < 2:
        raise ValueError(f"group_norm expects input (N, C, *), got shape {input.shape}")
    channels = input._data.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise ValueError(f"group_norm: {channels} channels (input shape {input.shape}) cannot "
                         f"be split into {num_groups} groups")
    params = _check_affine("group_norm", channels, input.shape, weight, bias)
    return GroupNorm.apply(input, *params, has_weight=weight is not None,
                           has_bias=bias is not None, groups=num_groups, eps=eps)


def instance_norm(input: Tensor, running_mean: np.ndarray | Tensor | None = None,
                  running_var: np.ndarray | Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None,
                  use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Instance normalisation of x (N, C, *): each (sample, channel) map normalised on its
    own, then scaled and shifted per channel (PyTorch's ``F.instance_norm``).

    With ``use_input_stats`` the maps' own statistics normalise and, when running
    estimates are given, they are updated in place with the batch average of the maps'
    means and unbiased variances: ``running = (1 − momentum)·running + momentum·avg``.
    Without it the running estimates normalise (as ``batch_norm`` in eval mode).

    Example:
        >>> import chainrule as cr
        >>> y = instance_norm(cr.tensor([[[1.0, 3.0], [0.0, 4.0]]]))
        >>> [[round(v, 3) for v in row] for row in y.tolist()[0]]
        [[-1.0, 1.0], [-1.0, 1.0]]
    """
    if input._data.ndim < 3:
        raise ValueError(f"instance_norm expects input (N, C, *spatial), got shape {input.shape}")
    n, channels = input._data.shape[:2]
    params = _check_affine("instance_norm", channels, input.shape, weight, bias)
    rm = running_mean._data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var._data if isinstance(running_var, Tensor) else running_var
    for name, r in (("running_mean", rm), ("running_var", rv)):
        if r is not None and r.shape != (channels,):
            raise ValueError(f"instance_norm: {name} has shape {r.shape} but the input "
                             f"has {channels} channels (shape {input.shape})")
    if not use_input_stats:
        if rm is None or rv is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        if weight is None and bias is not None:
            raise ValueError("instance_norm: a bias without a weight is not supported with "
                             "running statistics")
        return BatchNormEval.apply(input, *params, mean=rm, var=rv, eps=eps)
    m = input._data.size // max(n * channels, 1)
    if m <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element per "
                         f"channel, got input of shape {input.shape}")
    stats: list | None = [] if rm is not None or rv is not None else None
    out = GroupNorm.apply(input, *params, has_weight=weight is not None,
                          has_bias=bias is not None, groups=channels, eps=eps, stats=stats)
    if stats:
        mean, var = stats
        if rm is not None:
            rm *= 1 - momentum
            rm += momentum * mean.reshape(n, channels).mean(axis=0).astype(rm.dtype,
                                                                            copy=False)
        if rv is not None:
            unbiased = var.reshape(n, channels).mean(axis=0) * (m / (m - 1))
            rv *= 1 - momentum
            rv += momentum * unbiased.astype(rv.dtype, copy=False)
    return out


class RMSNorm(Function):
    """``y = γ x / √(mean(x²) + ε)`` over the trailing axes, per row.

    With ``r = (mean(x²) + ε)^{-1/2}`` and ``y₀ = x r``:
    ``∂E/∂x = r (ĝ − y₀ mean(ĝ y₀))`` where ``ĝ = γ g``, and ``∂E/∂γ = Σ_rows g y₀``; the
    row sum of ``ĝ y₀`` is ``(g y₀) @ γ``, so the product ``g y₀`` serves both.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None, *, ndim: int,
                eps: float) -> np.ndarray:
        m = 1
        for size in x.shape[x.ndim - ndim:]:
            m *= size
        x2 = x.reshape(-1, m)
        r = np.einsum("ij,ij->i", x2, x2)
        r *= 1 / m
        r += eps
        np.sqrt(r, out=r)
        np.divide(1, r, out=r)
        y0 = x2 * r[:, None]
        w2 = None if weight is None else weight.reshape(m)
        out = y0 if w2 is None else y0 * w2
        self.saved = (y0, r, w2, x.shape, x.shape[x.ndim - ndim:])
        return out.reshape(x.shape)

    def backward(self, g: np.ndarray) -> tuple:
        y0, r, w2, shape, affine = self.saved
        needs = self.needs_input_grad
        rows, m = y0.shape
        g2 = g.reshape(rows, m)
        gy = g2 * y0
        grads: list = [None]
        if w2 is not None:
            grads.append((ones_vector(rows, g.dtype) @ gy).reshape(affine) if needs[1]
                         else None)
        if needs[0]:
            s = gy @ (ones_vector(m, g.dtype) if w2 is None else w2)
            s *= -1 / m
            gx = y0 * s[:, None]
            gx += g2 if w2 is None else g2 * w2
            gx *= r[:, None]
            grads[0] = gx.reshape(shape)
        return tuple(grads) if len(grads) > 1 else grads[0]  # one input: a bare array


def rms_norm(input: Tensor, normalized_shape: int | tuple[int, ...] | list[int],
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation over the trailing ``normalized_shape`` axes
    (PyTorch's ``F.rms_norm``): ``x / √(mean(x²) + eps) · weight``.

    ``eps=None`` uses the machine epsilon of x's dtype (``np.finfo(dtype).eps``), as
    PyTorch does.

    Example:
        >>> import chainrule as cr
        >>> y = rms_norm(cr.tensor([[3.0, 4.0]]), (2,), eps=0.0)
        >>> [round(v, 4) for v in y.tolist()[0]]
        [0.8485, 1.1314]
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    ndim = input._data.ndim
    if tuple(input._data.shape[ndim - len(shape):]) != shape or ndim < len(shape):
        raise ValueError(f"rms_norm: input shape {input.shape} does not end with "
                         f"normalized_shape {shape}")
    if weight is not None and weight._data.shape != shape:
        raise ValueError(f"rms_norm: weight has shape {weight.shape}, expected {shape}")
    if eps is None:
        dt = input._data.dtype if input._data.dtype.kind == "f" else np.dtype(np.float64)
        eps = float(np.finfo(dt).eps)
    params = [weight] if weight is not None else []
    return RMSNorm.apply(input, *params, ndim=len(shape), eps=float(eps))


__all__ = ["batch_norm", "layer_norm",
           # nnbasic
           "group_norm", "instance_norm", "rms_norm"]
