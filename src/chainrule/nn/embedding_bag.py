"""``EmbeddingBag``: sums, means or maxima of bags of embeddings, PyTorch's
``nn.EmbeddingBag``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator
from chainrule.devices import check_device
from chainrule.nn.embedding import embedding_table
from chainrule.nn.module import Module
from chainrule.ops.embedding_bag import _MODES, embedding_bag
from chainrule.tensor import Tensor


class EmbeddingBag(Module):
    """A lookup table reduced over bags of ids: text classification over bags of words
    without materialising every word's vector.

    ``weight`` is (num_embeddings, embedding_dim), drawn from N(0, 1) as in PyTorch; the
    ``padding_idx`` row starts at zero, never receives a gradient and is left out of
    every bag.

    Args:
        num_embeddings: how many ids.
        embedding_dim: length of each vector.
        max_norm, norm_type: rescale looked-up rows whose norm exceeds ``max_norm``, in
            place, before each lookup.
        scale_grad_by_freq: divide each row's gradient by its count in the batch.
        mode: ``'sum'``, ``'mean'`` (default) or ``'max'``.
        sparse: must be False (dense gradients).
        _weight: an initial table used as is (no random numbers drawn).
        include_last_offset: ``offsets`` carries the end of the last bag too.
        padding_idx: an id left out of the bags (negative counts from the end).
        device: only ``None``/``'cpu'``.
        dtype: the table's dtype (default: the default dtype).
        generator: random source for the initial table (keyword; default the global one).

    Call: ``bag(input, offsets=None, per_sample_weights=None)``; see
    ``chainrule.functional.embedding_bag``. Returns (bags, embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> bag = cr.nn.EmbeddingBag(10, 3, mode="sum")
        >>> bag(cr.tensor([1, 2, 4, 5, 4, 3, 2, 9]), cr.tensor([0, 4])).shape
        (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Any = None, include_last_offset: bool = False,
                 padding_idx: int | None = None, device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__()
        name = "EmbeddingBag"
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"{name} needs positive sizes, got num_embeddings="
                             f"{num_embeddings}, embedding_dim={embedding_dim}")
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
        if sparse:
            raise ValueError(f"{name}: sparse=True (sparse gradients) is not supported; "
                             "chainrule computes dense gradients, pass sparse=False")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"{name}: padding_idx {padding_idx} must be within "
                                 f"num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        check_device(device, "EmbeddingBag")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        self.padding_idx = padding_idx
        self.weight = embedding_table(name, num_embeddings, embedding_dim, _weight, dtype,
                                      generator, padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An ``EmbeddingBag`` over a copy of ``embeddings`` (num, dim), kept fixed when
        ``freeze``.

        Example:
            >>> import numpy as np
            >>> import chainrule as cr
            >>> bag = cr.nn.EmbeddingBag.from_pretrained(np.eye(3), mode="sum")
            >>> bag(cr.tensor([[0, 2]])).tolist()
            [[1.0, 0.0, 1.0]]
        """
        data = np.array(embeddings._data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained needs a 2-D table, got shape "
                             f"{data.shape}")
        bag = cls(data.shape[0], data.shape[1], max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse,
                  _weight=data, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input: Any, offsets: Any = None,  # noqa: A002
                per_sample_weights: Tensor | None = None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                             self.scale_grad_by_freq, self.mode, self.sparse,
                             per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        text += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text


__all__ = ["EmbeddingBag"]
