"""Every differentiable primitive, grouped by kind. Each op's backward sits right under
its forward, its functional wrapper right below."""

from chainrule.ops.activations import (
    dropout,
    dropout_channels,
    gelu,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from chainrule.ops.arithmetic import (
    abs,
    add,
    cast,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from chainrule.ops.attention import causal_mask, scaled_dot_product_attention
from chainrule.ops.convolution import conv1d, conv2d
from chainrule.ops.embedding import embedding
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from chainrule.ops.reductions import max, mean, min, std, sum, var
from chainrule.ops.shape import (
    broadcast_to,
    cat,
    concatenate,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
    view,
)

# isort: split
# nnbasic: more activations, dropout variants and normalisations
from chainrule.ops.activations import (
    celu,
    dropout1d,
    dropout2d,
    elu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    silu,
    softsign,
    tanhshrink,
)
from chainrule.ops.normalization import group_norm, instance_norm, rms_norm

__all__ = [
    "causal_mask", "embedding", "gru_layer", "lstm_layer", "rnn_layer",
    "scaled_dot_product_attention",
    "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d", "max_pool1d",
    "max_pool2d",
    "abs", "add", "batch_norm", "broadcast_to", "cast", "cat", "clamp", "clip", "concatenate",
    "div", "dropout", "dropout_channels", "exp", "flatten", "gelu", "getitem", "layer_norm",
    "leaky_relu", "linear", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "mul", "neg", "pad", "permute", "pow", "relu", "reshape",
    "sigmoid", "softmax", "softplus", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "swapaxes", "tanh", "transpose", "unsqueeze", "var", "view", "where",
    # nnbasic
    "celu", "dropout1d", "dropout2d", "elu", "group_norm", "hardsigmoid", "hardswish",
    "hardtanh", "instance_norm", "logsigmoid", "mish", "prelu", "relu6", "rms_norm", "selu",
    "silu", "softsign", "tanhshrink",
]

# ---- PyTorch tensor API: reductions with dim=, indexing, sorting, einsum, elementwise ----
from chainrule.ops.einsum import bmm, einsum, mm  # noqa: E402
from chainrule.ops.elementwise import (  # noqa: E402
    ceil,
    clone,
    cos,
    expm1,
    floor,
    log1p,
    masked_fill,
    reciprocal,
    round,
    rsqrt,
    sign,
    sin,
    square,
)
from chainrule.ops.indexing import gather, index_select  # noqa: E402
from chainrule.ops.padding import pad  # noqa: E402  (PyTorch's F.pad; NumPy pairs too)
from chainrule.ops.reductions import (  # noqa: E402
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    norm,
    prod,
)
from chainrule.ops.shape import chunk, repeat, split  # noqa: E402
from chainrule.ops.sorting import argsort, sort, topk  # noqa: E402

__all__ += [
    "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "bmm", "ceil", "chunk",
    "clone", "cos", "cumsum", "einsum", "expm1", "floor", "gather", "index_select", "log1p",
    "masked_fill", "mm", "norm", "prod", "reciprocal", "repeat", "round", "rsqrt", "sign",
    "sin", "sort", "split", "square", "topk",
]

# ---- spatial and sequence ops (nnspatial) ----
from chainrule.ops.convolution import conv_transpose1d, conv_transpose2d  # noqa: E402
from chainrule.ops.fold import fold, unfold  # noqa: E402
from chainrule.ops.pooling import (  # noqa: E402
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    max_unpool1d,
    max_unpool2d,
)
from chainrule.ops.resampling import interpolate  # noqa: E402

__all__ += [
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "conv_transpose1d",
    "conv_transpose2d", "fold", "interpolate", "max_unpool1d", "max_unpool2d", "unfold",
]

# ---- gapstensor: more of PyTorch's tensor functions ----
from chainrule.ops.elementwise import fix, log2, log10, tan, trunc  # noqa: E402
from chainrule.ops.indexing import masked_select, nonzero, scatter, scatter_add  # noqa: E402
from chainrule.ops.linalg import diag, dot, outer, tensordot, tril, triu  # noqa: E402
from chainrule.ops.reductions import cumprod  # noqa: E402
from chainrule.ops.sampling import bernoulli, normal  # noqa: E402
from chainrule.ops.shape import (  # noqa: E402
    concat,
    flip,
    hstack,
    moveaxis,
    movedim,
    narrow,
    repeat_interleave,
    roll,
    row_stack,
    tile,
    unflatten,
    vstack,
)
from chainrule.ops.sorting import unique  # noqa: E402

__all__ += [
    "bernoulli", "concat", "cumprod", "diag", "dot", "fix", "flip", "hstack", "log10",
    "log2", "masked_select", "moveaxis", "movedim", "narrow", "nonzero", "normal", "outer",
    "repeat_interleave", "roll", "row_stack", "scatter", "scatter_add", "tan", "tensordot",
    "tile", "tril", "triu", "trunc", "unflatten", "unique", "vstack",
]
