"""Models from short text specs, as the ``chainrule`` command takes them.

Specs:

- ``linear`` — one ``Linear`` layer (logistic / linear regression).
- ``mlp:256,128`` — fully connected hidden layers of those widths, each followed by the
  activation (and optionally batch normalisation and dropout), then the output layer.
  The widths are required (``mlp`` alone is an error, not a hidden default). With
  ``residual=True`` each hidden layer whose width equals the previous one becomes a
  ``Residual`` block (``x + f(x)``).
- ``cnn:8,16`` — one convolution block per channel count (3×3 convolution with padding 1,
  optional batch normalisation, the activation, 2×2 max pooling while the image is at
  least 2×2), then ``Flatten`` and the output layer. Needs images: ``input_shape`` of
  (C, H, W) such as (1, 8, 8) for the bundled digits.

Example:
    >>> m = build_model("mlp:32,16", input_shape=(64,), num_outputs=10)
    >>> [type(layer).__name__ for layer in m]
    ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from chainrule import nn
from chainrule.nn.activation import ACTIVATIONS

KINDS = ("linear", "mlp", "cnn")


def parse_spec(spec: str) -> tuple[str, list[int]]:
    """``'mlp:256,128'`` → ``('mlp', [256, 128])``; raises ``ValueError`` naming the spec."""
    text = spec.strip().lower()
    kind, _, sizes = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown model {spec!r}: use linear, mlp:W1,W2,... or cnn:C1,C2,...")
    widths: list[int] = []
    if sizes.strip():
        for part in sizes.split(","):
            part = part.strip()
            if not part.isdigit() or int(part) < 1:
                raise ValueError(f"model {spec!r}: {part!r} is not a positive layer size")
            widths.append(int(part))
    if kind == "linear" and widths:
        raise ValueError(f"model {spec!r}: 'linear' takes no sizes")
    if kind == "mlp" and not widths:
        raise ValueError(f"model {spec!r}: give the hidden layer widths, e.g. mlp:256,128")
    if kind == "cnn" and not widths:
        raise ValueError(f"model {spec!r}: give channel counts, e.g. cnn:8,16")
    return kind, widths


def _activation(name: str) -> nn.Module:
    key = name.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


def build_model(spec: str, input_shape: Sequence[int], num_outputs: int,
                activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                residual: bool = False) -> nn.Sequential:
    """Build a ``Sequential`` model from a spec (see the module docstring).

    Args:
        spec: ``linear``, ``mlp[:W1,W2,...]`` or ``cnn:C1,C2,...``.
        input_shape: one sample's shape, e.g. ``(64,)`` or ``(1, 8, 8)``; MLPs flatten it.
        num_outputs: size of the output layer (classes, or regression targets).
        activation: ``relu``, ``tanh``, ``sigmoid``, ``gelu``, ``leaky_relu``, ``softplus``.
        dropout: dropout probability after each hidden block (0 = none).
        batch_norm: batch normalisation before each activation.
        residual: MLPs only: equal-width hidden layers become residual blocks.

    Example:
        >>> build_model("linear", (2,), 1)
        Sequential(
          (0): Linear(in_features=2, out_features=1, bias=True)
        )
    """
    kind, widths = parse_spec(spec)
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"model {spec!r}: bad input shape {shape}")
    if num_outputs < 1:
        raise ValueError(f"model {spec!r}: needs at least one output, got {num_outputs}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    _activation(activation)  # validate the name before building anything
    if kind == "cnn":
        if residual:
            raise ValueError("--residual applies to mlp models only")
        return _cnn(widths, shape, num_outputs, activation, dropout, batch_norm)
    layers: list[nn.Module] = []
    if len(shape) > 1:
        layers.append(nn.Flatten())
    width = math.prod(shape)
    if kind == "linear":
        return nn.Sequential(*layers, nn.Linear(width, num_outputs))
    for h in widths:
        block: list[nn.Module] = [nn.Linear(width, h)]
        if batch_norm:
            block.append(nn.BatchNorm1d(h))
        block.append(_activation(activation))
        if dropout:
            block.append(nn.Dropout(dropout))
        if residual and h == width:
            layers.append(nn.Residual(nn.Sequential(*block)))
        else:
            layers.extend(block)
        width = h
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def _conv_layers() -> tuple[type | None, type | None]:
    """``(Conv2d, MaxPool2d)`` from ``chainrule.nn`` (or their modules), None if absent."""
    conv, pool = getattr(nn, "Conv2d", None), getattr(nn, "MaxPool2d", None)
    if conv is None or pool is None:
        try:
            from chainrule.nn import conv as conv_module
            from chainrule.nn import pooling as pool_module
        except ImportError:
            return None, None
        conv = getattr(conv_module, "Conv2d", None)
        pool = getattr(pool_module, "MaxPool2d", None)
    return conv, pool


def _cnn(channels: list[int], shape: tuple[int, ...], num_outputs: int, activation: str,
         dropout: float, batch_norm: bool) -> nn.Sequential:
    conv, pool = _conv_layers()
    if conv is None or pool is None:
        raise ValueError("cnn models need chainrule.nn.Conv2d and MaxPool2d, which this "
                         "install does not have; use an mlp model")
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ValueError(f"cnn models need image inputs (C, H, W); this data has samples of "
                         f"shape {shape}: use an mlp model")
    c, h, w = shape
    layers: list[nn.Module] = []
    for out in channels:
        layers.append(conv(c, out, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(_activation(activation))
        if h >= 2 and w >= 2:
            layers.append(pool(2))
            h, w = h // 2, w // 2
        c = out
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(c * h * w, num_outputs))
    return nn.Sequential(*layers)


def with_preprocessing(model: nn.Sequential, inputs: nn.Module | None = None,
                       outputs: nn.Module | None = None) -> nn.Sequential:
    """``model`` with a first layer named ``input`` and a last named ``output`` around it.

    The model's own layers keep their names (``0.weight``…), so its ``state_dict`` keys
    are those of the bare model plus ``input.*`` and ``output.*``.

    Args:
        model: a ``Sequential`` (e.g. from ``build_model``).
        inputs: applied to raw inputs first (e.g. ``nn.Standardize``), or None.
        outputs: applied to the model's outputs (e.g. ``nn.Standardize(invert=True)``
            mapping standardised predictions to the target's units), or None.

    Example:
        >>> m = with_preprocessing(build_model("linear", (2,), 1),
        ...                        nn.Standardize(mean=[1.0, 2.0], std=[1.0, 4.0]))
        >>> list(m.state_dict())
        ['input.mean', 'input.std', '0.weight', '0.bias']
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if inputs is not None:
        layers["input"] = inputs
    layers.update(model._modules)
    if outputs is not None:
        layers["output"] = outputs
    return nn.Sequential(layers)


__all__ = ["build_model", "parse_spec", "with_preprocessing"]
