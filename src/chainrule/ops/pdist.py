"""``pdist``: the p-norm distance between every pair of rows, PyTorch's ``F.pdist``.

For x (N, M) the result holds ``‖x_i − x_j‖_p`` for i < j in row-major order (the upper
triangle of the distance matrix without its diagonal, N(N − 1)/2 values). Built from a
gather of the row pairs and ``vector_norm``, whose derivative is PyTorch's (0 where a
distance is 0).
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.arithmetic import add, mul, sub
from chainrule.ops.norms import vector_norm
from chainrule.ops.reductions import sum as _sum
from chainrule.ops.shape import getitem
from chainrule.tensor import Tensor


def pdist(input: Tensor, p: float = 2.0) -> Tensor:  # noqa: A002
    """Distances between all pairs of rows of ``input`` (N, M) → (N(N − 1)/2,).

    Args:
        input: (N, M).
        p: the norm's exponent, ≥ 0 (0 counts the differing coordinates, with zero
            gradient; ``math.inf`` takes the largest difference).

    Example:
        >>> import chainrule as cr
        >>> pdist(cr.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
        [5.0, 1.0, 4.242640495300293]
    """
    if input._data.ndim != 2:
        raise ValueError(f"pdist: only supports 2D tensors (N, M), got shape {input.shape}")
    if isinstance(p, bool) or not p >= 0:
        raise ValueError(f"pdist: p must be a number >= 0, got {p!r}")
    n = input._data.shape[0]
    i, j = np.triu_indices(n, 1)
    diff = sub(getitem(input, i), getitem(input, j))
    if p == 0:  # a count: constant in x, so the gradient is zero (as PyTorch's)
        counts = (diff._data != 0).sum(axis=1).astype(input._data.dtype)
        return add(mul(_sum(diff, 1), 0.0), counts)
    return vector_norm(diff, float(p), 1)


__all__ = ["pdist"]
