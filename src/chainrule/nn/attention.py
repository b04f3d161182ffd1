"""``MultiheadAttention`` with PyTorch's parameter names, shapes and mask conventions."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, Parameter
from chainrule.ops.attention import causal_mask, scaled_dot_product_attention
from chainrule.ops.linalg import linear
from chainrule.ops.shape import (
    broadcast_to,
    concatenate,
    getitem,
    reshape,
    squeeze,
    transpose,
    unsqueeze,
)
from chainrule.tensor import Tensor


class MultiheadAttention(Module):
    """Multi-head attention, ``concat(head_1..head_h) W_o`` with
    ``head_i = softmax(Q_i K_iᵀ/√d + mask) V_i``, d = embed_dim / num_heads.

    Parameters (PyTorch's names): ``in_proj_weight`` (3E, E) stacking W_q, W_k, W_v
    (Xavier-uniform) — or, when ``kdim``/``vdim`` differ from E, ``q_proj_weight``
    (E, E), ``k_proj_weight`` (E, kdim) and ``v_proj_weight`` (E, vdim) —,
    ``in_proj_bias`` (3E,) (zeros), ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,)
    (zeros), and with ``add_bias_kv`` ``bias_k``, ``bias_v`` (1, 1, E) (Xavier-normal).

    Args:
        embed_dim: E, the model width; num_heads: h, must divide E.
        dropout: dropout on the attention weights (training only).
        bias: learn the projection biases.
        add_bias_kv: append a learned key and value (``bias_k``, ``bias_v``) to every
            sequence of keys and values, after the projection.
        add_zero_attn: append a zero key and value (after ``bias_k``/``bias_v``).
        kdim, vdim: feature sizes of key and value (default E).
        batch_first: inputs/outputs are (N, L, E) instead of (L, N, E).
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: parameter dtype (default: the global default, float32).
        generator: random source for the initial weights and the dropout masks.

    Call: ``attn(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` with query (L, N, E),
    key/value (S, N, kdim/vdim) (or batch first, or unbatched (L, E)). Masks follow
    PyTorch's ``MultiheadAttention`` convention, the opposite of
    ``scaled_dot_product_attention``'s: a boolean ``True`` means *do not attend*; float
    masks are added to the scores. ``key_padding_mask`` is (N, S); ``attn_mask`` is
    (L, S) or (N·h, L, S). ``is_causal=True`` without an ``attn_mask`` builds the causal
    mask (PyTorch requires the mask as well; with one given, the mask is used as is).

    Returns ``(attn_output (L, N, E), attn_weights)``: the weights are (N, L, S) averaged
    over heads (or (N, h, L, S)) when ``need_weights``, else None. They are a detached
    tensor: no gradient flows back through them.

    Example:
        >>> import chainrule as cr
        >>> mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = cr.ones(2, 5, 16)
        >>> out, w = mha(x, x, x)
        >>> out.shape, w.shape
        ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, "MultiheadAttention")
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.add_zero_attn = add_zero_attn
        self.generator = generator
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()

        def param(shape: tuple[int, ...]) -> Parameter:
            return Parameter(np.zeros(shape, dt), dtype=dt)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param((3 * embed_dim, embed_dim))
            init.xavier_uniform_(self.in_proj_weight, generator=generator)
        else:
            self.q_proj_weight = param((embed_dim, embed_dim))
            self.k_proj_weight = param((embed_dim, self.kdim))
            self.v_proj_weight = param((embed_dim, self.vdim))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w, generator=generator)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param((3 * embed_dim,))
        else:
            self.register_parameter("in_proj_bias", None)
        if add_bias_kv:
            self.bias_k = param((1, 1, embed_dim))
            self.bias_v = param((1, 1, embed_dim))
            init.xavier_normal_(self.bias_k, generator=generator)
            init.xavier_normal_(self.bias_v, generator=generator)
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, generator=generator, dtype=dt)
        if bias:
            init.zeros_(self.out_proj.bias)

    # ---- helpers -------------------------------------------------------------------
    def _heads(self, t: Tensor) -> Tensor:
        """(N, L, E) → (N, h, L, d)."""
        n, length = t._data.shape[0], t._data.shape[1]
        return transpose(reshape(t, (n, length, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        """Q, K, V as (N, h, L, d); one GEMM when query, key and value are one tensor."""
        E = self.embed_dim
        w, b = self.in_proj_weight, self.in_proj_bias

        def bias_part(i: int) -> Tensor | None:
            return None if b is None else getitem(b, slice(i * E, (i + 1) * E))

        if w is None:  # separate projections (kdim/vdim differ from embed_dim)
            return (self._heads(linear(query, self.q_proj_weight, bias_part(0))),
                    self._heads(linear(key, self.k_proj_weight, bias_part(1))),
                    self._heads(linear(value, self.v_proj_weight, bias_part(2))))
        if query is key and key is value:
            n, length = query._data.shape[:2]
            qkv = reshape(linear(query, w, b), (n, length, 3, self.num_heads, self.head_dim))
            qkv = transpose(qkv, (2, 0, 3, 1, 4))
            return getitem(qkv, 0), getitem(qkv, 1), getitem(qkv, 2)

        def part(i: int) -> tuple:
            return getitem(w, slice(i * E, (i + 1) * E)), bias_part(i)

        q = self._heads(linear(query, *part(0)))
        if key is value:
            n, length = key._data.shape[:2]
            kv_w = getitem(w, slice(E, 3 * E))
            kv_b = None if b is None else getitem(b, slice(E, 3 * E))
            kv = reshape(linear(key, kv_w, kv_b), (n, length, 2, self.num_heads,
                                                   self.head_dim))
            kv = transpose(kv, (2, 0, 3, 1, 4))
            return q, getitem(kv, 0), getitem(kv, 1)
        return q, self._heads(linear(key, *part(1))), self._heads(linear(value, *part(2)))

    def _extra_keys(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, int]:
        """Append ``bias_k``/``bias_v`` and then a zero key/value to k, v (N, h, S, d), as
        PyTorch does; returns them and how many positions were added."""
        n = k._data.shape[0]
        extra = 0
        shape = (n, self.num_heads, 1, self.head_dim)
        if self.bias_k is not None:
            k = concatenate([k, broadcast_to(reshape(self.bias_k, (1, self.num_heads, 1,
                                                                   self.head_dim)), shape)], 2)
            v = concatenate([v, broadcast_to(reshape(self.bias_v, (1, self.num_heads, 1,
                                                                   self.head_dim)), shape)], 2)
            extra += 1
        if self.add_zero_attn:
            zeros = Tensor._make(np.zeros(shape, k._data.dtype), False, None)
            k, v = concatenate([k, zeros], 2), concatenate([v, zeros], 2)
            extra += 1
        return k, v, extra

    def _mask(self, n: int, tgt: int, src: int, key_padding_mask: Any, attn_mask: Any,
              is_causal: bool, dtype: np.dtype, extra: int = 0) -> Any:
        """One mask for ``scaled_dot_product_attention`` broadcastable to (N, h, L, S):
        boolean keep-mask when every given mask is boolean, else additive floats. The
        ``extra`` keys appended by ``_extra_keys`` are never masked."""
        parts = self._given_masks(n, tgt, src, key_padding_mask, attn_mask, is_causal)
        if extra:  # pad with False / 0 (attend), as PyTorch's F.pad does
            parts = [np.concatenate([p, np.zeros(p.shape[:-1] + (extra,), p.dtype)], -1)
                     for p in parts]
        if not parts:
            return None
        if all(p.dtype == bool for p in parts):
            blocked = parts[0]
            for p in parts[1:]:
                blocked = blocked | p
            return ~blocked
        total = None
        for p in parts:
            add = np.where(p, -np.inf, 0).astype(dtype) if p.dtype == bool else p.astype(dtype)
            total = add if total is None else total + add
        return total

    def _given_masks(self, n: int, tgt: int, src: int, key_padding_mask: Any, attn_mask: Any,
                     is_causal: bool) -> list[np.ndarray]:
        """The masks given, checked, each broadcastable to (N, h, L, S)."""
        parts = []
        if attn_mask is None and is_causal:
            parts.append(~causal_mask(tgt, src))
        if attn_mask is not None:
            am = np.asarray(attn_mask._data if isinstance(attn_mask, Tensor) else attn_mask)
            if am.shape == (tgt, src):
                pass
            elif am.shape == (n * self.num_heads, tgt, src):
                am = am.reshape(n, self.num_heads, tgt, src)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must be ({tgt}, {src}) or "
                                 f"({n * self.num_heads}, {tgt}, {src}), got {am.shape}")
            parts.append(am)
        if key_padding_mask is not None:
            kpm = np.asarray(key_padding_mask._data if isinstance(key_padding_mask, Tensor)
                             else key_padding_mask)
            if kpm.shape != (n, src):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be (batch, "
                                 f"source length) = ({n}, {src}), got {kpm.shape}")
            parts.append(kpm.reshape(n, 1, 1, src))
        return parts

    # ---- forward -------------------------------------------------------------------
    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        same_kv = key is value
        same_qkv = query is key and same_kv
        for label, t, width in (("query", query, self.embed_dim), ("key", key, self.kdim),
                                ("value", value, self.vdim)):
            if t._data.ndim not in (2, 3) or t._data.shape[-1] != width:
                raise ValueError(f"MultiheadAttention: expected {label} of shape (L, N, "
                                 f"{width}) (or batch first, or unbatched (L, {width})), got "
                                 f"{t.shape}")
        unbatched = query._data.ndim == 2
        if unbatched:
            query, key, value = (unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask._data if isinstance(
                    key_padding_mask, Tensor) else key_padding_mask)[None]
        elif not self.batch_first:  # work batch first: (N, L, E)
            query, key, value = (transpose(t, (1, 0, 2)) for t in (query, key, value))
        if same_qkv:
            key = value = query
        elif same_kv:
            value = key
        n, tgt = query._data.shape[:2]
        src = key._data.shape[1]
        if key._data.shape[:2] != value._data.shape[:2] or key._data.shape[0] != n:
            raise ValueError(f"MultiheadAttention: key {key.shape} and value {value.shape} "
                             f"must match each other and the query's batch ({n})")
        q, k, v = self._project(query, key, value)
        k, v, extra = self._extra_keys(k, v)
        mask = self._mask(n, tgt, src, key_padding_mask, attn_mask, is_causal, q._data.dtype,
                          extra)
        sink: list | None = [] if need_weights else None
        out = scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
            generator=self.generator, _weights_out=sink)
        out = reshape(transpose(out, (0, 2, 1, 3)), (n, tgt, self.embed_dim))
        out = self.out_proj(out)
        weights = None
        if need_weights:
            w = sink[0]
            if average_attn_weights:
                w = w.mean(axis=1)
            weights = Tensor._make(np.ascontiguousarray(w), False, None)
            if unbatched:
                weights = squeeze(weights, 0)
        if unbatched:
            out = squeeze(out, 0)
        elif not self.batch_first:
            out = transpose(out, (1, 0, 2))
        return out, weights

    def extra_repr(self) -> str:
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.batch_first:
            text += ", batch_first=True"
        return text
