"""chainrule: neural networks trained by backpropagation it implements itself, on NumPy."""

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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"chainrule.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


__all__ = [
    "data", "diagnostics", "functional", "io", "losses", "nn", "optim", "train", "utils",
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
