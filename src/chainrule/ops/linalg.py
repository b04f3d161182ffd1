"""Matrix products: ``matmul`` (batched, NumPy semantics), the fused ``linear``, ``dot``,
``outer`` and ``tensordot``; matrix structure: ``tril``, ``triu`` and ``diag``."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops import _gemm
from chainrule.ops._util import ones_vector, pair, shape_mismatch, unbroadcast
from chainrule.tensor import Tensor


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class MatMul(Function):
    """``a @ b``. 1-D operands are promoted (a row for a, a column for b) as in NumPy,
    and batch axes broadcast; backward undoes both."""

    __slots__ = ()

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise shape_mismatch(
                "matmul", a.shape, b.shape,
                f"the last axis of the first ({a.shape[-1]}) must equal the "
                f"{'second-to-last' if b.ndim > 1 else 'only'} axis of the second "
                f"({b.shape[-2 if b.ndim > 1 else 0]})")
        try:
            out = _gemm.matmul(a, b) if a.ndim > 1 and b.ndim > 1 else a @ b
        except ValueError:
            raise shape_mismatch("matmul", a.shape, b.shape,
                                 "their batch axes cannot be broadcast") from None
        self.saved = (a, b)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        a, b = self.saved
        na, nb = self.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if na:
            ga = unbroadcast(g @ _swap(b2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(_swap(a2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's ``matmul`` rules (batched, broadcasting batch axes)."""
    return MatMul.apply(*pair(a, b))


class Linear(Function):
    """``y = x Wᵀ + b`` in one node: x (..., in), W (out, in), b (out,).

    Fused so the training step pays one node and no transposed copy:
    ``∂E/∂x = g W``, ``∂E/∂W = gᵀ x``, ``∂E/∂b = Σ_batch g``.
    """

    __slots__ = ()

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if w.ndim != 2 or x.ndim == 0:
            raise ValueError(f"linear: needs input (..., in) and weight (out, in), got shapes "
                             f"{x.shape} and {w.shape}")
        if x.shape[-1] != w.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} has {x.shape[-1]} features but the "
                f"weight of shape {w.shape} expects {w.shape[1]} (in_features)"
            )
        if x.ndim == 2:
            out = _gemm.matmul(x, w.T)
        else:
            out = _gemm.matmul(x.reshape(-1, x.shape[-1]), w.T)
            out = out.reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            out += b
        self.saved = (x, w)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        x, w = self.saved
        needs = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if needs[0]:
            gx = _gemm.matmul(g2, w).reshape(x.shape)
        if needs[1]:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            gw = _gemm.matmul(g2.T, x2)
        if len(needs) > 2 and needs[2]:
            gb = ones_vector(g2.shape[0], g2.dtype) @ g2  # column sums as a GEMV
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``); weight is (out, in)."""
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


__all__ = ["matmul", "linear"]


# ---- gapstensor: dot, outer, tensordot, tril, triu, diag ----------------------------------

def _vector(op: str, name: str, t: Tensor) -> None:
    if t._data.ndim != 1:
        raise ValueError(f"{op}: {name} must be 1-d, got shape {t.shape}")


def dot(a: Any, b: Any) -> Tensor:
    """The inner product of two 1-d tensors of the same length and dtype, like
    ``torch.dot`` (a 0-d tensor).

    Example:
        >>> import chainrule as cr
        >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
        tensor(11.)
    """
    a, b = pair(a, b)
    _vector("dot", "the first operand", a)
    _vector("dot", "the second operand", b)
    if a._data.dtype != b._data.dtype:
        raise TypeError(f"dot: operands have dtypes {a._data.dtype} and {b._data.dtype}; "
                        "convert one first")
    if a._data.shape != b._data.shape:
        raise shape_mismatch("dot", a.shape, b.shape, "1-d tensors of the same length")
    return MatMul.apply(a, b)


def outer(a: Any, b: Any) -> Tensor:
    """The outer product ``out[i, j] = a[i] * b[j]`` of two 1-d tensors, like
    ``torch.outer``.

    Example:
        >>> import chainrule as cr
        >>> cr.outer(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 10.0]))
        tensor([[ 1., 10.],
                [ 2., 20.]])
    """
    from chainrule.ops.arithmetic import mul
    from chainrule.ops.shape import reshape

    a, b = pair(a, b)
    _vector("outer", "the first operand", a)
    _vector("outer", "the second operand", b)
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` axes of ``a`` with the first ``dims`` of ``b`` (an int),
    or the listed axes ``dims = ([a axes], [b axes])``, like ``torch.tensordot``.

    Example:
        >>> import chainrule as cr
        >>> cr.tensordot(cr.ones(2, 3, 4), cr.ones(3, 4, 5), dims=2).shape
        (2, 5)
    """
    from chainrule.ops.shape import reshape, transpose

    a, b = pair(a, b)
    na, nb = a._data.ndim, b._data.ndim
    if isinstance(dims, Tensor):
        dims = dims._data.tolist()
    if isinstance(dims, (int, np.integer)):
        k = int(dims)
        if k < 0 or k > min(na, nb):
            raise ValueError(f"tensordot: dims={k} must be between 0 and the smaller rank "
                             f"({min(na, nb)}) of shapes {a.shape} and {b.shape}")
        ax_a, ax_b = list(range(na - k, na)), list(range(k))
    else:
        ax_a, ax_b = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
        ax_a = [int(d) % na for d in ax_a]
        ax_b = [int(d) % nb for d in ax_b]
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: {ax_a} and {ax_b} must name as many axes each")
    for i, j in zip(ax_a, ax_b):
        if a._data.shape[i] != b._data.shape[j]:
            raise shape_mismatch("tensordot", a.shape, b.shape,
                                 f"axis {i} ({a._data.shape[i]}) and axis {j} "
                                 f"({b._data.shape[j]}) are contracted but differ in size")
    keep_a = [i for i in range(na) if i not in ax_a]
    keep_b = [j for j in range(nb) if j not in ax_b]
    size = int(np.prod([a._data.shape[i] for i in ax_a]))
    am = reshape(transpose(a, tuple(keep_a + ax_a)), (-1, size))
    bm = reshape(transpose(b, tuple(ax_b + keep_b)), (size, -1))
    shape = tuple(a._data.shape[i] for i in keep_a) + tuple(b._data.shape[j] for j in keep_b)
    return reshape(MatMul.apply(am, bm), shape)


class Triangle(Function):
    """Zero the elements above (``tril``) or below (``triu``) the ``k``-th diagonal of the
    last two axes; the gradient is zeroed in the same places."""

    __slots__ = ()

    def forward(self, x: np.ndarray, k: int, lower: bool) -> np.ndarray:
        self.saved = (k, lower)
        return np.tril(x, k) if lower else np.triu(x, k)

    def backward(self, g: np.ndarray) -> np.ndarray:
        k, lower = self.saved
        return np.tril(g, k) if lower else np.triu(g, k)


def _triangle(op: str, x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x._data.ndim < 2:
        raise ValueError(f"{op}: needs a tensor with at least 2 dimensions (a matrix or a "
                         f"batch of them), got shape {x.shape}")
    return Triangle.apply(x, k=int(diagonal), lower=lower)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (on and below the ``diagonal``-th
    diagonal; others zero), like ``torch.tril``.

    Example:
        >>> import chainrule as cr
        >>> cr.tril(cr.ones(3, 3))
        tensor([[1., 0., 0.],
                [1., 1., 0.],
                [1., 1., 1.]])
    """
    return _triangle("tril", x, diagonal, True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (on and above the ``diagonal``-th
    diagonal; others zero), like ``torch.triu``."""
    return _triangle("triu", x, diagonal, False)


def _diagonal_index(n: int, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the ``k``-th diagonal of an ``n × m`` matrix."""
    rows = np.arange(max(0, -k), min(n, m - k) if m - k > 0 else 0)
    return rows, rows + k


class Diag(Function):
    """``diag``: a vector onto the ``k``-th diagonal of a square matrix of zeros, or the
    ``k``-th diagonal of a matrix as a vector; backward does the other one."""

    __slots__ = ()

    def forward(self, x: np.ndarray, k: int) -> np.ndarray:
        self.saved = (x.shape, k)
        if x.ndim == 1:
            n = x.shape[0] + abs(k)
            out = np.zeros((n, n), x.dtype)
            out[_diagonal_index(n, n, k)] = x
            return out
        return x[_diagonal_index(x.shape[0], x.shape[1], k)]

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, k = self.saved
        if len(shape) == 1:
            return g[_diagonal_index(g.shape[0], g.shape[1], k)]
        out = np.zeros(shape, g.dtype)
        out[_diagonal_index(shape[0], shape[1], k)] = g
        return out


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """For a 1-d ``x``: the square matrix with ``x`` on its ``diagonal``-th diagonal
    (0: the main one, > 0 above, < 0 below); for a 2-d ``x``: that diagonal as a 1-d
    tensor. Like ``torch.diag``.

    Example:
        >>> import chainrule as cr
        >>> cr.diag(cr.tensor([1.0, 2.0]))
        tensor([[1., 0.],
                [0., 2.]])
        >>> cr.diag(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
        tensor([2.])
    """
    if x._data.ndim not in (1, 2):
        raise ValueError(f"diag: needs a 1-d or 2-d tensor, got shape {x.shape}")
    return Diag.apply(x, k=int(diagonal))


__all__ += ["diag", "dot", "outer", "tensordot", "tril", "triu"]
