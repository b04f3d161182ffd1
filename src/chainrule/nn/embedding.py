"""``Embedding``: a learned vector per token id."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.embedding import embedding
from chainrule.tensor import Tensor


class Embedding(Module):
    """A lookup table: integer ids of any shape → their rows of ``weight``.

    ``weight`` is (num_embeddings, embedding_dim), drawn from N(0, 1) as in PyTorch; the
    ``padding_idx`` row starts at zero and never receives a gradient. Repeated ids in a
    batch add up their gradients.

    Args:
        num_embeddings: how many ids (vocabulary size).
        embedding_dim: length of each vector.
        padding_idx: an id whose vector stays fixed (negative counts from the end).
        generator: random source for the initial weights (default: the global one).

    Shapes: ids (*) → (*, embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> emb = cr.nn.Embedding(10, 3)
        >>> emb(cr.tensor([[1, 2], [3, 4]])).shape
        (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 generator: Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding needs positive sizes, got num_embeddings="
                             f"{num_embeddings}, embedding_dim={embedding_dim}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dt))
        init.normal_(self.weight, 0.0, 1.0, generator)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An ``Embedding`` whose table is a copy of ``embeddings`` (num, dim).

        Args:
            embeddings: the vectors, one row per id.
            freeze: keep them fixed (``weight.requires_grad = False``).
            padding_idx: as in the constructor (the row is kept as given).
        """
        data = np.array(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained needs a 2-D table, got shape "
                             f"{data.shape}")
        if data.dtype.kind != "f":
            data = data.astype(get_default_dtype())
        emb = cls(data.shape[0], data.shape[1], padding_idx=padding_idx, dtype=data.dtype)
        emb.weight.data[...] = data
        emb.weight.requires_grad = not freeze
        return emb

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"
