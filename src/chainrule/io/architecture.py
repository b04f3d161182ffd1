"""Architecture specs: a model's structure as JSON, rebuilt without the user's code.

A spec names each layer by a stable *type name* from a registry and records the
constructor arguments that rebuild it; containers (``Sequential``, ``ModuleList``,
``ModuleDict``, ``Residual``) record their children instead. Weights are not part of a
spec — ``chainrule.io.save`` stores them next to it in a safetensors file.

Rebuilding only ever calls the constructors of registered classes with JSON values, so
reading a spec from an untrusted file runs no code from that file.

Spec layout (version 1)::

    {"format": "chainrule.architecture", "version": 1, "dtype": "float32",
     "model": {"type": "Sequential", "children": [["0", {"type": "Linear",
               "kwargs": {"in_features": 4, "out_features": 8, "bias": true}}], ...]}}

Constructor arguments that are tuples are written as ``{"__tuple__": [...]}`` so they
come back as tuples.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from chainrule import backend
from chainrule.io import _json
from chainrule.nn.init import is_placeholder, meta_array, placeholder
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor

__all__ = ["from_spec", "register_architecture", "registered_architectures", "to_spec"]

SPEC_FORMAT = "chainrule.architecture"
SPEC_VERSION = 1

GetKwargs = Callable[[Any], dict]
M = TypeVar("M", bound=type)

# Constructor arguments that never describe the architecture: where random numbers come
# from, and the dtype (recorded once for the whole model).
_NOT_ARCHITECTURE = frozenset({"generator", "dtype", "device", "rng"})


@dataclass(frozen=True)
class _Entry:
    name: str
    cls: type
    get_kwargs: GetKwargs | None  # None: read constructor arguments from attributes
    build_container: Callable[[list[tuple[str, Module | None]]], Module] | None = None
    # Rebuilds from the decoded kwargs instead of ``cls(**kwargs)`` (ParameterList/Dict,
    # whose constructors take the parameters themselves).
    build: Callable[..., Module] | None = None


_BY_NAME: dict[str, _Entry] = {}
_BY_CLASS: dict[type, _Entry] = {}
_builtins_done = False


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _add(entry: _Entry, replace: bool) -> None:
    old = _BY_NAME.get(entry.name)
    if old is not None and old.cls is not entry.cls and replace and \
            _qualified(old.cls) == _qualified(entry.cls):
        # The same class defined again (a re-run notebook cell, a reloaded module).
        del _BY_CLASS[old.cls]
        old = None
    if old is not None and old.cls is not entry.cls:
        raise ValueError(f"architecture name {entry.name!r} is already registered for "
                         f"{old.cls.__module__}.{old.cls.__qualname__}; pick another name")
    other = _BY_CLASS.get(entry.cls)
    if other is not None and other.name != entry.name:
        raise ValueError(f"{entry.cls.__qualname__} is already registered as "
                         f"{other.name!r}; a class has one architecture name")
    if old is not None and not replace:
        return
    _BY_NAME[entry.name] = entry
    _BY_CLASS[entry.cls] = entry


def register_architecture(name: str, cls: type | None = None,
                          get_kwargs: GetKwargs | None = None) -> Any:
    """Make a ``Module`` class describable by :func:`to_spec` and rebuildable by
    :func:`from_spec`.

    Args:
        name: the stable type name written into files (keep it when renaming the class).
        cls: the ``Module`` subclass. Omit it to use this function as a class decorator.
        get_kwargs: ``get_kwargs(instance) -> dict`` of constructor keyword arguments
            that rebuild an identical layer (same parameter names and shapes). Values
            must be JSON-like: None, bool, int, float, str, lists, tuples, dicts. When
            omitted, each constructor parameter is read from the instance attribute of
            the same name (``generator``/``dtype``/``device`` are skipped); that fails at
            ``to_spec`` time, naming the argument, if an attribute is missing or is a
            tensor or module.

    Only the exact class is matched: a subclass of a registered layer must register
    itself. Registering the same class (or a redefinition of it, as when a notebook cell
    runs again) under the same name again replaces the entry.

    Example:
        >>> import chainrule as cr
        >>> from chainrule.io import register_architecture
        >>> @register_architecture("docs.Scale")
        ... class Scale(cr.nn.Module):
        ...     def __init__(self, factor: float = 2.0):
        ...         super().__init__()
        ...         self.factor = factor
        ...     def forward(self, x):
        ...         return x * self.factor
        >>> from_spec(to_spec(Scale(3.0))).factor
        3.0
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"architecture name must be a non-empty string, got {name!r}")

    def decorate(klass: M) -> M:
        if not (isinstance(klass, type) and issubclass(klass, Module)):
            raise TypeError(f"register_architecture({name!r}) needs a Module subclass, "
                            f"got {klass!r}")
        if get_kwargs is not None and not callable(get_kwargs):
            raise TypeError(f"get_kwargs for {name!r} must be callable")
        reserved = _reserved_names().get(name)
        if reserved is not None and reserved != _qualified(klass):
            raise ValueError(f"architecture name {name!r} is already registered for "
                             f"chainrule's {reserved}; pick another name")
        _add(_Entry(name, klass, get_kwargs), replace=True)
        return klass

    if cls is None:
        return decorate
    return decorate(cls)


def registered_architectures() -> dict[str, type]:
    """Type name → class of everything :func:`from_spec` can rebuild."""
    _ensure_builtins()
    return {name: e.cls for name, e in sorted(_BY_NAME.items())}


# ---- describing a model -------------------------------------------------------------

def _default_kwargs(module: Module) -> dict:
    cls = type(module)
    kwargs = {}
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname == "self" or pname in _NOT_ARCHITECTURE or param.kind in (
                param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if not hasattr(module, pname):
            raise ValueError(f"{cls.__qualname__} has no attribute {pname!r} to read its "
                             f"constructor argument {pname!r} from; pass get_kwargs to "
                             "register_architecture")
        value = getattr(module, pname)
        if isinstance(value, (Tensor, Module, np.ndarray)):
            raise ValueError(f"{cls.__qualname__}.{pname} is a {type(value).__name__}, not "
                             f"the constructor argument {pname!r}; pass get_kwargs to "
                             "register_architecture")
        kwargs[pname] = value
    return kwargs


def _unregistered(module: Module, where: str) -> ValueError:
    cls = type(module)
    return ValueError(
        f"cannot describe {where} ({cls.__module__}.{cls.__qualname__}): it is not a "
        "registered architecture, so a file could not rebuild it without your code. "
        f"Register it with chainrule.io.register_architecture('{cls.__qualname__}', "
        f"{cls.__qualname__}, get_kwargs), or save only the weights with "
        "chainrule.io.save_state_dict(model.state_dict(), path)")


def _describe(module: Module, where: str, seen: dict[int, str]) -> dict:
    if id(module) in seen:
        raise ValueError(f"{where} is the same module object as {seen[id(module)]}; a "
                         "spec cannot express shared modules — save the weights with "
                         "chainrule.io.save_state_dict instead")
    seen[id(module)] = where
    entry = _BY_CLASS.get(type(module))
    if entry is None:
        raise _unregistered(module, where)
    if entry.build_container is not None:
        children = []
        for cname, child in module._modules.items():
            cwhere = f"{where}.{cname}" if where != "model" else cname
            children.append([cname, None if child is None else _describe(child, cwhere, seen)])
        return {"type": entry.name, "children": children}
    get_kwargs = entry.get_kwargs or _default_kwargs
    kwargs = get_kwargs(module)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"get_kwargs for {entry.name!r} must return a dict with string "
                         f"keys, got {kwargs!r}")
    return {"type": entry.name,
            "kwargs": _json.encode(kwargs, f"constructor arguments of {where}")}


def _model_dtype(module: Module) -> np.dtype:
    for t in list(module.parameters()) + list(module.buffers()):
        if t._data.dtype.kind == "f":
            return t._data.dtype
    return backend.get_default_dtype()


def to_spec(module: Module) -> dict:
    """Describe ``module``'s architecture as a JSON-serialisable dict.

    Every module in the tree must be a registered class (all of chainrule's layers and
    containers are; see :func:`register_architecture` for your own).

    Raises:
        ValueError: naming the first unregistered module (and how to register it), a
            module used twice, or constructor arguments that are not JSON-like.

    Example:
        >>> import json
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 1))
        >>> spec = to_spec(net)
        >>> spec["model"]["children"][0]
        ['0', {'type': 'Linear', 'kwargs': {'in_features': 4, 'out_features': 8, 'bias': True}}]
        >>> rebuilt = from_spec(json.loads(json.dumps(spec)))
    """
    if not isinstance(module, Module):
        raise TypeError(f"to_spec takes a chainrule Module, got {type(module).__name__}")
    _ensure_builtins()
    return {"format": SPEC_FORMAT, "version": SPEC_VERSION,
            "dtype": _model_dtype(module).name, "model": _describe(module, "model", {})}


# ---- rebuilding a model -------------------------------------------------------------

@contextlib.contextmanager
def _construction_context(dtype: np.dtype) -> Iterator[None]:
    # Layers allocate in the default dtype, and draw initial weights from the default
    # generator. Rebuilding must not shift the user's random stream (a resumed run would
    # diverge), so the generator's state is put back afterwards.
    old_dtype = backend.get_default_dtype()
    rng_state = backend.default_generator.get_state()
    backend.set_default_dtype(dtype)
    try:
        yield
    finally:
        backend.set_default_dtype(old_dtype)
        backend.default_generator.set_state(rng_state)


def _build(node: Any, where: str) -> Module:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise ValueError(f"malformed architecture at {where}: expected an object with a "
                         f"'type', got {str(node)[:80]!r}")
    entry = _BY_NAME.get(node["type"])
    if entry is None:
        raise ValueError(f"unknown layer type {node['type']!r} at {where}; register it with "
                         "chainrule.io.register_architecture before loading (known: "
                         f"{', '.join(sorted(_BY_NAME))})")
    if entry.build_container is not None:
        children = node.get("children")
        if not isinstance(children, list) or not all(
                isinstance(c, list) and len(c) == 2 and isinstance(c[0], str)
                for c in children):
            raise ValueError(f"malformed children of {node['type']} at {where}")
        built = []
        for cname, child in children:
            cwhere = f"{where}.{cname}" if where != "model" else cname
            built.append((cname, None if child is None else _build(child, cwhere)))
        return entry.build_container(built)
    kwargs = _json.decode(node.get("kwargs", {}))
    if not isinstance(kwargs, dict):
        raise ValueError(f"malformed constructor arguments of {node['type']} at {where}")
    try:
        return (entry.build or entry.cls)(**kwargs)
    except (TypeError, ValueError, OverflowError) as err:
        shown = str(kwargs)
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        raise ValueError(f"cannot rebuild {node['type']} at {where} with arguments "
                         f"{shown}: {err}") from err


def from_spec(spec: dict) -> Module:
    """Rebuild the module :func:`to_spec` described, with freshly initialised weights.

    The model gets the spec's dtype; the default random generator's state is left as it
    was. Dropout layers use the default generator (a custom ``generator=`` is not part
    of an architecture).

    Raises:
        ValueError: a malformed spec, an unknown layer type (register it first), or
            constructor arguments the layer rejects.

    Example:
        >>> import chainrule as cr
        >>> net = from_spec(to_spec(cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Tanh())))
        >>> list(net.state_dict())
        ['0.weight', '0.bias']
    """
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise ValueError("not a chainrule architecture spec (expected an object with "
                         f"format={SPEC_FORMAT!r})")
    version = spec.get("version")
    if not isinstance(version, int) or version > SPEC_VERSION:
        raise ValueError(f"architecture spec version {version!r} is newer than this "
                         f"chainrule understands ({SPEC_VERSION}); upgrade chainrule")
    try:
        dtype = np.dtype(spec.get("dtype", "float32"))
    except TypeError:
        raise ValueError(f"architecture spec has an invalid dtype {spec.get('dtype')!r}"
                         ) from None
    if dtype.kind != "f":
        raise ValueError(f"architecture spec dtype must be floating, got {dtype}")
    _ensure_builtins()
    with _construction_context(dtype):
        model = _build(spec.get("model"), "model")
    for t in list(model.parameters()) + list(model.buffers()):
        if t._data.dtype.kind == "f" and t._data.dtype != dtype:
            # A placeholder (nn.init.meta_init) stays one: astype would allocate it all.
            t._data = (placeholder(t._data.shape, dtype) if is_placeholder(t._data)
                      else t._data.astype(dtype))
    return model


# Sizes a built-in layer may declare whatever the file holds (a sinusoidal table, a
# normalisation without learned weights): up to this many values.
_SIZE_FLOOR = 1 << 24


def check_declared_sizes(spec: Any, max_elements: int) -> None:
    """Refuse a spec whose built-in layers declare a size (an integer argument, or the
    product of a tuple of them) above ``max(max_elements, 2**24)``, before anything is
    built. Every size of a layer with weights is at most the number of values the weights
    hold, so a file's spec can only exceed it when it is damaged or crafted — and some
    layers fill arrays of that size before :func:`chainrule.nn.init.meta_init` can stop
    them. Layers registered by the user are not checked.

    Raises:
        ValueError: naming the layer, the argument and the limit.
    """
    _ensure_builtins()
    limit = max(int(max_elements), _SIZE_FLOOR)
    builtin = {name for name, _, _ in _builtin_table() + _gapsnn_table()}
    stack: list[tuple[Any, str]] = [(spec.get("model") if isinstance(spec, dict) else None,
                                     "model")]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        children = node.get("children")
        if isinstance(children, list):
            for child in children:
                if isinstance(child, list) and len(child) == 2:
                    cwhere = f"{where}.{child[0]}" if where != "model" else str(child[0])
                    stack.append((child[1], cwhere))
        kwargs = node.get("kwargs")
        entry = _BY_NAME.get(node.get("type"))  # type: ignore[arg-type]
        if entry is None or node.get("type") not in builtin or not isinstance(kwargs, dict):
            continue
        for key, value in kwargs.items():
            size = _declared_size(value)
            if size > limit:
                raise ValueError(f"{node['type']} at {where} declares {key}="
                                 f"{_json.decode(value) if size < 10**60 else '...'} "
                                 f"(size {size:,}), more than the {limit:,} values the file "
                                 "could need")


def _declared_size(value: Any) -> int:
    if type(value) is int:
        return abs(value)
    if isinstance(value, dict) and isinstance(value.get("__tuple__"), list):
        value = value["__tuple__"]
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        n = 1
        for v in value:
            n *= max(abs(v), 1)
        return n
    return 0


# ---- chainrule's own layers -----------------------------------------------------------

def _attrs(*names: str) -> GetKwargs:
    return lambda m: {n: getattr(m, n) for n in names}


def _register_builtin(entry: _Entry) -> None:
    # A layer may have registered itself already (same name and class: nothing to do);
    # a name a user took for another class keeps the user's meaning.
    if entry.name not in _BY_NAME and entry.cls not in _BY_CLASS:
        _add(entry, replace=False)


def _add_children(container: Module, children: list[tuple[str, Module | None]]) -> Module:
    for cname, child in children:
        container.add_module(cname, child)
    return container


def _build_residual(children: list[tuple[str, Module | None]]) -> Module:
    from chainrule.nn import Residual

    parts = dict(children)
    if set(parts) - {"fn", "shortcut"} or parts.get("fn") is None:
        raise ValueError(f"Residual needs children 'fn' (and optionally 'shortcut'), got "
                         f"{sorted(parts)}")
    return Residual(parts["fn"], parts.get("shortcut"))


def _batch_norm_kwargs(m: Any) -> dict:
    kwargs = {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum,
              "affine": m.affine, "track_running_stats": m.track_running_stats}
    if not _affine_bias(m):  # only when set, so specs of the usual layer stay as they were
        kwargs["bias"] = False
    return kwargs


def _layer_norm_kwargs(m: Any) -> dict:
    return {"normalized_shape": tuple(m.normalized_shape), "eps": m.eps,
            "elementwise_affine": m.elementwise_affine,
            "bias": m.bias is not None if m.elementwise_affine else True}


def _rnn_kwargs(m: Any) -> dict:
    kwargs = {"input_size": m.input_size, "hidden_size": m.hidden_size,
              "num_layers": m.num_layers, "bias": m.bias, "batch_first": m.batch_first,
              "dropout": m.dropout, "bidirectional": m.bidirectional}
    if hasattr(m, "nonlinearity"):  # RNN only; LSTM and GRU have fixed gates
        kwargs["nonlinearity"] = m.nonlinearity
    return kwargs


def _attention_kwargs(m: Any) -> dict:
    kwargs = {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": m.dropout,
              "bias": m.in_proj_bias is not None, "batch_first": m.batch_first}
    # only when set, so specs of plain attention stay as they were
    extra = {"add_bias_kv": getattr(m, "bias_k", None) is not None,
             "add_zero_attn": getattr(m, "add_zero_attn", False),
             "kdim": getattr(m, "kdim", m.embed_dim), "vdim": getattr(m, "vdim", m.embed_dim)}
    defaults = {"add_bias_kv": False, "add_zero_attn": False, "kdim": m.embed_dim,
                "vdim": m.embed_dim}
    kwargs.update({k: v for k, v in extra.items() if v != defaults[k]})
    return kwargs


def _transformer_block_kwargs(m: Any) -> dict:
    # The block keeps only ``causal``; the other arguments are read off its sub-layers.
    return {"d_model": m.attn.embed_dim, "num_heads": m.attn.num_heads,
            "d_ff": m.mlp[0].out_features, "dropout": m.drop.p, "causal": m.causal}


def _decoder_kwargs(m: Any) -> dict:
    block = m.blocks[0]
    return {"vocab_size": m.vocab_size, "context": m.context,
            "d_model": m.tok_emb.embedding_dim, "num_heads": block.attn.num_heads,
            "num_layers": len(m.blocks), "d_ff": block.mlp[0].out_features,
            "dropout": m.drop.p, "positional": m.pos_emb.kind,
            "tie_weights": m.head.weight is m.tok_emb.weight}


def _conv_kwargs(m: Any) -> dict:
    kwargs = {"in_channels": m.in_channels, "out_channels": m.out_channels,
              "kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
              "dilation": m.dilation, "groups": m.groups, "bias": m.bias is not None}
    if m.padding_mode != "zeros":  # only when set, so specs of the usual layer stay as they were
        kwargs["padding_mode"] = m.padding_mode
    return kwargs


def _max_pool_kwargs(m: Any) -> dict:
    kwargs = _attrs("kernel_size", "stride", "padding", "dilation", "ceil_mode")(m)
    if getattr(m, "return_indices", False):
        kwargs["return_indices"] = True
    return kwargs


_MAX_POOL = _max_pool_kwargs
_AVG_POOL = _attrs("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")


def _builtin_table() -> list[tuple[str, str, GetKwargs]]:
    """(type name, "module:class" in chainrule.nn, get_kwargs) of the plain layers."""
    return [
        ("Linear", "linear:Linear", lambda m: {"in_features": m.in_features,
                                               "out_features": m.out_features,
                                               "bias": m.bias is not None}),
        ("Identity", "linear:Identity", _attrs()),
        ("Flatten", "linear:Flatten", _attrs("start_dim", "end_dim")),
        ("ReLU", "activation:ReLU", _attrs("inplace")),
        ("Sigmoid", "activation:Sigmoid", _attrs()),
        ("Tanh", "activation:Tanh", _attrs()),
        ("LeakyReLU", "activation:LeakyReLU", _attrs("negative_slope", "inplace")),
        ("GELU", "activation:GELU", _attrs("approximate")),
        ("Softplus", "activation:Softplus", _attrs("beta", "threshold")),
        ("Softmax", "activation:Softmax", _attrs("dim")),
        ("LogSoftmax", "activation:LogSoftmax", _attrs("dim")),
        ("Dropout", "dropout:Dropout", _attrs("p", "inplace")),
        ("Dropout2d", "dropout:Dropout2d", _attrs("p", "inplace")),
        ("BatchNorm1d", "normalization:BatchNorm1d", _batch_norm_kwargs),
        ("BatchNorm2d", "normalization:BatchNorm2d", _batch_norm_kwargs),
        ("LayerNorm", "normalization:LayerNorm", _layer_norm_kwargs),
        ("Conv1d", "conv:Conv1d", _conv_kwargs),
        ("Conv2d", "conv:Conv2d", _conv_kwargs),
        ("MaxPool1d", "pooling:MaxPool1d", _MAX_POOL),
        ("MaxPool2d", "pooling:MaxPool2d", _MAX_POOL),
        ("AvgPool1d", "pooling:AvgPool1d", _AVG_POOL),
        ("AvgPool2d", "pooling:AvgPool2d",
         lambda m: {**_AVG_POOL(m), "divisor_override": m.divisor_override}),
        ("AdaptiveAvgPool2d", "pooling:AdaptiveAvgPool2d", _attrs("output_size")),
        ("Embedding", "embedding:Embedding",
         _attrs("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                "scale_grad_by_freq")),
        ("RNN", "recurrent:RNN", _rnn_kwargs),
        ("LSTM", "recurrent:LSTM", _rnn_kwargs),
        ("GRU", "recurrent:GRU", _rnn_kwargs),
        ("MultiheadAttention", "attention:MultiheadAttention", _attention_kwargs),
        ("PositionalEmbedding", "transformer:PositionalEmbedding",
         _attrs("context", "d_model", "kind")),
        ("TransformerBlock", "transformer:TransformerBlock", _transformer_block_kwargs),
        ("DecoderOnlyTransformer", "transformer:DecoderOnlyTransformer", _decoder_kwargs),
        # preprocessing carried by the model (mean/std are buffers in the weights)
        ("Standardize", "preprocessing:Standardize", _attrs("shape", "invert")),
        # lossoptim: distance modules
        ("CosineSimilarity", "distance:CosineSimilarity", _attrs("dim", "eps")),
        ("PairwiseDistance", "distance:PairwiseDistance",
         lambda m: {"p": m.norm, "eps": m.eps, "keepdim": m.keepdim}),
    ] + _spatial_sequence_table()


# ---- spatial and sequence layers (nnspatial) --------------------------------------------

def _conv_transpose_kwargs(m: Any) -> dict:
    return {**_conv_kwargs(m), "output_padding": m.output_padding}


def _cell_kwargs(m: Any) -> dict:
    kwargs = {"input_size": m.input_size, "hidden_size": m.hidden_size, "bias": m.bias}
    if hasattr(m, "nonlinearity"):  # RNNCell only
        kwargs["nonlinearity"] = m.nonlinearity
    return kwargs


def _transformer_layer_kwargs(m: Any) -> dict:
    from chainrule.nn.transformer import activation_name

    activation = activation_name(m.activation)
    if activation is None:
        raise ValueError(f"{type(m).__name__} with activation {m.activation!r} cannot be "
                         "described: only 'relu' and 'gelu' are recorded in a spec; save "
                         "the weights with chainrule.io.save_state_dict instead")
    return {"d_model": m.self_attn.embed_dim, "nhead": m.self_attn.num_heads,
            "dim_feedforward": m.linear1.out_features, "dropout": m.dropout.p,
            "activation": activation, "layer_norm_eps": m.norm1.eps,
            "batch_first": m.self_attn.batch_first, "norm_first": m.norm_first,
            "bias": m.linear1.bias is not None}


def _spatial_sequence_table() -> list[tuple[str, str, GetKwargs]]:
    adaptive_max = _attrs("output_size", "return_indices")
    unpool = _attrs("kernel_size", "stride", "padding")
    fold_args = ("kernel_size", "dilation", "padding", "stride")
    upsample = _attrs("size", "scale_factor")
    return [
        ("ConvTranspose1d", "conv:ConvTranspose1d", _conv_transpose_kwargs),
        ("ConvTranspose2d", "conv:ConvTranspose2d", _conv_transpose_kwargs),
        ("AdaptiveAvgPool1d", "pooling:AdaptiveAvgPool1d", _attrs("output_size")),
        ("AdaptiveMaxPool1d", "pooling:AdaptiveMaxPool1d", adaptive_max),
        ("AdaptiveMaxPool2d", "pooling:AdaptiveMaxPool2d", adaptive_max),
        ("MaxUnpool1d", "pooling:MaxUnpool1d", unpool),
        ("MaxUnpool2d", "pooling:MaxUnpool2d", unpool),
        ("Unfold", "fold:Unfold", _attrs(*fold_args)),
        ("Fold", "fold:Fold", _attrs("output_size", *fold_args)),
        ("Upsample", "upsampling:Upsample",
         _attrs("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")),
        ("UpsamplingNearest2d", "upsampling:UpsamplingNearest2d", upsample),
        ("UpsamplingBilinear2d", "upsampling:UpsamplingBilinear2d", upsample),
        ("RNNCell", "recurrent:RNNCell", _cell_kwargs),
        ("LSTMCell", "recurrent:LSTMCell", _cell_kwargs),
        ("GRUCell", "recurrent:GRUCell", _cell_kwargs),
        ("TransformerEncoderLayer", "transformer:TransformerEncoderLayer",
         _transformer_layer_kwargs),
        ("TransformerDecoderLayer", "transformer:TransformerDecoderLayer",
         _transformer_layer_kwargs),
    ]


def _build_stack(name: str) -> Callable[[list[tuple[str, Module | None]]], Module]:
    """Rebuild a TransformerEncoder/Decoder from its children (its layers, as saved, and
    its norm) or a Transformer from its encoder and decoder."""
    def build(children: list[tuple[str, Module | None]]) -> Module:
        from chainrule.nn import transformer

        parts = dict(children)
        cls = getattr(transformer, name)
        wanted = {"encoder", "decoder"} if name == "Transformer" else {"layers", "norm"}
        if set(parts) - wanted or any(parts.get(k) is None for k in wanted - {"norm"}):
            raise ValueError(f"{name} needs children {sorted(wanted)}, got {sorted(parts)}")
        if name == "Transformer":
            return cls.from_parts(parts["encoder"], parts["decoder"])
        return cls.from_layers(parts["layers"], parts.get("norm"))

    return build


# (type name, "module:class" in chainrule.nn) of the containers rebuilt from their children
_STACKS = (("TransformerEncoder", "transformer:TransformerEncoder"),
           ("TransformerDecoder", "transformer:TransformerDecoder"),
           ("Transformer", "transformer:Transformer"))


# ---- nnbasic: more activations, normalisations, Unflatten, parameter containers -------

def _affine_bias(m: Any) -> bool:
    return m.bias is not None if m.affine else True


def _instance_norm_kwargs(m: Any) -> dict:
    return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum,
            "affine": m.affine, "track_running_stats": m.track_running_stats,
            "bias": _affine_bias(m)}


def _nnbasic_table() -> list[tuple[str, str, GetKwargs]]:
    instance_norm = _instance_norm_kwargs
    return [
        ("SiLU", "activation:SiLU", _attrs("inplace")),
        ("Mish", "activation:Mish", _attrs("inplace")),
        ("ReLU6", "activation:ReLU6", _attrs("inplace")),
        ("SELU", "activation:SELU", _attrs("inplace")),
        ("Hardsigmoid", "activation:Hardsigmoid", _attrs("inplace")),
        ("Hardswish", "activation:Hardswish", _attrs("inplace")),
        ("Softsign", "activation:Softsign", _attrs()),
        ("Tanhshrink", "activation:Tanhshrink", _attrs()),
        ("LogSigmoid", "activation:LogSigmoid", _attrs()),
        ("ELU", "activation:ELU", _attrs("alpha", "inplace")),
        ("CELU", "activation:CELU", _attrs("alpha", "inplace")),
        ("Hardtanh", "activation:Hardtanh", _attrs("min_val", "max_val", "inplace")),
        ("PReLU", "activation:PReLU", _attrs("num_parameters", "init")),
        ("Dropout1d", "dropout:Dropout1d", _attrs("p", "inplace")),
        ("Unflatten", "linear:Unflatten", _attrs("dim", "unflattened_size")),
        ("BatchNorm3d", "normalization:BatchNorm3d", _batch_norm_kwargs),
        ("SyncBatchNorm", "normalization:SyncBatchNorm", _batch_norm_kwargs),  # mpi
        ("GroupNorm", "normalization:GroupNorm",
         lambda m: {"num_groups": m.num_groups, "num_channels": m.num_channels,
                    "eps": m.eps, "affine": m.affine, "bias": _affine_bias(m)}),
        ("RMSNorm", "normalization:RMSNorm",
         lambda m: {"normalized_shape": tuple(m.normalized_shape), "eps": m.eps,
                    "elementwise_affine": m.elementwise_affine}),
        ("InstanceNorm1d", "normalization:InstanceNorm1d", instance_norm),
        ("InstanceNorm2d", "normalization:InstanceNorm2d", instance_norm),
        ("InstanceNorm3d", "normalization:InstanceNorm3d", instance_norm),
    ]


# ParameterList/ParameterDict: the spec records each parameter's shape and
# requires_grad; rebuilding makes zero placeholders that the weights file then fills.

def _parameter_list_kwargs(m: Any) -> dict:
    return {"parameters": [[tuple(p._data.shape), bool(p.requires_grad)] for p in m]}


def _parameter_dict_kwargs(m: Any) -> dict:
    return {"parameters": [[k, tuple(p._data.shape), bool(p.requires_grad)]
                           for k, p in m.items()]}


def _placeholder(shape: Any, requires_grad: Any, where: str) -> Parameter:
    if not (isinstance(shape, (list, tuple)) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            and isinstance(requires_grad, bool)):
        raise ValueError(f"malformed parameter entry in {where}: shape {shape!r}, "
                         f"requires_grad {requires_grad!r}")
    dtype = backend.get_default_dtype()  # the model's dtype while rebuilding
    # Loading a file (meta_init): a zero-memory placeholder, counted against the budget,
    # so a crafted shape allocates nothing; otherwise real zeros.
    data = meta_array(placeholder(tuple(shape), dtype), dtype)
    if data is None:
        data = np.zeros(tuple(shape), dtype)
    return Parameter(data, requires_grad=requires_grad, dtype=dtype)


def _build_parameter_list(parameters: list) -> Module:
    from chainrule.nn.containers import ParameterList

    if not isinstance(parameters, list) or not all(
            isinstance(e, list) and len(e) == 2 for e in parameters):
        raise ValueError("ParameterList spec needs 'parameters': [[shape, requires_grad]]")
    return ParameterList([_placeholder(shape, rg, "ParameterList") for shape, rg in parameters])


def _build_parameter_dict(parameters: list) -> Module:
    from chainrule.nn.containers import ParameterDict

    if not isinstance(parameters, list) or not all(
            isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) for e in parameters):
        raise ValueError("ParameterDict spec needs 'parameters': [[key, shape, requires_grad]]")
    return ParameterDict([(k, _placeholder(shape, rg, f"ParameterDict[{k!r}]"))
                          for k, shape, rg in parameters])


_PARAMETER_CONTAINERS = (
    ("ParameterList", _parameter_list_kwargs, _build_parameter_list),
    ("ParameterDict", _parameter_dict_kwargs, _build_parameter_dict),
)


def _find_layer(where: str) -> type | None:
    module_name, _, attr = where.partition(":")
    try:
        module = importlib.import_module(f"chainrule.nn.{module_name}")
    except ImportError:
        return None
    return getattr(module, attr, None)


_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "Residual")


def _reserved_names() -> dict[str, str]:
    """Type name → qualified class name of chainrule's own layers, known without importing
    them (a user class must not take ``"Linear"`` before the built-ins are loaded)."""
    out = {name: "chainrule.nn." + where.replace(":", ".")
           for name, where, _ in _builtin_table() + _nnbasic_table() + _gapsnn_table()}
    out.update({name: f"chainrule.nn.containers.{name}" for name in _CONTAINERS})
    out.update({name: "chainrule.nn." + where.replace(":", ".") for name, where in _STACKS})
    out.update({name: f"chainrule.nn.containers.{name}" for name, _, _ in _PARAMETER_CONTAINERS})
    return out


def _ensure_builtins() -> None:
    # Done on first use rather than at import so that layer modules may import this one
    # to register themselves without an import cycle through chainrule.nn.
    global _builtins_done
    if _builtins_done:
        return
    from chainrule import nn

    _builtins_done = True
    for name, where, get_kwargs in _builtin_table() + _nnbasic_table() + _gapsnn_table():
        cls = _find_layer(where)
        if cls is not None:  # skip layers this version of chainrule.nn does not have
            _register_builtin(_Entry(name, cls, get_kwargs))
    for name in _CONTAINERS:
        cls = getattr(nn, name)
        build = _build_residual if name == "Residual" else (
            lambda ch, cls=cls: _add_children(cls(), ch))
        _register_builtin(_Entry(name, cls, None, build))
    for name, where in _STACKS:
        cls = _find_layer(where)
        if cls is not None:
            _register_builtin(_Entry(name, cls, None, _build_stack(name)))
    for name, get_kwargs, build in _PARAMETER_CONTAINERS:
        _register_builtin(_Entry(name, getattr(nn, name), get_kwargs, None, build))


# ---- gapsnn: padding, shuffles, more activations and dropouts, Bilinear, EmbeddingBag,
# LPPool, LocalResponseNorm, LazyLinear ---------------------------------------------------

def _gapsnn_table() -> list[tuple[str, str, GetKwargs]]:
    padding = _attrs("padding")
    dropout = _attrs("p", "inplace")
    lp_pool = _attrs("norm_type", "kernel_size", "stride", "ceil_mode")
    table = [(f"{kind}Pad{d}d", f"padding:{kind}Pad{d}d", padding)
             for kind in ("Zero", "Reflection", "Replication", "Circular") for d in (1, 2, 3)]
    table += [(f"ConstantPad{d}d", f"padding:ConstantPad{d}d", _attrs("padding", "value"))
              for d in (1, 2, 3)]
    return table + [
        ("PixelShuffle", "shuffle:PixelShuffle", _attrs("upscale_factor")),
        ("PixelUnshuffle", "shuffle:PixelUnshuffle", _attrs("downscale_factor")),
        ("ChannelShuffle", "shuffle:ChannelShuffle", _attrs("groups")),
        ("GLU", "activation_more:GLU", _attrs("dim")),
        ("Softmin", "activation_more:Softmin", _attrs("dim")),
        ("Softmax2d", "activation_more:Softmax2d", _attrs()),
        ("Threshold", "activation_more:Threshold", _attrs("threshold", "value", "inplace")),
        ("Hardshrink", "activation_more:Hardshrink", _attrs("lambd")),
        ("Softshrink", "activation_more:Softshrink", _attrs("lambd")),
        ("RReLU", "activation_more:RReLU", _attrs("lower", "upper", "inplace")),
        ("AlphaDropout", "dropout_more:AlphaDropout", dropout),
        ("FeatureAlphaDropout", "dropout_more:FeatureAlphaDropout", dropout),
        ("Dropout3d", "dropout_more:Dropout3d", dropout),
        ("LPPool1d", "lp_pool:LPPool1d", lp_pool),
        ("LPPool2d", "lp_pool:LPPool2d", lp_pool),
        ("LocalResponseNorm", "lp_pool:LocalResponseNorm", _attrs("size", "alpha", "beta", "k")),
        ("Bilinear", "bilinear:Bilinear",
         lambda m: {"in1_features": m.in1_features, "in2_features": m.in2_features,
                    "out_features": m.out_features, "bias": m.bias is not None}),
        ("EmbeddingBag", "embedding_bag:EmbeddingBag",
         _attrs("num_embeddings", "embedding_dim", "max_norm", "norm_type",
                "scale_grad_by_freq", "mode", "include_last_offset", "padding_idx")),
        # before its first forward; afterwards the layer is a Linear and saved as one
        ("LazyLinear", "lazy:LazyLinear",
         lambda m: {"out_features": m.out_features, "bias": m.bias is not None}),
    ]
