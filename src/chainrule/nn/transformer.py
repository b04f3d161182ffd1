"""A small decoder-only (GPT-style) transformer: positional embeddings, a pre-LayerNorm
block and the model that maps token ids to next-token logits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.backend import Generator, get_default_dtype, resolve_generator
from chainrule.nn import init
from chainrule.nn.activation import GELU
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.containers import ModuleList, Sequential
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, Parameter
from chainrule.nn.normalization import LayerNorm
from chainrule.ops.activations import softmax
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

    Example:
        >>> import chainrule as cr
        >>> pe = cr.nn.PositionalEmbedding(16, 8)
        >>> pe(cr.zeros(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(self, context: int, d_model: int, kind: str = "learned",
                 generator: Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
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
            self.weight = Parameter(np.empty((context, d_model), dt))
            init.normal_(self.weight, 0.0, 1.0, generator)
        else:
            self.register_buffer("weight", sinusoidal_table(context, d_model, dt),
                                 persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        T = x.data.shape[-2]
        if x.data.shape[-1] != self.d_model:
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

    Shapes: (B, T, d_model) → (B, T, d_model).

    Example:
        >>> import chainrule as cr
        >>> cr.nn.TransformerBlock(16, 4, 64)(cr.ones(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 causal: bool = True, generator: Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
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

    Example:
        >>> import chainrule as cr
        >>> model = cr.nn.DecoderOnlyTransformer(65, 32, 64, 4, 2, 256)
        >>> model(cr.tensor([[1, 2, 3]])).shape
        (1, 3, 65)
    """

    def __init__(self, vocab_size: int, context: int, d_model: int, num_heads: int,
                 num_layers: int, d_ff: int, dropout: float = 0.0, positional: str = "learned",
                 tie_weights: bool = False, generator: Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
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
            elif p.data.ndim == 2:
                std = residual_std if name.endswith(("out_proj.weight", "mlp.2.weight")) \
                    else 0.02
                init.normal_(p, 0.0, std, generator)

    def forward(self, ids: Any, key_padding_mask: Any = None) -> Tensor:
        arr = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
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
        out = np.array(ids.data if isinstance(ids, Tensor) else ids, dtype=np.int64)
        if out.ndim == 1:
            out = out[None]
        rng = resolve_generator(generator)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    logits = self(out[:, -self.context:]).data[:, -1].astype(np.float64)
                    if temperature == 0:
                        nxt = logits.argmax(axis=-1)
                    else:
                        probs = softmax(Tensor(logits / temperature, dtype=np.float64)).data
                        u = rng.random((probs.shape[0], 1), np.float64)
                        nxt = (probs.cumsum(axis=-1) < u).sum(axis=-1)
                        nxt = np.minimum(nxt, probs.shape[-1] - 1)
                    out = np.concatenate([out, nxt[:, None]], axis=1)
        finally:
            self.train(was_training)
        return out

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, context={self.context}"
