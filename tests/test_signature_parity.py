"""PyTorch's signatures, name for name: a PyTorch script's keyword arguments must work.

For every name that both ``torch`` and chainrule have in ``torch.nn`` (module classes:
their ``__init__``), ``torch.nn.functional``, ``torch.optim``, ``torch.optim.lr_scheduler``,
``torch.nn.init``, ``torch.nn.utils`` and ``torch.utils.data`` (the names listed in
``chainrule.compat.TORCH_NAMES``), every parameter of torch's signature must be accepted
by chainrule under the same name, and torch's positional parameters must come first in
chainrule's, in the same order. Deliberate exceptions are listed in ``EXCEPTIONS`` with a
reason each; keywords that chainrule accepts but refuses some values of are tested in
``REFUSED``.

torch's factories (``torch.zeros``, ``torch.arange``...) are implemented in C and have no
inspectable signature: they are called with each of torch's keywords instead (the
keywords are read from torch's docstrings, so a keyword torch adds fails here).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.compat import TORCH_NAMES, WHERE, _resolve

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

NAMESPACES = ("torch.nn", "torch.nn.functional", "torch.optim", "torch.optim.lr_scheduler",
              "torch.nn.init", "torch.nn.utils", "torch.utils.data")

# torch parameters that chainrule deliberately does not take, per name; one reason each.
# Keep it short: accepting a harmless keyword (and ignoring it) beats an entry here, and
# a keyword whose values chainrule cannot honour is better accepted and refused with a
# clear error (see REFUSED) than missing.
EXCEPTIONS: dict[tuple[str, str], dict[str, str]] = {}

# torch's signature where ``inspect`` only sees a ``(*args, **kwargs)`` wrapper and the
# docstring has none: copied from PyTorch's documentation.
DOCUMENTED: dict[tuple[str, str], str] = {
    ("torch.nn", "RNN"): "RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', "
                         "bias=True, batch_first=False, dropout=0.0, bidirectional=False, "
                         "device=None, dtype=None)",
    ("torch.nn", "LSTM"): "LSTM(input_size, hidden_size, num_layers=1, bias=True, "
                          "batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, "
                          "device=None, dtype=None)",
    ("torch.nn", "GRU"): "GRU(input_size, hidden_size, num_layers=1, bias=True, "
                         "batch_first=False, dropout=0.0, bidirectional=False, device=None, "
                         "dtype=None)",
}

P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
VARIADIC = (P.VAR_POSITIONAL, P.VAR_KEYWORD)
Params = list[tuple[str, Any]]  # (name, inspect kind), self excluded


# ---- reading signatures -----------------------------------------------------------------

def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return [p.strip() for p in parts + [cur] if p.strip()]


def parse_signature(text: str) -> Params:
    """Parameters of a documented signature such as ``randint(low=0, high, size, \\*,
    generator=None) -> Tensor`` (defaults are not evaluated, so any text works)."""
    inner = text[text.index("(") + 1:]
    depth = 1
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            inner = inner[:i]
            break
    params: Params = []
    kind = P.POSITIONAL_OR_KEYWORD
    for piece in _split_top(inner.replace("\\*", "*")):
        name = re.split(r"[:=]", piece, maxsplit=1)[0].strip()
        if name == "*":
            kind = P.KEYWORD_ONLY
        elif name == "/":
            params = [(n, P.POSITIONAL_ONLY) for n, _ in params]
        elif name.startswith("**"):
            params.append((name[2:], P.VAR_KEYWORD))
        elif name.startswith("*"):
            params.append((name[1:], P.VAR_POSITIONAL))
            kind = P.KEYWORD_ONLY
        else:
            params.append((name, kind))
    return params


def _doc_signature(obj: Any, name: str) -> Params | None:
    doc = inspect.getdoc(obj) or ""
    match = re.search(rf"^{re.escape(name)}\((.*?)\)[ \t]*(->|$)", doc, re.S | re.M)
    return parse_signature(f"{name}({match.group(1)})") if match else None


def _inspected(obj: Any) -> Params | None:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = [(p.name, p.kind) for p in sig.parameters.values()]
    return params[1:] if inspect.isclass(obj) else params


def torch_params(namespace: str, name: str, obj: Any) -> Params:
    """torch's parameters of ``obj``: documented override, inspected signature, or the
    signature line of its docstring when inspect cannot see through a C function or a
    ``(*args, **kwargs)`` wrapper."""
    if (namespace, name) in DOCUMENTED:
        return parse_signature(DOCUMENTED[namespace, name])
    if inspect.isclass(obj) and obj.__init__ in (object.__init__, torch.nn.Module.__init__):
        return []  # takes no arguments (Module.__init__'s *args only exist to be refused)
    params = _inspected(obj)
    if params is None or (params and all(kind in VARIADIC for _, kind in params)):
        documented = _doc_signature(obj, name)
        if documented is not None:
            return documented
    if params is None:
        pytest.fail(f"cannot read torch's signature of {namespace}.{name}; add it to "
                    "DOCUMENTED")
    return params


def chainrule_params(obj: Any) -> Params:
    if inspect.isclass(obj) and obj.__init__ is object.__init__:
        return []
    params = _inspected(obj)
    assert params is not None, f"chainrule's {obj!r} has no signature"
    return params


def signature_gaps(theirs: Params, ours: Params, excepted: dict[str, str]) -> list[str]:
    """What a call valid for torch's signature ``theirs`` could not do with ``ours``."""
    gaps = []
    our_names = {n for n, kind in ours if kind not in VARIADIC}
    our_kinds = {kind for _, kind in ours}
    for n, kind in theirs:
        if kind in VARIADIC:
            if kind not in our_kinds:
                gaps.append(f"{'*' if kind == P.VAR_POSITIONAL else '**'}{n} is not accepted")
        elif n not in our_names and n not in excepted:
            gaps.append(f"parameter {n!r} is missing")
    their_positional = [n for n, kind in theirs if kind in POSITIONAL]
    our_positional = [n for n, kind in ours if kind in POSITIONAL]
    for i, n in enumerate(their_positional):
        if n in excepted:
            break  # positions after a deliberately missing parameter cannot line up
        if i >= len(our_positional) or our_positional[i] != n:
            got = our_positional[i] if i < len(our_positional) else "nothing"
            gaps.append(f"positional parameter {i} is {n!r} in torch, {got!r} here")
            break
    return gaps


def _pairs() -> list[tuple[str, str]]:
    out = []
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in TORCH_NAMES[namespace]:
            theirs = getattr(module, name, None)
            ours = _resolve(f"{WHERE[namespace]}.{name}")
            if theirs is None or ours is None or inspect.ismodule(theirs) or \
                    inspect.ismodule(ours) or not callable(theirs):
                continue
            out.append((namespace, name))
    return out


PAIRS = _pairs()


def _objects(namespace: str, name: str) -> tuple[Any, Any]:
    return getattr(importlib.import_module(namespace), name), _resolve(
        f"{WHERE[namespace]}.{name}")


# ---- the signature comparison -----------------------------------------------------------

def test_every_namespace_is_compared() -> None:
    counts = {ns: sum(p[0] == ns for p in PAIRS) for ns in NAMESPACES}
    assert all(counts.values()), f"a namespace has no name in common with torch: {counts}"
    assert len(PAIRS) >= 200, counts


@pytest.mark.parametrize("namespace,name", PAIRS, ids=[f"{ns}.{n}" for ns, n in PAIRS])
def test_signature_matches_torch(namespace: str, name: str) -> None:
    theirs, ours = _objects(namespace, name)
    gaps = signature_gaps(torch_params(namespace, name, theirs), chainrule_params(ours),
                          EXCEPTIONS.get((namespace, name), {}))
    assert not gaps, f"{namespace}.{name}: " + "; ".join(gaps)


def test_exceptions_are_needed_and_explained() -> None:
    """Each entry names a parameter torch has and chainrule lacks, with a reason."""
    for (namespace, name), params in EXCEPTIONS.items():
        theirs, ours = _objects(namespace, name)
        their_names = {n for n, _ in torch_params(namespace, name, theirs)}
        our_names = {n for n, _ in chainrule_params(ours)}
        for param, reason in params.items():
            assert param in their_names, f"{namespace}.{name}: torch has no {param!r}"
            assert param not in our_names, f"{namespace}.{name}: {param!r} is accepted now"
            assert len(reason) > 10, f"{namespace}.{name}.{param}: give a reason"


def test_signature_comparison_catches_gaps() -> None:
    """The comparison itself: a missing name, a wrong order and a missing *args fail."""
    theirs = parse_signature("f(input, weight, bias=None, *, out=None) -> Tensor")
    assert theirs == [("input", P.POSITIONAL_OR_KEYWORD), ("weight", P.POSITIONAL_OR_KEYWORD),
                      ("bias", P.POSITIONAL_OR_KEYWORD), ("out", P.KEYWORD_ONLY)]
    ok = parse_signature("f(input, weight, bias=None, out=None)")
    assert signature_gaps(theirs, ok, {}) == []
    swapped = parse_signature("f(input, bias=None, weight=None, *, out=None)")
    assert signature_gaps(theirs, swapped, {}) == [
        "positional parameter 1 is 'weight' in torch, 'bias' here"]
    no_out = parse_signature("f(input, weight, bias=None)")
    assert signature_gaps(theirs, no_out, {}) == ["parameter 'out' is missing"]
    assert signature_gaps(theirs, no_out, {"out": "a reason"}) == []
    assert signature_gaps(parse_signature("g(*args)"), no_out, {}) == [
        "*args is not accepted"]
    assert parse_signature("randint(low=0, high, size, \\*, generator=None)") == [
        ("low", P.POSITIONAL_OR_KEYWORD), ("high", P.POSITIONAL_OR_KEYWORD),
        ("size", P.POSITIONAL_OR_KEYWORD), ("generator", P.KEYWORD_ONLY)]


# ---- factories: torch's keywords, called --------------------------------------------------

LIKE = object()  # stands for the *_like factories' input, made by each library

# Each factory's arguments, all by torch's names (so the call is keyword-only).
FACTORY_ARGS: dict[str, dict[str, Any]] = {
    "zeros": {"size": (2, 3)},
    "ones": {"size": (2, 3)},
    "empty": {"size": (2, 3)},
    "full": {"size": (2, 3), "fill_value": 1.5},
    "rand": {"size": (2, 3)},
    "randn": {"size": (2, 3)},
    "randint": {"low": 2, "high": 9, "size": (2, 3)},
    "randperm": {"n": 20},
    "arange": {"start": 1, "end": 7, "step": 2},
    "linspace": {"start": 0.0, "end": 1.0, "steps": 5},
    "logspace": {"start": 0.0, "end": 2.0, "steps": 3, "base": 2.0},
    "eye": {"n": 2, "m": 3},
    "tensor": {"data": [[1.0, 2.0], [3.0, 4.0]]},
    "as_tensor": {"data": [[1.0, 2.0], [3.0, 4.0]]},
    "zeros_like": {"input": LIKE},
    "ones_like": {"input": LIKE},
    "empty_like": {"input": LIKE},
    "full_like": {"input": LIKE, "fill_value": 2.5},
    "rand_like": {"input": LIKE},
    "randn_like": {"input": LIKE},
    "randint_like": {"input": LIKE, "low": 0, "high": 5},
}
RANDOM = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like"}
UNINITIALISED = {"empty", "empty_like"}  # torch leaves them unset: compare shape and dtype
KNOWN_KEYWORDS = {"out", "dtype", "layout", "device", "requires_grad", "pin_memory",
                  "memory_format", "generator"}
FACTORIES = sorted(FACTORY_ARGS)


def _torch_doc_params(name: str) -> Params:
    doc = getattr(torch, name).__doc__ or ""
    line = doc.strip().split("->")[0]
    return parse_signature(" ".join(line.split()))


def _args(name: str, lib: Any, **extra: Any) -> dict[str, Any]:
    like = lib.ones(2, 3, dtype=lib.float32)
    args = {k: (like if v is LIKE else v) for k, v in FACTORY_ARGS[name].items()}
    return {**args, **extra}


def _call(name: str, lib: Any, **extra: Any) -> Any:
    return getattr(lib, name)(**_args(name, lib, **extra))


def _np_dtype(t: Any) -> np.dtype:
    return np.dtype(str(t.dtype).replace("torch.", ""))


def _cuda_error() -> str:
    with pytest.raises(RuntimeError) as err:
        cr.zeros(1).to("cuda")
    return str(err.value)


def test_factory_table_covers_torch() -> None:
    """Every torch factory the brief names is here, each parameter of torch's documented
    signature is in its arguments or known keywords, and chainrule has them all."""
    wanted = {"zeros", "ones", "full", "empty", "rand", "randn", "randint", "randperm",
              "arange", "linspace", "logspace", "eye", "tensor", "as_tensor"}
    wanted |= {n for n in TORCH_NAMES["torch"] if n.endswith("_like")}
    assert wanted <= set(FACTORY_ARGS)
    for name in FACTORIES:
        params = _torch_doc_params(name)
        assert params, f"torch.{name}: no documented signature"
        for param, kind in params:
            if kind == P.KEYWORD_ONLY:
                assert param in KNOWN_KEYWORDS, (
                    f"torch.{name} has a new keyword {param!r}: decide how chainrule takes it")
            else:
                assert param in FACTORY_ARGS[name], f"torch.{name}: {param!r} not in the table"


@pytest.mark.parametrize("name", FACTORIES)
def test_factory_torch_names_and_values(name: str) -> None:
    ours, theirs = _call(name, cr), _call(name, torch)
    assert isinstance(ours, cr.Tensor)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == _np_dtype(theirs), (ours.dtype, theirs.dtype)
    assert ours.device == cr.device("cpu") and not ours.requires_grad
    if name not in RANDOM | UNINITIALISED:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def _keywords(name: str) -> list[str]:
    return [p for p, kind in _torch_doc_params(name) if kind == P.KEYWORD_ONLY]


FACTORY_KEYWORDS = [(n, k) for n in FACTORIES for k in _keywords(n)]


@pytest.mark.parametrize("name,keyword", FACTORY_KEYWORDS,
                         ids=[f"{n}-{k}" for n, k in FACTORY_KEYWORDS])
def test_factory_keyword(name: str, keyword: str) -> None:
    plain = _call(name, cr)
    floating = plain.dtype.kind == "f"
    if keyword == "dtype":
        for dtype, torch_dtype in ((cr.float64, torch.float64), (cr.int32, torch.int32)):
            if name in {"rand", "randn", "rand_like", "randn_like"} and dtype.kind != "f":
                continue  # torch refuses integer normal/uniform samples too
            got = _call(name, cr, dtype=dtype)
            assert got.dtype == dtype == _np_dtype(_call(name, torch, dtype=torch_dtype))
    elif keyword == "device":
        for dev in ("cpu", "cpu:0", cr.device("cpu"), None):
            assert _call(name, cr, device=dev).device == cr.device("cpu")
        with pytest.raises(RuntimeError) as err:
            _call(name, cr, device="cuda")
        assert str(err.value) == _cuda_error()  # the error of Tensor.to("cuda")
        with pytest.raises(RuntimeError, match="no GPU backend"):
            _call(name, cr, device=0)  # an int is a CUDA index in PyTorch
    elif keyword == "requires_grad":
        extra = {} if floating else {"dtype": cr.float32}
        t = _call(name, cr, requires_grad=True, **extra)
        assert t.requires_grad and t.is_leaf
        assert not _call(name, cr, requires_grad=False).requires_grad
    elif keyword == "generator":
        first = _call(name, cr, generator=cr.Generator(7))
        again = _call(name, cr, generator=cr.Generator(7))
        other = _call(name, cr, generator=cr.Generator(8))
        np.testing.assert_array_equal(first.numpy(), again.numpy())
        assert not np.array_equal(first.numpy(), other.numpy())
    elif keyword == "layout":
        for layout in (cr.strided, None):
            assert _call(name, cr, layout=layout).shape == plain.shape
        with pytest.raises(ValueError, match="layout="):
            _call(name, cr, layout="sparse_coo")
    elif keyword == "pin_memory":  # ignored: pinning only speeds up copies to a GPU
        for pin in (False, True):
            assert _call(name, cr, pin_memory=pin).shape == plain.shape
    elif keyword == "memory_format":  # ignored: it changes strides, never values
        for fmt in (cr.preserve_format, cr.contiguous_format, cr.channels_last, None):
            assert _call(name, cr, memory_format=fmt).shape == plain.shape
    elif keyword == "out":
        with pytest.raises(TypeError, match=r"out= is not supported"):
            _call(name, cr, out=cr.zeros(2, 3))
    else:
        pytest.fail(f"no check for keyword {keyword!r}")


def test_factory_positional_forms() -> None:
    """The calls of published scripts, positional and mixed, next to torch's."""
    calls: list[Callable[[Any], Any]] = [
        lambda m: m.zeros(2, 3), lambda m: m.zeros((2, 3)), lambda m: m.zeros([2, 3]),
        lambda m: m.ones(4), lambda m: m.full((2, 2), 7), lambda m: m.full([3], True),
        lambda m: m.arange(5), lambda m: m.arange(1, 4), lambda m: m.arange(0, 1, 0.25),
        lambda m: m.arange(end=4), lambda m: m.arange(5, dtype=m.float32),
        lambda m: m.linspace(-1, 1, 5), lambda m: m.logspace(0, 3, 4), lambda m: m.eye(3),
        lambda m: m.eye(2, 4), lambda m: m.tensor(3), lambda m: m.tensor([1, 2]),
        lambda m: m.tensor([0.5], dtype=m.float64, device="cpu", requires_grad=True),
        lambda m: m.as_tensor([1, 2], dtype=m.float32), lambda m: m.zeros(size=(3,)),
        lambda m: m.zeros_like(m.ones(2, dtype=m.int64)),
        lambda m: m.full_like(m.ones(2), 3, dtype=m.int64),
    ]
    for call in calls:
        ours, theirs = call(cr), call(torch)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == _np_dtype(theirs)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(),
                                   rtol=1e-6)
    assert cr.randint(10, (3,)).shape == (3,) and cr.randint(2, 5, (4,)).dtype == cr.int64
    assert cr.randint_like(cr.zeros(3), 4).dtype == cr.float32  # the input's dtype


# ---- layers: device= and dtype= ----------------------------------------------------------

# Constructor arguments of every torch.nn layer that takes device= (and chainrule has).
LAYER_ARGS: dict[str, tuple] = {
    "Linear": (3, 4), "Conv1d": (2, 3, 3), "Conv2d": (2, 3, 3), "ConvTranspose1d": (2, 3, 3),
    "ConvTranspose2d": (2, 3, 3), "BatchNorm1d": (3,), "BatchNorm2d": (3,),
    "BatchNorm3d": (3,), "LayerNorm": (4,), "GroupNorm": (2, 4), "RMSNorm": (4,),
    "InstanceNorm1d": (3,), "InstanceNorm2d": (3,), "InstanceNorm3d": (3,),
    "Embedding": (5, 3), "PReLU": (), "RNN": (3, 4), "LSTM": (3, 4), "GRU": (3, 4),
    "RNNCell": (3, 4), "LSTMCell": (3, 4), "GRUCell": (3, 4),
    "MultiheadAttention": (4, 2), "TransformerEncoderLayer": (4, 2, 8),
    "TransformerDecoderLayer": (4, 2, 8),
    "Transformer": (4, 2, 1, 1, 8),
    "Bilinear": (3, 4, 2), "EmbeddingBag": (5, 3), "LazyLinear": (4,),
    "SyncBatchNorm": (3,),
}
DEVICE_LAYERS = [n for ns, n in PAIRS if ns == "torch.nn" and "device" in {
    p for p, _ in torch_params(ns, n, getattr(torch.nn, n))}]


def test_layer_table_covers_every_device_layer() -> None:
    assert set(DEVICE_LAYERS) <= set(LAYER_ARGS), set(DEVICE_LAYERS) - set(LAYER_ARGS)
    assert len(DEVICE_LAYERS) >= 20


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")  # torch's, about its own speed
@pytest.mark.parametrize("name", DEVICE_LAYERS)
def test_layer_device_and_dtype(name: str) -> None:
    args = LAYER_ARGS[name]
    ours_cls, theirs_cls = getattr(cr.nn, name), getattr(torch.nn, name)
    ours = ours_cls(*args, device="cpu", dtype=cr.float64)
    theirs = theirs_cls(*args, device="cpu", dtype=torch.float64)
    theirs_state = theirs.state_dict()
    if name.startswith("Lazy"):  # no shapes before the first forward
        ours(cr.ones(2, 3, dtype=cr.float64))
        theirs(torch.ones(2, 3, dtype=torch.float64))
        theirs_state = theirs.state_dict()
    ours_state = {k: v for k, v in ours.state_dict().items()}
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert tuple(np.shape(ours_state[key])) == tuple(value.shape), key
        assert np.asarray(ours_state[key]).dtype == _np_dtype(value), key
    for dev in (cr.device("cpu"), None, "cpu:0"):
        assert all(p.device == cr.device("cpu")
                   for p in ours_cls(*args, device=dev).parameters())
    with pytest.raises(RuntimeError) as err:
        ours_cls(*args, device="cuda")
    assert str(err.value) == _cuda_error()
    with pytest.raises(TypeError, match="device="):
        ours_cls(*args, device=1.5)


def test_published_device_calls() -> None:
    """The calls that failed before this test existed."""
    dev = "cuda" if cr.cuda.is_available() else "cpu"
    assert cr.zeros(3, device="cpu").device.type == "cpu"
    assert cr.tensor([1.0, 2.0], device=dev).shape == (2,)
    assert cr.arange(4, device=dev).tolist() == [0, 1, 2, 3]
    assert cr.randn(2, device=cr.device(dev)).shape == (2,)
    assert cr.full((2,), 3.0, device=dev).tolist() == [3.0, 3.0]
    assert cr.eye(2, device=dev).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert cr.nn.Linear(3, 4, device="cpu")(cr.ones(2, 3)).shape == (2, 4)
    assert cr.nn.Conv2d(1, 2, 3, device=dev)(cr.ones(1, 1, 5, 5)).shape == (1, 2, 3, 3)
    x = cr.ones(2, dtype=cr.float64)
    for made in (x.new_zeros(3, device=x.device), x.new_ones((3,), device=dev),
                 x.new_full((3,), 2.0, device=dev), x.new_tensor([1, 2, 3], device=dev),
                 x.new_empty(3, device=dev)):
        assert made.shape == (3,) and made.dtype == cr.float64
    with pytest.raises(RuntimeError, match="'cuda' is not available"):
        x.new_zeros(2, device="cuda")
    g = cr.Generator(device=dev).manual_seed(0)  # torch.Generator(device=...).manual_seed(0)
    assert g.device == cr.device("cpu") and cr.Generator("cpu").initial_seed() is None
    np.testing.assert_array_equal(cr.randn(3, generator=g).numpy(),
                                  cr.randn(3, generator=cr.Generator(0)).numpy())


# ---- optimizers: PyTorch's implementation switches -----------------------------------------

SWITCHES = ("foreach", "fused", "capturable", "differentiable")
OPTIMIZERS = [n for ns, n in PAIRS if ns == "torch.optim" and n != "Optimizer"]


def _trained(name: str, **kwargs: Any) -> np.ndarray:
    w = cr.nn.Parameter(np.array([1.0, -2.0, 0.5]))
    opt = getattr(cr.optim, name)([w], lr=0.1, **kwargs)
    for _ in range(3):
        opt.zero_grad()
        ((w * w).sum() + w.sum()).backward()
        opt.step()
    return w.numpy().copy()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_switches_change_nothing(name: str) -> None:
    takes = {p for p, _ in torch_params("torch.optim", name, getattr(torch.optim, name))}
    harmless = {s: True for s in SWITCHES if s in takes and s != "differentiable"}
    plain = _trained(name)
    np.testing.assert_array_equal(_trained(name, **harmless), plain)
    np.testing.assert_array_equal(_trained(name, **{s: None for s in harmless}), plain)
    if "differentiable" in takes:
        np.testing.assert_array_equal(_trained(name, differentiable=False), plain)
        with pytest.raises(NotImplementedError, match="differentiable=True"):
            _trained(name, differentiable=True)


# ---- keywords accepted, some values refused with a clear error -----------------------------

REFUSED: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("Embedding(sparse=True): sparse gradients", lambda: cr.nn.Embedding(3, 2, sparse=True),
     ValueError, "sparse=True"),
    ("F.embedding(sparse=True)",
     lambda: cr.nn.functional.embedding(cr.tensor([0]), cr.ones(3, 2), sparse=True),
     ValueError, "sparse=True"),
    ("LSTM(proj_size>0): projected hidden state not implemented",
     lambda: cr.nn.LSTM(3, 4, proj_size=2), NotImplementedError, "proj_size=2"),
    ("F.normalize(out=)", lambda: cr.nn.functional.normalize(cr.ones(2, 2), out=cr.ones(2, 2)),
     TypeError, "out="),
    ("F.interpolate(antialias=True)",
     lambda: cr.nn.functional.interpolate(cr.ones(1, 1, 4, 4), scale_factor=0.5,
                                          mode="bilinear", antialias=True),
     ValueError, "antialias"),
    ("DataLoader(batch_size=None): unbatched loading",
     lambda: cr.utils.data.DataLoader([1, 2], batch_size=None), ValueError, "batch_size"),
]


@pytest.mark.parametrize("what,call,error,match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_values_raise_clear_errors(what: str, call: Callable[[], Any],
                                           error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=re.escape(match)):
        call()


def test_hardtanh_deprecated_spellings() -> None:
    with pytest.warns(DeprecationWarning) as caught:
        layer = cr.nn.Hardtanh(min_value=-2.0, max_value=3.0)
    assert [str(w.message).split(":")[1].split()[0] for w in caught] == ["min_value",
                                                                         "max_value"]
    assert (layer.min_val, layer.max_val) == (-2.0, 3.0)
    assert layer(cr.tensor([-5.0, 5.0])).tolist() == [-2.0, 3.0]


def test_functional_input_keyword() -> None:
    """``input=`` by keyword, as PyTorch names the first argument."""
    F = cr.nn.functional
    x = cr.tensor([[-1.0, 2.0]])
    assert F.relu(input=x).tolist() == [[0.0, 2.0]]
    assert F.softmax(input=x, dim=1, _stacklevel=5).shape == (1, 2)
    assert F.linear(input=x, weight=cr.ones(3, 2)).shape == (1, 3)
    assert F.dropout(x, 0.5, False, False).tolist() == x.tolist()  # torch's positional inplace
    g = cr.Generator(0)
    assert F.dropout(x, 0.5, True, g).shape == (1, 2)  # chainrule's older positional generator
    w = cr.nn.init.constant_(tensor=cr.ones(2), val=3.0)
    assert w.tolist() == [3.0, 3.0]
