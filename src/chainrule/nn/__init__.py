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
from chainrule.nn.dropout import Dropout, Dropout1d, Dropout2d
from chainrule.nn.embedding import Embedding
from chainrule.nn.linear import Flatten, Identity, Linear
from chainrule.nn.module import Buffer, LayerError, Module, Parameter
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from chainrule.nn.pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from chainrule.nn.preprocessing import Standardize
from chainrule.nn.recurrent import GRU, LSTM, RNN
from chainrule.nn.transformer import DecoderOnlyTransformer, PositionalEmbedding, TransformerBlock

__all__ = [
    "DecoderOnlyTransformer", "Embedding", "GRU", "LSTM", "MultiheadAttention",
    "PositionalEmbedding", "RNN", "TransformerBlock",
    "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d",
    "GELU", "BatchNorm1d", "BatchNorm2d", "Buffer", "Dropout", "Dropout1d", "Dropout2d",
    "Flatten", "Identity", "LayerError", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax",
    "Module", "ModuleDict", "ModuleList", "Parameter", "ReLU", "Residual", "Sequential",
    "Sigmoid", "Softmax", "Softplus", "Tanh", "init",
]
__all__ += ["Standardize"]

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


def __getattr__(name: str):  # loss modules live in chainrule.losses; expose them here too
    from chainrule import losses

    if name in losses.__all__:
        return getattr(losses, name)
    raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")
