"""``chainrule.nn.utils``: PyTorch's ``torch.nn.utils`` helpers for gradients and
parameters (``clip_grad_norm_``, ``clip_grad_value_``, ``parameters_to_vector``,
``vector_to_parameters``).

Example:
    >>> import chainrule as cr
    >>> from chainrule.nn.utils import clip_grad_norm_
    >>> w = cr.nn.Parameter([3.0, 4.0])
    >>> w.grad = w.data.clone()
    >>> float(clip_grad_norm_([w], max_norm=1.0))
    5.0
"""

from chainrule.nn.utils import clip_grad, convert_parameters
from chainrule.nn.utils.clip_grad import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from chainrule.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = [
    "clip_grad", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
    "convert_parameters", "get_total_norm", "parameters_to_vector", "vector_to_parameters",
]
