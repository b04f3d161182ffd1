"""The functional namespace (``chainrule.functional``, also ``chainrule.nn.functional``):
stateless ops and losses, PyTorch's ``torch.nn.functional`` names."""

from chainrule.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
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
from chainrule.ops.encoding import one_hot
from chainrule.ops.linalg import linear
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.norms import cosine_similarity, normalize, pairwise_distance
from chainrule.ops.pooling import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer

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
    "batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "gelu",
    "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax",
    "logsumexp", "mse_loss", "nll_loss", "pad", "relu", "sigmoid", "softmax", "softplus",
    "tanh",
    # nnbasic
    "celu", "dropout1d", "dropout2d", "elu", "group_norm", "hardsigmoid", "hardswish",
    "hardtanh", "instance_norm", "logsigmoid", "mish", "prelu", "relu6", "rms_norm", "selu",
    "silu", "softsign", "tanhshrink",
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

__all__ += [  # lossoptim
    "binary_cross_entropy", "cosine_similarity", "kl_div", "normalize", "one_hot",
    "pairwise_distance", "smooth_l1_loss",
]

# ---- gapsnn: PyTorch's remaining nn.functional layers, functions and losses ----
from chainrule.losses_more import (  # noqa: E402
    cosine_embedding_loss,
    ctc_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from chainrule.ops.activations_more import (  # noqa: E402
    glu,
    gumbel_softmax,
    hardshrink,
    rrelu,
    softmin,
    softshrink,
    threshold,
)
from chainrule.ops.bilinear import bilinear  # noqa: E402
from chainrule.ops.dropout_more import (  # noqa: E402
    alpha_dropout,
    dropout3d,
    feature_alpha_dropout,
)
from chainrule.ops.embedding_bag import embedding_bag  # noqa: E402
from chainrule.ops.grid_sample import affine_grid, grid_sample  # noqa: E402
from chainrule.ops.local_response_norm import local_response_norm  # noqa: E402
from chainrule.ops.lp_pool import lp_pool1d, lp_pool2d  # noqa: E402
from chainrule.ops.padding import pad  # noqa: E402  (PyTorch's F.pad; NumPy pairs too)
from chainrule.ops.pdist import pdist  # noqa: E402
from chainrule.ops.resampling import (  # noqa: E402
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from chainrule.ops.shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle  # noqa: E402

__all__ += [  # gapsnn
    "affine_grid", "alpha_dropout", "bilinear", "channel_shuffle", "cosine_embedding_loss",
    "ctc_loss",
    "dropout3d", "embedding_bag", "feature_alpha_dropout", "gaussian_nll_loss", "glu",
    "grid_sample", "gumbel_softmax", "hardshrink", "hinge_embedding_loss",
    "local_response_norm", "lp_pool1d", "lp_pool2d", "margin_ranking_loss",
    "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "pdist",
    "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "rrelu", "soft_margin_loss",
    "softmin", "softshrink", "threshold", "triplet_margin_loss",
    "triplet_margin_with_distance_loss", "upsample", "upsample_bilinear", "upsample_nearest",
]
