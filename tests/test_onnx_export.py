"""ONNX export: every exportable layer alone, three mixed models and a model straight from
``chainrule train`` are exported, checked with ``onnx.checker`` and run in onnxruntime,
whose outputs must equal chainrule's within 1e-5 (float32) at two batch sizes (the batch
dimension is symbolic). Skipped without the ``[onnx]`` extra (onnx, onnxruntime)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.io import OnnxExportError, export_onnx, register_onnx_converter  # noqa: E402

TOL = 1e-5
BATCHES = (2, 3)  # exported with the first, run with both


# ---- the harness ---------------------------------------------------------------------------

def floats(*shape: int, scale: float = 1.0) -> Callable[[int, np.random.Generator], Any]:
    """Inputs (batch, *shape) from N(0, scale²), float32."""
    return lambda b, rng: (rng.standard_normal((b, *shape)) * scale).astype(np.float32)


def seq_first(T: int, *shape: int) -> Callable:
    return lambda b, rng: rng.standard_normal((T, b, *shape)).astype(np.float32)


def ids(*shape: int, vocab: int = 10) -> Callable:
    return lambda b, rng: rng.integers(0, vocab, (b, *shape)).astype(np.int64)


def several(*makers: Callable) -> Callable:
    return lambda b, rng: tuple(m(b, rng) for m in makers)


def _flat(out: Any) -> list[np.ndarray]:
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [np.asarray(out.numpy())]


def export_and_compare(model: nn.Module, make: Callable, tmp_path: Path, *,
                       batches: tuple[int, ...] = BATCHES, **kwargs: Any) -> float:
    """Export ``model`` with an input from ``make(batch, rng)``, check the file, and return
    the largest |onnxruntime − chainrule| over every output at each batch size."""
    model.eval()
    rng = np.random.default_rng(0)
    path = tmp_path / "model.onnx"
    export_onnx(model, make(batches[0], rng), path, **kwargs)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for b in batches:
        given = make(b, rng)
        given = given if isinstance(given, tuple) else (given,)
        got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), given)})
        with cr.no_grad():
            want = _flat(model(*[cr.Tensor(a, dtype=a.dtype) for a in given]))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype)
            if w.size:
                worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))))
    return worst


def trained_statistics(model: nn.Module, make: Callable) -> nn.Module:
    """A few training-mode batches, so running means and variances are not 0 and 1."""
    rng = np.random.default_rng(1)
    model.train()
    with cr.no_grad():
        for _ in range(3):
            model(cr.tensor(make(8, rng) * 2 + 0.5))
    return model.eval()


# ---- each exportable layer alone -----------------------------------------------------------

def _layers() -> list[tuple[str, Callable[[], nn.Module], Callable, dict]]:
    img, seq = floats(3, 9, 9), floats(3, 11)
    wide = floats(3, 4, 5, scale=3.0)  # activations: both sides of every kink
    cases: list[tuple[str, Callable[[], nn.Module], Callable, dict]] = [
        ("Linear", lambda: nn.Linear(5, 3), floats(5), {}),
        ("Linear-3d-nobias", lambda: nn.Linear(5, 3, bias=False), floats(4, 5), {}),
        ("Identity", lambda: nn.Identity(), floats(3), {}),
        ("Dropout", lambda: nn.Dropout(0.4), floats(6), {}),
        ("Dropout1d", lambda: nn.Dropout1d(0.4), seq, {}),
        ("Dropout2d", lambda: nn.Dropout2d(0.4), img, {}),
        ("Flatten", lambda: nn.Flatten(), floats(3, 4, 5), {}),
        ("Flatten-middle", lambda: nn.Flatten(1, 2), floats(3, 4, 5), {}),
        ("Unflatten", lambda: nn.Unflatten(1, (3, 4)), floats(12), {}),
        ("Residual", lambda: nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh())),
         floats(4), {}),
        ("Residual-shortcut", lambda: nn.Residual(nn.Linear(4, 3), nn.Linear(4, 3)),
         floats(4), {}),
        ("Standardize", lambda: nn.Standardize(mean=[1.0, -2.0, 3.0], std=[2.0, 0.5, 4.0]),
         floats(3), {}),
        ("Standardize-invert", lambda: nn.Standardize(mean=[1.0, 2.0], std=[3.0, 0.5],
                                                      invert=True), floats(2), {}),
        ("Embedding", lambda: nn.Embedding(10, 4), ids(5), {}),
        ("Embedding-max_norm", lambda: nn.Embedding(10, 4, max_norm=1.0), ids(5), {}),
        ("PositionalEmbedding", lambda: nn.PositionalEmbedding(8, 4), floats(5, 4), {}),
        ("PositionalEmbedding-sin", lambda: nn.PositionalEmbedding(8, 4, "sinusoidal"),
         floats(5, 4), {}),
    ]
    activations = [
        nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.LeakyReLU(0.2), nn.GELU(), nn.GELU("tanh"),
        nn.Softplus(), nn.Softplus(beta=2.0, threshold=5.0), nn.Softmax(dim=1),
        nn.LogSoftmax(dim=-1), nn.SiLU(), nn.ELU(alpha=0.5), nn.SELU(), nn.CELU(1.5),
        nn.ReLU6(), nn.Hardtanh(-2.0, 2.5), nn.Hardsigmoid(), nn.Hardswish(), nn.Mish(),
        nn.PReLU(), nn.PReLU(3, init=0.1), nn.Softsign(), nn.LogSigmoid(), nn.Tanhshrink(),
    ]
    for act in activations:
        label = type(act).__name__ + (f"-{act.extra_repr()}" if act.extra_repr() else "")
        cases.append((label, lambda act=act: act, wide, {}))
    cases += [
        ("BatchNorm1d", lambda: trained_statistics(nn.BatchNorm1d(4), floats(4)), floats(4),
         {}),
        ("BatchNorm1d-NCL", lambda: trained_statistics(nn.BatchNorm1d(3), seq), seq, {}),
        ("BatchNorm2d", lambda: trained_statistics(nn.BatchNorm2d(3), img), img, {}),
        ("BatchNorm2d-no-affine", lambda: trained_statistics(
            nn.BatchNorm2d(3, affine=False), img), img, {}),
        ("BatchNorm2d-batch-stats", lambda: nn.BatchNorm2d(3, track_running_stats=False),
         img, {}),
        ("BatchNorm3d", lambda: trained_statistics(nn.BatchNorm3d(2), floats(2, 3, 4, 4)),
         floats(2, 3, 4, 4), {}),
        ("LayerNorm", lambda: nn.LayerNorm(6), floats(3, 6), {}),
        ("LayerNorm-2d-plain", lambda: nn.LayerNorm((3, 6), elementwise_affine=False),
         floats(3, 6), {}),
        ("GroupNorm", lambda: nn.GroupNorm(2, 4), floats(4, 5, 3), {}),
        ("GroupNorm-NC-plain", lambda: nn.GroupNorm(2, 4, affine=False), floats(4), {}),
        ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3), seq, {}),
        ("InstanceNorm2d-affine", lambda: nn.InstanceNorm2d(3, affine=True), img, {}),
        ("InstanceNorm2d-running", lambda: trained_statistics(
            nn.InstanceNorm2d(3, track_running_stats=True), img), img, {}),
        ("RMSNorm", lambda: nn.RMSNorm(6), floats(3, 6), {}),
        ("RMSNorm-2d-eps", lambda: nn.RMSNorm((3, 6), eps=1e-3, elementwise_affine=False),
         floats(3, 6), {}),
        ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), img, {}),
        ("Conv2d-same-dilated", lambda: nn.Conv2d(3, 4, (4, 3), padding="same",
                                                  dilation=(2, 1)), img, {}),
        ("Conv2d-groups", lambda: nn.Conv2d(4, 6, 3, groups=2, bias=False, padding=(1, 2),
                                            dilation=2), floats(4, 9, 9), {}),
        ("Conv2d-valid-stride", lambda: nn.Conv2d(3, 2, 2, stride=(2, 3), padding="valid"),
         img, {}),
        ("Conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), seq, {}),
        ("Conv1d-same-depthwise", lambda: nn.Conv1d(3, 3, 4, padding="same", groups=3),
         seq, {}),
        ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
                                                       output_padding=1), img, {}),
        ("ConvTranspose2d-groups", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2,
                                                              dilation=2),
         floats(4, 5, 5), {}),
        ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), seq,
         {}),
        ("MaxPool2d", lambda: nn.MaxPool2d(2), floats(3, 8, 8), {}),
        ("MaxPool2d-padded", lambda: nn.MaxPool2d(3, stride=2, padding=1), img, {}),
        ("MaxPool2d-ceil", lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True),
         floats(3, 10, 10), {}),
        ("MaxPool2d-dilated", lambda: nn.MaxPool2d(2, stride=1, dilation=2), img, {}),
        ("MaxPool1d", lambda: nn.MaxPool1d(3, stride=2, padding=1), seq, {}),
        ("AvgPool2d", lambda: nn.AvgPool2d(2), floats(3, 8, 8), {}),
        ("AvgPool2d-padded", lambda: nn.AvgPool2d(3, stride=2, padding=1), img, {}),
        ("AvgPool2d-padded-exclude", lambda: nn.AvgPool2d(3, stride=2, padding=1,
                                                          count_include_pad=False), img, {}),
        ("AvgPool2d-divisor", lambda: nn.AvgPool2d(2, divisor_override=3), floats(3, 8, 8),
         {}),
        ("AvgPool2d-ceil", lambda: nn.AvgPool2d(3, stride=2, ceil_mode=True),
         floats(3, 10, 10), {}),
        ("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2), seq, {}),
        ("AdaptiveAvgPool2d-global", lambda: nn.AdaptiveAvgPool2d(1), img, {}),
        ("AdaptiveAvgPool2d-even", lambda: nn.AdaptiveAvgPool2d((2, 4)), floats(3, 8, 8), {}),
        ("AdaptiveAvgPool2d-uneven", lambda: nn.AdaptiveAvgPool2d((3, 5)), floats(3, 7, 8),
         {}),
        ("AdaptiveAvgPool2d-None", lambda: nn.AdaptiveAvgPool2d((None, 3)), floats(3, 7, 8),
         {}),
        ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), floats(3, 10), {}),
        ("AdaptiveMaxPool2d-even", lambda: nn.AdaptiveMaxPool2d(2), floats(3, 8, 8), {}),
        ("AdaptiveMaxPool2d-uneven", lambda: nn.AdaptiveMaxPool2d((3, 5)), floats(3, 7, 8),
         {}),
        ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), floats(3, 10), {}),
        ("Unfold", lambda: nn.Unfold(3, dilation=2, padding=1, stride=2), floats(2, 9, 8), {}),
        ("Fold", lambda: nn.Fold((9, 8), 3, dilation=2, padding=1, stride=2),
         floats(18, 12), {}),
        ("CosineSimilarity", lambda: nn.CosineSimilarity(dim=-1),
         several(floats(3, 4), floats(3, 4)), {}),
        ("PairwiseDistance", lambda: nn.PairwiseDistance(), several(floats(4), floats(4)), {}),
        ("PairwiseDistance-p3-keepdim", lambda: nn.PairwiseDistance(p=3, keepdim=True),
         several(floats(4), floats(4)), {}),
    ]
    up = floats(2, 4, 6)
    for mode, kw in [("nearest", {"scale_factor": 2}), ("nearest", {"size": (7, 5)}),
                     ("nearest", {"scale_factor": 1.5}),
                     ("nearest-exact", {"scale_factor": 2}),
                     ("nearest-exact", {"size": (7, 5)}),
                     ("bilinear", {"scale_factor": 2}), ("bilinear", {"size": (7, 5)}),
                     ("bilinear", {"scale_factor": 2, "align_corners": True}),
                     ("bilinear", {"scale_factor": 1.7}),
                     ("bilinear", {"scale_factor": 1.7, "recompute_scale_factor": True}),
                     ("area", {"size": (3, 5)})]:
        label = f"Upsample-{mode}-" + "-".join(f"{k}={v}" for k, v in kw.items())
        cases.append((label, lambda mode=mode, kw=kw: nn.Upsample(mode=mode, **kw), up, {}))
    cases.append(("Upsample-linear", lambda: nn.Upsample(scale_factor=3, mode="linear"),
                  floats(2, 5), {}))
    sf = {"batch_axis": 1}  # sequence-first inputs: the batch is axis 1
    cases += [
        ("LSTM", lambda: nn.LSTM(3, 5), seq_first(4, 3), sf),
        ("LSTM-batch_first", lambda: nn.LSTM(3, 5, batch_first=True), floats(4, 3), {}),
        ("LSTM-2-layers-bidirectional", lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True,
                                                        batch_first=True), floats(4, 3), {}),
        ("LSTM-no-bias", lambda: nn.LSTM(3, 5, bias=False, batch_first=True), floats(4, 3),
         {}),
        ("GRU-2-layers", lambda: nn.GRU(3, 5, num_layers=2, batch_first=True), floats(4, 3),
         {}),
        ("GRU-bidirectional", lambda: nn.GRU(3, 5, bidirectional=True), seq_first(4, 3), sf),
        ("RNN-2-layers", lambda: nn.RNN(3, 5, num_layers=2, batch_first=True), floats(4, 3),
         {}),
        ("RNN-relu-bidirectional", lambda: nn.RNN(3, 5, nonlinearity="relu",
                                                  bidirectional=True, batch_first=True),
         floats(4, 3), {}),
        ("LSTMCell", lambda: nn.LSTMCell(3, 5), floats(3), {}),
        ("GRUCell", lambda: nn.GRUCell(3, 5), floats(3), {}),
        ("RNNCell-relu", lambda: nn.RNNCell(3, 5, nonlinearity="relu"), floats(3), {}),
        ("MultiheadAttention", lambda: nn.MultiheadAttention(8, 2, batch_first=True),
         several(floats(5, 8), floats(6, 8), floats(6, 8)), {}),
        ("MultiheadAttention-seq-first", lambda: nn.MultiheadAttention(8, 2),
         several(seq_first(5, 8), seq_first(6, 8), seq_first(6, 8)), sf),
        ("MultiheadAttention-kdim-vdim", lambda: nn.MultiheadAttention(
            8, 2, kdim=3, vdim=4, batch_first=True, bias=False),
         several(floats(5, 8), floats(6, 3), floats(6, 4)), {}),
        ("MultiheadAttention-bias_kv-zero_attn", lambda: nn.MultiheadAttention(
            8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True),
         several(floats(5, 8), floats(6, 8), floats(6, 8)), {}),
        ("TransformerBlock", lambda: nn.TransformerBlock(8, 2, 16), floats(5, 8), {}),
        ("TransformerBlock-not-causal", lambda: nn.TransformerBlock(8, 2, 16, causal=False),
         floats(5, 8), {}),
        ("DecoderOnlyTransformer-tied-sinusoidal", lambda: nn.DecoderOnlyTransformer(
            10, 8, 16, 2, 1, 32, positional="sinusoidal", tie_weights=True), ids(6), {}),
        ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(8, 2, 16,
                                                                       batch_first=True),
         floats(5, 8), {}),
        ("TransformerEncoderLayer-norm_first-gelu", lambda: nn.TransformerEncoderLayer(
            8, 2, 16, activation="gelu", norm_first=True), seq_first(5, 8), sf),
        ("TransformerEncoderLayer-module-activation", lambda: nn.TransformerEncoderLayer(
            8, 2, 16, activation=nn.SiLU(), batch_first=True, bias=False), floats(5, 8), {}),
        ("TransformerEncoder", lambda: nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(8)),
         floats(5, 8), {}),
        ("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(8, 2, 16,
                                                                       batch_first=True),
         several(floats(5, 8), floats(6, 8)), {}),
        ("Transformer", lambda: nn.Transformer(8, 2, 1, 1, 16, batch_first=True),
         several(floats(5, 8), floats(6, 8)), {}),
    ]
    return cases + _more_layers()


def bags(vocab: int = 10, include_last_offset: bool = False, weights: bool = False
         ) -> Callable:
    """A 1-D input of ids and the offsets of ``batch`` bags of 0 to 4 ids (bag 1 empty),
    and with ``weights`` a weight for each id."""
    def make(b: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        lengths = rng.integers(1, 5, b)
        lengths[1] = 0
        ends = np.cumsum(lengths)
        offsets = np.concatenate([[0], ends if include_last_offset else ends[:-1]])
        out = (rng.integers(0, vocab, ends[-1]).astype(np.int64), offsets.astype(np.int64))
        return (*out, rng.standard_normal(ends[-1]).astype(np.float32)) if weights else out
    return make


def padded_ids(length: int, padding_idx: int, vocab: int = 10) -> Callable:
    """(batch, length) ids with the padding id scattered in, and row 0 all padding."""
    def make(b: int, rng: np.random.Generator) -> np.ndarray:
        out = rng.integers(0, vocab, (b, length))
        out[rng.random((b, length)) < 0.3] = padding_idx
        out[0] = padding_idx
        return out.astype(np.int64)
    return make


class WeightedBag(nn.Module):
    """A 2-D bag with per-sample weights (passed by keyword: offsets must stay None)."""

    def __init__(self) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(10, 4, mode="sum")

    def forward(self, ids: Any, weights: Any) -> Any:
        return self.bag(ids, per_sample_weights=weights)


def dry_run(layer: nn.Module, *shape: int) -> nn.Module:
    with cr.no_grad():
        layer(cr.zeros(1, *shape))
    return layer


def _more_layers() -> list[tuple[str, Callable[[], nn.Module], Callable, dict]]:
    """The dropout, padding, shuffle, activation, bilinear, pooling, normalisation and
    bag layers added to chainrule.nn after the first exporter."""
    img, seq, vol = floats(3, 9, 8), floats(3, 11), floats(2, 4, 5, 6)
    wide = floats(3, 4, 5, scale=3.0)
    cases: list[tuple[str, Callable[[], nn.Module], Callable, dict]] = [
        ("AlphaDropout", lambda: nn.AlphaDropout(0.3), wide, {}),
        ("FeatureAlphaDropout", lambda: nn.FeatureAlphaDropout(0.3), img, {}),
        ("Dropout3d", lambda: nn.Dropout3d(0.3), vol, {}),
        ("ZeroPad1d", lambda: nn.ZeroPad1d(2), seq, {}),
        ("ZeroPad2d", lambda: nn.ZeroPad2d((1, 2, 0, 3)), img, {}),
        ("ZeroPad3d", lambda: nn.ZeroPad3d(1), vol, {}),
        ("ConstantPad1d-crop", lambda: nn.ConstantPad1d((2, -3), 1.5), seq, {}),
        ("ConstantPad2d-last-dim-only", lambda: nn.ConstantPad2d((1, 2), -2.0), img, {}),
        ("ConstantPad3d", lambda: nn.ConstantPad3d((1, 0, 2, 1, 0, 1), 0.5), vol, {}),
        ("ReflectionPad1d", lambda: nn.ReflectionPad1d((2, 3)), seq, {}),
        ("ReflectionPad2d", lambda: nn.ReflectionPad2d((1, 2, 3, 0)), img, {}),
        ("ReflectionPad2d-crop", lambda: nn.ReflectionPad2d((2, -1, -2, 1)), img, {}),
        ("ReflectionPad3d", lambda: nn.ReflectionPad3d(1), vol, {}),
        ("ReplicationPad1d", lambda: nn.ReplicationPad1d((3, 1)), seq, {}),
        ("ReplicationPad2d-crop", lambda: nn.ReplicationPad2d((1, 2, -1, 2)), img, {}),
        ("ReplicationPad3d", lambda: nn.ReplicationPad3d((1, 0, 0, 2, 1, 1)), vol, {}),
        ("CircularPad1d", lambda: nn.CircularPad1d((2, 1)), seq, {}),
        ("CircularPad2d", lambda: nn.CircularPad2d((1, 2, 2, 0)), img, {}),
        ("CircularPad2d-opset19-wrap", lambda: nn.CircularPad2d((1, 2, 2, 0)), img,
         {"opset": 19}),
        ("CircularPad2d-crop", lambda: nn.CircularPad2d((-1, 2, 1, -3)), img, {}),
        ("CircularPad2d-crop-opset21", lambda: nn.CircularPad2d((-1, 2, 1, -3)), img,
         {"opset": 21}),
        ("CircularPad3d", lambda: nn.CircularPad3d(1), vol, {}),
        ("PixelShuffle", lambda: nn.PixelShuffle(2), floats(8, 3, 4), {}),
        ("PixelShuffle-5d", lambda: nn.PixelShuffle(3), floats(2, 9, 2, 3), {}),
        ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), floats(3, 4, 6), {}),
        ("PixelUnshuffle-5d", lambda: nn.PixelUnshuffle(3), floats(2, 2, 6, 3), {}),
        ("ChannelShuffle", lambda: nn.ChannelShuffle(3), floats(6, 4, 5), {}),
        ("ChannelShuffle-3d", lambda: nn.ChannelShuffle(2), floats(4, 5), {}),
        ("GLU", lambda: nn.GLU(), floats(3, 4, 6, scale=3.0), {}),
        ("GLU-dim1", lambda: nn.GLU(dim=1), floats(6, 5), {}),
        ("Softmin", lambda: nn.Softmin(dim=-1), wide, {}),
        ("Softmin-implicit-dim", lambda: nn.Softmin(), floats(4), {}),
        ("Softmax2d", lambda: nn.Softmax2d(), img, {}),
        ("Threshold", lambda: nn.Threshold(0.1, -2.0), wide, {}),
        ("Hardshrink", lambda: nn.Hardshrink(), wide, {}),
        ("Hardshrink-1.2", lambda: nn.Hardshrink(1.2), wide, {}),
        ("Softshrink", lambda: nn.Softshrink(0.7), wide, {}),
        ("RReLU", lambda: nn.RReLU(0.1, 0.3), wide, {}),
        ("Bilinear", lambda: nn.Bilinear(5, 4, 3), several(floats(5), floats(4)), {}),
        ("Bilinear-3d-nobias", lambda: nn.Bilinear(5, 4, 3, bias=False),
         several(floats(6, 5), floats(6, 4)), {}),
        ("LazyLinear-after-a-dry-run", lambda: dry_run(nn.LazyLinear(3), 5), floats(5), {}),
        ("LPPool1d", lambda: nn.LPPool1d(2, 3, stride=2), seq, {}),
        ("LPPool2d", lambda: nn.LPPool2d(2, (3, 2), stride=(2, 1)), img, {}),
        ("LPPool2d-p1-sum", lambda: nn.LPPool2d(1, 2), img, {}),
        ("LPPool2d-p4", lambda: nn.LPPool2d(4, 2), img, {}),
        ("LPPool2d-ceil", lambda: nn.LPPool2d(2, 3, stride=2, ceil_mode=True),
         floats(3, 10, 10), {}),
        ("LPPool1d-inf-ceil", lambda: nn.LPPool1d(math.inf, 3, stride=2, ceil_mode=True),
         seq, {}),
        ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3, alpha=1.0, k=2.0), img, {}),
        ("LocalResponseNorm-3d", lambda: nn.LocalResponseNorm(5, alpha=0.5, beta=0.6),
         floats(6, 7), {}),
        ("LocalResponseNorm-5d", lambda: nn.LocalResponseNorm(3, alpha=0.5), vol, {}),
        ("LocalResponseNorm-even", lambda: nn.LocalResponseNorm(2, alpha=1.0, k=1.5), img,
         {}),
        ("LocalResponseNorm-even-3d", lambda: nn.LocalResponseNorm(4, alpha=1.0), floats(6, 7),
         {}),
    ]
    for mode in ("sum", "mean", "max"):
        cases += [
            (f"EmbeddingBag-2d-{mode}", lambda mode=mode: nn.EmbeddingBag(10, 4, mode=mode),
             ids(5), {}),
            (f"EmbeddingBag-2d-padding-{mode}", lambda mode=mode: nn.EmbeddingBag(
                10, 4, mode=mode, padding_idx=2), padded_ids(5, 2), {}),
            (f"EmbeddingBag-offsets-{mode}", lambda mode=mode: nn.EmbeddingBag(
                10, 4, mode=mode), bags(), {}),
            (f"EmbeddingBag-offsets-padding-last-{mode}", lambda mode=mode: nn.EmbeddingBag(
                10, 4, mode=mode, padding_idx=0, include_last_offset=True),
             bags(include_last_offset=True), {}),
        ]
    cases += [
        ("EmbeddingBag-2d-weights", WeightedBag, several(ids(5), floats(5)), {}),
        ("EmbeddingBag-offsets-weights-padding", lambda: nn.EmbeddingBag(
            10, 4, mode="sum", padding_idx=1),
         bags(weights=True), {}),
        ("EmbeddingBag-max_norm", lambda: nn.EmbeddingBag(10, 4, max_norm=1.5), ids(5), {}),
    ]
    return cases


LAYERS = _layers()


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # Softmin() without dim
@pytest.mark.parametrize("label,build,make,kwargs", LAYERS, ids=[c[0] for c in LAYERS])
def test_each_layer_matches_onnxruntime(label: str, build: Callable, make: Callable,
                                        kwargs: dict, tmp_path: Path) -> None:
    cr.manual_seed(0)
    assert export_and_compare(build(), make, tmp_path, **kwargs) <= TOL


def test_every_layer_of_chainrule_nn_is_covered_or_named() -> None:
    """A new layer in chainrule.nn gets a converter or a place in this list of layers
    that have no ONNX export (and say so by name when met)."""
    from chainrule.io.onnx_export import converter_for

    not_exported = {"MaxUnpool1d", "MaxUnpool2d", "ModuleList", "ModuleDict", "ParameterList",
                    "ParameterDict", "Module"}
    missing = []
    for name in nn.__all__:
        cls = getattr(nn, name)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and name not in not_exported:
            instance = cls.__new__(cls)
            if converter_for(instance) is None:
                missing.append(name)
    assert missing == []


# ---- mixed models ------------------------------------------------------------------------

class LSTMClassifier(nn.Module):
    """As PyTorch users write it: Embedding → LSTM → Linear on the last hidden state."""

    def __init__(self, vocab: int = 10, embed: int = 8, hidden: int = 16,
                 classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: Any) -> Any:
        _, (h_n, _) = self.lstm(self.embedding(x))
        return self.fc(h_n[-1])


def _cnn() -> nn.Module:
    image = floats(1, 12, 12)
    model = nn.Sequential(
        nn.Standardize(mean=np.full((1, 12, 12), 0.5), std=np.full((1, 12, 12), 2.0)),
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding="same", groups=2), nn.BatchNorm2d(8), nn.GELU(),
        nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Dropout(0.3), nn.Linear(72, 10),
        nn.LogSoftmax(dim=1))
    return trained_statistics(model, image)


class TextClassifier(nn.Module):
    """PyTorch's text classification tutorial: the ids of a batch of texts end to end
    and each text's offset, EmbeddingBag → Linear."""

    def __init__(self, vocab: int = 10, embed: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab, embed)
        self.fc = nn.Linear(embed, classes)

    def forward(self, text: Any, offsets: Any) -> Any:
        return self.fc(self.embedding(text, offsets))


MIXED = [
    ("cnn-batchnorm", _cnn, floats(1, 12, 12)),
    ("lstm-classifier", LSTMClassifier, ids(7)),
    ("text-classifier-offsets", TextClassifier, bags()),
    ("decoder-only-transformer", lambda: nn.DecoderOnlyTransformer(
        vocab_size=12, context=8, d_model=16, num_heads=4, num_layers=2, d_ff=32,
        dropout=0.1), ids(8, vocab=12)),
]


@pytest.mark.parametrize("opset", [17, 18, 21])
@pytest.mark.parametrize("label,build,make", MIXED, ids=[m[0] for m in MIXED])
def test_mixed_models_match_onnxruntime(label: str, build: Callable, make: Callable,
                                        opset: int, tmp_path: Path) -> None:
    cr.manual_seed(0)
    model = build()
    assert export_and_compare(model, make, tmp_path, batches=(2, 5), opset=opset) <= TOL
    proto = onnx.load(str(tmp_path / "model.onnx"))
    assert proto.opset_import[0].version == opset
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_the_weights_keep_their_state_dict_names(tmp_path: Path) -> None:
    model = _cnn()
    export_onnx(model, np.zeros((1, 1, 12, 12), np.float32), tmp_path / "cnn.onnx")
    stored = {t.name for t in onnx.load(str(tmp_path / "cnn.onnx")).graph.initializer}
    assert {"1.weight", "2.running_mean", "2.running_var", "11.weight"} <= stored


def test_export_restores_training_mode_and_casts_the_example(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model.train()
    export_onnx(model, np.zeros((1, 3)), tmp_path / "m.onnx")  # a float64 example
    assert model.training and model[1].training
    info = onnx.load(str(tmp_path / "m.onnx")).graph.input[0]
    assert info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_a_float64_model_exports_float64_with_a_warning(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    with pytest.warns(UserWarning, match="float64 graph"):
        export_onnx(model, np.zeros((1, 3)), tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((5, 3))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, model(cr.tensor(x, dtype="float64")).numpy(), rtol=1e-12,
                               atol=1e-12)


def test_static_batch_and_sequence_first_batch_axis(tmp_path: Path) -> None:
    export_onnx(nn.Linear(3, 2), np.zeros((4, 3), np.float32), tmp_path / "s.onnx",
                dynamic_batch=False)
    dims = onnx.load(str(tmp_path / "s.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 3]
    export_onnx(nn.GRU(3, 4), np.zeros((5, 2, 3), np.float32), tmp_path / "g.onnx",
                batch_axis=1)
    graph = onnx.load(str(tmp_path / "g.onnx")).graph
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] \
        == [5, "batch", 3]
    h_n = graph.output[1].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in h_n] == [1, "batch", 4]


# ---- layers of your own ------------------------------------------------------------------

class Head(nn.Module):
    """Uses Value methods: indexing, arithmetic with a Parameter, @, reshape from size(0),
    transpose, mean, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = cr.nn.Parameter(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        self.norm = nn.LayerNorm(3)

    def forward(self, x: Any) -> Any:
        y = self.norm(x @ self.proj * 0.5 - 1.0)       # (N, T, 3)
        pooled = y.transpose(1, 2).mean(dim=-1)         # (N, 3)
        last = y[:, -1, :]
        out = (pooled + last).view(pooled.size(0), -1)
        return (2.0 * out).softmax(dim=-1), -last


def test_a_layer_of_your_own_is_followed_through_its_forward(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(5, 4), Head())
    assert export_and_compare(model, floats(6, 5), tmp_path) <= TOL


class Indexing(nn.Module):
    def forward(self, x: Any) -> Any:
        return x[..., ::-2][:, None, 1:3], x[-2], x[:, 0, -1:], x[1:, ..., None].squeeze(-1)


def test_indexing_a_value_follows_numpy(tmp_path: Path) -> None:
    assert export_and_compare(Indexing(), floats(4, 5), tmp_path) <= TOL


def test_register_onnx_converter_for_your_own_layer(tmp_path: Path) -> None:
    class Clamp(nn.Module):
        def forward(self, x: Any) -> Any:
            return cr.clamp(x, -0.5, 0.5)

    with pytest.raises(OnnxExportError, match=r"layer '1' \(Clamp\) has no ONNX export"):
        export_onnx(nn.Sequential(nn.Linear(3, 3), Clamp()), np.zeros((1, 3), np.float32),
                    tmp_path / "c.onnx")

    @register_onnx_converter(Clamp)
    def _clamp(g: Any, m: Clamp, x: Any) -> str:
        return g.op("Clip", x, g.f(-0.5), g.f(0.5))

    assert export_and_compare(nn.Sequential(nn.Linear(3, 3), Clamp()), floats(3, scale=3),
                              tmp_path) <= TOL


class MyLayer(nn.Module):
    def forward(self, x: Any) -> Any:
        return cr.tensor(np.sort(np.asarray(x), axis=-1))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.attn = MyLayer()

    def forward(self, x: Any) -> Any:
        return self.attn(self.fc(x))


def test_a_lazy_layer_exports_after_a_dry_run_only(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.LazyLinear(3))
    path = tmp_path / "lazy.onnx"
    with pytest.raises(OnnxExportError, match=r"layer '1' \(LazyLinear\) cannot be exported: "
                                              r".*before the first forward.*dry run"):
        export_onnx(model, np.zeros((2, 4), np.float32), path)
    assert not path.exists()
    with cr.no_grad():
        model(cr.zeros(1, 4))  # the dry run: the layer becomes a Linear
    assert export_and_compare(model, floats(4), tmp_path) <= TOL


def test_an_unexportable_layer_is_named_by_its_path(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), Block())
    path = tmp_path / "never.onnx"
    with pytest.raises(OnnxExportError, match=r"layer '3\.attn' \(MyLayer\) has no ONNX "
                                              r"export") as caught:
        export_onnx(model, np.zeros((2, 4), np.float32), path)
    assert caught.value.path == "3.attn"
    assert "register_onnx_converter" in str(caught.value)
    assert not path.exists()
    unpool = nn.Sequential(nn.Linear(4, 4), nn.MaxUnpool1d(2))
    with pytest.raises(OnnxExportError, match=r"layer '1' \(MaxUnpool1d\) has no ONNX export"):
        export_onnx(unpool, np.zeros((2, 4), np.float32), path)
    indices = nn.Sequential(nn.Conv1d(1, 2, 3), nn.MaxPool1d(2, return_indices=True))
    with pytest.raises(OnnxExportError, match=r"layer '1' \(MaxPool1d\).*return_indices"):
        export_onnx(indices, np.zeros((2, 1, 8), np.float32), path)


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="opset must be an int from 17 to 21"):
        export_onnx(nn.Linear(2, 2), np.zeros((1, 2), np.float32), tmp_path / "m.onnx",
                    opset=13)
    with pytest.raises(TypeError, match="chainrule Module"):
        export_onnx(lambda x: x, np.zeros((1, 2)), tmp_path / "m.onnx")


def test_missing_onnx_package_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[onnx\]'"):
        export_onnx(nn.Linear(2, 2), np.zeros((1, 2), np.float32), tmp_path / "m.onnx")


# ---- from chainrule train, through the CLI --------------------------------------------------

def _chainrule(*args: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("spec", ["mlp:32", "cnn:4"])
def test_a_trained_model_exports_through_the_cli(spec: str, tmp_path: Path) -> None:
    from chainrule.data import load_dataset
    from chainrule.train.run import raw_features

    run = tmp_path / "run"
    done = _chainrule("train", "--model", spec, "--epochs", "1", "--out", run, "-q",
                      "--no-plots")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "digits.onnx"
    done = _chainrule("export", run / "model.safetensors", "--onnx", out)
    assert done.returncode == 0, done.stderr
    assert "opset 17" in done.stdout and "(batch, " in done.stdout
    model, meta = cr.io.load_with_metadata(run / "model.safetensors")
    assert type(model.input).__name__ == "Standardize"  # it takes raw pixels
    [X], _ = raw_features(load_dataset("digits", seed=0), ("test",))
    X = X.reshape((len(X), *meta["input_shape"])).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for rows in (X[:1], X[:37]):
        got = session.run(None, {"input": rows})[0]
        with cr.no_grad():
            want = model(cr.tensor(rows)).numpy()
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["classes"]) == meta["classes"]
    assert json.loads(props["input_shape"]) == meta["input_shape"]


def test_cli_export_needs_a_shape_when_the_file_has_none(tmp_path: Path) -> None:
    model_path = tmp_path / "lm.safetensors"
    cr.io.save(nn.DecoderOnlyTransformer(10, 6, 8, 2, 1, 16), model_path)
    done = _chainrule("export", model_path, "--onnx", tmp_path / "lm.onnx")
    assert done.returncode == 1 and "--input-shape" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _chainrule("export", model_path, "--onnx", tmp_path / "lm.onnx", "--input-shape",
                      "6", "--opset", "18")
    assert done.returncode == 0, done.stderr
    assert "input (batch, 6) int64" in done.stdout
    session = ort.InferenceSession(str(tmp_path / "lm.onnx"),
                                   providers=["CPUExecutionProvider"])
    tokens = np.arange(12).reshape(2, 6) % 10
    want = cr.io.load(model_path)(tokens).numpy()
    got = session.run(None, {"input": tokens})[0]
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
