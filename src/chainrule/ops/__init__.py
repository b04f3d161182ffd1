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
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
    view,
)

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
