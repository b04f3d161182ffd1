"""Devices: where a tensor's array lives. Today that is always the CPU (NumPy).

``chainrule.device`` mirrors ``torch.device`` so that scripts written for PyTorch run
unchanged on the CPU: ``x.to("cpu")``, ``model.to(device)`` and ``x.device`` work, and
asking for a backend chainrule does not have ("cuda", "mps") fails at once with an error
that says which backends exist, instead of somewhere deep inside an op.

The same goes for the placement keywords PyTorch's factories and layers take
(``device=``, ``layout=``, ``pin_memory=``, ``memory_format=``): ``check_device`` and
``check_placement`` accept what means "a dense array on the CPU" and refuse the rest with
the error ``Tensor.to`` gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The backends chainrule computes on. A CuPy backend would add "cuda" here.
AVAILABLE = ("cpu",)
# Device types PyTorch knows: recognised, so the error can say "not available" rather
# than "unknown".
_KNOWN = ("cpu", "cuda", "mps", "xpu", "hip", "xla", "meta", "mtia", "hpu", "ipu", "vulkan",
          "privateuseone", "lazy", "ve", "fpga", "maia", "mkldnn", "opengl", "opencl", "ideep")


class device:  # noqa: N801 (PyTorch's name)
    """A device: ``device("cpu")``, ``device("cpu", 0)``, ``device("cpu:0")``.

    Only ``"cpu"`` exists; any other known type (``"cuda"``, ``"mps"``...) raises a
    ``RuntimeError`` naming the available backends.

    Example:
        >>> import chainrule as cr
        >>> cr.device("cpu")
        device(type='cpu')
        >>> str(cr.tensor([1.0]).device)
        'cpu'
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            if index is not None:
                raise ValueError("device(): give the index in the device or as index=, "
                                 "not both")
            self._type, self._index = type._type, type._index
            return
        if not isinstance(type, str):
            raise TypeError(f"device() takes a string such as 'cpu', got "
                            f"{type.__class__.__name__}")
        name, _, suffix = type.strip().partition(":")
        if suffix:
            if index is not None:
                raise ValueError(f"device({type!r}, {index}): the index is given twice")
            if not suffix.isdigit():
                raise ValueError(f"device({type!r}): the index after ':' must be a "
                                 "non-negative integer")
            index = int(suffix)
        _check_type(name)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"device index must be a non-negative integer, got {index!r}")
        self._type = name
        self._index = index

    @property
    def type(self) -> str:  # noqa: A003
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, device):
            return NotImplemented
        return (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))


def _check_type(name: str) -> None:
    if name in AVAILABLE:
        return
    have = ", ".join(AVAILABLE)
    if name in _KNOWN:
        raise RuntimeError(
            f"device '{name}' is not available: chainrule computes with NumPy on the CPU "
            f"and has no {name} backend yet (available: {have}). Use 'cpu', or pick the "
            "device with cr.cuda.is_available() as in PyTorch scripts.")
    raise RuntimeError(f"unknown device type '{name}'; chainrule's backends are: {have}")


CPU = device("cpu")


def no_gpu(what: str) -> RuntimeError:
    """The error of ``.cuda()``: there is no GPU backend."""
    return RuntimeError(f"{what}: chainrule has no GPU backend yet; tensors live in NumPy "
                        "arrays on the CPU (cr.cuda.is_available() is False). Use .cpu() "
                        "or .to('cpu').")


def parse_to(args: tuple, kwargs: dict, who: str) -> tuple[device | None, np.dtype | None]:
    """The device and dtype asked for by ``to(...)`` in any of PyTorch's forms:
    ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` and the keywords
    ``device=``, ``dtype=`` (``non_blocking``, ``copy`` and ``memory_format`` are accepted;
    a CPU copy never blocks)."""
    from chainrule.tensor import Tensor

    kwargs = dict(kwargs)
    for ignored in ("non_blocking", "memory_format", "copy"):
        kwargs.pop(ignored, None)
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"{who}() got unexpected keyword arguments {sorted(kwargs)}")
    positional = list(args)
    # trailing non_blocking / copy flags, as PyTorch allows them positionally
    while positional and isinstance(positional[-1], bool):
        positional.pop()
    if len(positional) > 2:
        raise TypeError(f"{who}() takes a device, a dtype or a tensor (or a device and a "
                        f"dtype), got {len(positional)} arguments")
    for arg in positional:
        if isinstance(arg, Tensor):
            dtype = arg.dtype if dtype is None else dtype
            dev = CPU if dev is None else dev
        elif isinstance(arg, device):
            dev = arg
        elif isinstance(arg, int):
            raise no_gpu(f"{who}({arg})")  # an integer is a CUDA device index in PyTorch
        elif isinstance(arg, str) and arg.strip().partition(":")[0] in _KNOWN:
            dev = device(arg)
        else:
            dtype = arg
    if dev is not None and not isinstance(dev, device):
        dev = device(dev)
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{who}(): {dtype!r} is neither a device (one of "
                            f"{', '.join(AVAILABLE)}) nor a dtype") from None
    return dev, dtype


def check_device(dev: Any, who: str) -> device:
    """The device a ``device=`` argument names: None, ``"cpu"``, ``"cpu:0"`` or
    ``chainrule.device("cpu")`` mean the CPU; anything else raises the error of
    ``Tensor.to`` (a ``RuntimeError`` naming the available backends).

    Example:
        >>> check_device("cpu", "zeros")
        device(type='cpu')
        >>> try:
        ...     check_device("cuda", "zeros")
        ... except RuntimeError as e:
        ...     print(str(e).split(":")[0])
        device 'cuda' is not available
    """
    if dev is None:
        return CPU
    if isinstance(dev, device):
        return dev
    if isinstance(dev, bool) or not isinstance(dev, (str, int, np.integer)):
        raise TypeError(f"{who}(): device= takes 'cpu', a chainrule.device or None, got "
                        f"{dev!r}")
    if isinstance(dev, (int, np.integer)):
        raise no_gpu(f"{who}(device={dev})")  # an integer is a CUDA device index in PyTorch
    return device(dev)


class layout:  # noqa: N801 (PyTorch's name)
    """How a tensor's elements are stored, PyTorch's ``torch.layout``. chainrule tensors
    are dense NumPy arrays: ``chainrule.strided`` is the only layout."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"chainrule.{self._name}"


class memory_format:  # noqa: N801 (PyTorch's name)
    """The order of a tensor's elements in memory, PyTorch's ``torch.memory_format``.
    It never changes a tensor's values or shape, only its strides: chainrule accepts every
    format and its arrays stay C-contiguous."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"chainrule.{self._name}"


_MemoryFormat = memory_format  # the class, for check_placement (whose argument shadows it)
strided = layout("strided")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def check_placement(who: str, device: Any = None, layout: Any = None,  # noqa: A002
                    pin_memory: Any = False, memory_format: Any = None,
                    out: Any = None) -> None:
    """Check the placement keywords of a PyTorch factory (``zeros``, ``randn``...).

    ``device``: see ``check_device``. ``layout``: None or ``chainrule.strided`` (other
    layouts, such as sparse ones, do not exist here). ``pin_memory``: accepted and ignored;
    pinning only speeds up copies to a GPU and never changes values. ``memory_format``:
    accepted and ignored (see ``memory_format``). ``out``: refused; chainrule factories
    return a new tensor.
    """
    check_device(device, who)
    if layout is not None and layout is not strided:
        raise ValueError(f"{who}(): layout={layout!r} is not supported; chainrule tensors "
                         "are dense (layout chainrule.strided)")
    if not isinstance(pin_memory, (bool, np.bool_)):
        raise TypeError(f"{who}(): pin_memory= must be True or False, got {pin_memory!r}")
    if memory_format is not None and not isinstance(memory_format, _MemoryFormat):
        raise TypeError(f"{who}(): memory_format= takes chainrule.contiguous_format, "
                        f"preserve_format or channels_last, got {memory_format!r}")
    if out is not None:
        raise TypeError(f"{who}(): out= is not supported; chainrule factories return a new "
                        f"tensor (write x = {who}(...), or x.copy_({who}(...)) to fill an "
                        "existing one)")
