"""The functional namespace (``chainrule.functional``, also ``chainrule.nn.functional``):
stateless ops and losses, PyTorch's ``torch.nn.functional`` names."""

from chainrule.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from chainrule.ops.activations import (
    dropout,
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
from chainrule.ops.attention import causal_mask, scaled_dot_product_attention
from chainrule.ops.convolution import conv1d, conv2d
from chainrule.ops.embedding import embedding
from chainrule.ops.linalg import linear
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from chainrule.ops.shape import pad

__all__ = [
    "causal_mask", "embedding", "gru_layer", "lstm_layer", "rnn_layer",
    "scaled_dot_product_attention",
    "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d", "max_pool1d",
    "max_pool2d",
    "batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "gelu",
    "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax",
    "logsumexp", "mse_loss", "nll_loss", "pad", "relu", "sigmoid", "softmax", "softplus",
    "tanh",
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
