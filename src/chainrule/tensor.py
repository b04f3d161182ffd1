"""``Tensor``: an array, its gradient, and the graph node that produced it.

Python operators and methods delegate to the functions in ``chainrule.ops``; the
tensor itself computes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import printing as _printing
from chainrule.backend import Generator, get_default_dtype, resolve_generator
from chainrule.devices import CPU, check_placement, device, no_gpu, parse_to


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to an array: floats get the default dtype unless one is asked, or
    unless the data is a Tensor already (its dtype stays, as ``nn.Parameter(t)`` keeps
    ``t``'s in PyTorch)."""
    if isinstance(data, Tensor):
        data = data._data
        if dtype is None:
            return data
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind == "f":
        default = get_default_dtype()
        return arr if arr.dtype == default else arr.astype(default)
    if kind in "iu":
        return arr if arr.dtype == np.int64 else arr.astype(np.int64)
    if kind == "b":
        return arr
    if kind == "O" or kind in "US":
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Args:
        data: array-like (nested lists, scalars, NumPy arrays, Tensors).
        requires_grad: record operations so ``backward`` can fill ``.grad``.
        dtype: dtype to store; floats default to float32 (see ``set_default_dtype``).

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> (w * w).sum().backward()
        >>> w.grad
        tensor([2., 4.])

    ``._data`` is the NumPy array itself (shared, not copied); ``.grad`` is a Tensor.
    """

    # ``_grad`` holds ``.grad`` (a Tensor or None; see the ``grad`` property).
    __slots__ = ("_data", "_grad", "requires_grad", "_ctx", "_hooks", "name", "__weakref__")
    # Makes ``ndarray + Tensor`` call Tensor.__radd__ instead of broadcasting elementwise.
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        arr = _as_array(data, dtype)
        if requires_grad and arr.dtype.kind not in "fc":
            raise TypeError(
                f"only floating tensors can require gradients, got dtype {arr.dtype}"
            )
        self._data = arr
        self._grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._hooks: list[Callable] | None = None
        self.name: str | None = None

    @staticmethod
    def _make(data: np.ndarray, requires_grad: bool, ctx: Any) -> Tensor:
        """Wrap an op's output without any conversion (the hot path)."""
        t = object.__new__(Tensor)
        t._data = data
        t._grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._hooks = None
        t.name = None
        return t

    # ---- array facts -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None) -> Size | int:
        """The shape as a ``Size`` (a tuple), or the length of dimension ``dim``.

        Example:
            >>> import chainrule as cr
            >>> x = cr.zeros(2, 3)
            >>> x.size(), x.size(0), x.size(-1)
            (Size([2, 3]), 2, 3)
        """
        shape = self._data.shape
        if dim is None:
            return Size(shape)
        return shape[_dim_index(dim, len(shape), "size")]

    def numel(self) -> int:
        return self._data.size

    def dim(self) -> int:
        return self._data.ndim

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The op node that produced this tensor (None for leaves)."""
        return self._ctx

    def numpy(self, force: bool = False) -> np.ndarray:
        """The underlying array (shared, not copied; ``force`` is accepted as in PyTorch,
        where it copies off the GPU: there is nothing to copy here)."""
        return self._data

    def item(self) -> float | int | bool:
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self._data
        if not isinstance(arr, np.ndarray):  # a reduction's NumPy scalar: NumPy wants arrays
            arr = np.asarray(arr)
        return arr if dtype is None else arr.astype(dtype)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with shape {self.shape} is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a one-element tensor formats like its number; other tensors
        take only an empty format spec (their repr), as in PyTorch."""
        if self._data.size == 1:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} for a tensor of shape "
                            f"{self.shape}: only one-element tensors format like numbers "
                            "(use .item() or .tolist())")
        return repr(self)

    def __repr__(self) -> str:
        body = _printing.array_to_string(self._data, prefix="tensor(")
        extra = ""
        if self._data.dtype != get_default_dtype() and self._data.dtype.kind == "f":
            extra += f", dtype={self._data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- autograd: backward, .grad, hooks -------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf.

        Args:
            gradient: seed gradient of this tensor's shape; defaults to 1 for scalars.
            retain_graph: keep saved arrays to allow another backward through the graph.
            create_graph: must be False (double backward is not supported).
            inputs: accumulate only into these tensors (see ``autograd.backward``).
        """
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    @property
    def data(self) -> Tensor:
        """The values as a new tensor outside the graph, sharing this one's memory (PyTorch's
        ``t.data``): ``p.data.mul_(0.5)`` or ``p.data[0] = 1`` change ``p`` without being
        recorded, and ``loss.data.numpy()`` or ``out.data.max(1)`` work as in PyTorch.
        ``t.numpy()`` gives the NumPy array itself."""
        return Tensor._make(self._data, False, None)

    @data.setter
    def data(self, value: Any) -> None:
        """``p.data = t``: this tensor now holds ``t``'s values (shared, not copied), of
        whatever shape and dtype ``t`` has, as in PyTorch; an array is taken as it is."""
        if isinstance(value, Tensor):
            value = value._data
        elif not isinstance(value, np.ndarray):
            raise TypeError(f"data must be set to a Tensor or a NumPy array, got "
                            f"{type(value).__name__}")
        if self.requires_grad and value.dtype.kind not in "fc":
            raise TypeError(f"a tensor that requires grad needs floating data, got "
                            f"{value.dtype}")
        self._data = value

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: a Tensor (``requires_grad=False``) of this tensor's
        shape and dtype, or None. Backward passes keep the same Tensor object.

        Assign None, a Tensor or an array of the same shape and dtype (arrays are wrapped,
        not copied)."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        if isinstance(value, Tensor):
            arr = value._data
        elif isinstance(value, np.ndarray):
            arr = value
        else:
            raise TypeError(f"assigned grad must be a Tensor, a NumPy array or None, got "
                            f"{type(value).__name__}")
        if arr.shape != self._data.shape:
            raise ValueError(f"assigned grad has shape {arr.shape}, but the tensor"
                             f"{f' {self.name!r}' if self.name else ''} has shape "
                             f"{self._data.shape}")
        if arr.dtype != self._data.dtype:
            raise TypeError(f"assigned grad has dtype {arr.dtype}, but the tensor"
                            f"{f' {self.name!r}' if self.name else ''} has dtype "
                            f"{self._data.dtype}; convert it first (.astype)")
        self._grad = value if isinstance(value, Tensor) else Tensor._make(value, False, None)

    def detach(self) -> Tensor:
        """A tensor sharing this one's array, cut from the graph."""
        return Tensor._make(self._data, False, None)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients ({self.dtype})")
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; "
                               "use detach()")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad = None``, as PyTorch does by default)."""
        self._grad = None

    def register_hook(self, hook: Callable[[Tensor], Any]) -> Callable[[], None]:
        """Call ``hook(grad)`` with this tensor's gradient (a Tensor) when it is computed.

        The hook may return a replacement gradient (a Tensor or an array of the same
        shape). Returns a function that removes the hook.

        Example:
            >>> import chainrule as cr
            >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> _ = x.register_hook(lambda g: g * 10)
            >>> x.sum().backward(); x.grad
            tensor([10., 10.])
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require grad")
        if self._ctx is not None:
            from chainrule.autograd import add_node_hook

            add_node_hook(self._ctx, hook)
            owner = self._ctx.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            owner = self._hooks

        def remove() -> None:
            if hook in owner:
                owner.remove(hook)

        return remove

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(tensor)`` on this leaf after each backward pass has accumulated its
        gradient into ``.grad`` (PyTorch's name and semantics); returns a handle whose
        ``remove()`` unregisters it.

        The hook runs as soon as the leaf's gradient is complete, while backward goes on
        through the rest of the graph (DistributedDataParallel starts its allreduces
        from here).

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> h = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
            >>> (w * 3).sum().backward()
            tensor([3., 3.])
            >>> h.remove()
        """
        return _autograd.register_post_accumulate_grad_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self._ctx is not None:
            self._ctx.retained = self

    # ---- dtype and device ---------------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        return _ops.cast(self, dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """This tensor with another dtype and/or device: ``to(dtype)``, ``to("cpu")``,
        ``to(device, dtype)``, ``to(other_tensor)``, ``to(dtype=..., device=...)``.

        Returns ``self`` when nothing changes; a dtype change is differentiable. Only the
        CPU exists: ``to("cuda")`` raises an error naming the available backends.

        Example:
            >>> import chainrule as cr
            >>> x = cr.tensor([1.0, 2.0])
            >>> x.to("cpu") is x, x.to(cr.float64).dtype
            (True, dtype('float64'))
        """
        _, dtype = parse_to(args, kwargs, "Tensor.to")
        return self if dtype is None else _ops.cast(self, dtype)

    @property
    def device(self) -> device:
        """Where the array lives: always ``device(type='cpu')`` (NumPy)."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def cpu(self) -> Tensor:
        """This tensor (it is already on the CPU)."""
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        """Raises: chainrule has no GPU backend yet."""
        raise no_gpu("Tensor.cuda()")

    def float(self) -> Tensor:
        return _ops.cast(self, np.float32)

    def double(self) -> Tensor:
        return _ops.cast(self, np.float64)

    # ---- arithmetic --------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    # comparisons give boolean tensors and never carry gradients
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compared(self._data == raw(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compared(self._data != raw(other))

    def __lt__(self, other: Any) -> Tensor:
        return _compared(self._data < raw(other))

    def __le__(self, other: Any) -> Tensor:
        return _compared(self._data <= raw(other))

    def __gt__(self, other: Any) -> Tensor:
        return _compared(self._data > raw(other))

    def __ge__(self, other: Any) -> Tensor:
        return _compared(self._data >= raw(other))

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value`` in place (``mask[i] = True``, ``x[x < 0] = 0``), under the
        rules of the in-place ops (see ``add_``): on tensors outside the graph, and on
        leaves that require grad only under ``no_grad()``.

        Example:
            >>> import chainrule as cr
            >>> t = cr.ones(2, 3)
            >>> t[:, 1] = 0
            >>> t
            tensor([[1., 0., 1.],
                    [1., 0., 1.]])
        """
        arr = self._inplace("index assignment (t[...] = value)", value)
        arr[_raw_index(index)] = raw(value)

    # ---- elementwise -------------------------------------------------------------
    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return _ops.clip(self, min, max)

    clamp = clip

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def softmax(self, dim: int | None = None, *, dtype: Any = None,
                axis: int | None = None) -> Tensor:
        return _fn.softmax(self, dim, dtype=dtype, axis=axis)

    def log_softmax(self, dim: int | None = None, *, dtype: Any = None,
                    axis: int | None = None) -> Tensor:
        return _fn.log_softmax(self, dim, dtype=dtype, axis=axis)

    def neg(self) -> Tensor:
        return _ops.neg(self)

    negative = neg

    def pow(self, exponent: Any) -> Tensor:
        return _ops.pow(self, exponent)

    def square(self) -> Tensor:
        return _ops.square(self)

    def rsqrt(self) -> Tensor:
        return _ops.rsqrt(self)

    def reciprocal(self) -> Tensor:
        return _ops.reciprocal(self)

    def log1p(self) -> Tensor:
        return _ops.log1p(self)

    def expm1(self) -> Tensor:
        return _ops.expm1(self)

    def sin(self) -> Tensor:
        return _ops.sin(self)

    def cos(self) -> Tensor:
        return _ops.cos(self)

    def sign(self) -> Tensor:
        return _ops.sign(self)

    def floor(self) -> Tensor:
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        return _ops.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _ops.round(self, decimals)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _ops.masked_fill(self, mask, value)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``self`` where ``condition`` holds, else ``other`` (``torch.Tensor.where``)."""
        return _ops.where(condition, self, other)

    def add(self, other: Any, *, alpha: float = 1) -> Tensor:
        return _fn.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: float = 1) -> Tensor:
        return _fn.sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return _fn.div(self, other, rounding_mode=rounding_mode)

    multiply = mul
    divide = div

    # comparisons and tests give boolean tensors and carry no gradient
    def eq(self, other: Any) -> Tensor:
        return self.__eq__(other)

    def ne(self, other: Any) -> Tensor:
        return self.__ne__(other)

    def lt(self, other: Any) -> Tensor:
        return self.__lt__(other)

    def le(self, other: Any) -> Tensor:
        return self.__le__(other)

    def gt(self, other: Any) -> Tensor:
        return self.__gt__(other)

    def ge(self, other: Any) -> Tensor:
        return self.__ge__(other)

    # bitwise/logical operators on bool and integer tensors (masks): no gradient
    def __and__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data & raw(other)), False, None)

    __rand__ = __and__

    def __or__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data | raw(other)), False, None)

    __ror__ = __or__

    def __xor__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self._data ^ raw(other)), False, None)

    __rxor__ = __xor__

    def __invert__(self) -> Tensor:
        return Tensor._make(np.asarray(~self._data), False, None)

    def logical_not(self) -> Tensor:
        return Tensor._make(np.logical_not(self._data), False, None)

    def logical_and(self, other: Any) -> Tensor:
        return Tensor._make(np.logical_and(self._data, raw(other)), False, None)

    def logical_or(self, other: Any) -> Tensor:
        return Tensor._make(np.logical_or(self._data, raw(other)), False, None)

    def isnan(self) -> Tensor:
        return Tensor._make(np.isnan(self._data), False, None)

    def isinf(self) -> Tensor:
        return Tensor._make(np.isinf(self._data), False, None)

    def isfinite(self) -> Tensor:
        return Tensor._make(np.isfinite(self._data), False, None)

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        return _fn.allclose(self, other, rtol, atol, equal_nan)

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:
        return _fn.isclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Any) -> bool:
        return _fn.equal(self, other)

    # ---- reductions: PyTorch's dim=/keepdim= or NumPy's axis=/keepdims= ------------
    def sum(self, dim: Any = None, keepdim: bool | None = None, *, dtype: Any = None,
            axis: Any = None, keepdims: bool | None = None) -> Tensor:
        return _ops.sum(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def mean(self, dim: Any = None, keepdim: bool | None = None, *, dtype: Any = None,
             axis: Any = None, keepdims: bool | None = None) -> Tensor:
        return _ops.mean(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def max(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
        """``max()``: the largest element; ``max(dim, keepdim=False)``: the named tuple
        ``(values, indices)``; ``max(other)``: the elementwise maximum; ``max(axis=...)``:
        NumPy's values-only form. See ``chainrule.ops.reductions.max``."""
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
        """The mirror image of ``max``."""
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim: Any = (), keepdim: bool | None = None, *, axis: Any = None,
             keepdims: bool | None = None) -> Tensor:
        return _ops.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim: Any = (), keepdim: bool | None = None, *, axis: Any = None,
             keepdims: bool | None = None) -> Tensor:
        return _ops.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim: Any = None, unbiased: bool | None = None,
            keepdim: bool | None = None, *, correction: float | None = None,
            axis: Any = None, keepdims: bool | None = None) -> Tensor:
        return _ops.var(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims)

    def std(self, dim: Any = None, unbiased: bool | None = None,
            keepdim: bool | None = None, *, correction: float | None = None,
            axis: Any = None, keepdims: bool | None = None) -> Tensor:
        return _ops.std(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims)

    def prod(self, dim: int | None = None, keepdim: bool | None = None, *,
             dtype: Any = None, axis: int | None = None,
             keepdims: bool | None = None) -> Tensor:
        return _ops.prod(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def logsumexp(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
                  keepdims: bool | None = None) -> Tensor:
        return _reductions.logsumexp(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def cumsum(self, dim: int | None = None, *, dtype: Any = None,
               axis: int | None = None) -> Tensor:
        return _ops.cumsum(self, dim, dtype=dtype, axis=axis)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False, *,
             dtype: Any = None) -> Tensor:
        return _ops.norm(self, p, dim, keepdim, dtype=dtype)

    def any(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        return _ops.any(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def all(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        return _ops.all(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
               keepdims: bool | None = None) -> Tensor:
        return _ops.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
               keepdims: bool | None = None) -> Tensor:
        return _ops.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return _ops.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False
                ) -> Tensor:
        return _ops.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
             ) -> Any:  # noqa: A002
        return _ops.topk(self, k, dim, largest, sorted)

    # ---- shape -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, _shape_args(shape))

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return _ops.reshape(self, tuple(np.shape(raw(other))))

    reshape_as = view_as

    def transpose(self, *axes: Any) -> Tensor:
        """``transpose()`` reverses axes; ``transpose(a, b)`` swaps two axes (PyTorch);
        ``transpose((p0, p1, ...))`` permutes (NumPy)."""
        if len(axes) == 2 and all(isinstance(a, int) for a in axes):
            return _ops.swapaxes(self, axes[0], axes[1])
        return _ops.transpose(self, _shape_args(axes) if axes else None)

    def t(self) -> Tensor:
        return _fn.t(self)

    def permute(self, *axes: Any) -> Tensor:
        return _ops.transpose(self, _shape_args(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802
        return _ops.transpose(self, None)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None, *, axis: Any = None) -> Tensor:
        return _ops.squeeze(self, dim, axis=axis)

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        return _ops.unsqueeze(self, dim, axis=axis)

    def expand(self, *shape: Any) -> Tensor:
        return _ops.broadcast_to(self, _shape_args(shape))

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.broadcast_to(self, tuple(np.shape(raw(other))))

    def repeat(self, *sizes: Any) -> Tensor:
        return _ops.repeat(self, *sizes)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.chunk(self, chunks, dim)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.split(self, split_size, dim)

    def gather(self, dim: int, index: Any) -> Tensor:
        return _ops.gather(self, dim, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _ops.index_select(self, dim, index)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """This tensor when its array is C-contiguous (row-major, no gaps), else a
        contiguous copy still connected to the graph, as in PyTorch."""
        return self if self._data.flags.c_contiguous else _ops.clone(self)

    def clone(self) -> Tensor:
        """A copy with its own memory; gradients flow through it to this tensor."""
        return _ops.clone(self)

    def matmul(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def mm(self, other: Any) -> Tensor:
        return _ops.mm(self, other)

    def bmm(self, other: Any) -> Tensor:
        return _ops.bmm(self, other)

    # ---- dtype conversions and facts (PyTorch's names) ----------------------------
    def long(self) -> Tensor:
        return _ops.cast(self, np.int64)

    def int(self) -> Tensor:
        return _ops.cast(self, np.int32)

    def bool(self) -> Tensor:
        return _ops.cast(self, np.bool_)

    def half(self) -> Tensor:
        return _ops.cast(self, np.float16)

    def type(self, dtype: Any = None) -> Any:
        """``type()``: the PyTorch type name (``"torch.FloatTensor"``); ``type(dtype)``:
        this tensor converted to ``dtype`` (a dtype or such a name)."""
        from chainrule.dtypes import to_dtype, type_name

        if dtype is None:
            return type_name(self._data.dtype)
        return _ops.cast(self, to_dtype(dtype))

    def type_as(self, other: Tensor) -> Tensor:
        return _ops.cast(self, np.asarray(raw(other)).dtype)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def nelement(self) -> int:
        return self._data.size

    # The new_* factories take PyTorch's keywords: device= must name the CPU, layout= and
    # pin_memory= as in chainrule.zeros (see devices.check_placement).
    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False, *,
                   device: Any = None, layout: Any = None, pin_memory: bool = False
                   ) -> Tensor:
        """A new tensor from ``data``, with this tensor's dtype unless ``dtype`` is given."""
        check_placement("new_tensor", device, layout, pin_memory)
        return tensor(data, dtype=self._data.dtype if dtype is None else dtype,
                      requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False,
                  device: Any = None, layout: Any = None, pin_memory: bool = False
                  ) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (or ``dtype``), like PyTorch's."""
        return zeros(*size, dtype=self._data.dtype if dtype is None else dtype,
                     requires_grad=requires_grad, device=device, layout=layout,
                     pin_memory=pin_memory)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None, layout: Any = None, pin_memory: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype (or ``dtype``), like PyTorch's."""
        return ones(*size, dtype=self._data.dtype if dtype is None else dtype,
                    requires_grad=requires_grad, device=device, layout=layout,
                    pin_memory=pin_memory)

    def new_full(self, size: Sequence[int], fill_value: Any, dtype: Any = None,
                 requires_grad: bool = False, *, device: Any = None, layout: Any = None,
                 pin_memory: bool = False) -> Tensor:
        """``fill_value`` in ``size`` with this tensor's dtype (or ``dtype``)."""
        return full(size, fill_value, dtype=self._data.dtype if dtype is None else dtype,
                    requires_grad=requires_grad, device=device, layout=layout,
                    pin_memory=pin_memory)

    new_empty = new_zeros

    # ---- in-place updates of the array (not recorded) -------------------------------
    # As in PyTorch, these are for tensors outside the graph: data that does not require
    # grad, and leaves that do only under no_grad() (weight updates, initialisation).
    def _inplace(self, op: str, other: Any = None) -> np.ndarray:
        """The array to write into, after checking an in-place op is allowed."""
        from chainrule.autograd import _State

        if (isinstance(other, Tensor) and other.requires_grad and _State.grad_enabled
                and not self.requires_grad):
            raise RuntimeError(
                f"{op}: the other operand requires grad, but in-place operations are not "
                "recorded in the graph; use the out-of-place op (x = x + y) or x += y.")
        if self.requires_grad:
            if self._ctx is not None:
                raise RuntimeError(
                    f"{op}: in-place operations on a tensor computed by the graph "
                    f"(grad_fn=<{self._ctx.name}>) are not supported: chainrule does not "
                    "track in-place changes, so its backward would be silently wrong. Use "
                    f"the out-of-place op (e.g. y = y + 1), or {op} on y.detach().")
            if _State.grad_enabled:
                raise RuntimeError(
                    f"{op}: a leaf Variable that requires grad is being used in an in-place "
                    "operation. Wrap the update in `with cr.no_grad():` (as optimizers "
                    "do), or use an out-of-place op.")
        arr = self._data
        if not arr.flags.writeable:
            raise RuntimeError(f"{op}: the tensor's array is read-only (a broadcast view?); "
                               "copy it first (e.g. t._data = t._data.copy())")
        return arr

    def add_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self += alpha * other`` in place; returns self."""
        arr = self._inplace("add_", other)
        o = raw(other)
        arr += o if alpha == 1 else np.multiply(o, alpha)
        return self

    def sub_(self, other: Any, *, alpha: float = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns self."""
        arr = self._inplace("sub_", other)
        o = raw(other)
        arr -= o if alpha == 1 else np.multiply(o, alpha)
        return self

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place; returns self."""
        arr = self._inplace("mul_", other)
        arr *= raw(other)
        return self

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place; returns self."""
        arr = self._inplace("div_", other)
        arr /= raw(other)
        return self

    def zero_(self) -> Tensor:
        """Set every element to 0 in place; returns self.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
            >>> (w * w).sum().backward()
            >>> w.grad.zero_()
            tensor([0., 0.])
        """
        self._inplace("zero_").fill(0)
        return self

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` (a number or one-element tensor); returns self."""
        arr = self._inplace("fill_")
        arr.fill(raw(value).item() if isinstance(value, Tensor) else value)
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape, cast to this dtype) in place."""
        np.copyto(self._inplace("copy_", src), raw(src), casting="unsafe")
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Clamp every element into ``[min, max]`` in place; returns self."""
        if min is None and max is None:
            raise ValueError("clamp_: give at least one of min and max")
        arr = self._inplace("clamp_")
        np.clip(arr, raw(min), raw(max), out=arr)
        return self

    clip_ = clamp_

    def normal_(self, mean: float = 0.0, std: float = 1.0, *,
                generator: Generator | None = None) -> Tensor:
        """Fill with samples of N(mean, std²) from ``generator`` (default: the one
        ``manual_seed`` sets); returns self."""
        arr = self._inplace("normal_")
        values = resolve_generator(generator).normal(arr.shape, arr.dtype)
        if std != 1:
            values *= std
        if mean != 0:
            values += mean
        np.copyto(arr, values)
        return self

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *,
                 generator: Generator | None = None) -> Tensor:
        """Fill with samples of U[from_, to) from ``generator``; returns self."""
        arr = self._inplace("uniform_")
        np.copyto(arr, resolve_generator(generator).uniform(arr.shape, from_, to, arr.dtype))
        return self

    # ---- augmented assignment: x += y -------------------------------------------------
    # In place when nothing is recorded (PyTorch's manual SGD: ``with no_grad(): w -= lr *
    # w.grad``); out of place, and so differentiable, when the op joins the graph
    # (``h += b`` with h computed from parameters): same values and gradients as
    # PyTorch's recorded in-place op, only other references to the old h do not change.
    def _augmented(self, other: Any, op: str) -> bool:
        """True when ``self <op>= other`` may write into self's array."""
        from chainrule.autograd import _State

        if not _State.grad_enabled:
            return self._ctx is None  # a graph's tensor keeps the values backward saved
        if self.requires_grad and self._ctx is None:
            raise RuntimeError(
                f"a leaf Variable that requires grad is being used in an in-place operation "
                f"({op}=). Wrap the update in `with cr.no_grad():`.")
        return not (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad))

    def __iadd__(self, other: Any) -> Tensor:
        if self._augmented(other, "+") and self._data.flags.writeable:
            self._data += raw(other)
            return self
        return _ops.add(self, other)

    def __isub__(self, other: Any) -> Tensor:
        if self._augmented(other, "-") and self._data.flags.writeable:
            self._data -= raw(other)
            return self
        return _ops.sub(self, other)

    def __imul__(self, other: Any) -> Tensor:
        if self._augmented(other, "*") and self._data.flags.writeable:
            self._data *= raw(other)
            return self
        return _ops.mul(self, other)

    def __itruediv__(self, other: Any) -> Tensor:
        if self._augmented(other, "/") and self._data.flags.writeable:
            self._data /= raw(other)
            return self
        return _ops.div(self, other)

    # ---- gapstensor: more of PyTorch's Tensor methods ------------------------------------
    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf that does not
        require grad (its array is unchanged); returns self."""
        self._ctx = None
        self.requires_grad = False
        return self

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        return _ops.unflatten(self, dim, sizes)

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The last two axes swapped (a batch of matrices transposed)."""
        if self._data.ndim < 2:
            raise ValueError(f"mT needs a tensor with at least 2 dimensions, got shape "
                             f"{self.shape}")
        return _ops.swapaxes(self, -2, -1)

    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        return _ops.narrow(self, dim, start, length)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:
        return _ops.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        """``scatter`` written into this tensor's array (not recorded); returns self."""
        from chainrule.ops.indexing import scatter_inplace

        if (src is None) == (value is None):
            raise TypeError("scatter_: give src (a tensor or a number) or value=, not both")
        if reduce not in (None, "add"):
            raise ValueError(f"scatter_: reduce={reduce!r} is not supported (None or 'add')")
        return scatter_inplace(self, dim, index, value if src is None else src,
                               reduce == "add", "scatter_")

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return _ops.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        """``scatter_add`` written into this tensor's array (not recorded); returns self."""
        from chainrule.ops.indexing import scatter_inplace

        return scatter_inplace(self, dim, index, src, True, "scatter_add_")

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Set the positions where ``mask`` (bool, broadcastable) is True to ``value``
        in place (not recorded); returns self."""
        m = np.asarray(raw(mask))
        if m.dtype != np.bool_:
            raise TypeError(f"masked_fill_: mask must be a bool tensor, got dtype {m.dtype}")
        v = raw(value)
        if np.ndim(v) != 0:
            raise ValueError(f"masked_fill_: value must be a number or a 0-d tensor, got "
                             f"shape {np.shape(v)}")
        arr = self._inplace("masked_fill_", value)
        try:
            where = np.broadcast_to(m, arr.shape)
        except ValueError:
            raise ValueError(f"masked_fill_: the mask of shape {m.shape} does not broadcast "
                             f"to the tensor's shape {arr.shape}") from None
        np.copyto(arr, np.asarray(v).astype(arr.dtype), where=where)
        return self

    def masked_select(self, mask: Any) -> Tensor:
        return _ops.masked_select(self, mask)

    def dot(self, other: Any) -> Tensor:
        return _ops.dot(self, other)

    def outer(self, other: Any) -> Tensor:
        return _ops.outer(self, other)

    def flip(self, *dims: Any) -> Tensor:
        return _ops.flip(self, _shape_args(dims))

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return _ops.roll(self, shifts, dims)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _ops.triu(self, diagonal)

    def diag(self, diagonal: int = 0) -> Tensor:
        return _ops.diag(self, diagonal)

    def cumprod(self, dim: int | None = None, *, dtype: Any = None,
                axis: int | None = None) -> Tensor:
        return _ops.cumprod(self, dim, dtype=dtype, axis=axis)

    def unique(self, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
               return_counts: bool = False, dim: int | None = None) -> Any:
        return _ops.unique(self, sorted, return_inverse, return_counts, dim)

    def log2(self) -> Tensor:
        return _ops.log2(self)

    def log10(self) -> Tensor:
        return _ops.log10(self)

    def tan(self) -> Tensor:
        return _ops.tan(self)

    def trunc(self) -> Tensor:
        return _ops.trunc(self)

    fix = trunc

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return _ops.movedim(self, source, destination)

    moveaxis = movedim

    def tile(self, *dims: Any) -> Tensor:
        return _ops.tile(self, _shape_args(dims))

    def repeat_interleave(self, repeats: Any, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:
        return _ops.repeat_interleave(self, repeats, dim, output_size=output_size)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return _ops.nonzero(self, as_tuple=as_tuple)

    def bernoulli(self, *, generator: Generator | None = None) -> Tensor:
        """0/1 samples with this tensor's values as probabilities (``cr.bernoulli``)."""
        return _ops.bernoulli(self, generator=generator)

    def logical_xor(self, other: Any) -> Tensor:
        return Tensor._make(np.logical_xor(self._data, raw(other)), False, None)

    # memory facts: chainrule's storage is the NumPy array itself
    def element_size(self) -> int:
        """Bytes per element (4 for float32)."""
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes the elements take (``numel() * element_size()``)."""
        return self._data.nbytes

    def stride(self, dim: int | None = None) -> Any:
        """Steps between neighbouring elements along each axis, in elements (PyTorch's
        unit; NumPy's ``strides`` are in bytes); the one for ``dim`` when given.

        Example:
            >>> import chainrule as cr
            >>> x = cr.zeros(2, 3)
            >>> x.stride(), x.t().stride(), x.stride(0)
            ((3, 1), (1, 3), 3)
        """
        steps = tuple(s // self._data.itemsize for s in self._data.strides)
        if dim is None:
            return steps
        return steps[_dim_index(dim, self._data.ndim, "stride")]

    def is_contiguous(self, memory_format: Any = None) -> bool:
        """Whether the array is C-contiguous (row-major with no gaps)."""
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        """The address of the first element (the NumPy array's data pointer)."""
        return int(self._data.ctypes.data)

    def pin_memory(self, device: Any = None) -> Tensor:
        """This tensor: there is no GPU to pin host memory for."""
        return self

    def is_pinned(self, device: Any = None) -> bool:
        return False

    def share_memory_(self) -> Tensor:
        """This tensor: chainrule does not share arrays across processes."""
        return self

    def is_shared(self) -> bool:
        return False

    def apply_(self, callable: Callable[[Any], Any]) -> Tensor:  # noqa: A002
        """Replace every element ``v`` by ``callable(v)`` (a Python number in, a number
        out) in place; slow, and only for tensors that do not require grad, as in
        PyTorch. Returns self.

        Example:
            >>> import chainrule as cr
            >>> cr.tensor([1.0, 2.0]).apply_(lambda v: v * 10)
            tensor([10., 20.])
        """
        if self.requires_grad:
            raise RuntimeError("apply_ can only be used on tensors that do not require grad "
                               "(it is not recorded in the graph)")
        arr = self._inplace("apply_")
        values = [callable(v) for v in arr.ravel().tolist()]
        arr[...] = np.asarray(values).astype(arr.dtype, copy=False).reshape(arr.shape)
        return self

    # ---- NumPy interop ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any
                        ) -> Any:
        """NumPy ufuncs meeting a Tensor.

        ``array -= tensor`` (e.g. ``p._data -= lr * p.grad``) writes into the array, as
        the user meant; without this hook NumPy would rebind the name to a new Tensor and
        leave the array unchanged. ``array + tensor`` and comparisons give Tensors (the
        op is recorded, as ``tensor + array`` is); any other ufunc computes on the arrays
        and returns arrays, as NumPy does for any array-like.
        """
        out = kwargs.get("out")
        if out is not None:
            targets = []
            for o in out:
                if isinstance(o, Tensor):
                    o._inplace(f"numpy.{ufunc.__name__}(out=tensor)", None)
                    targets.append(o._data)
                else:
                    targets.append(o)
            kwargs["out"] = tuple(targets)
            getattr(ufunc, method)(*[raw(x) for x in inputs], **kwargs)
            return out[0] if len(out) == 1 else out
        if method == "__call__" and len(inputs) == 2 and not kwargs:
            binary = _NUMPY_BINARY.get(ufunc)
            if binary is not None:
                return binary(*inputs)
            if ufunc in _NUMPY_COMPARE:
                return Tensor._make(ufunc(raw(inputs[0]), raw(inputs[1])), False, None)
        return getattr(ufunc, method)(*[raw(x) for x in inputs], **kwargs)


    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """NumPy functions given a Tensor (``np.all(t)``, ``np.sum(t, axis=0)``,
        ``np.stack([t, u])``) compute on the arrays and return arrays, as NumPy does for
        any array-like; without this hook NumPy would call the Tensor methods of the same
        names, whose PyTorch signatures differ."""
        return func(*_arrays_in(args), **_arrays_in(kwargs))


def _raw_index(index: Any) -> Any:
    """An index with Tensors (masks, index tensors) replaced by their arrays."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


def _arrays_in(value: Any) -> Any:
    """``value`` with every Tensor inside lists, tuples and dicts replaced by its array."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays_in(v) for v in value) if type(value) in (list, tuple) \
            else value
    if isinstance(value, dict):
        return {k: _arrays_in(v) for k, v in value.items()}
    return value


class Size(tuple):
    """A shape, as ``Tensor.size()`` returns it: a tuple of ints (like ``torch.Size``)."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"Size({list(self)})"


def _dim_index(dim: int, ndim: int, who: str) -> int:
    """``dim`` as a non-negative axis, with PyTorch's IndexError when out of range."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{who}(): dim must be an int, got {type(dim).__name__}")
    if ndim == 0:
        raise IndexError(f"{who}(): dimension specified as {dim} but the tensor has no "
                         "dimensions")
    low, high = -ndim, ndim - 1
    if not low <= dim <= high:
        raise IndexError(f"{who}(): dimension out of range (expected to be in range of "
                         f"[{low}, {high}], but got {dim})")
    return int(dim) % ndim


def _compared(result: Any) -> Any:
    """A comparison's boolean tensor; NotImplemented when the other operand decided the
    result itself (``tensor == pytest.approx(...)``), so Python asks it instead."""
    if isinstance(result, (np.ndarray, np.bool_)):
        return Tensor._make(result, False, None)
    return NotImplemented


def raw(value: Any) -> Any:
    """The array behind a tensor, or the value itself (``ndarray.data`` is a memoryview,
    so ``getattr(value, "data", value)`` would be wrong for arrays)."""
    return value._data if isinstance(value, Tensor) else value



def _shape_args(args: tuple) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _size(who: str, shape: tuple, size: Any) -> tuple[int, ...]:
    """The shape given as ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    if size is None:
        return _shape_args(shape)
    if shape:
        raise TypeError(f"{who}(): the size is given twice (positionally and as size=)")
    return (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)


# ---- constructors ------------------------------------------------------------------
# Every factory takes PyTorch's keywords. device=, layout=, pin_memory=, memory_format=
# and out= are checked by devices.check_placement: the CPU and dense arrays are accepted,
# pinning and memory formats change nothing here and are ignored, out= is refused.

def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, *, device: Any = None,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``, like ``torch.tensor``.

    A NumPy array (or a Tensor) keeps its dtype, so float64 data stays float64; Python
    numbers and lists take the default dtype for floats (float32) and int64 for integers.
    ``dtype`` overrides both. ``device`` must name the CPU (see ``chainrule.device``);
    ``pin_memory`` is accepted and ignored (there is no GPU to copy to).

    Example:
        >>> import numpy as np, chainrule as cr
        >>> cr.tensor(np.zeros(2)).dtype, cr.tensor([0.5, 1.0], device="cpu").dtype
        (dtype('float64'), dtype('float32'))
    """
    check_placement("tensor", device, pin_memory=pin_memory)
    src = data._data if isinstance(data, Tensor) else data
    if dtype is None and isinstance(src, (np.ndarray, np.generic)) and src.dtype.kind in "fiub":
        arr = np.array(src, copy=True)
    else:
        from chainrule.dtypes import to_dtype

        arr = np.array(_as_array(src, None if dtype is None else to_dtype(dtype)), copy=True)
    return Tensor(arr, requires_grad=requires_grad, dtype=arr.dtype)


def _float_dtype(dtype: Any) -> np.dtype:
    from chainrule.dtypes import to_dtype

    return to_dtype(dtype) if dtype is not None else get_default_dtype()


def zeros(*shape: Any, size: Any = None, out: Any = None, dtype: Any = None,
          layout: Any = None, device: Any = None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:
    """Zeros of the given size: ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros(size=(2, 3))``,
    with ``torch.zeros``'s keywords (``device`` must name the CPU).

    Example:
        >>> import chainrule as cr
        >>> cr.zeros(2, 3, dtype=cr.float64, device="cpu").dtype
        dtype('float64')
    """
    check_placement("zeros", device, layout, pin_memory, out=out)
    dt = _float_dtype(dtype)
    return Tensor(np.zeros(_size("zeros", shape, size), dt), requires_grad, dt)


def ones(*shape: Any, size: Any = None, out: Any = None, dtype: Any = None,
         layout: Any = None, device: Any = None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:
    """Ones of the given size, like ``torch.ones`` (see ``zeros``)."""
    check_placement("ones", device, layout, pin_memory, out=out)
    dt = _float_dtype(dtype)
    return Tensor(np.ones(_size("ones", shape, size), dt), requires_grad, dt)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None,
         requires_grad: bool = False, *, out: Any = None, layout: Any = None,
         device: Any = None, pin_memory: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``. As in PyTorch, the dtype follows
    the value when not given: bool → bool, int → int64, float → the default dtype."""
    check_placement("full", device, layout, pin_memory, out=out)
    if dtype is None:
        value = raw(fill_value)
        kind = np.asarray(value).dtype.kind
        dt = np.dtype(np.bool_) if kind == "b" else (
            np.dtype(np.int64) if kind in "iu" else get_default_dtype())
    else:
        dt = _float_dtype(dtype)
    if isinstance(size, (int, np.integer)):
        size = (int(size),)
    return Tensor(np.full(tuple(size), raw(fill_value), dt), requires_grad, dt)


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *,  # noqa: A002
               layout: Any = None, device: Any = None, memory_format: Any = None) -> Tensor:
    """Zeros in ``input``'s shape and dtype (or ``dtype``), like ``torch.zeros_like``."""
    check_placement("zeros_like", device, layout, memory_format=memory_format)
    arr = np.zeros_like(raw(input), dtype=dtype)
    return Tensor(arr, requires_grad, arr.dtype)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *,  # noqa: A002
              layout: Any = None, device: Any = None, memory_format: Any = None) -> Tensor:
    """Ones in ``input``'s shape and dtype (or ``dtype``), like ``torch.ones_like``."""
    check_placement("ones_like", device, layout, memory_format=memory_format)
    arr = np.ones_like(raw(input), dtype=dtype)
    return Tensor(arr, requires_grad, arr.dtype)


def arange(start: float | None = None, end: float | None = None, step: float = 1,
           dtype: Any = None, requires_grad: bool = False, *, out: Any = None,
           layout: Any = None, device: Any = None, pin_memory: bool = False) -> Tensor:
    """``start, start + step, ...`` up to ``end`` (excluded), like ``torch.arange``:
    ``arange(end)``, ``arange(start, end)``, ``arange(start, end, step)`` or keywords.
    Integer arguments give int64, float ones the default dtype.

    Example:
        >>> import chainrule as cr
        >>> cr.arange(1, 7, 2, device="cpu")
        tensor([1, 3, 5])
    """
    check_placement("arange", device, layout, pin_memory, out=out)
    if end is None:
        if start is None:
            raise TypeError("arange() needs end: arange(end) or arange(start, end, step)")
        start, end = 0, start
    elif start is None:
        start = 0
    values = np.arange(raw(start), raw(end), raw(step))
    return Tensor(values, requires_grad, dtype)


def randn(*shape: Any, size: Any = None, generator: Generator | None = None, out: Any = None,
          dtype: Any = None, layout: Any = None, device: Any = None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Standard normal samples from ``generator`` (default: the one ``manual_seed`` sets),
    with ``torch.randn``'s keywords (see ``zeros``)."""
    check_placement("randn", device, layout, pin_memory, out=out)
    data = resolve_generator(generator).normal(_size("randn", shape, size),
                                               _float_dtype(dtype))
    return Tensor(data, requires_grad, data.dtype)


def rand(*shape: Any, size: Any = None, generator: Generator | None = None, out: Any = None,
         dtype: Any = None, layout: Any = None, device: Any = None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ``generator``, with ``torch.rand``'s keywords."""
    check_placement("rand", device, layout, pin_memory, out=out)
    data = resolve_generator(generator).random(_size("rand", shape, size), _float_dtype(dtype))
    return Tensor(data, requires_grad, data.dtype)


# Imported last: the ops modules import Tensor from here.
from chainrule import autograd as _autograd  # noqa: E402
from chainrule import functions as _fn  # noqa: E402
from chainrule import ops as _ops  # noqa: E402
from chainrule.ops import reductions as _reductions  # noqa: E402

# ``array <op> tensor`` arrives in Tensor.__array_ufunc__ as these ufuncs: recorded ops.
_NUMPY_BINARY: dict[np.ufunc, Callable[[Any, Any], Tensor]] = {
    np.add: _ops.add, np.subtract: _ops.sub, np.multiply: _ops.mul,
    np.true_divide: _ops.div, np.power: _ops.pow, np.matmul: _ops.matmul,
}
_NUMPY_COMPARE = (np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                  np.greater_equal)
