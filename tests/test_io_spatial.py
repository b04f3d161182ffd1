"""Every spatial and sequence layer added for PyTorch scripts round-trips through
``chainrule.io.save``/``load``: same class, constructor arguments, state_dict keys,
weights and outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.io import from_spec, to_spec


def _x(*shape: int) -> Callable[[], tuple]:
    return lambda: (cr.randn(*shape, generator=cr.Generator(0)),)


def _pooled() -> tuple:
    """A max-pooled map and its indices, for the unpooling layers."""
    return cr.functional.max_pool2d(cr.randn(1, 2, 6, 6, generator=cr.Generator(0)), 2,
                                    return_indices=True)


def _seq_pair() -> tuple:
    g = cr.Generator(1)
    return cr.randn(4, 2, 8, generator=g), cr.randn(5, 2, 8, generator=g)


CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], tuple]]] = [
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                    output_padding=1, groups=2, bias=False),
     _x(1, 4, 5, 5)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, dilation=2), _x(2, 3, 7)),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(3), _x(2, 3, 7)),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3, return_indices=True), _x(2, 3, 7)),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, None)), _x(2, 3, 5, 4)),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, return_indices=True), _x(1, 2, 4, 4)),
    ("MaxUnpool2d", lambda: nn.MaxUnpool2d(2), _pooled),
    ("MaxUnpool1d", lambda: nn.MaxUnpool1d(3, 2, 1), None),
    ("Unfold", lambda: nn.Unfold((2, 3), padding=1), _x(1, 2, 4, 4)),
    ("Fold", lambda: nn.Fold((4, 5), 2), _x(1, 8, 12)),
    ("Upsample", lambda: nn.Upsample(scale_factor=(2, 1.5), mode="bilinear",
                                     align_corners=True), _x(1, 2, 3, 4)),
    ("Upsample", lambda: nn.Upsample(size=7, mode="nearest-exact"), _x(1, 2, 3)),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=2), _x(1, 1, 2, 3)),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(size=(3, 4)), _x(1, 1, 2, 2)),
    ("RNNCell", lambda: nn.RNNCell(3, 4, nonlinearity="relu"), _x(2, 3)),
    ("LSTMCell", lambda: nn.LSTMCell(3, 4, bias=False), _x(2, 3)),
    ("GRUCell", lambda: nn.GRUCell(3, 5), _x(3)),
    ("MultiheadAttention", lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True,
                                                         add_zero_attn=True, kdim=3, vdim=5),
     lambda: tuple(cr.randn(*shape, generator=cr.Generator(2))
                   for shape in ((4, 2, 8), (5, 2, 3), (5, 2, 5)))),
    ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(
        8, 2, 16, activation="gelu", norm_first=True, batch_first=True), _x(2, 4, 8)),
    ("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(8, 2, 16, layer_norm_eps=1e-6,
                                                                   bias=False), _seq_pair),
    ("TransformerEncoder", lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2,
                                                         norm=nn.LayerNorm(8)), _x(4, 2, 8)),
    ("TransformerDecoder", lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16),
                                                         3), _seq_pair),
    ("Transformer", lambda: nn.Transformer(8, 2, 1, 2, 16), lambda: _seq_pair()[::-1]),
]


def _outputs(model: nn.Module, inputs: tuple) -> list[np.ndarray]:
    model.eval()
    out = model(*inputs)
    if isinstance(out, tuple):
        return [np.asarray(o.numpy()) for o in out if o is not None]
    return [out.numpy()]


@pytest.mark.parametrize("name,make,inputs", CASES, ids=[c[0] for c in CASES])
def test_layer_round_trips_through_a_model_file(tmp_path: Path, name: str, make, inputs) -> None:
    cr.manual_seed(0)
    model = make()
    path = tmp_path / "model.safetensors"
    cr.io.save(model, path)
    loaded = cr.io.load(path)
    assert type(loaded) is type(model) and type(model).__name__ == name
    assert repr(loaded) == repr(model)
    assert to_spec(loaded) == to_spec(model)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
    if inputs is not None:
        for a, b in zip(_outputs(model, inputs()), _outputs(loaded, inputs())):
            np.testing.assert_array_equal(a, b)


def test_float64_layers_come_back_float64(tmp_path: Path) -> None:
    model = nn.Sequential(nn.LSTM(3, 4, dtype="float64"))
    path = tmp_path / "lstm.safetensors"
    cr.io.save(model, path)
    assert cr.io.load(path)[0].weight_ih_l0.dtype == np.float64
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dtype="float64"), 2)
    cr.io.save(model, path)
    assert {p.dtype for p in cr.io.load(path).parameters()} == {np.dtype("float64")}


def test_custom_activation_cannot_be_described() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=lambda x: x * 2)
    with pytest.raises(ValueError, match="only 'relu' and 'gelu'"):
        to_spec(layer)
    # a ReLU/GELU module is recorded by name
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU())
    assert from_spec(to_spec(layer)).activation is cr.functional.gelu
