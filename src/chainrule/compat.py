"""Which PyTorch names chainrule has, computed from chainrule itself.

A PyTorch user reaching for ``torch.nn.GroupNorm`` or ``Tensor.masked_fill`` can look it
up here instead of discovering a gap mid-script. The lists below are the names such users
reach for (every ``torch.nn`` layer, every ``torch.nn.functional`` function, every
optimizer and scheduler, and the everyday part of ``torch``, ``torch.Tensor``,
``torch.autograd``, ``torch.nn.init``, ``torch.nn.utils`` and ``torch.utils.data``).
Whether chainrule has each one is *looked up*, not written down, so the table cannot go
stale; where chainrule deliberately behaves differently, ``NOTES`` says how in one line.

Run ``python -m chainrule.compat`` for the table as Markdown (``--missing`` for only the
gaps), or use ``entries()`` / ``table()``.

Example:
    >>> from chainrule.compat import lookup
    >>> lookup("torch.nn", "Linear").available
    True
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

# torch namespace -> (chainrule object path, how names are looked up there)
WHERE: dict[str, str] = {
    "torch": "chainrule",
    "torch.Tensor": "chainrule.Tensor",
    "torch.autograd": "chainrule.autograd",
    "torch.nn": "chainrule.nn",
    "torch.nn.functional": "chainrule.nn.functional",
    "torch.nn.init": "chainrule.nn.init",
    "torch.nn.utils": "chainrule.nn.utils",
    "torch.optim": "chainrule.optim",
    "torch.optim.lr_scheduler": "chainrule.optim.lr_scheduler",
    "torch.utils.data": "chainrule.utils.data",
    "torch.distributed": "chainrule.distributed",
    "torch.nn.parallel": "chainrule.nn.parallel",
}

TORCH_NAMES: dict[str, tuple[str, ...]] = {
    "torch": (
        "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "zeros_like",
        "ones_like", "full_like", "empty_like", "rand", "randn", "randint", "randperm",
        "rand_like", "randn_like", "randint_like", "arange", "linspace", "logspace", "eye",
        "manual_seed", "seed", "initial_seed", "Generator", "get_rng_state", "set_rng_state",
        "multinomial", "bernoulli", "normal", "cat", "concat", "concatenate", "stack",
        "hstack", "vstack", "split", "chunk", "squeeze", "unsqueeze", "reshape", "flatten",
        "transpose", "permute", "movedim", "swapaxes", "narrow", "gather", "scatter",
        "index_select", "masked_select", "where", "nonzero", "tile", "repeat_interleave",
        "flip", "roll", "tril", "triu", "diag", "matmul", "mm", "bmm", "einsum", "outer",
        "dot", "tensordot", "sum", "mean", "std", "var", "prod", "max", "min", "amax", "amin",
        "argmax", "argmin", "logsumexp", "cumsum", "cumprod", "norm", "any", "all", "sort",
        "argsort", "topk", "unique", "clamp", "clip", "abs", "exp", "log", "log1p", "log2",
        "log10", "expm1", "sqrt", "rsqrt", "square", "pow", "sin", "cos", "tan", "tanh",
        "sigmoid", "relu", "softmax", "log_softmax", "sign", "round", "floor", "ceil",
        "trunc", "maximum", "minimum", "add", "sub", "mul", "div", "neg", "reciprocal",
        "isnan", "isinf", "isfinite", "allclose", "isclose", "equal", "eq", "ne", "lt", "le",
        "gt", "ge", "logical_and", "logical_or", "logical_not", "numel", "is_tensor",
        "is_floating_point", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled",
        "is_grad_enabled", "save", "load", "device", "cuda", "dtype", "float32", "float",
        "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
        "int16", "int8", "uint8", "bool", "get_default_dtype", "set_default_dtype",
        "set_num_threads", "get_num_threads", "set_printoptions", "compile", "jit",
        "autograd", "nn", "optim", "utils", "layout", "strided", "memory_format",
        "contiguous_format", "preserve_format", "channels_last",
    ),
    "torch.Tensor": (
        "size", "shape", "dim", "ndim", "numel", "dtype", "device", "item", "tolist",
        "numpy", "data", "grad", "requires_grad", "requires_grad_", "is_leaf", "grad_fn",
        "backward", "detach", "detach_", "retain_grad", "register_hook", "clone",
        "contiguous", "to", "cpu", "cuda", "float", "double", "half", "long", "int", "bool",
        "type", "type_as", "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten",
        "squeeze", "unsqueeze", "permute", "transpose", "t", "T", "mT", "expand", "expand_as",
        "repeat", "chunk", "split", "narrow", "gather", "scatter", "scatter_", "index_select",
        "masked_fill", "masked_fill_", "masked_select", "sum", "mean", "std", "var", "prod",
        "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp", "cumsum", "norm",
        "any", "all", "sort", "argsort", "topk", "abs", "exp", "log", "log1p", "expm1",
        "sqrt", "rsqrt", "square", "pow", "sin", "cos", "tanh", "sigmoid", "relu",
        "softmax", "log_softmax", "sign", "round", "floor", "ceil", "clamp", "clamp_", "clip",
        "neg", "reciprocal", "add", "sub", "mul", "div", "matmul", "mm", "bmm", "dot", "eq",
        "ne", "lt", "le", "gt", "ge", "logical_not", "isnan", "isinf", "isfinite",
        "add_", "sub_", "mul_", "div_", "zero_", "fill_", "copy_", "normal_", "uniform_",
        "apply_", "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor",
        "element_size", "nbytes", "stride", "is_contiguous", "storage", "data_ptr",
        "share_memory_", "pin_memory", "is_cuda", "__format__",
    ),
    "torch.autograd": (
        "backward", "grad", "Function", "no_grad", "enable_grad", "inference_mode",
        "set_grad_enabled", "detect_anomaly", "set_detect_anomaly", "gradcheck",
        "gradgradcheck", "Variable",
    ),
    "torch.nn": (
        "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveLogSoftmaxWithLoss", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d", "AlphaDropout", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BCELoss",
        "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Bilinear", "CELU",
        "CTCLoss", "ChannelShuffle", "CircularPad1d", "CircularPad2d", "CircularPad3d",
        "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "Conv1d", "Conv2d", "Conv3d",
        "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "CosineEmbeddingLoss",
        "CosineSimilarity", "CrossEntropyLoss", "Dropout", "Dropout1d", "Dropout2d",
        "Dropout3d", "ELU", "Embedding", "EmbeddingBag", "FeatureAlphaDropout", "Flatten",
        "Fold", "FractionalMaxPool2d", "FractionalMaxPool3d", "GELU", "GLU", "GRU", "GRUCell",
        "GaussianNLLLoss", "GroupNorm", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
        "HingeEmbeddingLoss", "HuberLoss", "Identity", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "KLDivLoss", "L1Loss", "LPPool1d", "LPPool2d", "LPPool3d", "LSTM",
        "LSTMCell", "LayerNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyConv1d",
        "LazyConv2d", "LazyLinear", "LeakyReLU", "Linear", "LocalResponseNorm", "LogSigmoid",
        "LogSoftmax", "MSELoss", "MarginRankingLoss", "MaxPool1d", "MaxPool2d", "MaxPool3d",
        "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Mish", "Module", "ModuleDict",
        "ModuleList", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
        "MultiheadAttention", "NLLLoss", "PReLU", "PairwiseDistance", "Parameter",
        "ParameterDict", "ParameterList", "PixelShuffle", "PixelUnshuffle", "PoissonNLLLoss",
        "RMSNorm", "RNN", "RNNCell", "RReLU", "ReLU", "ReLU6", "ReflectionPad1d",
        "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
        "ReplicationPad3d", "SELU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss",
        "SoftMarginLoss", "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink",
        "Softsign", "SyncBatchNorm", "Tanh", "Tanhshrink", "Threshold", "Transformer",
        "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
        "TransformerEncoderLayer", "TripletMarginLoss", "Unflatten", "Unfold", "Upsample",
        "UpsamplingBilinear2d", "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
        "init", "functional", "utils",
    ),
    "torch.nn.functional": (
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "affine_grid",
        "alpha_dropout", "avg_pool1d", "avg_pool2d", "avg_pool3d", "batch_norm", "bilinear",
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "celu", "conv1d",
        "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "cosine_embedding_loss", "cosine_similarity", "cross_entropy", "ctc_loss", "dropout",
        "dropout1d", "dropout2d", "dropout3d", "elu", "embedding", "embedding_bag",
        "fold", "gaussian_nll_loss", "gelu", "glu", "grid_sample", "group_norm",
        "gumbel_softmax", "hardshrink", "hardsigmoid", "hardswish", "hardtanh",
        "hinge_embedding_loss", "huber_loss", "instance_norm", "interpolate", "kl_div",
        "l1_loss", "layer_norm", "leaky_relu", "linear", "local_response_norm", "log_softmax",
        "logsigmoid", "lp_pool1d", "lp_pool2d", "margin_ranking_loss", "max_pool1d",
        "max_pool2d", "max_pool3d", "max_unpool1d", "max_unpool2d", "mish", "mse_loss",
        "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
        "nll_loss", "normalize", "one_hot", "pad", "pairwise_distance", "pdist",
        "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "prelu", "relu", "relu6",
        "rms_norm", "rrelu", "scaled_dot_product_attention", "selu", "sigmoid", "silu",
        "smooth_l1_loss", "soft_margin_loss", "softmax", "softmin", "softplus", "softshrink",
        "softsign", "tanh", "tanhshrink", "threshold", "triplet_margin_loss", "unfold",
        "upsample", "upsample_bilinear", "upsample_nearest",
    ),
    "torch.nn.init": (
        "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_",
        "kaiming_uniform_", "normal_", "ones_", "orthogonal_", "trunc_normal_", "uniform_",
        "xavier_normal_", "xavier_uniform_", "zeros_",
    ),
    "torch.nn.utils": (
        "clip_grad_norm_", "clip_grad_value_", "get_total_norm", "parameters_to_vector",
        "vector_to_parameters", "weight_norm", "spectral_norm", "skip_init",
        "fuse_conv_bn_eval", "rnn",
    ),
    "torch.optim": (
        "Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop",
        "Adagrad", "Adadelta", "Adafactor", "ASGD", "Rprop", "LBFGS", "SparseAdam",
        "lr_scheduler", "swa_utils",
    ),
    "torch.optim.lr_scheduler": (
        "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
        "LinearLR", "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler",
        "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
        "PolynomialLR",
    ),
    "torch.utils.data": (
        "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset",
        "StackDataset", "Subset", "random_split", "DataLoader", "default_collate",
        "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
        "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "get_worker_info",
    ),
    "torch.distributed": (
        "init_process_group", "destroy_process_group", "is_initialized", "is_available",
        "is_mpi_available", "get_rank", "get_world_size", "get_backend", "all_reduce",
        "broadcast", "barrier", "ReduceOp",
    ),
    "torch.nn.parallel": ("DistributedDataParallel",),
}

# Where chainrule has the name but deliberately behaves differently: one line each.
NOTES: dict[tuple[str, str], str] = {
    # tensors and autograd
    ("torch", "tensor"): "Python floats take the default dtype (float32); NumPy arrays keep "
                         "theirs, as in torch",
    ("torch", "save"): "stores Tensors, arrays, numbers and strings in dicts/lists (a "
                       "state_dict, a checkpoint dict) as safetensors; never pickles objects",
    ("torch", "load"): "reads what chainrule.save wrote (safetensors); map_location is "
                       "accepted when it means the CPU",
    ("torch", "cuda"): "cuda.is_available() is False: there is no GPU backend yet",
    ("torch", "device"): "only 'cpu' exists; cr.device('cuda') raises when built",
    ("torch", "inference_mode"): "the same as no_grad: there are no inference tensors",
    ("torch", "empty"): "filled with zeros rather than left uninitialised",
    ("torch", "strided"): "the only layout: a layout= other than strided is refused",
    ("torch", "memory_format"): "memory_format= is accepted and ignored (arrays stay "
                                "C-contiguous; values are the same)",
    ("torch", "sum"): "dim=() reduces nothing (NumPy's rule); torch reduces everything",
    ("torch", "logsumexp"): "dim defaults to the last axis (torch requires it)",
    ("torch", "cumsum"): "without dim the tensor is flattened first (torch requires dim)",
    ("torch", "sort"): "always stable; topk returns ties in index order",
    ("torch", "norm"): "vector norms only; 'nuc' and matrix norms are refused",
    ("torch", "einsum"): "the sublist form is not supported",
    ("torch", "randn"): "draws from chainrule's generator: the same seed gives other "
                        "numbers than torch's",
    ("torch", "float32"): "dtype names are numpy.dtype objects (print as dtype('float32'))",
    ("torch.Tensor", "numpy"): "returns the array itself (shared, as torch's .numpy())",
    ("torch.Tensor", "grad"): "accumulation replaces the grad Tensor's array with the sum "
                              "instead of adding in place: a held .grad.numpy() array keeps "
                              "old values",
    ("torch.Tensor", "max"): "max(dim) gives (values, indices) as torch; the NumPy spelling "
                             "max(axis=) gives the values only",
    ("torch.Tensor", "add_"): "in-place ops on a tensor computed by the graph raise (no "
                              "version counters); on leaves they need no_grad, as torch",
    ("torch.Tensor", "__format__"): "one-element tensors of any rank format as numbers",
    ("torch.autograd", "grad"): "create_graph=True raises: no double backward",
    ("torch.autograd", "backward"): "create_graph=True raises: no double backward",
    # gapstensor: everyday torch / Tensor / autograd / nn.init names
    ("torch", "get_rng_state"): "a uint8 Tensor in chainrule's own format (the PCG64 state as "
                                "JSON), not interchangeable with torch's ByteTensor",
    ("torch", "set_rng_state"): "accepts only what chainrule's get_rng_state() returned",
    ("torch", "seed"): "a 63-bit seed from the OS (torch's may use all 64 bits)",
    ("torch", "bernoulli"): "draws from chainrule's generator: the same seed gives other "
                            "numbers than torch's",
    ("torch", "normal"): "draws from chainrule's generator: the same seed gives other numbers "
                         "than torch's",
    ("torch", "dtype"): "numpy.dtype itself: isinstance(cr.float32, cr.dtype) holds, but it "
                        "lacks torch.dtype's is_floating_point/is_complex attributes",
    ("torch", "set_printoptions"): "NumPy's layout inside tensor(...); linewidth defaults to "
                                   "NumPy's 75",
    ("torch", "unique"): "sorted=False still sorts",
    ("torch", "cumprod"): "without dim the tensor is flattened first (torch requires dim)",
    ("torch", "scatter"): "reduce= takes None or 'add' ('add' is differentiable here); a src "
                          "larger than index gets zero gradient where unread (torch raises)",
    ("torch.Tensor", "scatter_"): "reduce= takes None or 'add'",
    ("torch.Tensor", "pin_memory"): "returns the tensor itself: there is no GPU to pin for",
    ("torch.Tensor", "share_memory_"): "returns the tensor itself: arrays are not shared "
                                       "between processes",
    ("torch.autograd", "gradcheck"): "checks a random weighting of the outputs on float64 "
                                     "copies (torch: every Jacobian entry, inputs' dtype); "
                                     "no forward-mode or batched checks",
    ("torch.autograd", "gradgradcheck"): "raises NotImplementedError: no double backward",
    ("torch.autograd", "Variable"): "Variable(t) returns t itself; every Tensor is an "
                                    "instance",
    ("torch.autograd", "set_detect_anomaly"): "check_nan is accepted; NaN and Inf are always "
                                              "checked when on",
    ("torch.nn.init", "trunc_normal_"): "rejection sampling: an [a, b] holding under 1e-4 of "
                                        "the normal is refused",
    # layers and functions
    ("torch.nn", "MultiheadAttention"): "a fully masked query row gives zeros instead of NaN",
    ("torch.nn", "ReLU"): "inplace=True is accepted but the result is always a new tensor "
                          "(the same for every activation and F.* with inplace=)",
    ("torch.nn", "Embedding"): "sparse=True is refused (gradients are dense)",
    ("torch.nn.functional", "embedding"): "sparse=True is refused (gradients are dense)",
    ("torch.nn", "LSTM"): "proj_size > 0 (projected hidden state) is refused",
    ("torch.nn", "Unflatten"): "named (string) dims are refused",
    ("torch.nn", "TransformerEncoder"): "no fused fast path: in eval with a padding mask "
                                        "padded positions are computed, not zeroed",
    ("torch.nn", "TransformerEncoderLayer"): "a model file records the activation only as "
                                             "'relu' or 'gelu'",
    ("torch.nn", "MaxUnpool2d"): "with repeated indices the gradient goes to the one value "
                                 "written (torch's backward disagrees with its forward)",
    ("torch.nn", "CrossEntropyLoss"): "float targets count as probabilities only when shaped "
                                      "like the input; integer-valued (N,) floats are classes",
    ("torch.nn", "MSELoss"): "input and target of different shapes raise instead of "
                             "broadcasting with a warning (all losses)",
    ("torch.nn.functional", "interpolate"): "bicubic, trilinear and antialias are refused",
    ("torch.nn.functional", "normalize"): "out= is refused",
    # gapsnn: layers, functions and losses added for issue 12
    ("torch.nn.functional", "pad"): "also takes NumPy's (before, after) pairs per axis, and "
                                    "a number third as the fill (chainrule's older form)",
    ("torch.nn.functional", "embedding_bag"): "scale_grad_by_freq divides by each index's "
                                              "batch count, as F.embedding (torch's CPU "
                                              "kernel reads the counts out of place)",
    ("torch.nn", "EmbeddingBag"): "sparse=True is refused; scale_grad_by_freq as in "
                                  "F.embedding_bag's note",
    ("torch.nn.functional", "grid_sample"): "4-D input only; modes bilinear and nearest "
                                            "(bicubic is refused)",
    ("torch.nn.functional", "gumbel_softmax"): "noise from chainrule's generator "
                                               "(generator= keyword): other samples than "
                                               "torch's for one seed",
    ("torch.nn", "RReLU"): "training slopes from chainrule's generator (generator= keyword): "
                           "other numbers than torch's for one seed",
    ("torch.nn.functional", "soft_margin_loss"): "the target may require grad (torch refuses "
                                                 "one)",
    ("torch.nn.functional", "ctc_loss"): "log_probs.grad is the true derivative; torch's adds "
                                         "exp(log_probs), which log_softmax's backward "
                                         "cancels",
    ("torch.nn", "LazyLinear"): "only LazyLinear among the lazy layers; a file saved before "
                                "the dry run holds a LazyLinear with empty weights",
    ("torch.nn.utils", "clip_grad_norm_"): "each clipped .grad gets a new array (torch "
                                           "scales in place)",
    ("torch.nn.utils", "vector_to_parameters"): "writes into the parameters' arrays, "
                                                "keeping their dtypes",
    ("torch.optim", "Optimizer"): "zero_grad(set_to_none=False) gives .grad a fresh zero "
                                  "array instead of zeroing the old one",
    ("torch.optim.lr_scheduler", "LRScheduler"): "two schedulers stepped by hand on one "
                                                 "optimizer overwrite each other: chain them "
                                                 "with ChainedScheduler",
    # data
    ("torch.utils.data", "DataLoader"): "num_workers > 0 prepares batches ahead in one "
                                        "background thread (the same batches as 0), not in "
                                        "worker processes; batch_size=None is refused",
    ("torch.utils.data", "default_collate"): "Python floats collate to the default dtype "
                                             "(float32), not float64",
    # mpi: data parallel over MPI
    ("torch.distributed", "init_process_group"): "backends 'mpi' (mpi4py; ranks from "
                                                 "mpiexec) and 'local' (one process, the "
                                                 "default without a launcher)",
    ("torch.nn.parallel", "DistributedDataParallel"): "CPU only (device_ids=None); unused "
                                                      "parameters always allowed (they "
                                                      "contribute zeros)",
    ("torch.nn", "SyncBatchNorm"): "runs on the CPU; without a process group (or with one "
                                   "rank) it is BatchNorm",
    ("torch.utils.data", "DistributedSampler"): "the order comes from (seed, epoch) through "
                                                "NumPy: other orders than torch's",
}

# PyTorch's factories write into ``out=`` when given one; chainrule's return a new tensor.
for _name in ("zeros", "ones", "full", "rand", "randn", "randint", "randperm", "arange",
              "linspace", "logspace", "eye", "empty"):
    NOTES[("torch", _name)] = "; ".join(filter(None, (
        NOTES.get(("torch", _name)), "out= is refused (a new tensor is returned)")))
# How PyTorch runs an optimizer step; the update is the same math.
for _name in ("SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad",
              "Adadelta"):
    NOTES[("torch.optim", _name)] = ("foreach/fused/capturable are accepted and ignored; "
                                     "differentiable=True is refused")
del _name
NOTES[("torch.optim", "Rprop")] = ("foreach/capturable are accepted and ignored; "
                                   "differentiable=True is refused; step_sizes with "
                                   "min > max are refused (torch clamps to max)")
NOTES[("torch.optim", "ASGD")] = ("foreach/capturable are accepted and ignored; "
                                  "differentiable=True is refused; state step/eta/mu are "
                                  "numbers, not 0-d tensors")


@dataclass(frozen=True)
class Entry:
    """One PyTorch name: where it lives, whether chainrule has it, and any difference."""

    namespace: str
    name: str
    available: bool
    note: str = ""

    @property
    def torch_name(self) -> str:
        return f"{self.namespace}.{self.name}"


def _resolve(path: str) -> object | None:
    """The object at a dotted path (modules imported as needed), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                return None
        return obj
    return None


def lookup(namespace: str, name: str) -> Entry:
    """Whether chainrule has ``namespace.name`` (e.g. ``("torch.nn", "GroupNorm")``)."""
    if namespace not in WHERE:
        raise KeyError(f"unknown namespace {namespace!r}; known: {', '.join(WHERE)}")
    home = _resolve(WHERE[namespace])
    found = home is not None and (hasattr(home, name) or
                                  _resolve(f"{WHERE[namespace]}.{name}") is not None)
    return Entry(namespace, name, bool(found), NOTES.get((namespace, name), ""))


def entries() -> list[Entry]:
    """Every listed PyTorch name with its availability, namespace by namespace."""
    return [lookup(ns, name) for ns, names in TORCH_NAMES.items() for name in names]


def table(missing_only: bool = False) -> str:
    """The table as Markdown: one section per namespace, counts in each heading."""
    out = ["# PyTorch names in chainrule", "",
           "Generated by `python -m chainrule.compat` from chainrule itself: ✓ means the "
           "name exists with PyTorch's signature and behaviour, except where the note says "
           "otherwise; ✗ means it is missing.", ""]
    by_ns: dict[str, list[Entry]] = {}
    for e in entries():
        by_ns.setdefault(e.namespace, []).append(e)
    for ns, rows in by_ns.items():
        have = sum(e.available for e in rows)
        out += [f"## `{ns}` → `{WHERE[ns]}`: {have} of {len(rows)}", "",
                "| name | chainrule | note |", "|---|---|---|"]
        for e in rows:
            if missing_only and e.available:
                continue
            out.append(f"| `{e.name}` | {'✓' if e.available else '✗'} | {e.note} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(table(missing_only="--missing" in args) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["NOTES", "TORCH_NAMES", "WHERE", "Entry", "entries", "lookup", "table"]
