"""Dropout layers: active in training mode only."""

from __future__ import annotations

from chainrule.backend import Generator
from chainrule.nn.module import Module
from chainrule.ops.activations import check_dropout_p, dropout, dropout1d, dropout2d
from chainrule.tensor import Tensor


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale
    the survivors by 1/(1−p); in eval mode, the identity. A cure for overfitting.

    Args:
        p: probability of zeroing an element, in [0, 1] (1 zeroes everything in training).
        inplace: accepted for PyTorch compatibility and ignored (the result is always a
            new tensor).
        generator: random source for the masks (default: the global one).

    Example:
        >>> import chainrule as cr
        >>> d = cr.nn.Dropout(0.5).eval()
        >>> d(cr.ones(3)).tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False,
                 generator: Generator | None = None) -> None:
        super().__init__()
        if isinstance(inplace, Generator):  # chainrule's older Dropout(p, generator)
            inplace, generator = False, inplace
        self.p = check_dropout_p(p, type(self).__name__)
        self.inplace = bool(inplace)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Drops whole channels of (N, C, L) or unbatched (C, L) inputs (one mask value per
    (n, c)), as PyTorch's ``Dropout1d``."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout1d(x, self.p, self.training, generator=self.generator)


class Dropout2d(Dropout):
    """Drops whole channels of (N, C, H, W) inputs (one mask value per (n, c)). As in
    PyTorch, a 3-D input is read as (N, C, L), with a warning."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout2d(x, self.p, self.training, generator=self.generator)
