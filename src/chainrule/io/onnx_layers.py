"""The ONNX converter of each layer family (see ``chainrule.io.onnx_export``).

A converter ``fn(g, module, x, ...)`` emits the layer's ONNX nodes with ``g.op`` and
returns the output's name (or the names, shaped as ``forward``'s result); containers and
composite layers call ``g.call(child, value)`` and return Values. Inputs are Values, whose
``example`` (chainrule's own result on the example input) gives the sizes a converter
needs; the batch size is never written into the graph (``Reshape`` copies it with 0, or
reads it with ``Shape``).

Only standard ``ai.onnx`` operators of opset 17 are used (18+ where noted), decomposed
where ONNX lacks the layer (GELU before opset 20, GroupNorm, RMSNorm, SiLU, Mish, circular
padding before opset 19) or where ONNX's operator means something else (LRN's window for
even sizes, LpPool for odd powers, SpaceToDepth's channel order).
Nothing here imports ``onnx``: the graph becomes a protobuf in ``onnx_export``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.io.onnx_export import OnnxExportError, OnnxGraph, Value
from chainrule.io.onnx_export import register_builtin as register_onnx_converter
from chainrule.ops.activations import gelu as _gelu_fn
from chainrule.ops.activations import relu as _relu_fn
from chainrule.ops.windows import spatial_tuple
from chainrule.tensor import Tensor

G = OnnxGraph
_ELEM = {np.dtype(np.float32): 1, np.dtype(np.float64): 11, np.dtype(np.float16): 10}
"""ONNX's element type of each floating dtype (``Cast``'s ``to``)."""


def _tensor(a: np.ndarray) -> Tensor:
    return Tensor._make(a, False, None)


def _register(*classes: type) -> Any:
    def deco(fn: Any) -> Any:
        for cls in classes:
            register_onnx_converter(cls, fn)
        return fn
    return deco


# ---- containers and plumbing -----------------------------------------------------------------

@_register(nn.Sequential)
def _sequential(g: G, m: nn.Sequential, x: Any) -> Any:
    for child in m:
        x = g.call(child, x)
    return x


@_register(nn.Residual)
def _residual(g: G, m: nn.Residual, x: Value) -> Value:
    skip = x if m.shortcut is None else g.call(m.shortcut, x)
    return skip + g.call(m.fn, x)


@_register(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
           nn.AlphaDropout, nn.FeatureAlphaDropout)
def _identity(g: G, m: nn.Module, x: Value, *args: Any, **kwargs: Any) -> str:
    return g.op("Identity", x)  # dropout is the identity in eval mode


@_register(nn.Flatten)
def _flatten(g: G, m: nn.Flatten, x: Value) -> str:
    return g.flatten(x, x.shape, m.start_dim, m.end_dim)


@_register(nn.Unflatten)
def _unflatten(g: G, m: nn.Unflatten, x: Value) -> str:
    d = m.dim % x.ndim
    return g.op("Reshape", x, g.ints([0] * d + list(m.unflattened_size)
                                     + list(x.shape[d + 1:])))


@_register(nn.Standardize)
def _standardize(g: G, m: nn.Standardize, x: Value) -> str:
    if m.invert:
        return g.op("Add", g.op("Mul", x, m.std), m.mean)
    return g.op("Div", g.op("Sub", x, m.mean), m.std)


# ---- Linear, Bilinear, Embedding, EmbeddingBag ----------------------------------------------

def _matmul_t(g: G, x: Any, weight: Any, bias: Any, rank: int) -> str:
    """``x Wᵀ + b``: Gemm for (N, in) inputs, else MatMul by the transposed weight (a
    Transpose of the stored weight, which runtimes fold when loading)."""
    if rank == 2:
        return g.op("Gemm", x, weight, bias, transB=1)
    y = g.op("MatMul", x, g.op("Transpose", weight, perm=[1, 0]))
    return y if bias is None else g.op("Add", y, bias)


@_register(nn.Linear)
def _linear(g: G, m: nn.Linear, x: Value) -> str:
    return _matmul_t(g, x, m.weight, m.bias, x.ndim)


@_register(nn.LazyLinear)
def _lazy_linear(g: G, m: nn.LazyLinear, x: Value) -> str:
    # after its first forward a LazyLinear *is* a Linear (its class changes); before,
    # its weight has no shape
    raise OnnxExportError("its weight has no shape before the first forward: run one batch "
                          "through the model (a dry run) before exporting; the layer then "
                          "becomes a Linear")


@_register(nn.Bilinear)
def _bilinear(g: G, m: nn.Bilinear, x1: Value, x2: Value) -> str:
    # y[..., o] = Σ_j t[..., o, j] x₂[..., j] with t = x₁ A, A viewed as (I, O·J): one
    # MatMul by the stored weight (transposed and reshaped, folded by runtimes), one
    # batched MatMul by x₂ — the contractions chainrule makes
    o, i, j = m.weight.shape
    a = g.op("Reshape", g.op("Transpose", m.weight, perm=[1, 0, 2]), g.ints([i, o * j]))
    lead = [0] * (x1.ndim - 1)
    t = g.op("Reshape", g.op("MatMul", x1, a), g.ints(lead + [o, j]))
    y = g.op("Squeeze", g.op("MatMul", t, g.op("Unsqueeze", x2, g.ints([x2.ndim]))),
             g.ints([x2.ndim]))
    return y if m.bias is None else g.op("Add", y, m.bias)


def _int64(g: G, v: Any) -> Any:
    """``v`` (ids, offsets: a Value, Tensor or array) as int64, cast when it is not."""
    dtype = v.dtype if isinstance(v, Value) else np.asarray(v).dtype
    return v if dtype == np.int64 else g.op("Cast", v, to=7)  # 7: INT64


def _lookup_table(g: G, m: Any) -> Any:
    """The table an Embedding or EmbeddingBag reads. With ``max_norm``, chainrule (as
    PyTorch) rescales the looked-up rows in place before each lookup; rescaling every row
    over max_norm once gives the same lookups."""
    if m.max_norm is None:
        return m.weight
    w = m.weight._data
    norms = np.linalg.norm(w.astype(np.float64), ord=m.norm_type, axis=1, keepdims=True)
    scale = np.where(norms > m.max_norm, m.max_norm / (norms + 1e-7), 1.0)
    return g.const((w * scale).astype(w.dtype), "embedding")


@_register(nn.Embedding)
def _embedding(g: G, m: nn.Embedding, ids: Value) -> str:
    return g.op("Gather", _lookup_table(g, m), _int64(g, ids), axis=0)


def _bag_membership(g: G, m: nn.EmbeddingBag, index: Any, offsets: Any) -> str:
    """(B, n) booleans: position p of a 1-D input belongs to bag b when
    ``starts[b] ≤ p < ends[b]``, bag b running to the next start and the last one to the
    end of the input (whatever an ``include_last_offset`` end says, as chainrule)."""
    if offsets is None:
        raise OnnxExportError("a 1-D input needs offsets")
    starts = _int64(g, offsets)
    if m.include_last_offset:
        starts = g.op("Slice", starts, g.ints([0]), g.ints([-1]))
    n = g.op("Shape", index)
    ends = g.op("Concat", g.op("Slice", starts, g.ints([1]), g.ints([np.iinfo(np.int64).max])),
                n, axis=0)
    positions = g.op("Range", g.ints(0), g.op("Squeeze", n, g.ints([0])), g.ints(1))  # (n,)
    column = g.ints([1])
    return g.op("And", g.op("GreaterOrEqual", positions, g.op("Unsqueeze", starts, column)),
                g.op("Less", positions, g.op("Unsqueeze", ends, column)))


@_register(nn.EmbeddingBag)
def _embedding_bag(g: G, m: nn.EmbeddingBag, ids: Value, offsets: Any = None,
                   per_sample_weights: Any = None) -> str:
    index = _int64(g, ids)
    rows = g.op("Gather", _lookup_table(g, m), index, axis=0)  # (B, L, D) or (n, D)
    if ids.ndim == 2 and m.padding_idx is None and per_sample_weights is None:
        # bags of equal length, every id counted: one reduction over each row of ids
        op = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax"}[m.mode]
        return g.reduce(op, rows, [1], False)
    # Otherwise bag b weighs each looked-up row by member[b, i] (0 or 1; the sample's
    # weight with per_sample_weights): (B, L) for a 2-D input, (B, n) for a 1-D one
    member = None if ids.ndim == 2 else _bag_membership(g, m, index, offsets)
    if m.padding_idx is not None:  # padding ids are left out of their bag
        kept = g.op("Not", g.op("Equal", index, g.ints(m.padding_idx)))
        member = kept if member is None else g.op("And", member, kept)
    weights = None if member is None else g.op("Cast", member, to=_ELEM[g.dtype])
    if m.mode != "sum":  # (mean and max always have a membership here)
        count = g.reduce("ReduceSum", weights, [1])  # (B, 1): the ids each bag counts
    if m.mode == "max":  # rows outside the bag are −∞; an empty bag gives 0, as chainrule
        picked = g.op("Where", g.op("Unsqueeze", member, g.ints([2])), rows, g.f(-np.inf))
        best = g.reduce("ReduceMax", picked, [1], False)
        return g.op("Where", g.op("Greater", count, g.f(0.0)), best, g.f(0.0))
    if per_sample_weights is not None:
        weights = per_sample_weights if weights is None else g.op("Mul", weights,
                                                                  per_sample_weights)
    if ids.ndim == 2:  # (B, 1, L) @ (B, L, D)
        total = g.op("Squeeze", g.op("MatMul", g.op("Unsqueeze", weights, g.ints([1])), rows),
                     g.ints([1]))
    else:  # (B, n) @ (n, D)
        total = g.op("MatMul", weights, rows)
    if m.mode == "mean":
        total = g.op("Div", total, g.op("Max", count, g.f(1.0)))
    return total


@_register(nn.PositionalEmbedding)
def _positional(g: G, m: nn.PositionalEmbedding, x: Value) -> str:
    T = x.shape[-2]
    rows = g.op("Slice", g.param(m.weight), g.ints([0]), g.ints([T]), g.ints([0]))
    return g.op("Add", x, rows)


# ---- activations -----------------------------------------------------------------------------

def _simple(op: str, **fixed: Any) -> Any:
    def convert(g: G, m: nn.Module, x: Value) -> str:
        return g.op(op, x, **fixed)
    return convert


for _cls, _op in ((nn.ReLU, "Relu"), (nn.Sigmoid, "Sigmoid"), (nn.Tanh, "Tanh"),
                  (nn.Softsign, "Softsign"), (nn.Hardswish, "HardSwish")):
    register_onnx_converter(_cls, _simple(_op))
register_onnx_converter(nn.Hardsigmoid, _simple("HardSigmoid", alpha=1 / 6, beta=0.5))
# SELU's constants as PyTorch (and ONNX's defaults) have them
register_onnx_converter(nn.SELU, _simple("Selu", alpha=1.6732632423543772,
                                         gamma=1.0507009873554805))


@_register(nn.LeakyReLU)
def _leaky_relu(g: G, m: nn.LeakyReLU, x: Value) -> str:
    return g.op("LeakyRelu", x, alpha=float(m.negative_slope))


@_register(nn.ELU)
def _elu(g: G, m: nn.ELU, x: Value) -> str:
    return g.op("Elu", x, alpha=float(m.alpha))


@_register(nn.CELU)
def _celu(g: G, m: nn.CELU, x: Value) -> str:
    if g.dtype != np.float32:  # ONNX's Celu is float32 only
        a = g.f(m.alpha)
        neg = g.op("Mul", a, g.op("Sub", g.op("Exp", g.op("Div", x, a)), g.f(1.0)))
        return g.op("Add", g.op("Relu", x), g.op("Min", neg, g.f(0.0)))
    return g.op("Celu", x, alpha=float(m.alpha))


@_register(nn.ReLU6)
def _relu6(g: G, m: nn.Module, x: Value) -> str:
    return g.op("Clip", x, g.f(0.0), g.f(6.0))


@_register(nn.Hardtanh)
def _hardtanh(g: G, m: nn.Hardtanh, x: Value) -> str:
    return g.op("Clip", x, g.f(m.min_val), g.f(m.max_val))


@_register(nn.SiLU)
def _silu(g: G, m: nn.Module, x: Value) -> str:
    return g.op("Mul", x, g.op("Sigmoid", x))


@_register(nn.Mish)
def _mish(g: G, m: nn.Module, x: Value) -> str:
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


@_register(nn.Tanhshrink)
def _tanhshrink(g: G, m: nn.Module, x: Value) -> str:
    return g.op("Sub", x, g.op("Tanh", x))


@_register(nn.LogSigmoid)
def _logsigmoid(g: G, m: nn.Module, x: Value) -> str:
    return g.op("Neg", g.op("Softplus", g.op("Neg", x)))  # log σ(x) = −softplus(−x)


@_register(nn.Softplus)
def _softplus(g: G, m: nn.Softplus, x: Value) -> str:
    beta = float(m.beta)
    bx = x.name if beta == 1 else g.op("Mul", x, g.f(beta))
    soft = g.op("Softplus", bx)
    if beta != 1:
        soft = g.op("Div", soft, g.f(beta))
    # as PyTorch: exactly x where βx exceeds the threshold
    return g.op("Where", g.op("Greater", bx, g.f(m.threshold)), x, soft)


def gelu(g: G, x: Any, approximate: str = "none") -> str:
    """GELU: ONNX's Gelu from opset 20, before that its formula."""
    if g.opset >= 20:
        return g.op("Gelu", x, approximate=approximate)
    if approximate == "tanh":  # 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
        cube = g.op("Mul", g.op("Mul", x, x), x)
        inner = g.op("Mul", g.op("Add", x, g.op("Mul", cube, g.f(0.044715))),
                     g.f(math.sqrt(2 / math.pi)))
        half = g.op("Add", g.op("Tanh", inner), g.f(1.0))
    else:  # 0.5 x (1 + erf(x / √2))
        half = g.op("Add", g.op("Erf", g.op("Mul", x, g.f(1 / math.sqrt(2)))), g.f(1.0))
    return g.op("Mul", g.op("Mul", x, half), g.f(0.5))


@_register(nn.GELU)
def _gelu(g: G, m: nn.GELU, x: Value) -> str:
    return gelu(g, x, m.approximate)


@_register(nn.PReLU)
def _prelu(g: G, m: nn.PReLU, x: Value) -> str:
    slope = g.param(m.weight)
    if m.num_parameters > 1:  # one slope per channel (axis 1): (C, 1, ..., 1)
        slope = g.op("Reshape", slope, g.ints([m.num_parameters] + [1] * (x.ndim - 2)))
    return g.op("PRelu", x, slope)


@_register(nn.Softmax)
def _softmax(g: G, m: nn.Softmax, x: Value) -> str:
    return g.op("Softmax", x, axis=-1 if m.dim is None else int(m.dim))


@_register(nn.LogSoftmax)
def _log_softmax(g: G, m: nn.LogSoftmax, x: Value) -> str:
    return g.op("LogSoftmax", x, axis=-1 if m.dim is None else int(m.dim))


@_register(nn.Softmin)
def _softmin(g: G, m: nn.Softmin, x: Value) -> str:
    # without dim, PyTorch's deprecated implicit choice (chainrule's implicit_softmax_dim)
    dim = m.dim if m.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
    return g.op("Softmax", g.op("Neg", x), axis=int(dim))


@_register(nn.Softmax2d)
def _softmax2d(g: G, m: nn.Softmax2d, x: Value) -> str:
    return g.op("Softmax", x, axis=-3)  # over the channels of (N, C, H, W) or (C, H, W)


@_register(nn.GLU)
def _glu(g: G, m: nn.GLU, x: Value) -> str:
    half = x.shape[m.dim] // 2
    a, b = g.op("Split", x, g.ints([half, half]), axis=int(m.dim), outputs=2)
    return g.op("Mul", a, g.op("Sigmoid", b))


@_register(nn.Threshold)
def _threshold(g: G, m: nn.Threshold, x: Value) -> str:
    return g.op("Where", g.op("Greater", x, g.f(m.threshold)), x, g.f(m.value))


@_register(nn.Hardshrink)
def _hardshrink(g: G, m: nn.Hardshrink, x: Value) -> str:
    return g.op("Shrink", x, lambd=float(m.lambd), bias=0.0)


@_register(nn.Softshrink)
def _softshrink(g: G, m: nn.Softshrink, x: Value) -> str:
    return g.op("Shrink", x, lambd=float(m.lambd), bias=float(m.lambd))


@_register(nn.RReLU)
def _rrelu(g: G, m: nn.RReLU, x: Value) -> str:
    # eval form: every negative slope fixed at the middle of [lower, upper]
    return g.op("LeakyRelu", x, alpha=(m.lower + m.upper) / 2)


# ---- normalisation ---------------------------------------------------------------------------

def _per_channel(g: G, t: Any, channels: int, rank: int) -> str:
    """A (C,) tensor as (C, 1, ..., 1), to broadcast over axis 1 of a rank-``rank`` input."""
    return g.op("Reshape", t, g.ints([channels] + [1] * (rank - 2)))


def _affine_or(g: G, t: Any, fill: float, n: int) -> Any:
    return t if t is not None else g.f(np.full(n, fill))


def _batch_statistics(g: G, x: Value, weight: Any, bias: Any, eps: float, c: int) -> str:
    """Normalise over every axis but 1 with the batch's own statistics (a BatchNorm that
    tracks no running statistics does so in eval mode too)."""
    axes = [0] + list(range(2, x.ndim))
    centred = g.op("Sub", x, g.reduce("ReduceMean", x, axes))
    var = g.reduce("ReduceMean", g.op("Mul", centred, centred), axes)
    y = g.op("Div", centred, g.op("Sqrt", g.op("Add", var, g.f(eps))))
    if weight is not None:
        y = g.op("Mul", y, _per_channel(g, weight, c, x.ndim))
    if bias is not None:
        y = g.op("Add", y, _per_channel(g, bias, c, x.ndim))
    return y


@_register(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def _batch_norm(g: G, m: Any, x: Value) -> str:
    c = m.num_features
    if not m.track_running_stats:
        return _batch_statistics(g, x, m.weight, m.bias, m.eps, c)
    return g.op("BatchNormalization", x, _affine_or(g, m.weight, 1.0, c),
                _affine_or(g, m.bias, 0.0, c), m.running_mean, m.running_var,
                epsilon=float(m.eps))


@_register(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def _instance_norm(g: G, m: Any, x: Value) -> str:
    c = m.num_features
    unbatched = x.ndim == m.no_batch_dim
    y = g.op("Unsqueeze", x, g.ints([0])) if unbatched else x.name
    if m.track_running_stats:  # eval mode normalises with the running estimates
        y = g.op("BatchNormalization", y, _affine_or(g, m.weight, 1.0, c),
                 _affine_or(g, m.bias, 0.0, c), m.running_mean, m.running_var,
                 epsilon=float(m.eps))
    else:
        y = g.op("InstanceNormalization", y, _affine_or(g, m.weight, 1.0, c),
                 _affine_or(g, m.bias, 0.0, c), epsilon=float(m.eps))
    return g.op("Squeeze", y, g.ints([0])) if unbatched else y


@_register(nn.LayerNorm)
def _layer_norm(g: G, m: nn.LayerNorm, x: Value) -> str:
    k = len(m.normalized_shape)
    scale = m.weight if m.weight is not None else g.f(np.ones(m.normalized_shape))
    return g.op("LayerNormalization", x, scale, m.bias, axis=-k, epsilon=float(m.eps))


@_register(nn.GroupNorm)
def _group_norm(g: G, m: nn.GroupNorm, x: Value) -> str:
    # (N, C, *) → (N, G, C/G·*): InstanceNormalization normalises each (n, group) row;
    # then back to x's shape and the per-channel affine (ONNX's GroupNormalization of
    # opset 18 scales per group, not per channel, so it is not used)
    groups = m.num_groups
    rows = g.op("Reshape", x, g.ints([0, groups, -1]))
    normed = g.op("InstanceNormalization", rows, g.f(np.ones(groups)), g.f(np.zeros(groups)),
                  epsilon=float(m.eps))
    y = g.op("Reshape", normed, g.op("Shape", x))
    if m.weight is not None:
        y = g.op("Mul", y, _per_channel(g, m.weight, m.num_channels, x.ndim))
    if m.bias is not None:
        y = g.op("Add", y, _per_channel(g, m.bias, m.num_channels, x.ndim))
    return y


@_register(nn.RMSNorm)
def _rms_norm(g: G, m: nn.RMSNorm, x: Value) -> str:
    eps = m.eps if m.eps is not None else float(np.finfo(
        x.dtype if x.dtype.kind == "f" else np.float64).eps)
    axes = list(range(x.ndim - len(m.normalized_shape), x.ndim))
    mean_sq = g.reduce("ReduceMean", g.op("Mul", x, x), axes)
    y = g.op("Div", x, g.op("Sqrt", g.op("Add", mean_sq, g.f(eps))))
    return y if m.weight is None else g.op("Mul", y, m.weight)


@_register(nn.LocalResponseNorm)
def _local_response_norm(g: G, m: nn.LocalResponseNorm, x: Value) -> str:
    size, alpha, beta, k = m.size, float(m.alpha), float(m.beta), float(m.k)
    if size % 2:  # ONNX's LRN window, [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉], is chainrule's
        # onnxruntime runs LRN on 4-d inputs only: (N, C, *) is viewed as (N, C, ·, 1)
        y = x.name if x.ndim == 4 else g.op("Reshape", x, g.ints([0, 0, -1, 1]))
        y = g.op("LRN", y, size=size, alpha=alpha, beta=beta, bias=k)
        return y if x.ndim == 4 else g.op("Reshape", y, g.op("Shape", x))
    # An even window reaches one channel further back than forward (ONNX's: forward), so
    # it is built as PyTorch builds it: the mean of x² over a zero-padded channel window
    # (an AveragePool over (N, 1, C, ·)), then x / (k + α·mean)^β
    sq = g.op("Reshape", g.op("Mul", x, x), g.ints([0, 1, x.shape[1], -1]))
    sq = g.op("Pad", sq, g.ints([0, 0, size // 2, 0, 0, 0, (size - 1) // 2, 0]))
    mean = g.op("Reshape", g.op("AveragePool", sq, kernel_shape=[size, 1]), g.op("Shape", x))
    denom = g.op("Pow", g.op("Add", g.op("Mul", mean, g.f(alpha)), g.f(k)), g.f(beta))
    return g.op("Div", x, denom)


# ---- convolution -----------------------------------------------------------------------------

def _conv_pads(m: Any) -> list[int]:
    """ONNX ``pads`` (all begins, then all ends) of a Conv layer's padding."""
    nd = m.nd
    if m.padding == "valid":
        return [0] * (2 * nd)
    if m.padding == "same":  # PyTorch puts the odd pixel at the end
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    return list(m.padding) * 2


@_register(nn.Conv1d, nn.Conv2d)
def _conv(g: G, m: Any, x: Value) -> str:
    unbatched = x.ndim == m.nd + 1
    y = g.op("Unsqueeze", x, g.ints([0])) if unbatched else x.name
    y = g.op("Conv", y, m.weight, m.bias, kernel_shape=list(m.kernel_size),
             strides=list(m.stride), pads=_conv_pads(m), dilations=list(m.dilation),
             group=m.groups)
    return g.op("Squeeze", y, g.ints([0])) if unbatched else y


@_register(nn.ConvTranspose1d, nn.ConvTranspose2d)
def _conv_transpose(g: G, m: Any, x: Value, output_size: Any = None) -> str:
    unbatched = x.ndim == m.nd + 1
    y = g.op("Unsqueeze", x, g.ints([0])) if unbatched else x.name
    y = g.op("ConvTranspose", y, m.weight, m.bias, kernel_shape=list(m.kernel_size),
             strides=list(m.stride), pads=list(m.padding) * 2, dilations=list(m.dilation),
             group=m.groups,
             output_padding=list(m._output_padding(_tensor(x.example), output_size)))
    return g.op("Squeeze", y, g.ints([0])) if unbatched else y


# ---- pooling ---------------------------------------------------------------------------------

def _pool_geometry(m: Any, nd: int) -> dict:
    name = type(m).__name__
    return {"kernel_shape": list(spatial_tuple(m.kernel_size, nd, "kernel_size", name)),
            "strides": list(spatial_tuple(m.stride, nd, "stride", name)),
            "pads": list(spatial_tuple(m.padding, nd, "padding", name)) * 2}


def _batched(g: G, x: Value, nd: int) -> tuple[str, bool]:
    if x.ndim == nd + 1:  # an unbatched (C, *spatial) input
        return g.op("Unsqueeze", x, g.ints([0])), True
    return x.name, False


def _unbatch(g: G, y: str, unbatched: bool) -> str:
    return g.op("Squeeze", y, g.ints([0])) if unbatched else y


def _no_indices(m: Any) -> None:
    if m.return_indices:
        raise OnnxExportError("return_indices=True is not exported (ONNX's MaxPool "
                              "numbers indices over the whole tensor, not per plane)")


@_register(nn.MaxPool1d, nn.MaxPool2d)
def _max_pool(g: G, m: Any, x: Value) -> str:
    _no_indices(m)
    nd = 1 if isinstance(m, nn.MaxPool1d) else 2
    y, unbatched = _batched(g, x, nd)
    dilation = spatial_tuple(m.dilation, nd, "dilation", type(m).__name__)
    y = g.op("MaxPool", y, dilations=list(dilation), ceil_mode=int(m.ceil_mode),
             **_pool_geometry(m, nd))
    return _unbatch(g, y, unbatched)


@_register(nn.AvgPool1d, nn.AvgPool2d)
def _avg_pool(g: G, m: Any, x: Value) -> str:
    nd = 1 if isinstance(m, nn.AvgPool1d) else 2
    y, unbatched = _batched(g, x, nd)
    geometry = _pool_geometry(m, nd)
    divisor = getattr(m, "divisor_override", None)
    y = g.op("AveragePool", y, ceil_mode=int(m.ceil_mode),
             count_include_pad=int(m.count_include_pad or divisor is not None), **geometry)
    if divisor:  # every window's sum over the given divisor instead of its size
        y = g.op("Mul", y, g.f(np.prod(geometry["kernel_shape"]) / divisor))
    return _unbatch(g, y, unbatched)


def _adaptive_sizes(m: Any, x: Value, nd: int) -> tuple[list[int], list[int]]:
    spatial = list(x.shape[-nd:])
    out = m.output_size if isinstance(m.output_size, (tuple, list)) else [m.output_size] * nd
    return spatial, [n if o is None else int(o) for n, o in zip(spatial, out)]


def _windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: window i covers [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


@_register(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
def _adaptive_avg(g: G, m: Any, x: Value) -> str:
    nd = 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2
    spatial, out = _adaptive_sizes(m, x, nd)
    if out == [1] * nd and x.ndim == nd + 2:
        return g.op("GlobalAveragePool", x)
    if all(n % o == 0 for n, o in zip(spatial, out)):
        kernel = [n // o for n, o in zip(spatial, out)]
        y, unbatched = _batched(g, x, nd)
        return _unbatch(g, g.op("AveragePool", y, kernel_shape=kernel, strides=kernel),
                        unbatched)
    # Windows of unequal sizes: the mean over a window is separable, so each axis is a
    # product with its (out, in) averaging matrix — the same numbers chainrule computes.
    y = x.name
    for axis in reversed(range(nd)):
        n, o = spatial[axis], out[axis]
        if n == o:
            continue
        avg = np.zeros((o, n))
        for i, (a, b) in enumerate(_windows(n, o)):
            avg[i, a:b] = 1 / (b - a)
        if axis == nd - 1:
            y = g.op("MatMul", y, g.f(avg.T, "pool"))
        else:
            y = g.op("MatMul", g.f(avg, "pool"), y)
    return y


@_register(nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
def _adaptive_max(g: G, m: Any, x: Value) -> str:
    _no_indices(m)
    nd = 1 if isinstance(m, nn.AdaptiveMaxPool1d) else 2
    spatial, out = _adaptive_sizes(m, x, nd)
    y, unbatched = _batched(g, x, nd)
    if all(n % o == 0 for n, o in zip(spatial, out)):
        kernel = [n // o for n, o in zip(spatial, out)]
        return _unbatch(g, g.op("MaxPool", y, kernel_shape=kernel, strides=kernel), unbatched)
    # unequal windows: the max is separable too, one axis at a time, window by window
    for axis in reversed(range(nd)):
        ax = axis + 2
        parts = [g.reduce("ReduceMax", g.op("Slice", y, g.ints([a]), g.ints([b]),
                                            g.ints([ax])), [ax])
                 for a, b in _windows(spatial[axis], out[axis])]
        y = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=ax)
    return _unbatch(g, y, unbatched)


@_register(nn.LPPool1d, nn.LPPool2d)
def _lp_pool(g: G, m: Any, x: Value) -> str:
    nd = 1 if isinstance(m, nn.LPPool1d) else 2
    name = type(m).__name__
    kernel = list(spatial_tuple(m.kernel_size, nd, "kernel_size", name))
    strides = kernel if m.stride is None else list(spatial_tuple(m.stride, nd, "stride", name))
    y, unbatched = _batched(g, x, nd)
    p = float(m.norm_type)
    if p in (math.inf, -math.inf):  # max pooling of |x| (minimum of |x| for −∞)
        a = g.op("Abs", y) if p > 0 else g.op("Neg", g.op("Abs", y))
        y = g.op("MaxPool", a, kernel_shape=kernel, strides=strides, ceil_mode=int(m.ceil_mode))
        y = y if p > 0 else g.op("Neg", y)
    elif p > 0 and p % 2 == 0 and not m.ceil_mode:
        # ONNX's LpPool sums |x|^p: chainrule's Σ x^p for even p (its partial ceil-mode
        # windows are scaled, see below, and LpPool's are not)
        y = g.op("LpPool", y, kernel_shape=kernel, strides=strides, p=int(p))
    else:
        # as chainrule (and PyTorch) compute it: a window's mean of x^p times the kernel's
        # size (so a partial ceil-mode window is scaled up), then the 1/p-th power
        mean = g.op("AveragePool", g.op("Pow", y, g.f(p)), kernel_shape=kernel,
                    strides=strides, ceil_mode=int(m.ceil_mode))
        y = g.op("Pow", g.op("Mul", mean, g.f(math.prod(kernel))), g.f(1 / p))
    return _unbatch(g, y, unbatched)


# ---- resizing --------------------------------------------------------------------------------

@_register(nn.Upsample)
def _upsample(g: G, m: nn.Upsample, x: Value) -> str:
    nd = x.ndim - 2
    spatial = x.shape[2:]
    if m.size is not None:
        out = tuple(m.size) if isinstance(m.size, (tuple, list)) else (int(m.size),) * nd
        factors = None
    else:
        factors = m.scale_factor if isinstance(m.scale_factor, tuple) else (
            m.scale_factor,) * nd
        out = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
    if m.mode == "area":  # adaptive average pooling to the output size
        pool = (nn.AdaptiveAvgPool1d if nd == 1 else nn.AdaptiveAvgPool2d)(out)
        return _adaptive_avg(g, pool, x)
    if factors is not None and not m.recompute_scale_factor:
        # sampling follows 1/scale_factor (as in chainrule and PyTorch): pass the scales
        scales, sizes = g.const(np.asarray([1.0, 1.0, *factors], np.float32), "scales"), None
    else:  # sampling follows in/out: pass the sizes, the batch's read from the input
        batch_channels = g.op("Slice", g.op("Shape", x), g.ints([0]), g.ints([2]))
        scales, sizes = None, g.op("Concat", batch_channels, g.ints(list(out)), axis=0)
    if m.mode in ("nearest", "nearest-exact"):
        exact = m.mode == "nearest-exact"
        attrs = {"mode": "nearest",
                 "coordinate_transformation_mode": "half_pixel" if exact else "asymmetric",
                 "nearest_mode": "round_prefer_ceil" if exact else "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode":
                 "align_corners" if m.align_corners else "pytorch_half_pixel"}
    return g.op("Resize", x, None, scales, sizes, **attrs)


# ---- padding ---------------------------------------------------------------------------------

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}
_PAD_LAYERS = (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
               nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
               nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d,
               nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d)


def _crop(g: G, x: Any, crop: dict[int, tuple[int, int]]) -> Any:
    """``x`` without ``crop[axis] = (before, after)`` elements at the ends of each axis."""
    if not crop:
        return x
    axes = sorted(crop)
    ends = [-crop[a][1] if crop[a][1] else np.iinfo(np.int64).max for a in axes]
    return g.op("Slice", x, g.ints([crop[a][0] for a in axes]), g.ints(ends), g.ints(axes))


def _wrap(g: G, x: Any, grow: dict[int, tuple[int, int]]) -> Any:
    """Circular padding before opset 19 (no ``wrap`` mode): the last ``before`` and the
    first ``after`` elements of each axis concatenated around it."""
    for axis, (before, after) in grow.items():
        parts = [g.op("Slice", x, g.ints([-before]), g.ints([np.iinfo(np.int64).max]),
                      g.ints([axis]))] if before else []
        parts.append(x)
        if after:
            parts.append(g.op("Slice", x, g.ints([0]), g.ints([after]), g.ints([axis])))
        x = g.op("Concat", *parts, axis=axis)
    return x


def pad(g: G, x: Value, widths: Any, mode: str = "constant", value: float = 0.0) -> str:
    """``x`` padded as ``chainrule.functional.pad(x, widths, mode, value)``: PyTorch's flat
    widths, last dimension first. Negative widths crop: after padding, or before it for
    ``'circular'`` (which wraps what is left), as chainrule does."""
    pairs = {x.ndim - 1 - k: (int(widths[2 * k]), int(widths[2 * k + 1]))
             for k in range(len(widths) // 2)}
    grow = {a: (max(lo, 0), max(hi, 0)) for a, (lo, hi) in pairs.items() if max(lo, hi) > 0}
    crop = {a: (max(-lo, 0), max(-hi, 0)) for a, (lo, hi) in pairs.items() if min(lo, hi) < 0}
    y: Any = x.name
    if mode == "circular":
        y, crop = _crop(g, y, crop), {}
    if grow and mode == "circular" and g.opset < 19:
        y = _wrap(g, y, grow)
    elif grow:
        pads = [grow.get(a, (0, 0))[0] for a in range(x.ndim)] + [
            grow.get(a, (0, 0))[1] for a in range(x.ndim)]
        fill = g.const(np.asarray(value, x.dtype), "pad_value") if mode == "constant" else None
        y = g.op("Pad", y, g.ints(pads), fill, mode=_PAD_MODES[mode])
    y = _crop(g, y, crop)
    return g.op("Identity", y) if y == x.name else y


@_register(*_PAD_LAYERS)
def _pad(g: G, m: Any, x: Value) -> str:
    return pad(g, x, m.padding, m._mode, getattr(m, "value", 0.0))


# ---- rearranging channels and pixels ---------------------------------------------------------

def _permute_blocks(g: G, x: Value, lead: int, split: list[int], perm: list[int],
                    merged: list[int]) -> str:
    """The axes after the first ``lead`` reshaped to ``split``, permuted by ``perm``
    (numbered from the first of them) and reshaped to ``merged``; the leading axes (the
    batch) are copied, never fixed."""
    keep = [0] * lead
    y = g.op("Reshape", x, g.ints(keep + split))
    y = g.op("Transpose", y, perm=list(range(lead)) + [lead + p for p in perm])
    return g.op("Reshape", y, g.ints(keep + merged))


@_register(nn.PixelShuffle)
def _pixel_shuffle(g: G, m: nn.PixelShuffle, x: Value) -> str:
    r = m.upscale_factor
    if x.ndim == 4:  # DepthToSpace's CRD order is PyTorch's: channel c·r² + i·r + j
        return g.op("DepthToSpace", x, blocksize=r, mode="CRD")
    c, h, w = x.shape[-3:]
    return _permute_blocks(g, x, x.ndim - 3, [c // (r * r), r, r, h, w], [0, 3, 1, 4, 2],
                           [c // (r * r), h * r, w * r])


@_register(nn.PixelUnshuffle)
def _pixel_unshuffle(g: G, m: nn.PixelUnshuffle, x: Value) -> str:
    # not SpaceToDepth, which orders the output channels (i, j, c) where PyTorch and
    # chainrule order them (c, i, j)
    r = m.downscale_factor
    c, h, w = x.shape[-3:]
    return _permute_blocks(g, x, x.ndim - 3, [c, h // r, r, w // r, r], [0, 2, 4, 1, 3],
                           [c * r * r, h // r, w // r])


@_register(nn.ChannelShuffle)
def _channel_shuffle(g: G, m: nn.ChannelShuffle, x: Value) -> str:
    c, *rest = x.shape[1:]
    k = m.groups
    return _permute_blocks(g, x, 1, [k, c // k, *rest], [1, 0, *range(2, 2 + len(rest))],
                           [c, *rest])


# ---- recurrent layers: ONNX's own RNN, GRU and LSTM ops ---------------------------------------

# ONNX stacks the gates in another order than PyTorch (and chainrule): LSTM i,o,f,c
# against i,f,g,o; GRU z,r,h against r,z,n. Blocks of rows are reordered when exporting.
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _gates(w: np.ndarray, mode: str) -> np.ndarray:
    blocks = np.split(w, len(_GATE_ORDER[mode]), axis=0)
    return np.concatenate([blocks[i] for i in _GATE_ORDER[mode]], axis=0)


def _recurrent_node(g: G, mode: str, seq: str, params: list[tuple], hidden: int,
                    initial: list[Any], direction: str) -> list[str]:
    """One ONNX RNN/GRU/LSTM node over ``seq`` (T, B, I) for the directions' parameters
    ``[(w_ih, w_hh, b_ih, b_hh), ...]``; returns its outputs (Y, Y_h[, Y_c])."""
    W = g.f(np.stack([_gates(p[0]._data, mode) for p in params]), "W")
    R = g.f(np.stack([_gates(p[1]._data, mode) for p in params]), "R")
    B = None
    if params[0][2] is not None:
        B = g.f(np.stack([np.concatenate([_gates(p[2]._data, mode), _gates(p[3]._data, mode)])
                          for p in params]), "B")
    attrs: dict[str, Any] = {"hidden_size": hidden, "direction": direction}
    if mode == "LSTM":
        return g.op("LSTM", seq, W, R, B, None, *initial, outputs=3, **attrs)
    if mode == "GRU":  # PyTorch applies the reset gate after the hidden product
        return g.op("GRU", seq, W, R, B, None, *initial, outputs=2, linear_before_reset=1,
                    **attrs)
    act = "Relu" if mode == "RNN_RELU" else "Tanh"
    return g.op("RNN", seq, W, R, B, None, *initial, outputs=2,
                activations=[act] * len(params), **attrs)


@_register(nn.RNN, nn.LSTM, nn.GRU)
def _recurrent(g: G, m: Any, x: Value, hx: Any = None) -> Any:
    mode, H = m.mode, m.hidden_size
    D = 2 if m.bidirectional else 1
    unbatched = x.ndim == 2
    if unbatched:
        seq = g.op("Unsqueeze", x, g.ints([1]))
    elif m.batch_first:
        seq = g.op("Transpose", x, perm=[1, 0, 2])
    else:
        seq = x.name
    states = [] if hx is None else ([hx] if isinstance(hx, Value) else list(hx))
    if unbatched:
        states = [g.op("Unsqueeze", s, g.ints([1])) for s in states]
    finals: list[list[str]] = []
    for layer in range(m.num_layers):
        params = [m._layer_params(layer, d) for d in range(D)]
        initial = [g.op("Slice", s, g.ints([layer * D]), g.ints([(layer + 1) * D]),
                        g.ints([0])) for s in states]
        outs = _recurrent_node(g, mode, seq, params, H, initial,
                               "bidirectional" if D == 2 else "forward")
        # Y is (T, D, B, H): the directions side by side, (T, B, D·H)
        seq = g.op("Reshape", g.op("Transpose", outs[0], perm=[0, 2, 1, 3]),
                   g.ints([0, 0, -1]))
        finals.append(outs[1:])
    h_n = [f[0] for f in finals]
    stacked = [h_n[0] if len(h_n) == 1 else g.op("Concat", *h_n, axis=0)]
    if mode == "LSTM":
        c_n = [f[1] for f in finals]
        stacked.append(c_n[0] if len(c_n) == 1 else g.op("Concat", *c_n, axis=0))
    if unbatched:
        seq = g.op("Squeeze", seq, g.ints([1]))
        stacked = [g.op("Squeeze", s, g.ints([1])) for s in stacked]
    elif m.batch_first:
        seq = g.op("Transpose", seq, perm=[1, 0, 2])
    return (seq, tuple(stacked)) if mode == "LSTM" else (seq, stacked[0])


@_register(nn.RNNCell, nn.LSTMCell, nn.GRUCell)
def _cell(g: G, m: Any, x: Value, hx: Any = None) -> Any:
    """One step: ONNX's recurrent op over a sequence of length 1."""
    mode = {nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}.get(type(m)) or (
        "RNN_RELU" if m.nonlinearity == "relu" else "RNN_TANH")
    lead = [0, 1] if x.ndim == 1 else [0]
    seq = g.op("Unsqueeze", x, g.ints(lead))
    states = [] if hx is None else ([hx] if isinstance(hx, Value) else list(hx))
    initial = [g.op("Unsqueeze", s, g.ints(lead)) for s in states]
    outs = _recurrent_node(g, mode, seq, [m._params()], m.hidden_size, initial, "forward")
    finals = [g.op("Squeeze", o, g.ints(lead)) for o in outs[1:]]
    return tuple(finals) if mode == "LSTM" else finals[0]


# ---- attention and transformers --------------------------------------------------------------

def _mask_constant(attn_mask: Any, tgt: int, src: int, extra: int) -> np.ndarray:
    arr = np.asarray(attn_mask._data if hasattr(attn_mask, "_data") else attn_mask)
    if isinstance(attn_mask, Value) or arr.shape != (tgt, src):
        raise OnnxExportError(f"only a constant ({tgt}, {src}) attn_mask is exported")
    add = np.where(arr, -np.inf, 0.0) if arr.dtype == bool else arr.astype(np.float64)
    return np.pad(add, ((0, 0), (0, extra)))


def _heads(g: G, t: str, h: int, d: int) -> str:
    """(N, L, E) → (N, h, L, d)."""
    return g.op("Transpose", g.op("Reshape", t, g.ints([0, 0, h, d])), perm=[0, 2, 1, 3])


def _append_rows(g: G, t: str, row: Any) -> str:
    """``t`` (N, S, E) with one more position ``row`` (1, 1, E) repeated over the batch."""
    batch = g.op("Slice", g.op("Shape", t), g.ints([0]), g.ints([1]))
    width = g.op("Slice", g.op("Shape", t), g.ints([2]), g.ints([3]))
    shape = g.op("Concat", batch, g.ints([1]), width, axis=0)
    return g.op("Concat", t, g.op("Expand", row, shape), axis=1)


@_register(nn.MultiheadAttention)
def _attention(g: G, m: nn.MultiheadAttention, query: Value, key: Value, value: Value,
               key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
               average_attn_weights: bool = True, is_causal: bool = False) -> Any:
    if key_padding_mask is not None:
        raise OnnxExportError("key_padding_mask is not exported (pass None)")
    E, h, d = m.embed_dim, m.num_heads, m.head_dim
    unbatched = query.ndim == 2
    names = []
    for t in (query, key, value):  # work batch first: (N, L, E)
        if unbatched:
            names.append(g.op("Unsqueeze", t, g.ints([0])))
        elif not m.batch_first:
            names.append(g.op("Transpose", t, perm=[1, 0, 2]))
        else:
            names.append(t.name)
    q, k, v = names
    axis = -2 if unbatched or m.batch_first else 0  # the sequence axis
    tgt, src = query.shape[axis], key.shape[axis]
    b = m.in_proj_bias

    def bias(i: int) -> Any:
        return None if b is None else g.op("Slice", b, g.ints([i * E]), g.ints([(i + 1) * E]))

    if m.in_proj_weight is None:
        weights = [m.q_proj_weight, m.k_proj_weight, m.v_proj_weight]
    else:
        w = g.param(m.in_proj_weight)
        weights = [g.op("Slice", w, g.ints([i * E]), g.ints([(i + 1) * E])) for i in range(3)]
    q, k, v = (_matmul_t(g, t, weights[i], bias(i), 3) for i, t in enumerate((q, k, v)))
    extra = 0
    if m.bias_k is not None:
        k, v = _append_rows(g, k, m.bias_k), _append_rows(g, v, m.bias_v)
        extra += 1
    if m.add_zero_attn:
        zeros = g.f(np.zeros((1, 1, E)))
        k, v = _append_rows(g, k, zeros), _append_rows(g, v, zeros)
        extra += 1
    q, k, v = _heads(g, q, h, d), _heads(g, k, h, d), _heads(g, v, h, d)
    scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])),
                  g.f(1 / math.sqrt(d)))
    if attn_mask is not None:
        scores = g.op("Add", scores, g.f(_mask_constant(attn_mask, tgt, src, extra)))
    elif is_causal:
        causal = np.where(np.triu(np.ones((tgt, src), bool), 1), -np.inf, 0.0)
        scores = g.op("Add", scores, g.f(np.pad(causal, ((0, 0), (0, extra))), "causal"))
    probs = g.op("Softmax", scores, axis=-1)
    out = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    out = _matmul_t(g, g.op("Reshape", out, g.ints([0, 0, E])), m.out_proj.weight,
                    m.out_proj.bias, 3)
    weights_out = None
    if need_weights:
        weights_out = g.reduce("ReduceMean", probs, [1], False) if average_attn_weights \
            else probs
        if unbatched:
            weights_out = g.op("Squeeze", weights_out, g.ints([0]))
    if unbatched:
        out = g.op("Squeeze", out, g.ints([0]))
    elif not m.batch_first:
        out = g.op("Transpose", out, perm=[1, 0, 2])
    return out, weights_out


def _no_padding_mask(mask: Any) -> None:
    if mask is not None:
        raise OnnxExportError("key padding masks are not exported (pass None)")


@_register(nn.TransformerBlock)
def _transformer_block(g: G, m: nn.TransformerBlock, x: Value,
                       key_padding_mask: Any = None) -> Value:
    _no_padding_mask(key_padding_mask)
    h = g.call(m.ln1, x)
    a, _ = g.call(m.attn, h, h, h, need_weights=False, is_causal=m.causal)
    x = x + g.call(m.drop, a)
    return x + g.call(m.mlp, g.call(m.ln2, x))


@_register(nn.DecoderOnlyTransformer)
def _decoder_only(g: G, m: nn.DecoderOnlyTransformer, ids: Value,
                  key_padding_mask: Any = None) -> Value:
    _no_padding_mask(key_padding_mask)
    x = g.call(m.drop, g.call(m.pos_emb, g.call(m.tok_emb, ids)))
    for block in m.blocks:
        x = g.call(block, x)
    return g.call(m.head, g.call(m.ln_f, x))


def _activation(g: G, fn: Any, x: Value) -> Value:
    """The feed-forward activation of PyTorch's transformer layers: relu, gelu or a
    module of the model."""
    if isinstance(fn, nn.Module):
        return g.call(fn, x)
    if fn is _relu_fn:
        return x.relu()
    if fn is _gelu_fn:
        return g.emit(x, lambda name: gelu(g, name), _gelu_fn)
    raise OnnxExportError(f"the activation {fn!r} is not exported (relu, gelu or a layer "
                          "are)")


def _self_attention(g: G, m: Any, x: Value, attn: Any, mask: Any, is_causal: bool,
                    drop: Any) -> Value:
    out, _ = g.call(attn, x, x, x, attn_mask=mask, need_weights=False, is_causal=is_causal)
    return g.call(drop, out)


def _feed_forward(g: G, m: Any, x: Value, drop: Any) -> Value:
    hidden = _activation(g, m.activation, g.call(m.linear1, x))
    return g.call(drop, g.call(m.linear2, g.call(m.dropout, hidden)))


@_register(nn.TransformerEncoderLayer)
def _encoder_layer(g: G, m: nn.TransformerEncoderLayer, src: Value, src_mask: Any = None,
                   src_key_padding_mask: Any = None, is_causal: bool = False) -> Value:
    _no_padding_mask(src_key_padding_mask)
    x = src
    if m.norm_first:
        x = x + _self_attention(g, m, g.call(m.norm1, x), m.self_attn, src_mask, is_causal,
                                m.dropout1)
        return x + _feed_forward(g, m, g.call(m.norm2, x), m.dropout2)
    x = g.call(m.norm1, x + _self_attention(g, m, x, m.self_attn, src_mask, is_causal,
                                            m.dropout1))
    return g.call(m.norm2, x + _feed_forward(g, m, x, m.dropout2))


@_register(nn.TransformerDecoderLayer)
def _decoder_layer(g: G, m: nn.TransformerDecoderLayer, tgt: Value, memory: Value,
                   tgt_mask: Any = None, memory_mask: Any = None,
                   tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                   tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Value:
    _no_padding_mask(tgt_key_padding_mask)
    _no_padding_mask(memory_key_padding_mask)

    def cross(x: Value) -> Value:
        out, _ = g.call(m.multihead_attn, x, memory, memory, attn_mask=memory_mask,
                        need_weights=False, is_causal=memory_is_causal)
        return g.call(m.dropout2, out)

    x = tgt
    if m.norm_first:
        x = x + _self_attention(g, m, g.call(m.norm1, x), m.self_attn, tgt_mask,
                                tgt_is_causal, m.dropout1)
        x = x + cross(g.call(m.norm2, x))
        return x + _feed_forward(g, m, g.call(m.norm3, x), m.dropout3)
    x = g.call(m.norm1, x + _self_attention(g, m, x, m.self_attn, tgt_mask, tgt_is_causal,
                                            m.dropout1))
    x = g.call(m.norm2, x + cross(x))
    return g.call(m.norm3, x + _feed_forward(g, m, x, m.dropout3))


def _causal_hint(mask: Any, is_causal: Any, x: Value, batch_first: bool) -> bool:
    from chainrule.nn.transformer import _is_causal

    length = x.shape[1 if batch_first and x.ndim == 3 else 0]
    return _is_causal(mask, is_causal, length)


@_register(nn.TransformerEncoder)
def _encoder(g: G, m: nn.TransformerEncoder, src: Value, mask: Any = None,
             src_key_padding_mask: Any = None, is_causal: Any = None) -> Value:
    batch_first = getattr(getattr(m.layers[0], "self_attn", None), "batch_first", False)
    causal = _causal_hint(mask, is_causal, src, batch_first)
    out = src
    for layer in m.layers:
        out = g.call(layer, out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                     is_causal=causal)
    return out if m.norm is None else g.call(m.norm, out)


@_register(nn.TransformerDecoder)
def _decoder(g: G, m: nn.TransformerDecoder, tgt: Value, memory: Value, tgt_mask: Any = None,
             memory_mask: Any = None, tgt_key_padding_mask: Any = None,
             memory_key_padding_mask: Any = None, tgt_is_causal: Any = None,
             memory_is_causal: bool = False) -> Value:
    batch_first = getattr(getattr(m.layers[0], "self_attn", None), "batch_first", False)
    causal = _causal_hint(tgt_mask, tgt_is_causal, tgt, batch_first)
    out = tgt
    for layer in m.layers:
        out = g.call(layer, out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                     tgt_key_padding_mask=tgt_key_padding_mask,
                     memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=causal,
                     memory_is_causal=memory_is_causal)
    return out if m.norm is None else g.call(m.norm, out)


@_register(nn.Transformer)
def _transformer(g: G, m: nn.Transformer, src: Value, tgt: Value, src_mask: Any = None,
                 tgt_mask: Any = None, memory_mask: Any = None, src_key_padding_mask: Any = None,
                 tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                 src_is_causal: Any = None, tgt_is_causal: Any = None,
                 memory_is_causal: bool = False) -> Value:
    memory = g.call(m.encoder, src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                    is_causal=src_is_causal)
    return g.call(m.decoder, tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                  tgt_key_padding_mask=tgt_key_padding_mask,
                  memory_key_padding_mask=memory_key_padding_mask,
                  tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)


# ---- sliding windows and distances -----------------------------------------------------------

def _one_hot_windows(channels: int, kernel: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """(C·kH·kW, 1, kH, kW) weights of a grouped convolution that copies each window
    position to its own channel, in Unfold's order (channel, then row, then column)."""
    kh, kw = kernel
    w = np.zeros((channels * kh * kw, 1, kh, kw), dtype)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                w[(c * kh + i) * kw + j, 0, i, j] = 1
    return w


def _window_geometry(m: Any) -> dict:
    name = type(m).__name__
    return {key: spatial_tuple(getattr(m, key), 2, key, name)
            for key in ("kernel_size", "dilation", "padding", "stride")}


@_register(nn.Unfold)
def _unfold(g: G, m: nn.Unfold, x: Value) -> str:
    # im2col is a convolution with one-hot kernels: each output channel copies one
    # window position of one input channel (exact: every product is by 1 or 0)
    geo = _window_geometry(m)
    c = x.shape[1]
    cols = g.op("Conv", x, g.f(_one_hot_windows(c, geo["kernel_size"], g.dtype), "windows"),
                kernel_shape=list(geo["kernel_size"]), strides=list(geo["stride"]),
                pads=list(geo["padding"]) * 2, dilations=list(geo["dilation"]), group=c)
    return g.op("Reshape", cols, g.ints([0, 0, -1]))


@_register(nn.Fold)
def _fold(g: G, m: nn.Fold, x: Value) -> str:
    # col2im, the adjoint of Unfold, is the transposed convolution with the same
    # one-hot kernels: overlapping windows add up
    geo = _window_geometry(m)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (geo[k] for k in ("kernel_size", "dilation",
                                                               "padding", "stride"))
    out = spatial_tuple(m.output_size, 2, "output_size", "Fold")
    blocks = [(o + 2 * p - d * (k - 1) - 1) // s + 1
              for o, p, d, k, s in zip(out, (ph, pw), (dh, dw), (kh, kw), (sh, sw))]
    unbatched = x.ndim == 2
    y = g.op("Unsqueeze", x, g.ints([0])) if unbatched else x.name
    c = x.shape[-2] // (kh * kw)
    y = g.op("Reshape", y, g.ints([0, c * kh * kw, *blocks]))
    reached = [(b - 1) * s - 2 * p + d * (k - 1) + 1
               for b, s, p, d, k in zip(blocks, (sh, sw), (ph, pw), (dh, dw), (kh, kw))]
    y = g.op("ConvTranspose", y, g.f(_one_hot_windows(c, (kh, kw), g.dtype), "windows"),
             kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
             dilations=[dh, dw], group=c, output_padding=[o - r for o, r in zip(out, reached)])
    return g.op("Squeeze", y, g.ints([0])) if unbatched else y


@_register(nn.CosineSimilarity)
def _cosine(g: G, m: nn.CosineSimilarity, x1: Value, x2: Value) -> str:
    ndim = max(x1.ndim, x2.ndim)
    axis = m.dim % ndim

    def unit(x: Value) -> str:
        norm = g.op("Max", g.reduce("ReduceL2", x, [axis - ndim]), g.f(m.eps))
        return g.op("Div", x, norm)

    return g.reduce("ReduceSum", g.op("Mul", unit(x1), unit(x2)), [axis - ndim], False)


@_register(nn.PairwiseDistance)
def _pairwise(g: G, m: nn.PairwiseDistance, x1: Value, x2: Value) -> str:
    diff = g.op("Add", g.op("Sub", x1, x2), g.f(m.eps))
    p, keep = float(m.norm), bool(m.keepdim)
    if p == 2:
        return g.reduce("ReduceL2", diff, [-1], keep)
    if p == 1:
        return g.reduce("ReduceL1", diff, [-1], keep)
    if p == math.inf:
        return g.reduce("ReduceMax", g.op("Abs", diff), [-1], keep)
    if p <= 0:
        raise OnnxExportError(f"p={m.norm} is not exported (p > 0 is)")
    total = g.reduce("ReduceSum", g.op("Pow", g.op("Abs", diff), g.f(p)), [-1], keep)
    return g.op("Pow", total, g.f(1 / p))


# ---- mpi: SyncBatchNorm exports as the BatchNorm it is outside training --------------------

register_onnx_converter(nn.SyncBatchNorm, _batch_norm)
