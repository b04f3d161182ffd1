"""PyTorch's dtype names (``cr.float32``, ``cr.long``, ``cr.bool``…) as NumPy dtypes.

Each name is a ``numpy.dtype``, so it works wherever chainrule or NumPy takes a dtype
(``cr.zeros(3, dtype=cr.long)``, ``x.to(cr.float64)``, ``np.zeros(3, cr.half)``) and
compares equal to a tensor's ``.dtype`` (``x.dtype == cr.float32``). ``to_dtype`` also
reads the strings PyTorch prints (``"torch.float64"``) and the legacy type names used by
``Tensor.type`` (``"torch.LongTensor"``).

Example:
    >>> import chainrule as cr
    >>> cr.zeros(2, dtype=cr.long).dtype == cr.int64
    True
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001  (PyTorch's name; builtins.bool stays reachable)
float = float32  # noqa: A001  (torch.float is float32)
double = float64
half = float16
long = int64
int = int32  # noqa: A001  (torch.int is int32)
short = int16

# Legacy tensor-type names (``x.type()`` returns these, ``x.type(name)`` accepts them).
_TYPE_NAMES = {
    float32: "FloatTensor", float64: "DoubleTensor", float16: "HalfTensor",
    int64: "LongTensor", int32: "IntTensor", int16: "ShortTensor", int8: "CharTensor",
    uint8: "ByteTensor", bool: "BoolTensor",
}
_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64,
            "int": int32, "short": int16}


def to_dtype(dtype: Any) -> np.dtype:
    """A ``numpy.dtype`` for anything naming one: a chainrule/NumPy dtype, a Python type
    (``float`` is float64, as in PyTorch), a NumPy name, or PyTorch's spellings
    (``"torch.float32"``, ``"long"``, ``"torch.LongTensor"``).

    Raises:
        TypeError: the value names no dtype.

    Example:
        >>> to_dtype("torch.LongTensor"), to_dtype("long"), to_dtype("torch.float64")
        (dtype('int64'), dtype('int64'), dtype('float64'))
    """
    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, str):
        name = dtype.split(".", 1)[1] if dtype.startswith(("torch.", "chainrule.")) else dtype
        for dt, type_name in _TYPE_NAMES.items():
            if name == type_name:
                return dt
        if name in _ALIASES:
            return _ALIASES[name]
        dtype = name
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (use e.g. chainrule.float32, "
                        "chainrule.long or 'float64')") from None


def type_name(dtype: Any) -> str:
    """The legacy tensor-type name PyTorch gives ``dtype`` (``"torch.FloatTensor"``)."""
    dt = to_dtype(dtype)
    return "torch." + _TYPE_NAMES.get(dt, f"{dt.name}Tensor")


def is_floating_point(dtype: Any) -> builtins.bool:
    return to_dtype(dtype).kind == "f"


# ``torch.dtype``, the type of every dtype name, for type hints and isinstance checks:
# here every dtype is a ``numpy.dtype`` (``isinstance(cr.float32, cr.dtype)`` is True).
dtype = np.dtype

__all__ = [
    "dtype",
    "bool", "double", "float", "float16", "float32", "float64", "half", "int", "int8",
    "int16", "int32", "int64", "long", "short", "to_dtype", "type_name", "uint8",
]
