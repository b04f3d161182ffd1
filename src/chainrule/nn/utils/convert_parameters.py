"""Parameters as one flat vector and back (PyTorch's ``parameters_to_vector`` and
``vector_to_parameters``), e.g. for second-order methods or weight averaging."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainrule.ops.shape import concatenate, reshape
from chainrule.tensor import Tensor


def _tensors(parameters: Iterable[Tensor], where: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        raise TypeError(f"{where} expects an iterable of Tensors (e.g. model.parameters()), "
                        "got a single Tensor")
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{where} expects Tensors, got {type(p).__name__}")
    return params


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and concatenated, in order, into one 1-D tensor.

    Differentiable (a concatenation of reshapes), as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Linear(3, 2)
        >>> parameters_to_vector(net.parameters()).shape
        (8,)
    """
    params = _tensors(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return concatenate([reshape(p, (p._data.size,)) for p in params], axis=0)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in order.

    Each parameter's values are overwritten in place (its array, shape and dtype stay,
    so optimizers keep their references); ``vec`` must hold exactly as many elements.

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Linear(3, 2)
        >>> vector_to_parameters(cr.zeros(8), net.parameters())
        >>> float(abs(net.weight.data).sum())
        0.0
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters expects a Tensor, got {type(vec).__name__}")
    data = vec._data
    if data.ndim != 1:
        raise ValueError(f"vector_to_parameters expects a 1-D vector, got shape {vec.shape}")
    params = _tensors(parameters, "vector_to_parameters")
    needed = sum(p._data.size for p in params)
    if data.size != needed:
        raise ValueError(f"vector_to_parameters: the vector has {data.size} elements but "
                         f"the parameters hold {needed}")
    start = 0
    for p in params:
        n = p._data.size
        np.copyto(p._data, data[start:start + n].reshape(p._data.shape), casting="unsafe")
        start += n
