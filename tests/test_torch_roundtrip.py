"""PyTorch weights both ways: chainrule → safetensors → PyTorch → safetensors → chainrule
gives identical weights and outputs (an MLP, a CNN with BatchNorm, a 2-layer LSTM; a
transposed, non-contiguous weight among them), PyTorch's own files load strictly, and
the layers docs/pytorch_weights.md lists as one-to-one load PyTorch's state_dict and
compute what PyTorch computes. Skipped without torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")
tnn = torch.nn
pytestmark = pytest.mark.torch

TOL = 1e-5


# ---- the three models, in chainrule and in PyTorch (same keys) ------------------------------

def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 3))


def torch_mlp() -> Any:
    return tnn.Sequential(tnn.Linear(6, 16), tnn.Tanh(), tnn.Linear(16, 16), tnn.ReLU(),
                          tnn.Linear(16, 3))


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, groups=2), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32, 5))


def torch_cnn() -> Any:
    return tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Conv2d(4, 8, 3, groups=2),
                          tnn.BatchNorm2d(8), tnn.ReLU(), tnn.Flatten(), tnn.Linear(32, 5))


class Tagger(nn.Module):
    """A 2-layer LSTM over (B, T, 5) and a linear head on every step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: Any) -> Any:
        out, _ = self.lstm(x)
        return self.head(out)


class TorchTagger(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = tnn.LSTM(5, 8, num_layers=2, batch_first=True)
        self.head = tnn.Linear(8, 3)

    def forward(self, x: Any) -> Any:
        out, _ = self.lstm(x)
        return self.head(out)


def _image(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((4, 1, 8, 8)).astype(np.float32)


MODELS: list[tuple[str, Callable, Callable, Callable, str]] = [
    # name, chainrule model, torch model, input, the weight made non-contiguous
    ("mlp", mlp, torch_mlp, lambda rng: rng.standard_normal((4, 6)).astype(np.float32),
     "2.weight"),
    ("cnn-batchnorm", cnn, torch_cnn, _image, "8.weight"),
    ("lstm-2-layers", Tagger, TorchTagger,
     lambda rng: rng.standard_normal((4, 7, 5)).astype(np.float32), "lstm.weight_hh_l1"),
]


def _transposed_view(a: np.ndarray) -> np.ndarray:
    """The same values, held transposed in memory (not C-contiguous)."""
    view = np.ascontiguousarray(a.T).T
    assert not view.flags.c_contiguous and np.array_equal(view, a)
    return view


def _with_statistics(model: nn.Module, x: np.ndarray) -> None:
    """Training-mode batches, so BatchNorm's running statistics and count are not fresh."""
    model.train()
    with cr.no_grad():
        for k in range(3):
            model(cr.tensor(x * (k + 1) + 0.5))
    model.eval()


def _torch_out(twin: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return twin(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name,build,build_torch,make,strided", MODELS,
                         ids=[m[0] for m in MODELS])
def test_round_trip_through_pytorch_is_exact(name: str, build: Callable, build_torch: Callable,
                                             make: Callable, strided: str,
                                             tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = make(rng)
    cr.manual_seed(0)
    ours = build()
    _with_statistics(ours, x)
    weight = ours._state_tensors()[strided]
    weight.data = _transposed_view(weight.numpy())  # chainrule writes it in C order
    before = {k: v.copy() for k, v in ours.state_dict().items()}
    with cr.no_grad():
        expected = ours(cr.tensor(x)).numpy()

    # chainrule → safetensors → PyTorch
    first = tmp_path / "chainrule.safetensors"
    cr.io.save_state_dict(ours.state_dict(), first)
    twin = build_torch()
    result = twin.load_state_dict(st.load_file(str(first)))  # strict
    assert not result.missing_keys and not result.unexpected_keys
    twin.eval()
    np.testing.assert_allclose(_torch_out(twin, x), expected, rtol=TOL, atol=TOL)
    if "batchnorm" in name:
        assert int(twin[1].num_batches_tracked) == 3

    # PyTorch holds one weight transposed too; safetensors.torch.save_file stores only
    # contiguous tensors, hence .contiguous() (docs/pytorch_weights.md)
    param = dict(twin.named_parameters())[strided]
    param.data = param.data.t().contiguous().t()
    assert not param.is_contiguous()
    second = tmp_path / "torch.safetensors"
    st.save_file({k: v.contiguous() for k, v in twin.state_dict().items()}, str(second))

    # PyTorch → safetensors → chainrule, into a model with other weights
    cr.manual_seed(1)
    back = build()
    assert back.load_state_dict(cr.io.load_state_dict_file(second)) == ([], [])
    back.eval()
    after = back.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype, key  # float32 weights, int64 counters
        assert np.array_equal(after[key], value), key
    with cr.no_grad():
        assert np.array_equal(back(cr.tensor(x)).numpy(), expected)

    # and straight from PyTorch's tensors in memory, the transposed one as it is
    cr.manual_seed(2)
    direct = build()
    direct.load_state_dict(twin.state_dict())
    direct.eval()
    with cr.no_grad():
        assert np.array_equal(direct(cr.tensor(x)).numpy(), expected)


def test_batchnorm_statistics_pytorch_updated_come_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    twin = torch_cnn()
    twin.train()
    with torch.no_grad():
        for _ in range(4):
            twin(torch.from_numpy(_image(rng) * 3 + 1))
    twin.eval()
    path = tmp_path / "bn.safetensors"
    st.save_file(twin.state_dict(), str(path))
    ours = cnn()
    ours.load_state_dict(cr.io.load_state_dict_file(path))
    ours.eval()
    assert ours[1].num_batches_tracked.numpy().dtype == np.int64
    assert int(ours[1].num_batches_tracked.numpy()) == 4
    np.testing.assert_array_equal(ours[5].running_var.numpy(), twin[5].running_var.numpy())
    x = _image(rng)
    with cr.no_grad():
        np.testing.assert_allclose(ours(cr.tensor(x)).numpy(), _torch_out(twin, x), rtol=TOL,
                                   atol=TOL)


# ---- strict loading of PyTorch's files ------------------------------------------------------

def test_a_file_of_another_architecture_names_every_wrong_key(tmp_path: Path) -> None:
    other = tnn.Sequential(tnn.Linear(6, 16), tnn.Tanh(), tnn.Linear(16, 8), tnn.ReLU(),
                           tnn.Linear(8, 3), tnn.Linear(3, 3))
    path = tmp_path / "other.safetensors"
    st.save_file(other.state_dict(), str(path))
    ours = mlp()
    before = {k: v.copy() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError) as caught:
        ours.load_state_dict(cr.io.load_state_dict_file(path))
    message = str(caught.value)
    for needle in ("mis-shaped keys", "2.weight: expected (16, 16), got (8, 16)",
                   "4.weight: expected (3, 16), got (3, 8)", "unexpected keys",
                   "'5.weight'", "'5.bias'"):
        assert needle in message, needle
    assert all(np.array_equal(v, before[k]) for k, v in ours.state_dict().items())
    partial = {k: v for k, v in st.load_file(str(path)).items() if k.startswith("0.")}
    with pytest.raises(ValueError, match=r"missing keys: \['2.weight', '2.bias', "):
        ours.load_state_dict(partial)
    assert ours.load_state_dict(partial, strict=False).missing_keys[:2] == ["2.weight",
                                                                            "2.bias"]


def test_float64_pytorch_weights_load_into_a_float32_model_cast(tmp_path: Path) -> None:
    twin = torch_mlp().double()
    path = tmp_path / "f64.safetensors"
    st.save_file(twin.state_dict(), str(path))
    ours = mlp()
    ours.load_state_dict(cr.io.load_state_dict_file(path))
    for key, value in ours.state_dict().items():
        assert value.dtype == np.float32, key
        np.testing.assert_array_equal(value, twin.state_dict()[key].numpy().astype(np.float32))
    as_float64 = mlp().double()
    as_float64.load_state_dict(cr.io.load_state_dict_file(path))
    assert np.array_equal(as_float64[0].weight.numpy(), twin[0].weight.detach().numpy())
    counts = {"1.num_batches_tracked": torch.tensor(2.0)}  # a float where an int belongs
    bn = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="1.num_batches_tracked: expected int64, got float32"):
        bn.load_state_dict({**bn.state_dict(), **counts})


def test_tied_weights_from_save_model(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(7, 4)
            self.head = nn.Linear(4, 7, bias=False)
            self.head.weight = self.emb.weight

    class TorchTied(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = tnn.Embedding(7, 4)
            self.head = tnn.Linear(4, 7, bias=False)
            self.head.weight = self.emb.weight

    twin = TorchTied()
    path = tmp_path / "tied.safetensors"
    st.save_model(twin, str(path))  # keeps one name of the shared tensor
    assert len(st.load_file(str(path))) == 1
    ours = Tied()
    with pytest.raises(ValueError, match=r"missing keys: \['head.weight'\]"):
        ours.load_state_dict(cr.io.load_state_dict_file(path))  # strict, as PyTorch's
    # as PyTorch: strict=False, and the only missing name is the tied one
    result = ours.load_state_dict(cr.io.load_state_dict_file(path), strict=False)
    assert result == (["head.weight"], [])
    assert ours.head.weight is ours.emb.weight
    np.testing.assert_array_equal(ours.head.weight.numpy(), twin.head.weight.detach().numpy())
    # chainrule writes both names, which PyTorch loads strictly
    back = tmp_path / "ours.safetensors"
    cr.io.save_state_dict(ours.state_dict(), back)
    assert TorchTied().load_state_dict(st.load_file(str(back))) is not None


# ---- the one-to-one layers of docs/pytorch_weights.md -------------------------------------

def _pairs() -> list[tuple[str, Callable, Callable, Callable]]:
    def seq(*shape: int) -> Callable:
        return lambda rng: rng.standard_normal(shape).astype(np.float32)

    return [
        ("GRU-gates-rzn", lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True),
         lambda: tnn.GRU(3, 5, num_layers=2, bidirectional=True), seq(6, 2, 3)),
        ("RNN-relu", lambda: nn.RNN(3, 5, nonlinearity="relu", batch_first=True),
         lambda: tnn.RNN(3, 5, nonlinearity="relu", batch_first=True), seq(2, 6, 3)),
        ("LSTM-gates-ifgo", lambda: nn.LSTM(3, 5), lambda: tnn.LSTM(3, 5), seq(6, 2, 3)),
        ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding="same", dilation=2),
         lambda: tnn.Conv1d(3, 4, 3, padding="same", dilation=2), seq(2, 3, 9)),
        ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2),
         lambda: tnn.ConvTranspose2d(4, 2, 3, stride=2, groups=2), seq(2, 4, 5, 5)),
        ("GroupNorm", lambda: nn.GroupNorm(2, 4), lambda: tnn.GroupNorm(2, 4), seq(2, 4, 3)),
        ("LayerNorm-no-bias", lambda: nn.LayerNorm(6, bias=False),
         lambda: tnn.LayerNorm(6, bias=False), seq(2, 6)),
        ("RMSNorm", lambda: nn.RMSNorm(6), lambda: tnn.RMSNorm(6), seq(2, 6)),
        ("PReLU", lambda: nn.PReLU(3), lambda: tnn.PReLU(3), seq(2, 3, 4)),
        ("InstanceNorm1d-running", lambda: nn.InstanceNorm1d(3, affine=True,
                                                             track_running_stats=True),
         lambda: tnn.InstanceNorm1d(3, affine=True, track_running_stats=True), seq(2, 3, 5)),
        ("MultiheadAttention-kdim", lambda: nn.MultiheadAttention(8, 2, kdim=3, vdim=4,
                                                                  add_bias_kv=True),
         lambda: tnn.MultiheadAttention(8, 2, kdim=3, vdim=4, add_bias_kv=True), None),
        ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(
            8, 2, 16, dropout=0.0, batch_first=True),
         lambda: tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
         seq(2, 5, 8)),
    ]


PAIRS = _pairs()


@pytest.mark.parametrize("name,ours_fn,theirs_fn,make", PAIRS, ids=[p[0] for p in PAIRS])
def test_pytorch_state_dicts_load_one_to_one(name: str, ours_fn: Callable, theirs_fn: Callable,
                                             make: Callable | None, tmp_path: Path) -> None:
    torch.manual_seed(0)
    theirs = theirs_fn().eval()
    path = tmp_path / "layer.safetensors"
    st.save_file(theirs.state_dict(), str(path))
    ours = ours_fn()
    assert ours.load_state_dict(cr.io.load_state_dict_file(path)) == ([], [])
    ours.eval()
    rng = np.random.default_rng(0)
    if make is None:  # attention: query, key, value
        inputs = [rng.standard_normal(s).astype(np.float32) for s in ((5, 2, 8), (6, 2, 3),
                                                                      (6, 2, 4))]
    else:
        inputs = [make(rng)]
    with torch.no_grad():
        want = theirs(*[torch.from_numpy(a) for a in inputs])
    with cr.no_grad():
        got = ours(*[cr.tensor(a) for a in inputs])
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=TOL, atol=TOL)
