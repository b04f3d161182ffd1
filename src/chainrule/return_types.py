"""Named tuples returned by ops that give values and indices, as ``torch.return_types``.

``values, indices = x.max(dim=1)`` unpacks like a tuple; ``x.max(dim=1).values`` reads
by name.

Example:
    >>> import chainrule as cr
    >>> out = cr.tensor([[1.0, 3.0], [4.0, 2.0]]).max(dim=1)
    >>> out.indices
    tensor([1, 0])
"""

from __future__ import annotations

from collections import namedtuple

max = namedtuple("max", ["values", "indices"])  # noqa: A001  (PyTorch's names)
min = namedtuple("min", ["values", "indices"])  # noqa: A001
sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])

__all__ = ["max", "min", "sort", "topk"]
