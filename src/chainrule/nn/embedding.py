"""``Embedding``: a learned vector per token id."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
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
        max_norm: rows looked up whose norm exceeds it are rescaled to it, in place,
            before each lookup (as PyTorch).
        norm_type: p of the p-norm for ``max_norm``.
        scale_grad_by_freq: divide each row's gradient by its count in the batch.
        sparse: must be False (chainrule computes dense gradients).
        _weight: an initial table (num_embeddings, embedding_dim) used as is, with its
            floating dtype; no random numbers are drawn (PyTorch's private argument,
            used by :meth:`from_pretrained`).
        _freeze: with ``_weight``, keep the table fixed.
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: the table's dtype (default: the default dtype).
        generator: random source for the initial weights (default: the global one).

    Shapes: ids (*) → (*, embedding_dim).

    Example:
        >>> import chainrule as cr
        >>> emb = cr.nn.Embedding(10, 3)
        >>> emb(cr.tensor([[1, 2], [3, 4]])).shape
        (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        check_device(device, "Embedding")
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding needs positive sizes, got num_embeddings="
                             f"{num_embeddings}, embedding_dim={embedding_dim}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        if sparse:
            raise ValueError("Embedding: sparse=True (sparse gradients) is not supported; "
                             "chainrule computes dense gradients, pass sparse=False")
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"Embedding: max_norm must be positive, got {max_norm}")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.weight = embedding_table("Embedding", num_embeddings, embedding_dim, _weight,
                                      dtype, generator, padding_idx, not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An ``Embedding`` whose table is a copy of ``embeddings`` (num, dim), in its own
        floating dtype (an integer table becomes the default dtype). Draws no random
        numbers.

        Args:
            embeddings: the vectors, one row per id.
            freeze: keep them fixed (``weight.requires_grad = False``).
            padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse: as in the
                constructor (the padding row is kept as given).

        Example:
            >>> import numpy as np
            >>> import chainrule as cr
            >>> emb = cr.nn.Embedding.from_pretrained(np.eye(3))
            >>> emb.weight.dtype, emb.weight.requires_grad
            (dtype('float64'), False)
        """
        data = np.array(embeddings._data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained needs a 2-D table, got shape "
                             f"{data.shape}")
        return cls(data.shape[0], data.shape[1], padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   sparse=sparse, _weight=data, _freeze=freeze)

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight, self.padding_idx, self.max_norm,
                         self.norm_type, self.scale_grad_by_freq)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text


def embedding_table(name: str, num_embeddings: int, embedding_dim: int, given: Any,
                    dtype: Any, generator: Any, padding_idx: int | None,
                    requires_grad: bool = True) -> Parameter:
    """The ``(num_embeddings, embedding_dim)`` weight of an embedding layer: ``given`` (the
    ``_weight`` argument, shape checked, shared; integers become floats), or drawn from
    N(0, 1) with the ``padding_idx`` row zero, as PyTorch's."""
    if given is not None:
        table = given._data if isinstance(given, Tensor) else np.asarray(given)
        if table.shape != (num_embeddings, embedding_dim):
            raise ValueError(f"{name}: _weight has shape {table.shape}, expected "
                             f"({num_embeddings}, {embedding_dim})")
        if table.dtype.kind != "f":
            table = table.astype(np.dtype(dtype) if dtype is not None else get_default_dtype())
        return Parameter(table, requires_grad=requires_grad, dtype=table.dtype)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    weight = Parameter(np.empty((num_embeddings, embedding_dim), dt), dtype=dt)
    init.normal_(weight, 0.0, 1.0, generator)
    if padding_idx is not None:
        weight._data[padding_idx] = 0
    return weight
