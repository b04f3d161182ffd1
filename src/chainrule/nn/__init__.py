"""Layers and models: ``Module``, ``Parameter``, containers, layers and initialisers."""

from chainrule.nn import init
from chainrule.nn.activation import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.containers import ModuleDict, ModuleList, Residual, Sequential
from chainrule.nn.conv import Conv1d, Conv2d
from chainrule.nn.distance import CosineSimilarity, PairwiseDistance
from chainrule.nn.dropout import Dropout, Dropout1d, Dropout2d
from chainrule.nn.embedding import Embedding
from chainrule.nn.linear import Flatten, Identity, Linear
from chainrule.nn.module import Buffer, LayerError, Module, Parameter
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from chainrule.nn.preprocessing import Standardize
from chainrule.nn.recurrent import GRU, LSTM, RNN
from chainrule.nn.transformer import DecoderOnlyTransformer, PositionalEmbedding, TransformerBlock

# isort: split
# nnbasic: more activations, normalisations, containers and nn.utils
from chainrule.nn import utils
from chainrule.nn.activation import (
    CELU,
    ELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    SiLU,
    Softsign,
    Tanhshrink,
)
from chainrule.nn.containers import ParameterDict, ParameterList
from chainrule.nn.linear import Unflatten
from chainrule.nn.normalization import (
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    RMSNorm,
)

__all__ = [
    "DecoderOnlyTransformer", "Embedding", "GRU", "LSTM", "MultiheadAttention",
    "PositionalEmbedding", "RNN", "TransformerBlock",
    "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d",
    "GELU", "BatchNorm1d", "BatchNorm2d", "Buffer", "Dropout", "Dropout1d", "Dropout2d",
    "Flatten", "Identity", "LayerError", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax",
    "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU", "Residual", "Sequential",
    "Sigmoid", "Softmax", "Softplus", "Tanh", "init",
    # nnbasic
    "BatchNorm3d", "CELU", "ELU", "GroupNorm", "Hardsigmoid", "Hardswish", "Hardtanh",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LogSigmoid", "Mish", "PReLU",
    "ParameterDict", "ParameterList", "RMSNorm", "ReLU6", "SELU", "SiLU", "Softsign",
    "Tanhshrink", "Unflatten", "utils",
]
__all__ += ["Standardize"]
__all__ += ["CosineSimilarity", "PairwiseDistance"]  # lossoptim

# ---- spatial and sequence layers (nnspatial) ----
from chainrule.nn.conv import ConvTranspose1d, ConvTranspose2d  # noqa: E402
from chainrule.nn.fold import Fold, Unfold  # noqa: E402
from chainrule.nn.pooling import (  # noqa: E402
    AdaptiveAvgPool1d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    MaxUnpool1d,
    MaxUnpool2d,
)
from chainrule.nn.recurrent import GRUCell, LSTMCell, RNNCell  # noqa: E402
from chainrule.nn.transformer import (  # noqa: E402
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from chainrule.nn.upsampling import (  # noqa: E402
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

__all__ += [
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "ConvTranspose1d",
    "ConvTranspose2d", "Fold", "GRUCell", "LSTMCell", "MaxUnpool1d", "MaxUnpool2d", "RNNCell",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "Unfold", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]


# ---- gapsnn: padding, shuffles, more activations/dropouts, Bilinear, EmbeddingBag, LPPool,
# LocalResponseNorm, LazyLinear (the losses are reached through __getattr__ below) ----
from chainrule.nn.activation_more import (  # noqa: E402
    GLU,
    Hardshrink,
    RReLU,
    Softmax2d,
    Softmin,
    Softshrink,
    Threshold,
)
from chainrule.nn.bilinear import Bilinear  # noqa: E402
from chainrule.nn.dropout_more import AlphaDropout, Dropout3d, FeatureAlphaDropout  # noqa: E402
from chainrule.nn.embedding_bag import EmbeddingBag  # noqa: E402
from chainrule.nn.lazy import LazyLinear, UninitializedParameter  # noqa: E402
from chainrule.nn.lp_pool import LocalResponseNorm, LPPool1d, LPPool2d  # noqa: E402
from chainrule.nn.padding import (  # noqa: E402
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from chainrule.nn.shuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle  # noqa: E402

__all__ += [  # gapsnn
    "AlphaDropout", "Bilinear", "ChannelShuffle", "CircularPad1d", "CircularPad2d",
    "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "Dropout3d",
    "EmbeddingBag", "FeatureAlphaDropout", "GLU", "Hardshrink", "LPPool1d", "LPPool2d",
    "LazyLinear", "LocalResponseNorm", "PixelShuffle", "PixelUnshuffle", "RReLU",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "Softmax2d", "Softmin", "Softshrink", "Threshold",
    "UninitializedParameter", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]

from chainrule.nn.normalization import SyncBatchNorm  # noqa: E402

__all__ += ["SyncBatchNorm"]  # mpi


def __getattr__(name: str):  # loss modules live in chainrule.losses; expose them here too
    from chainrule import losses

    if name in ("functional", "parallel"):  # torch.nn.functional is there without an
        import importlib  # import; so is ours (parallel: mpi)

        return importlib.import_module(f"chainrule.nn.{name}")
    if name in losses.__all__:
        return getattr(losses, name)
    from chainrule import losses_more  # gapsnn: margin, embedding and NLL losses

    if name in losses_more.__all__:
        return getattr(losses_more, name)
    raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")
