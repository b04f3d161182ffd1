"""``einsum`` (differentiable) and the strict matrix products ``mm`` and ``bmm``.

The gradient of an einsum operand is itself an einsum: the output gradient contracted
with the other operands, written to the operand's own labels. Three cases need more than
that one call, and are handled here: a label that only this operand has (summed away in
the forward: its gradient is broadcast back), a label repeated within one operand (a
diagonal: the gradient is written onto that diagonal of zeros), and a size-1 axis that
broadcast against a larger one (its gradient is summed back to size 1).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops._util import constant
from chainrule.ops.linalg import matmul
from chainrule.tensor import Tensor


def _unique(labels: str) -> str:
    return "".join(dict.fromkeys(labels))


def _parse(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Each operand's labels and the output's, with ``...`` spelled out as letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum {equation!r}: {len(terms)} operand term(s) but "
                         f"{len(shapes)} operand(s)")
    used = set(eq) - set(".,->")
    bad = [c for c in used if c not in string.ascii_letters]
    if bad:
        raise ValueError(f"einsum {equation!r}: labels must be letters, got {sorted(bad)} "
                         "(the sublist form is not supported)")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_ndims = []
    for term, shape in zip(terms, shapes):
        if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
            raise ValueError(f"einsum {equation!r}: malformed term {term!r}")
        explicit = len(term.replace("...", ""))
        extra = len(shape) - explicit
        if extra < 0 or (extra > 0 and "..." not in term):
            raise ValueError(f"einsum {equation!r}: term {term!r} has {explicit} label(s) "
                             f"but its operand has shape {shape}")
        ell_ndims.append(extra if "..." in term else 0)
    ell = "".join(spare[: max(ell_ndims, default=0)])
    subs = [t.replace("...", ell[len(ell) - k:] if k else "") for t, k in zip(terms, ell_ndims)]
    if arrow:
        if rhs.count("...") > 1 or rhs.replace("...", "").count(".") > 0:
            raise ValueError(f"einsum {equation!r}: malformed output {rhs!r}")
        out = rhs.replace("...", ell)
        if "..." in lhs and "..." not in rhs and ell:
            raise ValueError(f"einsum {equation!r}: the output must keep '...' when the "
                             "inputs have it")
    else:  # implicit output: the ellipsis axes, then labels used once, alphabetically
        counts = {c: "".join(subs).count(c) for c in "".join(subs)}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    every = set("".join(subs))
    if len(set(out)) != len(out) or not set(out) <= every:
        raise ValueError(f"einsum {equation!r}: output labels {out!r} must be distinct and "
                         "appear among the inputs")
    return subs, out


def _label_sizes(subs: list[str], shapes: list[tuple[int, ...]], equation: str
                 ) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for term, shape in zip(subs, shapes):
        seen: dict[str, int] = {}
        for c, n in zip(term, shape):
            if c in seen and seen[c] != n:
                raise ValueError(f"einsum {equation!r}: repeated label {c!r} within one "
                                 f"operand of shape {shape} needs equal sizes")
            seen[c] = n
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum {equation!r}: label {c!r} has sizes {sizes[c]} and "
                                 f"{n} in different operands {[s for s in shapes]}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    return sizes


class Einsum(Function):
    __slots__ = ()

    def forward(self, *arrays: np.ndarray, subs: tuple[str, ...], out: str,
                sizes: dict[str, int]) -> np.ndarray:
        self.saved = (arrays, subs, out, sizes)
        spec = ",".join(subs) + "->" + out
        return np.asarray(np.einsum(spec, *arrays, optimize=len(arrays) > 1))

    def backward(self, g: np.ndarray) -> tuple:
        arrays, subs, out, sizes = self.saved
        grads = tuple(
            _operand_grad(i, g, arrays, subs, out, sizes) if need else None
            for i, need in enumerate(self.needs_input_grad)
        )
        return grads[0] if len(grads) == 1 else grads  # the engine's one-input convention


def _operand_grad(i: int, g: np.ndarray, arrays: tuple, subs: tuple[str, ...], out: str,
                  sizes: dict[str, int]) -> np.ndarray:
    own = subs[i]
    shape = arrays[i].shape
    own_size = dict(zip(own, shape))
    uniq = _unique(own)
    others = [s for k, s in enumerate(subs) if k != i]
    reachable = set(out).union(*others) if others else set(out)
    target = "".join(c for c in uniq if c in reachable)
    operands = [g] + [a for k, a in enumerate(arrays) if k != i]
    spec = ",".join([out] + others) + "->" + target
    grad = np.einsum(spec, *operands, optimize=len(operands) > 2)
    # size-1 axes of this operand that broadcast against larger ones: sum back
    shrink = tuple(k for k, c in enumerate(target) if own_size[c] == 1 and sizes[c] != 1)
    if shrink:
        grad = grad.sum(axis=shrink, keepdims=True)
    # labels only this operand had: the gradient is constant along them
    grad = grad.reshape([own_size[c] if c in target else 1 for c in uniq])
    grad = np.broadcast_to(grad, [own_size[c] for c in uniq])
    if len(uniq) == len(own):
        return np.ascontiguousarray(np.transpose(grad, [uniq.index(c) for c in own])
                                    if uniq != own else grad)
    # a repeated label: write the gradient onto the diagonal it read
    full = np.zeros(shape, dtype=grad.dtype)
    index = []
    for c in own:
        pos = uniq.index(c)
        view = [1] * len(uniq)
        view[pos] = own_size[c]
        index.append(np.arange(own_size[c]).reshape(view))
    full[tuple(index)] = grad
    return full


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, like ``torch.einsum``, differentiable in every operand.

    Supports implicit and explicit (``->``) outputs, ``...`` (broadcasting leading
    axes), repeated labels (diagonals, traces) and size-1 broadcasting. Operands may be
    passed separately or as one list.

    Args:
        equation: e.g. ``"bij,bjk->bik"``.
        operands: tensors (or arrays, taken as constants).

    Example:
        >>> import chainrule as cr
        >>> a, b = cr.ones(2, 3), cr.ones(3, 4)
        >>> cr.einsum("ij,jk->ik", a, b).shape
        (2, 4)
        >>> cr.einsum("ii", cr.eye(3))
        tensor(3.)
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum needs at least one operand")
    like = next((t for t in operands if isinstance(t, Tensor)), None)
    tensors = [t if isinstance(t, Tensor) else constant(t, like) for t in operands]
    shapes = [t._data.shape for t in tensors]
    subs, out = _parse(equation, shapes)
    sizes = _label_sizes(subs, shapes, equation)
    return Einsum.apply(*tensors, subs=tuple(subs), out=out, sizes=sizes)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-d tensors, (n, m) @ (m, p) → (n, p); no broadcasting."""
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise ValueError(f"mm: both operands must be 2-d, got shapes {a.shape} and {b.shape}"
                         " (use matmul for batched or 1-d operands)")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of 3-d tensors, (B, n, m) @ (B, m, p) → (B, n, p); the
    batch sizes must be equal (no broadcasting, as in ``torch.bmm``)."""
    if a._data.ndim != 3 or b._data.ndim != 3:
        raise ValueError(f"bmm: both operands must be 3-d, got shapes {a.shape} and "
                         f"{b.shape}")
    if a._data.shape[0] != b._data.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: shapes {a.shape} and {b.shape}")
    return matmul(a, b)


__all__ = ["bmm", "einsum", "mm"]
