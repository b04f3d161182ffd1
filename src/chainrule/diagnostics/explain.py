"""The chain-rule explainer: one training step of a small network with real numbers.

``explain()`` walks a forward pass (every neuron's weighted sum ``z = Σ w·a + b`` and its
activation ``a = f(z)``), the error ``E = 1/n Σ (y − ŷ)²``, the backward pass (for every
weight and bias the chain-rule product factor by factor, with hidden layers summing over
the paths to the next layer as δ terms), the update ``Δw = −α ∂E/∂w`` and the error after
the step. Next to each hand-computed gradient it puts the value from chainrule's
autograd and from central finite differences, so a reader sees the three agree.

Everything is computed in float64; the user's model is never changed.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.losses import mse_loss
from chainrule.nn.activation import ReLU, Sigmoid, Tanh
from chainrule.nn.containers import Sequential
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.preprocessing import Standardize
from chainrule.tensor import Tensor

_FORMATS = ("text", "markdown", "html")
_ACTIVATION_NAMES = {Sigmoid: "sigmoid", Tanh: "tanh", ReLU: "relu", Identity: "identity"}
_DERIVATIVE_FORMULA = {"sigmoid": "{a}(1 − {a})", "tanh": "1 − {a}²",
                       "relu": "1 if z > 0 else 0", "identity": "1"}


@dataclass
class Factor:
    """One factor of a chain-rule product: its symbol, value and how it was obtained."""

    symbol: str
    value: float
    detail: str = ""


@dataclass
class NeuronStep:
    """One neuron's forward and backward numbers.

    ``inputs`` lists ``(weight name, weight, input name, input value)`` per incoming edge;
    ``upstream`` is ∂E/∂a and ``paths`` its terms ``(δ of the next neuron's name, δ,
    weight name, weight)`` (empty for output neurons, where ∂E/∂a = 2/n (a − y)).
    """

    name: str
    layer: int
    activation: str
    inputs: list[tuple[str, float, str, float]]
    bias_name: str | None
    bias: float
    z: float
    a: float
    upstream: float = math.nan
    derivative: float = math.nan
    delta: float = math.nan
    paths: list[tuple[str, float, str, float]] = field(default_factory=list)


@dataclass
class GradientRow:
    """The gradient of one weight or bias, three ways, and its update.

    Attributes:
        name: readable name, ``w(x1→h1)`` or ``b(h1)``.
        param: the parameter entry in ``state_dict`` terms, ``0.weight[0, 0]``.
        layer: 1-based index of the Linear layer.
        value: the weight before the step.
        factors: the chain-rule factors whose product is the gradient.
        chain_rule: their product, ∂E/∂w by hand.
        autograd: ∂E/∂w from chainrule's ``backward()``.
        finite_difference: (E(w + ε) − E(w − ε)) / 2ε.
        update: Δw = −α · ∂E/∂w.
        new_value: w + Δw.
    """

    name: str
    param: str
    layer: int
    value: float
    factors: list[Factor]
    chain_rule: float
    autograd: float
    finite_difference: float
    update: float
    new_value: float


@dataclass
class Explanation:
    """The worked training step. ``str()`` gives the rendering chosen by ``format``.

    Attributes:
        text, markdown, html: the same story in three renderings; ``html`` is a whole
            page (doctype, charset, title, a little CSS), what ``chainrule explain
            --format html -o step.html`` writes.
        html_fragment: the same HTML without the page around it (one ``<div
            class="chainrule-explain">``), for embedding in another page; Jupyter shows
            this one.
        rows: one ``GradientRow`` per weight and bias, in model order.
        neurons: one ``NeuronStep`` per neuron, in forward order.
        x, y, prediction: the example and the network's output before the step.
        error_before, error_after: E before and after the update.
        lr: the learning rate α.
        notes: what was done before the walk, e.g. the raw input standardised by the
            model's own ``Standardize`` layer (a model ``chainrule train`` wrote).
    """

    rows: list[GradientRow]
    neurons: list[NeuronStep]
    x: np.ndarray
    y: np.ndarray
    prediction: np.ndarray
    error_before: float
    error_after: float
    lr: float
    format: str = "text"
    notes: list[str] = field(default_factory=list)
    text: str = ""
    markdown: str = ""
    html: str = ""
    html_fragment: str = ""

    def __str__(self) -> str:
        return getattr(self, self.format)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return self.html_fragment  # a notebook cell takes a fragment, not a document

    def max_discrepancy(self) -> float:
        """Largest |chain rule − autograd| or |chain rule − finite difference| over all rows."""
        return max(max(abs(r.chain_rule - r.autograd), abs(r.chain_rule - r.finite_difference))
                   for r in self.rows)


def default_network() -> Sequential:
    """The network ``explain()`` uses by default: 2 inputs → 2 sigmoid → 1 sigmoid, float64,
    with fixed weights (w = 0.15, 0.20, 0.25, 0.30 into the hidden layer, 0.40, 0.45 into
    the output; biases 0.35 and 0.60)."""
    hidden = Linear(2, 2, dtype=np.float64)
    output = Linear(2, 1, dtype=np.float64)
    hidden.weight._data[...] = [[0.15, 0.20], [0.25, 0.30]]
    hidden.bias._data[...] = [0.35, 0.35]
    output.weight._data[...] = [[0.40, 0.45]]
    output.bias._data[...] = [0.60]
    return Sequential(hidden, Sigmoid(), output, Sigmoid())


# ---- parsing the model ----------------------------------------------------------------

@dataclass
class _Layer:
    module_name: str
    weight: np.ndarray  # (out, in), float64 copy
    bias: np.ndarray | None
    activation: str


def _parse(model: Module) -> list[_Layer]:
    if not isinstance(model, Sequential):
        raise ValueError(f"explain() walks a Sequential of Linear layers and activations; got "
                         f"{type(model).__name__}")
    layers: list[_Layer] = []
    previous_was_activation = True
    for name, module in model.named_children():
        if isinstance(module, Linear):
            if layers and module.in_features != layers[-1].weight.shape[0]:
                raise ValueError(
                    f"explain(): layer '{name}' expects {module.in_features} inputs but the "
                    f"previous Linear gives {layers[-1].weight.shape[0]}")
            bias = None if module.bias is None else module.bias._data.astype(np.float64)
            layers.append(_Layer(name, module.weight._data.astype(np.float64), bias,
                                 "identity"))
            previous_was_activation = False
        elif type(module) in _ACTIVATION_NAMES:
            if not layers:
                raise ValueError(f"explain(): the model starts with activation '{name}'; it "
                                 "must start with a Linear layer")
            if previous_was_activation:
                raise ValueError(f"explain(): layer '{name}' is a second activation in a row")
            layers[-1].activation = _ACTIVATION_NAMES[type(module)]
            previous_was_activation = True
        else:
            raise ValueError(
                f"explain() supports Linear layers and Sigmoid/Tanh/ReLU/Identity activations; "
                f"layer '{name}' is {type(module).__name__}")
    if not layers:
        raise ValueError("explain(): the model has no Linear layer")
    return layers


def _peel(model: Module) -> tuple[Module, Standardize | None, Standardize | None, list[str]]:
    """The layers the walk covers: without the fixed ``Standardize`` layers (the one that
    standardises the input first, and the inverted one that maps a regression's outputs
    back to real units last, as ``chainrule train`` puts them around the layers it trains)
    and without dropout (whose random mask would make the step one of many). Returns the
    model, the two layers (or None) and the names of the dropout layers left out."""
    if not isinstance(model, Sequential):
        return model, None, None, []
    named = list(model.named_children())
    dropped = [name for name, m in named if isinstance(m, Dropout)]
    kept = [(name, m) for name, m in named if not isinstance(m, Dropout)]
    first = kept[0][1] if kept and isinstance(kept[0][1], Standardize) \
        and not kept[0][1].invert else None
    last = kept[-1][1] if len(kept) > 1 and isinstance(kept[-1][1], Standardize) \
        and kept[-1][1].invert else None
    if first is None and last is None and not dropped:
        return model, None, None, []
    inner = kept[first is not None:len(kept) - (last is not None)]
    return Sequential(OrderedDict(inner)), first, last, dropped  # the layers keep their names


def _standardized(layer: Standardize, values: np.ndarray) -> np.ndarray:
    mean = np.asarray(layer.mean._data, np.float64).reshape(-1)
    std = np.asarray(layer.std._data, np.float64).reshape(-1)
    if mean.size != values.size:
        raise ValueError(f"explain(): the model's Standardize layer holds {mean.size} "
                         f"features, the example {values.size}")
    return (values - mean) / std


def _plain_vector(values: np.ndarray) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def _rebuild(layers: list[_Layer], weights: list[tuple[np.ndarray, np.ndarray | None]]
             ) -> Sequential:
    """A fresh float64 Sequential with the same structure (the user's model is not touched)."""
    modules: list[Module] = []
    inverse = {v: k for k, v in _ACTIVATION_NAMES.items()}
    for layer, (w, b) in zip(layers, weights):
        lin = Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=np.float64)
        lin.weight._data[...] = w
        if b is not None:
            lin.bias._data[...] = b
        modules.append(lin)
        if layer.activation != "identity":
            modules.append(inverse[layer.activation]())
    return Sequential(*modules)


def _activate(kind: str, z: np.ndarray) -> np.ndarray:
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.maximum(z, 0.0)
    return z.copy()


def _derivative(kind: str, z: float, a: float) -> float:
    """f'(z), written from the output a where that is the textbook form."""
    if kind == "sigmoid":
        return a * (1.0 - a)
    if kind == "tanh":
        return 1.0 - a * a
    if kind == "relu":
        return 1.0 if z > 0 else 0.0
    return 1.0


def _as_vector(value: Any, size: int, what: str) -> np.ndarray:
    arr = np.asarray(value._data if isinstance(value, Tensor) else value, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != (size,):
        raise ValueError(f"explain(): {what} must have {size} values (shape ({size},) or "
                         f"(1, {size})), got shape {arr.shape}")
    return arr


def _loss(model: Sequential, x: np.ndarray, y: np.ndarray) -> Tensor:
    return mse_loss(model(Tensor(x[None, :], dtype=np.float64)),
                    Tensor(y[None, :], dtype=np.float64))


# ---- the explainer ------------------------------------------------------------------

def explain(model: Module | None = None, x: Any = None, y: Any = None, lr: float = 0.5,
            format: str = "text", eps: float = 1e-6) -> Explanation:  # noqa: A002
    """Walk one gradient-descent step of a small network with real numbers.

    Args:
        model: a ``Sequential`` of ``Linear`` layers, each optionally followed by one
            ``Sigmoid``/``Tanh``/``ReLU``/``Identity``. Default: ``default_network()``.
        x: one input example, shape (in_features,). Default: [0.05, 0.10].
        y: its target, shape (out_features,). Default: [0.01].
        lr: the learning rate α of the update Δw = −α ∂E/∂w.
        format: which rendering ``str(explanation)`` gives: ``'text'``, ``'markdown'`` or
            ``'html'`` (all three are always available as attributes).
        eps: the finite-difference step.

    Returns:
        an ``Explanation`` with ``.text``, ``.markdown``, ``.html`` (a whole page),
        ``.html_fragment`` (the same, embeddable) and structured ``.rows``.

    Example:
        >>> from chainrule.diagnostics import explain
        >>> ex = explain()
        >>> row = ex.rows[0]
        >>> abs(row.chain_rule - row.autograd) < 1e-9
        True
        >>> print(ex)  # doctest: +SKIP
    """
    if format not in _FORMATS:
        raise ValueError(f"explain(): format must be one of {_FORMATS}, got {format!r}")
    if not lr > 0:
        raise ValueError(f"explain(): the learning rate must be positive, got {lr}")
    model = default_network() if model is None else model
    model, x_in, y_out, dropped = _peel(model)
    layers = _parse(model)
    n_in, n_out = layers[0].weight.shape[1], layers[-1].weight.shape[0]
    x_vec = _as_vector([0.05, 0.10] if x is None else x, n_in, "x")
    y_vec = _as_vector([0.01] if y is None else y, n_out, "y")
    notes = []
    if dropped:
        notes.append(f"dropout ({', '.join(repr(n) for n in dropped)}) is left out, as in "
                     "evaluation: with it, each step would use another random mask")
    if x_in is not None:
        raw, x_vec = x_vec, _standardized(x_in, x_vec)
        notes.append(f"the model's first layer standardises the raw input, x = (raw − mean)"
                     f" / std: {_plain_vector(raw)} → {_plain_vector(x_vec)}; the walk starts"
                     " from there (that layer learns nothing)")
    if y_out is not None:
        raw, y_vec = y_vec, _standardized(y_out, y_vec)
        notes.append(f"the model's last layer maps outputs back to real units (ŷ · std + "
                     f"mean), and training measured the error on standardised targets, so the"
                     f" target is standardised too: {_plain_vector(raw)} → "
                     f"{_plain_vector(y_vec)}")

    neurons_by_layer, names = _forward(layers, x_vec)
    prediction = np.array([nr.a for nr in neurons_by_layer[-1]])
    error = float(np.mean((y_vec - prediction) ** 2))
    _backward(layers, neurons_by_layer, y_vec)

    weights = [(layer.weight, layer.bias) for layer in layers]
    net = _rebuild(layers, weights)
    loss = _loss(net, x_vec, y_vec)
    if abs(loss.item() - error) > 1e-9 * max(1.0, abs(error)):
        raise RuntimeError(f"explain(): the hand-computed error {error} differs from the "
                           f"model's {loss.item()}")
    loss.backward()
    linears = [m for m in net if isinstance(m, Linear)]
    rows = _rows(layers, neurons_by_layer, names, linears, net, x_vec, y_vec, lr, eps)

    updated = []
    for li, layer in enumerate(layers):
        w = layer.weight.copy()
        b = None if layer.bias is None else layer.bias.copy()
        for r in rows:
            if r.layer == li + 1:
                kind, index = _index(r.param)
                if kind == "weight":
                    w[index] = r.new_value
                else:
                    b[index] = r.new_value
        updated.append((w, b))
    with no_grad():
        error_after = _loss(_rebuild(layers, updated), x_vec, y_vec).item()

    neurons = [nr for layer_neurons in neurons_by_layer for nr in layer_neurons]
    result = Explanation(rows, neurons, x_vec, y_vec, prediction, error, error_after,
                         float(lr), format, notes)
    result.text = _render_text(result, layers, names)
    result.markdown = _render_markdown(result, layers, names)
    result.html_fragment = _render_html(result, layers, names)
    result.html = _html_page(result.html_fragment)
    return result


def _neuron_names(layers: list[_Layer]) -> list[list[str]]:
    names = [[f"x{i + 1}" for i in range(layers[0].weight.shape[1])]]
    hidden = len(layers) - 1
    for li, layer in enumerate(layers):
        count = layer.weight.shape[0]
        if li == len(layers) - 1:
            names.append([f"o{j + 1}" for j in range(count)])
        elif hidden == 1:
            names.append([f"h{j + 1}" for j in range(count)])
        else:
            names.append([f"h{li + 1}_{j + 1}" for j in range(count)])
    return names


def _forward(layers: list[_Layer], x: np.ndarray
             ) -> tuple[list[list[NeuronStep]], list[list[str]]]:
    names = _neuron_names(layers)
    a_prev = x
    result: list[list[NeuronStep]] = []
    for li, layer in enumerate(layers):
        z = layer.weight @ a_prev + (layer.bias if layer.bias is not None else 0.0)
        a = _activate(layer.activation, z)
        row = []
        for j in range(layer.weight.shape[0]):
            dst = names[li + 1][j]
            inputs = [(f"w({src}→{dst})", float(layer.weight[j, i]), src, float(a_prev[i]))
                      for i, src in enumerate(names[li])]
            has_bias = layer.bias is not None
            row.append(NeuronStep(dst, li + 1, layer.activation, inputs,
                                  f"b({dst})" if has_bias else None,
                                  float(layer.bias[j]) if has_bias else 0.0,
                                  float(z[j]), float(a[j])))
        result.append(row)
        a_prev = a
    return result, names


def _backward(layers: list[_Layer], neurons: list[list[NeuronStep]], y: np.ndarray) -> None:
    """δ = ∂E/∂z for every neuron, output layer first (the chain rule, layer by layer)."""
    n = len(y)
    for li in range(len(layers) - 1, -1, -1):
        for j, nr in enumerate(neurons[li]):
            if li == len(layers) - 1:
                nr.upstream = 2.0 / n * (nr.a - float(y[j]))
            else:
                nxt = layers[li + 1]
                nr.paths = [(after.name, after.delta, f"w({nr.name}→{after.name})",
                             float(nxt.weight[k, j]))
                            for k, after in enumerate(neurons[li + 1])]
                nr.upstream = math.fsum(d * w for _, d, _, w in nr.paths)
            nr.derivative = _derivative(nr.activation, nr.z, nr.a)
            nr.delta = nr.upstream * nr.derivative


def _index(param: str) -> tuple[str, Any]:
    kind = "weight" if ".weight[" in param else "bias"
    inside = param[param.index("[") + 1:-1]
    parts = tuple(int(p) for p in inside.split(","))
    return kind, parts if len(parts) > 1 else parts[0]


def _finite_difference(net: Sequential, param: Tensor, index: Any, x: np.ndarray,
                       y: np.ndarray, eps: float) -> float:
    original = float(param._data[index])
    with no_grad():
        param._data[index] = original + eps
        plus = _loss(net, x, y).item()
        param._data[index] = original - eps
        minus = _loss(net, x, y).item()
    param._data[index] = original
    return (plus - minus) / (2 * eps)


def _rows(layers: list[_Layer], neurons: list[list[NeuronStep]], names: list[list[str]],
          linears: list[Linear], net: Sequential, x: np.ndarray, y: np.ndarray, lr: float,
          eps: float) -> list[GradientRow]:
    rows: list[GradientRow] = []
    for li, layer in enumerate(layers):
        lin = linears[li]
        for j, nr in enumerate(neurons[li]):
            d_up = _upstream_factor(nr, li == len(layers) - 1)
            d_act = Factor(f"∂{nr.name}/∂z_{nr.name}", nr.derivative,
                           f"{nr.activation}′ = "
                           + _DERIVATIVE_FORMULA[nr.activation].format(a=nr.name))
            for i, (wname, w, src, a_in) in enumerate(nr.inputs):
                factors = [d_up, d_act, Factor(f"∂z_{nr.name}/∂{wname}", a_in,
                                               f"the input {src} = {_num(a_in)}")]
                grad = d_up.value * d_act.value * a_in
                fd = _finite_difference(net, lin.weight, (j, i), x, y, eps)
                rows.append(_row(wname, f"{layer.module_name}.weight[{j}, {i}]", li + 1, w,
                                 factors, grad, float(lin.weight.grad._data[j, i]), fd, lr))
            if nr.bias_name is not None:
                factors = [d_up, d_act, Factor(f"∂z_{nr.name}/∂{nr.bias_name}", 1.0,
                                               "a bias adds 1·b")]
                grad = d_up.value * d_act.value
                fd = _finite_difference(net, lin.bias, j, x, y, eps)
                rows.append(_row(nr.bias_name, f"{layer.module_name}.bias[{j}]", li + 1,
                                 nr.bias, factors, grad, float(lin.bias.grad._data[j]), fd, lr))
    return rows


def _upstream_factor(nr: NeuronStep, is_output: bool) -> Factor:
    if is_output:
        return Factor(f"∂E/∂{nr.name}", nr.upstream, f"2/n·({nr.name} − y{nr.name[1:]})")
    terms = " + ".join(f"δ_{name}·{wname}" for name, _, wname, _ in nr.paths)
    return Factor(f"∂E/∂{nr.name}", nr.upstream, f"Σ over paths: {terms}")


def _row(name: str, param: str, layer: int, value: float, factors: list[Factor], grad: float,
         autograd: float, fd: float, lr: float) -> GradientRow:
    update = -lr * grad
    return GradientRow(name, param, layer, value, factors, grad, autograd, fd, update,
                       value + update)


# ---- rendering ----------------------------------------------------------------------

def _num(v: float) -> str:
    return f"{v:.6g}"


def _long(v: float) -> str:
    return f"{v:.10g}"


def _architecture(layers: list[_Layer]) -> str:
    parts = [f"{layers[0].weight.shape[1]} inputs"]
    for i, layer in enumerate(layers):
        role = " (output)" if i == len(layers) - 1 else ""
        parts.append(f"{layer.weight.shape[0]} {layer.activation}{role}")
    return " → ".join(parts)


def _vector(names: list[str], values: np.ndarray) -> str:
    return f"({', '.join(names)}) = ({', '.join(_num(float(v)) for v in values)})"


def _forward_line(nr: NeuronStep) -> tuple[str, str]:
    terms = " + ".join(f"{_num(w)}·{_num(a)}" for _, w, _, a in nr.inputs)
    if nr.bias_name is not None:
        terms += f" + {_num(nr.bias)}"
    symbolic = " + ".join(f"{wn}·{src}" for wn, _, src, _ in nr.inputs)
    if nr.bias_name is not None:
        symbolic += f" + {nr.bias_name}"
    first = f"z_{nr.name} = {symbolic} = {terms} = {_num(nr.z)}"
    second = f"{nr.name} = {nr.activation}(z_{nr.name}) = {_num(nr.a)}"
    return first, second


def _delta_lines(nr: NeuronStep, is_output: bool, y: float | None, n_out: int) -> list[str]:
    if is_output:
        up = (f"∂E/∂{nr.name} = 2/n·({nr.name} − y{nr.name[1:]}) = "
              f"2/{n_out}·({_num(nr.a)} − {_num(y)}) = {_num(nr.upstream)}")
    else:
        sym = " + ".join(f"δ_{name}·{wname}" for name, _, wname, _ in nr.paths)
        num = " + ".join(f"{_num(d)}·{_num(w)}" for _, d, _, w in nr.paths)
        up = f"∂E/∂{nr.name} = {sym} = {num} = {_num(nr.upstream)}"
    formula = _DERIVATIVE_FORMULA[nr.activation].format(a=nr.name)
    act = f"∂{nr.name}/∂z_{nr.name} = {nr.activation}′ = {formula} = {_num(nr.derivative)}"
    delta = (f"δ_{nr.name} = ∂E/∂z_{nr.name} = {_num(nr.upstream)} × {_num(nr.derivative)} "
             f"= {_num(nr.delta)}")
    return [up, act, delta]


def _product_lines(r: GradientRow) -> tuple[str, str]:
    symbolic = f"∂E/∂{r.name} = " + " · ".join(f.symbol for f in r.factors)
    numeric = " × ".join(_num(f.value) for f in r.factors) + f" = {_num(r.chain_rule)}"
    return symbolic, numeric


_TABLE_HEAD = ("parameter", "entry", "w", "chain rule", "autograd", "finite diff.",
               "Δw = −α·∂E/∂w", "new w")


def _table_rows(ex: Explanation) -> list[tuple[str, ...]]:
    return [(r.name, r.param, _num(r.value), _long(r.chain_rule), _long(r.autograd),
             _long(r.finite_difference), _long(r.update), _long(r.new_value))
            for r in ex.rows]


def _intro(ex: Explanation, layers: list[_Layer], names: list[list[str]]) -> list[str]:
    return [f"network: {_architecture(layers)}",
            f"input {_vector(names[0], ex.x)}; target "
            f"{_vector([f'y{j + 1}' for j in range(len(ex.y))], ex.y)}; "
            f"learning rate α = {_num(ex.lr)}",
            f"error E = 1/n Σ (y − ŷ)², n = {len(ex.y)} output{'s' if len(ex.y) > 1 else ''}",
            *ex.notes]


def _error_line(ex: Explanation, names: list[list[str]]) -> str:
    terms = " + ".join(f"({_num(t)} − {_num(p)})²" for t, p in zip(ex.y, ex.prediction))
    return f"E = 1/{len(ex.y)} · [{terms}] = {_num(ex.error_before)}"


def _after_line(ex: Explanation) -> str:
    change = ex.error_after - ex.error_before
    return (f"E after the step = {_num(ex.error_after)} (before: {_num(ex.error_before)}, "
            f"change {change:+.6g}): the step went downhill." if change < 0 else
            f"E after the step = {_num(ex.error_after)} (before: {_num(ex.error_before)}, "
            f"change {change:+.6g}): α is too large here, the step overshot.")


def _backward_order(ex: Explanation, n_layers: int
                    ) -> list[tuple[NeuronStep, bool, float | None]]:
    """(neuron, is an output, its target) from the output layer back to the first."""
    out = []
    for li in range(n_layers, 0, -1):
        group = [nr for nr in ex.neurons if nr.layer == li]
        for j, nr in enumerate(group):
            out.append((nr, li == n_layers, float(ex.y[j]) if li == n_layers else None))
    return out


def _render_text(ex: Explanation, layers: list[_Layer], names: list[list[str]]) -> str:
    title = "One training step, by the chain rule"
    lines = [title, "=" * len(title), *_intro(ex, layers, names), ""]
    lines.append("1. Forward pass: each neuron computes z = Σ w·a + b, then a = f(z)")
    for nr in ex.neurons:
        first, second = _forward_line(nr)
        lines += [f"   {first}", f"   {second}"]
    lines += ["", "2. Error", f"   {_error_line(ex, names)}", ""]
    lines.append("3. Backward pass: δ = ∂E/∂z for each neuron, from the output back")
    for nr, is_out, target in _backward_order(ex, len(layers)):
        lines += [f"   {text}" for text in _delta_lines(nr, is_out, target, len(ex.y))]
        lines.append("")
    lines.append("4. Every weight and bias: ∂E/∂w = ∂E/∂a · ∂a/∂z · ∂z/∂w")
    for r in ex.rows:
        symbolic, numeric = _product_lines(r)
        lines += [f"   {symbolic}", f"   {' ' * (len(r.name) + 6)}= {numeric}",
                  f"   {' ' * (len(r.name) + 6)}autograd {_long(r.autograd)}, finite "
                  f"differences {_long(r.finite_difference)}",
                  f"   Δ{r.name} = −α·∂E/∂{r.name} = -{_num(ex.lr)} × {_num(r.chain_rule)} = "
                  f"{_num(r.update)}",
                  f"   new {r.name} = {r.name} + Δ{r.name} = {_num(r.value)} + "
                  f"({_num(r.update)}) = {_num(r.new_value)}", ""]
    lines.append("5. Side by side")
    table = [_TABLE_HEAD, *_table_rows(ex)]
    widths = [max(len(row[i]) for row in table) for i in range(len(_TABLE_HEAD))]
    for k, row in enumerate(table):
        lines.append("   " + "  ".join(c.rjust(w) if i > 1 else c.ljust(w)
                                       for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("   " + "-" * (sum(widths) + 2 * (len(widths) - 1)))
    lines += ["", "6. After the update", f"   {_after_line(ex)}"]
    return "\n".join(lines) + "\n"


def _render_markdown(ex: Explanation, layers: list[_Layer], names: list[list[str]]) -> str:
    md = ["## One training step, by the chain rule", ""]
    md += [f"- {line}" for line in _intro(ex, layers, names)]
    md += ["", "### 1. Forward pass", "", "Each neuron computes `z = Σ w·a + b`, then "
           "`a = f(z)`.", ""]
    for nr in ex.neurons:
        first, second = _forward_line(nr)
        md.append(f"- `{first}`; `{second}`")
    md += ["", "### 2. Error", "", f"`{_error_line(ex, names)}`", "",
           "### 3. Backward pass", "", "`δ = ∂E/∂z` for each neuron, from the output back.", ""]
    for nr, is_out, target in _backward_order(ex, len(layers)):
        md.append(f"- **{nr.name}**: " + "; ".join(
            f"`{t}`" for t in _delta_lines(nr, is_out, target, len(ex.y))))
    md += ["", "### 4. Every weight and bias", "",
           "`∂E/∂w = ∂E/∂a · ∂a/∂z · ∂z/∂w`", ""]
    for r in ex.rows:
        symbolic, numeric = _product_lines(r)
        md.append(f"- `{symbolic} = {numeric}`")
    md += ["", "| " + " | ".join(_TABLE_HEAD) + " |",
           "|" + "|".join(["---"] * 2 + ["---:"] * (len(_TABLE_HEAD) - 2)) + "|"]
    md += ["| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(row)) + " |"
           for row in _table_rows(ex)]
    md += ["", "### 5. After the update", "", _after_line(ex), ""]
    return "\n".join(md)


def _render_html(ex: Explanation, layers: list[_Layer], names: list[list[str]]) -> str:
    e = html.escape
    out = ['<div class="chainrule-explain">', "<h2>One training step, by the chain rule</h2>",
           "<ul>" + "".join(f"<li>{e(t)}</li>" for t in _intro(ex, layers, names)) + "</ul>",
           "<h3>1. Forward pass</h3>", "<p>Each neuron computes <code>z = Σ w·a + b</code>, "
           "then <code>a = f(z)</code>.</p>", "<ul>"]
    for nr in ex.neurons:
        first, second = _forward_line(nr)
        out.append(f"<li><code>{e(first)}</code><br><code>{e(second)}</code></li>")
    out += ["</ul>", "<h3>2. Error</h3>", f"<p><code>{e(_error_line(ex, names))}</code></p>",
            "<h3>3. Backward pass</h3>", "<ul>"]
    for nr, is_out, target in _backward_order(ex, len(layers)):
        steps = _delta_lines(nr, is_out, target, len(ex.y))
        body = "<br>".join(f"<code>{e(t)}</code>" for t in steps)
        out.append(f"<li><b>{e(nr.name)}</b><br>{body}</li>")
    out += ["</ul>", "<h3>4. Every weight and bias</h3>", "<ul>"]
    for r in ex.rows:
        symbolic, numeric = _product_lines(r)
        out.append(f"<li><code>{e(symbolic)} = {e(numeric)}</code></li>")
    out += ["</ul>", "<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in _TABLE_HEAD)
            + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
            for row in _table_rows(ex)]
    out += ["</table>", "<h3>5. After the update</h3>", f"<p>{e(_after_line(ex))}</p>",
            "</div>"]
    return "\n".join(out)


_PAGE_STYLE = """\
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }
code { font-family: ui-monospace, monospace; font-size: 0.95em; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
"""


def _html_page(fragment: str) -> str:
    """A standalone HTML5 document around the explainer's fragment (opens offline)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>One training step, by the chain rule (chainrule explain)</title>\n"
            f"<style>\n{_PAGE_STYLE}</style>\n</head>\n<body>\n{fragment}\n</body>\n"
            "</html>\n")
