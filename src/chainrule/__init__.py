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
    manual_seed,
    set_default_dtype,
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
    transpose,
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
_LAZY = ("data", "diagnostics", "io", "train")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"chainrule.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


float32 = "float32"
float64 = "float64"

__all__ = [
    "data", "diagnostics", "functional", "io", "losses", "nn", "optim", "train",
    "AnomalyError", "Function", "Generator", "GraphFreedError", "Tensor", "abs", "arange",
    "cat", "clamp", "clip", "concatenate", "default_generator", "detect_anomaly",
    "enable_grad", "exp", "flatten", "float32", "float64", "full", "get_default_dtype",
    "is_grad_enabled", "log", "manual_seed", "matmul", "maximum", "minimum", "no_grad",
    "ones", "ones_like", "pad", "rand", "randn", "reshape", "set_default_dtype", "sqrt",
    "stack", "tensor", "transpose", "where", "zeros", "zeros_like",
]
__all__ += [
    "autograd", "cuda", "device", "inference_mode", "is_inference_mode_enabled",
    "set_grad_enabled", "Size",
]
