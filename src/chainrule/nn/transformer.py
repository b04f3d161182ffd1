"""Transformers: a small decoder-only (GPT-style) model — positional embeddings, a
pre-LayerNorm block and the model that maps token ids to next-token logits — and
PyTorch's encoder/decoder layers and stacks (``TransformerEncoderLayer``,
``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder``,
``Transformer``) with its constructors, submodule names and state_dict keys."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.backend import Generator, get_default_dtype, resolve_generator
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.activation import GELU, ReLU
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.containers import ModuleList, Sequential
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, Parameter
from chainrule.nn.normalization import LayerNorm
from chainrule.ops.activations import gelu, relu, softmax
from chainrule.ops.shape import getitem
from chainrule.tensor import Tensor


def sinusoidal_table(context: int, d_model: int, dtype: Any = None) -> np.ndarray:
    """The fixed encodings of "Attention is all you need": for position p and i < d/2,
    ``PE[p, 2i] = sin(p / 10000^(2i/d))`` and ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``."""
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    pos = np.arange(context, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((context, d_model))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[: d_model // 2])
    return table.astype(dt)


class PositionalEmbedding(Module):
    """Adds a vector per position to a (B, T, d_model) sequence.

    Args:
        context: the longest sequence it accepts.
        d_model: vector size.
        kind: ``'learned'`` (a ``weight`` (context, d_model) from N(0, 1), like an
            ``Embedding`` of positions) or ``'sinusoidal'`` (fixed, not saved).
        generator: random source for the learned table.
        dtype: of the table (default: the default dtype); device: must name the CPU.

    Example:
        >>> import chainrule as cr
        >>> pe = cr.nn.PositionalEmbedding(16, 8)
        >>> pe(cr.zeros(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(self, context: int, d_model: int, kind: str = "learned",
                 generator: Generator | None = None, dtype: Any = None,
                 device: Any = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        if context <= 0 or d_model <= 0:
            raise ValueError(f"PositionalEmbedding needs positive sizes, got context="
                             f"{context}, d_model={d_model}")
        if kind not in ("learned", "sinusoidal"):
            raise ValueError(f"PositionalEmbedding: kind must be 'learned' or 'sinusoidal', "
                             f"got {kind!r}")
        self.context = context
        self.d_model = d_model
        self.kind = kind
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if kind == "learned":
            self.weight = Parameter(np.empty((context, d_model), dt), dtype=dt)
            init.normal_(self.weight, 0.0, 1.0, generator)
        else:
            # computed, not loaded: a file may not declare one of any size (nn.init.meta_init)
            init.reserve_computed(context * d_model, f"a sinusoidal table ({context}, {d_model})")
            self.register_buffer("weight", sinusoidal_table(context, d_model, dt),
                                 persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        T = x._data.shape[-2]
        if x._data.shape[-1] != self.d_model:
            raise ValueError(f"PositionalEmbedding: input of shape {x.shape} needs "
                             f"{self.d_model} features in its last axis")
        if T > self.context:
            raise ValueError(f"PositionalEmbedding: sequence of length {T} is longer than "
                             f"the context ({self.context})")
        return x + getitem(self.weight, slice(0, T))

    def extra_repr(self) -> str:
        return f"{self.context}, {self.d_model}, kind={self.kind!r}"


class TransformerBlock(Module):
    """Pre-LayerNorm transformer block::

        x = x + Dropout(SelfAttention(LayerNorm₁(x)))
        x = x + Dropout(W₂ GELU(W₁ LayerNorm₂(x)))

    The residual paths carry the gradient around each sub-layer unchanged, so deep
    stacks train without warm-up tricks.

    Args:
        d_model: width; num_heads: attention heads (must divide d_model).
        d_ff: hidden width of the MLP; dropout: after attention and the MLP, and on the
            attention weights. causal: each position sees only itself and earlier ones.
        generator: random source for the weights and dropout; dtype: of every weight;
            device: must name the CPU (``"cpu"`` or None).

    Shapes: (B, T, d_model) → (B, T, d_model).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.TransformerBlock(16, 4, 64)(cr.ones(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 causal: bool = True, generator: Generator | None = None,
                 dtype: Any = None, device: Any = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        self.causal = causal
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.attn = MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True,
                                       generator=generator, dtype=dtype)
        self.drop = Dropout(dropout, generator=generator)
        self.ln2 = LayerNorm(d_model, dtype=dtype)
        self.mlp = Sequential(Linear(d_model, d_ff, generator=generator, dtype=dtype), GELU(),
                              Linear(d_ff, d_model, generator=generator, dtype=dtype),
                              Dropout(dropout, generator=generator))

    def forward(self, x: Tensor, key_padding_mask: Any = None) -> Tensor:
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False,
                         is_causal=self.causal)
        x = x + self.drop(a)
        return x + self.mlp(self.ln2(x))

    def extra_repr(self) -> str:
        return f"causal={self.causal}"


class DecoderOnlyTransformer(Module):
    """A GPT-style language model: token ids (B, T) → next-token logits (B, T, vocab).

    ``tok_emb`` (Embedding) + ``pos_emb`` (PositionalEmbedding) → dropout →
    ``num_layers`` causal pre-LN ``TransformerBlock``s → ``ln_f`` (LayerNorm) → ``head``
    (Linear, no bias). Weights start GPT-2 style: every Linear and embedding weight from
    N(0, 0.02), biases zero, and the output projection of each residual branch scaled
    down by 1/√(2·num_layers) so the residual stream keeps its scale with depth.

    Args:
        vocab_size: number of token ids; context: longest sequence.
        d_model, num_heads, num_layers, d_ff: width, heads, depth, MLP width.
        dropout: dropout probability throughout (training only).
        positional: ``'learned'`` or ``'sinusoidal'``.
        tie_weights: share the token embedding with the output head.
        generator: random source for the initial weights and dropout.
        dtype: of every weight; device: must name the CPU (``"cpu"`` or None).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.DecoderOnlyTransformer(65, 32, 64, 4, 2, 256)
        >>> model(cr.tensor([[1, 2, 3]])).shape
        (1, 3, 65)
    """

    def __init__(self, vocab_size: int, context: int, d_model: int, num_heads: int,
                 num_layers: int, d_ff: int, dropout: float = 0.0, positional: str = "learned",
                 tie_weights: bool = False, generator: Generator | None = None,
                 dtype: Any = None, device: Any = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        if num_layers < 1:
            raise ValueError(f"DecoderOnlyTransformer: num_layers must be at least 1, got "
                             f"{num_layers}")
        self.vocab_size = vocab_size
        self.context = context
        self.tok_emb = Embedding(vocab_size, d_model, generator=generator, dtype=dtype)
        self.pos_emb = PositionalEmbedding(context, d_model, positional, generator, dtype)
        self.drop = Dropout(dropout, generator=generator)
        self.blocks = ModuleList(
            TransformerBlock(d_model, num_heads, d_ff, dropout, True, generator, dtype)
            for _ in range(num_layers))
        self.ln_f = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, vocab_size, bias=False, generator=generator, dtype=dtype)
        self._init_weights(num_layers, generator)
        if tie_weights:
            self.head.weight = self.tok_emb.weight

    def _init_weights(self, num_layers: int, generator: Generator | None) -> None:
        residual_std = 0.02 / math.sqrt(2 * num_layers)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                init.zeros_(p)
            elif p._data.ndim == 2:
                std = residual_std if name.endswith(("out_proj.weight", "mlp.2.weight")) \
                    else 0.02
                init.normal_(p, 0.0, std, generator)

    def forward(self, ids: Any, key_padding_mask: Any = None) -> Tensor:
        arr = np.asarray(ids._data if isinstance(ids, Tensor) else ids)
        if arr.ndim != 2:
            raise ValueError(f"DecoderOnlyTransformer: expected token ids of shape (batch, "
                             f"time), got {arr.shape}")
        if arr.shape[1] > self.context:
            raise ValueError(f"DecoderOnlyTransformer: {arr.shape[1]} tokens exceed the "
                             f"context of {self.context}")
        x = self.drop(self.pos_emb(self.tok_emb(arr)))
        for block in self.blocks:
            x = block(x, key_padding_mask)
        return self.head(self.ln_f(x))

    def generate(self, ids: Any, max_new_tokens: int, temperature: float = 1.0,
                 generator: Generator | None = None) -> np.ndarray:
        """Sample ``max_new_tokens`` more tokens after ``ids`` (B, T); returns (B, T + n).

        Each step feeds the last ``context`` tokens and samples from
        ``softmax(logits / temperature)``; ``temperature=0`` picks the most likely token.
        """
        out = np.array(ids._data if isinstance(ids, Tensor) else ids, dtype=np.int64)
        if out.ndim == 1:
            out = out[None]
        rng = resolve_generator(generator)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    logits = self(out[:, -self.context:])._data[:, -1].astype(np.float64)
                    if temperature == 0:
                        nxt = logits.argmax(axis=-1)
                    else:
                        probs = softmax(Tensor(logits / temperature, dtype=np.float64))._data
                        u = rng.random((probs.shape[0], 1), np.float64)
                        nxt = (probs.cumsum(axis=-1) < u).sum(axis=-1)
                        nxt = np.minimum(nxt, probs.shape[-1] - 1)
                    out = np.concatenate([out, nxt[:, None]], axis=1)
        finally:
            self.train(was_training)
        return out

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, context={self.context}"


# ---- PyTorch's encoder-decoder transformer ------------------------------------------------

def _activation(name: str, activation: str | Callable) -> Callable:
    """``'relu'``/``'gelu'`` as the functions, or the callable (a module or function)."""
    if isinstance(activation, str):
        if activation == "relu":
            return relu
        if activation == "gelu":
            return gelu
        raise ValueError(f"{name}: activation must be 'relu', 'gelu' or a callable, got "
                         f"{activation!r}")
    if not callable(activation):
        raise ValueError(f"{name}: activation must be 'relu', 'gelu' or a callable, got "
                         f"{activation!r}")
    return activation


def activation_name(activation: Callable) -> str | None:
    """'relu' or 'gelu' when ``activation`` is one of them (function or plain module), else
    None: what an architecture spec can record."""
    if activation is relu or type(activation) is ReLU:
        return "relu"
    if activation is gelu or (type(activation) is GELU and activation.approximate == "none"):
        return "gelu"
    return None


def _check_widths(name: str, d_model: int, nhead: int, dim_feedforward: int,
                  dropout: float) -> None:
    if d_model <= 0 or nhead <= 0 or dim_feedforward <= 0:
        raise ValueError(f"{name}: d_model, nhead and dim_feedforward must be positive, got "
                         f"{d_model}, {nhead}, {dim_feedforward}")
    if not 0 <= dropout < 1:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each with a residual connection and a
    LayerNorm, PyTorch's ``nn.TransformerEncoderLayer``::

        norm_first=False (post-LN, the paper's):   x = norm1(x + SA(x)); x = norm2(x + FF(x))
        norm_first=True (pre-LN):                  x = x + SA(norm1(x)); x = x + FF(norm2(x))

    with ``SA(x) = dropout1(self_attn(x, x, x))`` and
    ``FF(x) = dropout2(linear2(dropout(activation(linear1(x)))))``.

    Submodules (PyTorch's names, so a torch state_dict loads strictly): ``self_attn``
    (MultiheadAttention), ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2``.

    Args:
        d_model: width E; nhead: attention heads (must divide E).
        dim_feedforward: hidden width of the feed-forward network.
        dropout: probability of every dropout (training only).
        activation: ``'relu'``, ``'gelu'`` or a callable (a module is registered).
        layer_norm_eps: LayerNorm epsilon.
        batch_first: (N, S, E) instead of (S, N, E).
        norm_first: pre-LN instead of post-LN.
        bias: biases in the linear layers, attention and LayerNorms.
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: parameter dtype (default: the global default, float32).
        generator: random source for the initial weights and the dropout masks.

    Call: ``layer(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``, masks
    as in ``MultiheadAttention`` (True / −inf = do not attend); ``is_causal=True``
    without a mask applies the causal mask.

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0,
        ...                                       batch_first=True)
        >>> layer(cr.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        _check_widths(type(self).__name__, d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, generator=generator,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, generator=generator,
                              dtype=dtype)
        self.dropout = Dropout(dropout, generator=generator)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, generator=generator,
                              dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, generator=generator)
        self.dropout2 = Dropout(dropout, generator=generator)
        self.activation = _activation(type(self).__name__, activation)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (``memory``) and a
    feed-forward network, each with a residual connection and a LayerNorm, PyTorch's
    ``nn.TransformerDecoderLayer``::

        post-LN:  x = norm1(x + SA(x)); x = norm2(x + MHA(x, mem)); x = norm3(x + FF(x))
        pre-LN:   x = x + SA(norm1(x)); x = x + MHA(norm2(x), mem); x = x + FF(norm3(x))

    Submodules (PyTorch's names): ``self_attn``, ``multihead_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``norm3``, ``dropout1``, ``dropout2``,
    ``dropout3``. Arguments as ``TransformerEncoderLayer``.

    Call: ``layer(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.TransformerDecoderLayer(16, 4, dim_feedforward=32)
        >>> layer(cr.randn(5, 2, 16), cr.randn(7, 2, 16), tgt_is_causal=True).shape
        (5, 2, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        _check_widths(type(self).__name__, d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, generator=generator,
                                            dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, generator=generator,
                                                 dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, generator=generator,
                              dtype=dtype)
        self.dropout = Dropout(dropout, generator=generator)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, generator=generator,
                              dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, generator=generator)
        self.dropout2 = Dropout(dropout, generator=generator)
        self.dropout3 = Dropout(dropout, generator=generator)
        self.activation = _activation(type(self).__name__, activation)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None,
                memory_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                   tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x))


def _clones(layer: Module, n: int) -> ModuleList:
    """n deep copies of ``layer`` (identical initial weights, as PyTorch makes them); random
    generators stay shared rather than copied, so the copies' dropout masks differ."""
    memo: dict[int, Any] = {}
    for module in layer.modules():
        gen = module.__dict__.get("generator")
        if gen is not None:
            memo[id(gen)] = gen
    return ModuleList(copy.deepcopy(layer, dict(memo)) for _ in range(n))


class _Stack(Module):
    """Shared constructor of TransformerEncoder/TransformerDecoder."""

    def __init__(self, layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        if not isinstance(layer, Module):
            raise TypeError(f"{type(self).__name__}: expected a layer Module to copy, got "
                            f"{type(layer).__name__}")
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be at least 1, got "
                             f"{num_layers}")
        self.layers = _clones(layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    @classmethod
    def from_layers(cls, layers: ModuleList, norm: Module | None = None) -> _Stack:
        """A stack of these very layers (no copies): how a saved architecture is rebuilt."""
        stack = cls.__new__(cls)
        Module.__init__(stack)
        stack.layers = layers
        stack.num_layers = len(layers)
        stack.norm = norm
        return stack


def _is_causal(mask: Any, is_causal: bool | None, size: int) -> bool:
    """PyTorch's ``_detect_is_causal_mask``: the hint as given, or (when None) whether the
    mask is exactly the causal one; only matters when no mask is given."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    arr = np.asarray(mask._data if isinstance(mask, Tensor) else mask)
    if arr.shape != (size, size):
        return False
    blocked = np.triu(np.ones((size, size), bool), 1)
    if arr.dtype == bool:
        return bool(np.array_equal(arr, blocked))
    return bool(np.array_equal(arr, np.where(blocked, -np.inf, 0.0)))


class TransformerEncoder(_Stack):
    """A stack of ``num_layers`` copies of an encoder layer, then an optional ``norm``,
    PyTorch's ``nn.TransformerEncoder`` (``layers.0.…`` state_dict keys).

    Args:
        encoder_layer: the layer to copy (deep copies: every layer starts identical).
        num_layers: how many.
        norm: applied to the last layer's output (e.g. a LayerNorm with pre-LN layers).
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility; no effect.

    Call: ``encoder(src, mask=None, src_key_padding_mask=None, is_causal=None)``.

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
        >>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2)
        >>> encoder(cr.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__(encoder_layer, num_layers, norm)
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        first = self.layers[0]
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        length = src._data.shape[1 if batch_first and src._data.ndim == 3 else 0]
        causal = _is_causal(mask, is_causal, length)
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=causal)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(_Stack):
    """A stack of ``num_layers`` copies of a decoder layer, then an optional ``norm``,
    PyTorch's ``nn.TransformerDecoder``.

    Call: ``decoder(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=None,
    memory_is_causal=False)``.

    Example:
        >>> import chainrule as cr
        >>> layer = cr.nn.TransformerDecoderLayer(16, 4, 32)
        >>> decoder = cr.nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(cr.randn(5, 2, 16), cr.randn(7, 2, 16)).shape
        (5, 2, 16)
    """

    def __init__(self, decoder_layer: Module, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__(decoder_layer, num_layers, norm)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None,
                memory_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        first = self.layers[0]
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        length = tgt._data.shape[1 if batch_first and tgt._data.ndim == 3 else 0]
        causal = _is_causal(tgt_mask, tgt_is_causal, length)
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """The encoder-decoder transformer of "Attention is all you need", PyTorch's
    ``nn.Transformer``: ``encoder`` (TransformerEncoder with a final LayerNorm) and
    ``decoder`` (TransformerDecoder with a final LayerNorm); every weight matrix starts
    Xavier-uniform, as PyTorch initialises it.

    Args:
        d_model, nhead: width and heads.
        num_encoder_layers, num_decoder_layers: depth of each stack.
        dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
            bias: as ``TransformerEncoderLayer``.
        custom_encoder, custom_decoder: modules used instead of the default stacks.
        device, dtype, generator: as ``TransformerEncoderLayer``.

    Call: ``model(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` → (T, N, E).

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.Transformer(16, 4, 1, 1, dim_feedforward=32, batch_first=True)
        >>> mask = cr.nn.Transformer.generate_square_subsequent_mask(3)
        >>> model(cr.randn(2, 5, 16), cr.randn(2, 3, 16), tgt_mask=mask).shape
        (2, 3, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                            activation, layer_norm_eps, batch_first,
                                            norm_first, bias, device, dtype,
                                            generator=generator)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout,
                                            activation, layer_norm_eps, batch_first,
                                            norm_first, bias, device, dtype,
                                            generator=generator)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        for p in self.parameters():
            if p._data.ndim > 1:
                init.xavier_uniform_(p, generator=generator)

    @classmethod
    def from_parts(cls, encoder: Module, decoder: Module) -> Transformer:
        """A transformer of these very stacks (how a saved architecture is rebuilt)."""
        model = cls.__new__(cls)
        Module.__init__(model)
        model.encoder = encoder
        model.decoder = decoder
        attn = encoder.layers[0].self_attn
        model.d_model, model.nhead = attn.embed_dim, attn.num_heads
        model.batch_first = attn.batch_first
        return model

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None,
                                        dtype: Any = None) -> Tensor:
        """The (sz, sz) causal float mask: −inf above the diagonal, 0 elsewhere."""
        check_device(device, "generate_square_subsequent_mask")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        mask = np.where(np.triu(np.ones((sz, sz), bool), 1), -np.inf, 0.0).astype(dt)
        return Tensor(mask, dtype=dt)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batched = src._data.ndim == 3
        axis = 0 if self.batch_first else 1
        if batched and src._data.shape[axis] != tgt._data.shape[axis]:
            raise ValueError(f"Transformer: the batch number of src {src.shape} and tgt "
                             f"{tgt.shape} must be equal")
        if src._data.shape[-1] != self.d_model or tgt._data.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: the feature number of src {src.shape} and tgt "
                             f"{tgt.shape} must be equal to d_model ({self.d_model})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
