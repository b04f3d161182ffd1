"""chainrule: neural networks trained by backpropagation it implements itself, on NumPy.

A forward pass layer by layer, an error such as ``E = 1/n Σ (y − ŷ)²``, a backward pass
that applies the chain rule to get ``∂E/∂w`` for every weight, and the update
``Δw = −α ∂E/∂w`` — with PyTorch's names, so a PyTorch script runs after changing its
imports (``import chainrule as torch``; see ``python -m chainrule.compat`` for which names
exist and where chainrule differs).

Training from Python::

    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xb), yb)
        loss.backward()                       # the chain rule, layer by layer
        opt.step()                            # Δw = −α ∂E/∂w

Main entry points:

    cr.tensor, cr.zeros, cr.randn, ...       tensors (``.grad``, ``.backward()``, ``.to()``)
    cr.nn                                    layers: Linear, Conv2d, LSTM, Transformer..., init
    cr.nn.functional (cr.functional)         stateless ops and losses (``F.relu``, ...)
    cr.optim, cr.optim.lr_scheduler          SGD, Adam, AdamW, ...; schedules; clipping
    cr.utils.data (cr.data)                  DataLoader, datasets, samplers; bundled data
    cr.train                                 Trainer, callbacks, metrics, ``run_training``
    cr.io, cr.save / cr.load                 model files and checkpoints (safetensors)
    cr.diagnostics                           gradient checks, gradient-flow monitor,
                                             the chain-rule explainer, profiler
    cr.distributed                           data parallel over MPI: DistributedDataParallel,
                                             DistributedSampler (``mpiexec -n N``)
    cr.no_grad, cr.autograd.grad             grad modes and functional gradients
    cr.set_num_threads, cr.manual_seed       threads and reproducibility

From the shell: ``chainrule train`` (an MLP on the bundled digits), ``chainrule explain``
(one training step by the chain rule, in numbers), ``chainrule --help`` for the rest.
"""

from chainrule import functional, losses, nn, optim
from chainrule.autograd import (
    AnomalyError,
    Function,
    GraphFreedError,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
)
from chainrule.backend import (
    Generator,
    default_generator,
    get_default_dtype,
    get_num_threads,
    manual_seed,
    set_default_dtype,
    set_num_threads,
)
from chainrule.ops import (
    abs,
    cat,
    clamp,
    clip,
    concatenate,
    exp,
    flatten,
    log,
    matmul,
    maximum,
    minimum,
    pad,
    reshape,
    sqrt,
    stack,
    where,
)
from chainrule.tensor import (
    Tensor,
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

# ---- autograd entry points, grad modes and devices (PyTorch's names) ----
from chainrule import autograd, cuda  # noqa: E402
from chainrule.autograd import (  # noqa: E402
    inference_mode,
    is_inference_mode_enabled,
    set_grad_enabled,
)
from chainrule.devices import device  # noqa: E402
from chainrule.tensor import Size  # noqa: E402

# Imported on first use, so ``import chainrule`` stays fast and small.
_LAZY = ("data", "diagnostics", "io", "train", "utils")
_LAZY += ("distributed",)  # mpi: data parallel over MPI (mpi4py only when a group is made)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"chainrule.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


__all__ = [
    "data", "diagnostics", "distributed", "functional", "io", "losses", "nn", "optim",
    "train", "utils",
    "AnomalyError", "Function", "Generator", "GraphFreedError", "Tensor", "abs", "arange",
    "cat", "clamp", "clip", "concatenate", "default_generator", "detect_anomaly",
    "enable_grad", "exp", "flatten", "float32", "float64", "full", "get_default_dtype",
    "is_grad_enabled", "log", "manual_seed", "matmul", "maximum", "minimum", "no_grad",
    "ones", "ones_like", "pad", "rand", "randn", "reshape", "set_default_dtype", "sqrt",
    "stack", "tensor", "transpose", "where", "zeros", "zeros_like",
]

# ---- PyTorch's tensor API: dtype names, reductions with dim=, factories, save/load -----
# (imported last: several names, such as bool, int, max and sum, are PyTorch's and shadow
# Python builtins in this module's namespace)
from chainrule import dtypes, return_types  # noqa: E402
from chainrule.creation import (  # noqa: E402
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full_like,
    linspace,
    logspace,
    multinomial,
    rand_like,
    randint,
    randn_like,
    randperm,
)
from chainrule.dtypes import (  # noqa: E402
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from chainrule.functions import (  # noqa: E402
    add,
    allclose,
    div,
    equal,
    is_floating_point,
    is_tensor,
    isclose,
    log_softmax,
    mul,
    numel,
    softmax,
    sub,
    t,
    transpose,
)
from chainrule.ops import (  # noqa: E402
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    argsort,
    bmm,
    ceil,
    chunk,
    clone,
    cos,
    cumsum,
    einsum,
    expm1,
    floor,
    gather,
    index_select,
    log1p,
    masked_fill,
    max,
    mean,
    min,
    mm,
    neg,
    norm,
    permute,
    pow,
    prod,
    reciprocal,
    relu,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sort,
    split,
    square,
    squeeze,
    std,
    sum,
    swapaxes,
    tanh,
    topk,
    unsqueeze,
    var,
)
from chainrule.ops.reductions import logsumexp  # noqa: E402
from chainrule.serialization import load, save  # noqa: E402

__all__ += [
    "dtypes", "return_types",
    "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full_like", "linspace",
    "logspace", "multinomial", "rand_like", "randint", "randn_like", "randperm",
    "bool", "double", "float", "float16", "half", "int", "int8", "int16", "int32", "int64",
    "long", "short", "uint8",
    "add", "allclose", "div", "equal", "is_floating_point", "is_tensor", "isclose",
    "log_softmax", "mul", "numel", "softmax", "sub", "t",
    "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "bmm", "ceil", "chunk",
    "clone", "cos", "cumsum", "einsum", "expm1", "floor", "gather", "index_select", "log1p",
    "logsumexp", "masked_fill", "max", "mean", "min", "mm", "neg", "norm", "permute", "pow",
    "prod", "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "sin", "sort",
    "split", "square", "squeeze", "std", "sum", "swapaxes", "tanh", "topk", "unsqueeze",
    "var", "load", "save",
]

__all__ += ["get_num_threads", "set_num_threads"]

__all__ += [
    "autograd", "cuda", "device", "inference_mode", "is_inference_mode_enabled",
    "set_grad_enabled", "Size",
]

# ---- gapstensor: more of PyTorch's functions: comparisons, shape, indexing, linear algebra,
# sampling, random state, printing, the dtype type ----
from chainrule import random  # noqa: E402
from chainrule.dtypes import dtype  # noqa: E402
from chainrule.functions import (  # noqa: E402
    eq,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
)
from chainrule.ops import (  # noqa: E402
    bernoulli,
    concat,
    cumprod,
    diag,
    dot,
    fix,
    flip,
    hstack,
    log2,
    log10,
    masked_select,
    moveaxis,
    movedim,
    narrow,
    nonzero,
    normal,
    outer,
    repeat_interleave,
    roll,
    row_stack,
    scatter,
    scatter_add,
    tan,
    tensordot,
    tile,
    tril,
    triu,
    trunc,
    unflatten,
    unique,
    vstack,
)
from chainrule.printing import set_printoptions  # noqa: E402
from chainrule.random import (  # noqa: E402
    get_rng_state,
    initial_seed,
    seed,
    set_rng_state,
)

__all__ += [
    "random", "dtype",
    "eq", "ge", "gt", "isfinite", "isinf", "isnan", "le", "logical_and", "logical_not",
    "logical_or", "logical_xor", "lt", "ne",
    "bernoulli", "concat", "cumprod", "diag", "dot", "fix", "flip", "hstack", "log10",
    "log2", "masked_select", "moveaxis", "movedim", "narrow", "nonzero", "normal", "outer",
    "repeat_interleave", "roll", "row_stack", "scatter", "scatter_add", "tan", "tensordot",
    "tile", "tril", "triu", "trunc", "unflatten", "unique", "vstack",
    "set_printoptions", "get_rng_state", "initial_seed", "seed", "set_rng_state",
]

# ---- sigparity: PyTorch's factory keywords (layout=, memory_format=) and randint_like ----
from chainrule.creation import randint_like  # noqa: E402
from chainrule.devices import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    strided,
)

__all__ += [
    "randint_like", "channels_last", "channels_last_3d", "contiguous_format", "layout",
    "memory_format", "preserve_format", "strided",
]

# ---- NumPy arrays as the first argument of the top-level functions ----------------------
# ``t.numpy()`` and NumPy's own functions give arrays, and scripts pass them on (such as
# ``torch.max(scores, 1)`` with ``scores`` from NumPy). These functions take an array as a
# constant tensor (no copy) instead of failing deep inside.
def _taking_arrays(fn):
    import functools as _functools

    import numpy as _np

    @_functools.wraps(fn)
    def call(*args, **kwargs):
        if args and type(args[0]) is _np.ndarray:
            args = (Tensor._make(args[0], False, None), *args[1:])
        return fn(*args, **kwargs)

    return call


_wrapped: dict = {}  # one wrapper per function, so aliases (vstack, row_stack) stay one
for _name in __all__:
    _fn = globals().get(_name)
    if type(_fn).__name__ == "function" and _fn.__module__.startswith(
            ("chainrule.ops", "chainrule.functions")) and _name != "is_tensor":
        globals()[_name] = _wrapped.setdefault(id(_fn), _taking_arrays(_fn))
del _name, _fn, _wrapped
