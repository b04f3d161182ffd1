"""Distance and similarity modules: ``CosineSimilarity`` and ``PairwiseDistance``
(PyTorch's ``torch.nn`` names; no parameters)."""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.norms import cosine_similarity, pairwise_distance
from chainrule.tensor import Tensor


class CosineSimilarity(Module):
    """Cosine similarity of two inputs along ``dim`` (see
    ``chainrule.functional.cosine_similarity``).

    Args:
        dim: the dimension holding the vectors (default 1).
        eps: lower bound of each norm (default 1e-8).

    Shapes: x1 and x2 broadcastable; the output has the broadcast shape without ``dim``.

    Example:
        >>> import chainrule as cr
        >>> cos = cr.nn.CosineSimilarity(dim=1)
        >>> cos(cr.tensor([[1.0, 0.0]]), cr.tensor([[2.0, 0.0]])).tolist()
        [1.0]
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    """``‖x1 − x2 + eps‖_p`` over the last dimension (see
    ``chainrule.functional.pairwise_distance``).

    Args:
        p: the norm's exponent (default 2).
        eps: added to the difference (default 1e-6).
        keepdim: keep the last dimension with size 1.

    Example:
        >>> import chainrule as cr
        >>> dist = cr.nn.PairwiseDistance(eps=0.0)
        >>> dist(cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]])).tolist()
        [5.0]
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"
