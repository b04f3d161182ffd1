"""Model files and architecture specs: round trips, PyTorch interop, clear errors."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

import chainrule as cr
from chainrule import nn
from chainrule.io import (
    ModelFileError,
    from_spec,
    inspect_file,
    load,
    load_state_dict_file,
    load_with_metadata,
    read_metadata,
    register_architecture,
    registered_architectures,
    save,
    save_checkpoint,
    save_state_dict,
    to_spec,
)

IO_SOURCES = Path(__file__).resolve().parents[1] / "src" / "chainrule" / "io"


# ---- models under test ----------------------------------------------------------------

def _mlp_batchnorm() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 3))


def _mlp_layernorm_residual() -> nn.Module:
    return nn.Sequential(OrderedDict([
        ("embed", nn.Linear(5, 8)),
        ("norm", nn.LayerNorm(8)),
        ("act", nn.GELU("tanh")),
        ("block", nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Dropout(0.1)))),
        ("down", nn.Residual(nn.Sequential(nn.Linear(8, 4), nn.LeakyReLU(0.2)),
                             shortcut=nn.Linear(8, 4, bias=False))),
        ("soft", nn.Softplus(beta=2.0, threshold=10.0)),
        ("head", nn.Linear(4, 3)),
        ("out", nn.LogSoftmax(dim=-1)),
    ]))


def _mlp_variants() -> nn.Module:
    return nn.Sequential(
        nn.Linear(5, 6), nn.BatchNorm1d(6, eps=1e-3, momentum=0.2, affine=False),
        nn.Sigmoid(), nn.LayerNorm(6, elementwise_affine=False), nn.Linear(6, 6),
        nn.LayerNorm((6,), eps=1e-6, bias=False), nn.BatchNorm1d(6, track_running_stats=False),
        nn.Identity(), nn.Softmax(dim=1), nn.Flatten(),
    )


MODELS = {"batchnorm": _mlp_batchnorm, "layernorm_residual": _mlp_layernorm_residual,
          "variants": _mlp_variants}


def _trained_a_little(model: nn.Module, seed: int = 0) -> nn.Module:
    """Forward passes in training mode move BatchNorm's running statistics off their
    initial values, so the round trip has to carry real buffer contents."""
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(3):
        model(cr.tensor(rng.normal(size=(8, 5)).astype(np.float32)))
    return model.eval()


def _inputs(seed: int = 1, dtype: type = np.float32) -> cr.Tensor:
    return cr.tensor(np.random.default_rng(seed).normal(size=(7, 5)).astype(dtype))


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert sa[k].shape == sb[k].shape, k
        assert sa[k].tobytes() == sb[k].tobytes(), k


# ---- round trips ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_gives_bitwise_identical_predictions(tmp_path: Path, name: str) -> None:
    cr.manual_seed(0)
    model = _trained_a_little(MODELS[name]())
    path = tmp_path / "model.safetensors"
    save(model, path)
    loaded = load(path)
    assert type(loaded) is type(model)
    assert not loaded.training  # ready for prediction
    _assert_same_state(model, loaded)
    x = _inputs()
    expected, got = model(x).numpy(), loaded(x).numpy()
    assert got.dtype == expected.dtype == np.float32
    assert got.tobytes() == expected.tobytes()
    assert repr(loaded) == repr(model)


def test_spec_is_plain_json_and_rebuilds_the_same_structure() -> None:
    cr.manual_seed(0)
    model = _mlp_layernorm_residual()
    spec = to_spec(model)
    text = json.dumps(spec)  # must not raise
    rebuilt = from_spec(json.loads(text))
    assert repr(rebuilt) == repr(model)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == \
        [(k, v.shape) for k, v in model.state_dict().items()]
    assert spec["dtype"] == "float32"
    assert spec["model"]["type"] == "Sequential"
    names = [name for name, _ in spec["model"]["children"]]
    assert names == ["embed", "norm", "act", "block", "down", "soft", "head", "out"]
    down = dict(spec["model"]["children"])["down"]
    assert [c[0] for c in down["children"]] == ["fn", "shortcut"]
    linear = spec["model"]["children"][0][1]
    assert linear == {"type": "Linear",
                      "kwargs": {"in_features": 5, "out_features": 8, "bias": True}}


def test_constructor_arguments_survive_exactly() -> None:
    model = nn.Sequential(nn.LeakyReLU(0.125), nn.GELU("tanh"), nn.Softplus(3.0, 7.5),
                          nn.Dropout(0.25), nn.Dropout2d(0.4), nn.Flatten(0, 2),
                          nn.LayerNorm((2, 3), eps=1e-7), nn.Softmax(0), nn.LogSoftmax(1),
                          nn.BatchNorm2d(3, momentum=0.05))
    rebuilt = from_spec(json.loads(json.dumps(to_spec(model))))
    assert rebuilt[0].negative_slope == 0.125
    assert rebuilt[1].approximate == "tanh"
    assert (rebuilt[2].beta, rebuilt[2].threshold) == (3.0, 7.5)
    assert rebuilt[3].p == 0.25 and type(rebuilt[3]) is nn.Dropout
    assert rebuilt[4].p == 0.4 and type(rebuilt[4]) is nn.Dropout2d
    assert (rebuilt[5].start_dim, rebuilt[5].end_dim) == (0, 2)
    assert rebuilt[6].normalized_shape == (2, 3) and rebuilt[6].eps == 1e-7
    assert rebuilt[7].dim == 0 and rebuilt[8].dim == 1
    assert type(rebuilt[9]) is nn.BatchNorm2d and rebuilt[9].momentum == 0.05


def test_module_list_and_module_dict_round_trip(tmp_path: Path) -> None:
    class_free = nn.ModuleDict({
        "encoder": nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 4, bias=False)]),
        "head": nn.Sequential(nn.ReLU(), nn.Linear(4, 2)),
    })
    path = tmp_path / "dict.safetensors"
    save(class_free, path)
    loaded = load(path)
    assert isinstance(loaded, nn.ModuleDict) and isinstance(loaded["encoder"], nn.ModuleList)
    _assert_same_state(class_free, loaded)


def test_float64_model_keeps_its_dtype(tmp_path: Path) -> None:
    cr.manual_seed(3)
    model = _trained_a_little(_mlp_batchnorm()).double()
    assert to_spec(model)["dtype"] == "float64"
    path = tmp_path / "f64.safetensors"
    save(model, path)
    loaded = load(path)
    assert all(p.numpy().dtype == np.float64 for p in loaded.parameters())
    x = _inputs(dtype=np.float64)
    assert loaded(x).numpy().tobytes() == model(x).numpy().tobytes()


def test_mixed_precision_model_comes_back_as_saved(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    model[1].double()
    path = tmp_path / "mixed.safetensors"
    save(model, path)
    loaded = load(path)
    assert loaded[0].weight.numpy().dtype == np.float32
    assert loaded[1].weight.numpy().dtype == np.float64
    _assert_same_state(model, loaded)


def test_rebuilding_does_not_consume_the_default_random_stream(tmp_path: Path) -> None:
    model = _mlp_batchnorm()
    path = tmp_path / "m.safetensors"
    save(model, path)
    cr.manual_seed(123)
    before = cr.default_generator.get_state()
    load(path)
    from_spec(to_spec(model))
    assert cr.default_generator.get_state() == before


def test_user_metadata_round_trips(tmp_path: Path) -> None:
    meta = {"classes": ["setosa", "versicolor", "virginica"], "task": "classification",
            "mean": np.array([5.8, 3.0, 3.7, 1.2], np.float32), "input_shape": (4,),
            "n": 2**70, "ratio": 0.1}
    path = tmp_path / "iris.safetensors"
    save(_mlp_batchnorm(), path, metadata=meta)
    _, got = load_with_metadata(path)
    for m in (got, read_metadata(path)):
        assert m["classes"] == meta["classes"] and m["task"] == "classification"
        assert m["mean"].dtype == np.float32 and m["mean"].tobytes() == meta["mean"].tobytes()
        assert m["input_shape"] == (4,) and m["n"] == 2**70 and m["ratio"] == 0.1
    assert load_with_metadata(tmp_path / "iris.safetensors")[1] is not got
    save(_mlp_batchnorm(), path)
    assert read_metadata(path) == {}


def test_file_layout_is_plain_safetensors_with_chainrule_metadata(tmp_path: Path) -> None:
    model = _mlp_batchnorm()
    path = tmp_path / "m.safetensors"
    save(model, path, metadata={"task": "demo"})
    tensors = safetensors.numpy.load_file(str(path))
    assert sorted(tensors) == sorted(model.state_dict())
    assert tensors["1.num_batches_tracked"].shape == ()
    assert tensors["1.num_batches_tracked"].dtype == np.int64
    with safetensors.safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "chainrule"
    assert meta["chainrule_version"] == cr.__version__
    assert json.loads(meta["architecture"]) == to_spec(model)
    assert json.loads(meta["user"]) == {"task": "demo"}
    info = inspect_file(path)
    assert info.kind == "model" and info.metadata == {"task": "demo"}
    assert info.tensors["0.weight"] == ("F32", (16, 5))
    assert info.num_parameters == sum(v.size for v in model.state_dict().values())


def test_state_dict_file_round_trip_keeps_order_dtype_and_strides(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    state = {"z.weight": base[:, ::2],  # a strided view must be written as its values
             "a.bias": cr.tensor(np.ones(3, np.float32)),
             "m.count": np.array(7, np.int64),
             "m.mask": np.array([True, False])}
    path = tmp_path / "w.safetensors"
    save_state_dict(state, path, metadata={"note": "weights only"})
    got = load_state_dict_file(path)
    assert list(got) == list(state)
    np.testing.assert_array_equal(got["z.weight"], base[:, ::2])
    assert got["a.bias"].dtype == np.float32
    assert got["m.count"].shape == () and int(got["m.count"]) == 7
    assert got["m.mask"].dtype == np.bool_
    assert got["z.weight"].flags.writeable
    assert read_metadata(path) == {"note": "weights only"}


# ---- architecture registry ------------------------------------------------------------

class _Unregistered(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc(x)


def test_unregistered_user_module_names_the_class_and_the_ways_out(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(2, 2), _Unregistered())
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="_Unregistered") as info:
        save(model, path)
    message = str(info.value)
    assert "register_architecture" in message and "save_state_dict" in message
    assert "'1'" in message or " 1 " in message  # where in the model
    assert not path.exists()
    with pytest.raises(ValueError, match="_Unregistered"):
        to_spec(_Unregistered())


def test_subclass_of_a_registered_layer_is_not_silently_its_parent() -> None:
    class MyLinear(nn.Linear):
        pass

    with pytest.raises(ValueError, match="MyLinear"):
        to_spec(nn.Sequential(MyLinear(2, 2)))


def test_register_with_decorator_and_default_kwargs(tmp_path: Path) -> None:
    @register_architecture("test_io.Scaled")
    class Scaled(nn.Module):
        def __init__(self, features: int, factor: float = 2.0, shape: tuple = (1, 2),
                     generator: cr.Generator | None = None) -> None:
            super().__init__()
            self.features = features
            self.factor = factor
            self.shape = shape
            self.lin = nn.Linear(features, features, generator=generator)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.lin(x) * self.factor

    model = nn.Sequential(Scaled(3, factor=0.5, shape=(3, 4)), nn.ReLU())
    path = tmp_path / "scaled.safetensors"
    save(model, path)
    loaded = load(path)
    assert type(loaded[0]) is Scaled
    assert loaded[0].factor == 0.5 and loaded[0].shape == (3, 4)
    _assert_same_state(model, loaded)
    assert registered_architectures()["test_io.Scaled"] is Scaled


def test_register_with_explicit_get_kwargs() -> None:
    class Gate(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.proj = nn.Linear(width, width)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.proj(x).sigmoid() * x

    register_architecture("test_io.Gate", Gate, lambda m: {"width": m.proj.in_features})
    rebuilt = from_spec(json.loads(json.dumps(to_spec(Gate(5)))))
    assert rebuilt.proj.weight.shape == (5, 5)


def test_default_kwargs_refuse_tensor_attributes() -> None:
    class Affine(nn.Module):
        def __init__(self, n: int, bias: bool = True) -> None:
            super().__init__()
            self.n = n
            self.bias = nn.Parameter(np.zeros(n, np.float32)) if bias else None

    register_architecture("test_io.Affine", Affine)
    with pytest.raises(ValueError, match="bias.*get_kwargs"):
        to_spec(Affine(3))


def test_wrong_get_kwargs_is_caught_when_saving(tmp_path: Path) -> None:
    class Wide(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.fc = nn.Linear(width, width)

    register_architecture("test_io.Wide", Wide, lambda m: {"width": 2})  # wrong on purpose
    path = tmp_path / "wide.safetensors"
    with pytest.raises(ValueError, match="does not rebuild the same parameters"):
        save(Wide(3), path)
    assert not path.exists()


def test_registry_conflicts_are_errors() -> None:
    class A(nn.Module):
        pass

    class B(nn.Module):
        pass

    register_architecture("test_io.A", A)
    register_architecture("test_io.A", A)  # same pair again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_architecture("test_io.A", B)
    with pytest.raises(ValueError, match="already registered"):
        register_architecture("test_io.A2", A)
    with pytest.raises(ValueError, match="already registered"):
        register_architecture("Linear", B)
    with pytest.raises(TypeError):
        register_architecture("test_io.notamodule", int)


def test_redefining_a_registered_class_replaces_it() -> None:
    def define(width: int) -> type:
        class Redefined(nn.Module):  # same module and qualname each time, as in a notebook
            def __init__(self) -> None:
                super().__init__()
                self.fc = nn.Linear(width, 1)

        return register_architecture("test_io.Redefined", Redefined)

    define(2)
    second = define(3)
    assert registered_architectures()["test_io.Redefined"] is second
    assert from_spec(to_spec(second())).fc.in_features == 3


def test_a_layer_module_can_register_itself_while_chainrule_nn_imports() -> None:
    """A file in chainrule/nn/ may import chainrule.io at its top to register its layers
    (nn/__init__ → that file → chainrule.io → chainrule.nn.module) without an import
    cycle. Simulated in a fresh interpreter by running that import first thing inside
    chainrule.nn.linear."""
    script = textwrap.dedent("""
        import importlib.abc, sys

        class Hook(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "chainrule.nn.linear":
                    sys.meta_path.remove(self)
                    from chainrule.io import register_architecture  # noqa: F401
                return None

        sys.meta_path.insert(0, Hook())
        import chainrule.nn as nn
        from chainrule.io import from_spec, to_spec
        print(type(from_spec(to_spec(nn.Sequential(nn.Linear(2, 2))))).__name__)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Sequential"


def test_shared_modules_cannot_be_described() -> None:
    shared = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="same module object"):
        to_spec(nn.Sequential(shared, nn.ReLU(), shared))


def test_unknown_type_in_a_spec_is_a_clear_error() -> None:
    spec = to_spec(nn.Sequential(nn.Linear(2, 2)))
    spec["model"]["children"][0][1]["type"] = "NoSuchLayer"
    with pytest.raises(ValueError, match="NoSuchLayer.*register_architecture"):
        from_spec(spec)
    with pytest.raises(ValueError, match="newer"):
        from_spec({**spec, "version": 99})
    with pytest.raises(ValueError, match="not a chainrule architecture"):
        from_spec({"model": {}})


def test_recurrent_and_embedding_layers_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("chainrule.nn.recurrent")
    from chainrule.nn.embedding import Embedding
    from chainrule.nn.recurrent import GRU, LSTM, RNN

    model = nn.ModuleDict({
        "emb": Embedding(11, 4, padding_idx=0),
        "rnn": RNN(4, 5, num_layers=2, nonlinearity="relu", batch_first=True),
        "lstm": LSTM(4, 3, bidirectional=True, bias=False),
        "gru": GRU(4, 6),
    })
    path = tmp_path / "seq.safetensors"
    save(model, path)
    loaded = load(path)
    _assert_same_state(model, loaded)
    assert loaded["rnn"].nonlinearity == "relu" and loaded["rnn"].batch_first
    assert loaded["lstm"].bidirectional and loaded["emb"].padding_idx == 0


@pytest.mark.parametrize("tie", [False, True])
def test_attention_and_transformer_round_trip(tmp_path: Path, tie: bool) -> None:
    pytest.importorskip("chainrule.nn.transformer")
    from chainrule.nn.attention import MultiheadAttention
    from chainrule.nn.transformer import (
        DecoderOnlyTransformer,
        PositionalEmbedding,
        TransformerBlock,
    )

    cr.manual_seed(0)
    gpt = DecoderOnlyTransformer(17, 8, 16, 4, 2, 32, dropout=0.1, positional="sinusoidal",
                                 tie_weights=tie)
    path = tmp_path / "gpt.safetensors"
    save(gpt.eval(), path)
    loaded = load(path)
    assert (loaded.head.weight is loaded.tok_emb.weight) == tie
    _assert_same_state(gpt, loaded)
    ids = np.random.default_rng(0).integers(0, 17, size=(2, 8))
    assert loaded(ids).numpy().tobytes() == gpt(ids).numpy().tobytes()

    parts = nn.ModuleList([MultiheadAttention(8, 2, dropout=0.2, bias=False, batch_first=True),
                           PositionalEmbedding(6, 8),
                           TransformerBlock(8, 2, 12, dropout=0.3, causal=False)])
    rebuilt = from_spec(json.loads(json.dumps(to_spec(parts))))
    assert rebuilt[0].in_proj_bias is None and rebuilt[0].batch_first
    assert rebuilt[0].dropout == 0.2 and rebuilt[1].kind == "learned"
    assert rebuilt[2].causal is False and rebuilt[2].drop.p == 0.3
    assert rebuilt[2].mlp[0].out_features == 12
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == \
        [(k, v.shape) for k, v in parts.state_dict().items()]


# ---- damaged and foreign files ------------------------------------------------------------

def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "good.safetensors"
    save(_mlp_batchnorm(), path)
    return path


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*no such file"):
        load(path)


@pytest.mark.parametrize("keep", [0, 5, 20, -3, -200])
def test_truncated_file_names_the_file(tmp_path: Path, keep: int) -> None:
    good = _saved(tmp_path).read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(good[:keep])
    with pytest.raises(ModelFileError, match=re.escape(str(path))) as info:
        load(path)
    assert "truncated" in str(info.value) or "too short" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ModelFileError, match="truncated|too short"):
        read_metadata(path)


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*not a safetensors"):
        load(path)
    path.write_bytes(b"hello, this is a text file, not a model\n" * 10)
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        load(path)


def test_corrupted_header(tmp_path: Path) -> None:
    data = bytearray(_saved(tmp_path).read_bytes())
    data[8:12] = b"#!#!"  # break the JSON right after the length field
    path = tmp_path / "bad_header.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*corrupted header"):
        load(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long.safetensors"
    path.write_bytes(_saved(tmp_path).read_bytes() + b"\0" * 16)
    with pytest.raises(ModelFileError, match="unexpected bytes"):
        load(path)


def test_foreign_safetensors_file_points_to_load_state_dict_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"w": np.ones((2, 2), np.float32)}, str(path))
    with pytest.raises(ModelFileError, match=re.escape(str(path))) as info:
        load(path)
    assert "load_state_dict_file" in str(info.value)
    assert list(load_state_dict_file(path)) == ["w"]
    assert inspect_file(path).kind == "foreign"


def test_state_dict_file_and_checkpoint_are_not_model_files(tmp_path: Path) -> None:
    model = _mlp_batchnorm()
    weights = tmp_path / "w.safetensors"
    save_state_dict(model.state_dict(), weights)
    with pytest.raises(ModelFileError, match="only weights"):
        load(weights)
    ckpt = tmp_path / "c.safetensors"
    save_checkpoint(ckpt, model=model)
    with pytest.raises(ModelFileError, match="load_checkpoint"):
        load(ckpt)


def test_weights_that_do_not_fit_the_architecture(tmp_path: Path) -> None:
    good = _saved(tmp_path)
    with safetensors.safe_open(str(good), framework="np") as f:
        meta = f.metadata()
    other = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 4))  # a different head
    path = tmp_path / "mismatch.safetensors"
    safetensors.numpy.save_file(dict(other.state_dict()), str(path), metadata=meta)
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*damaged.*checksum"):
        load(path)  # the tensor table no longer matches the header's checksum
    with pytest.raises(ModelFileError, match=re.escape(str(path))) as info:
        load(path, verify=False)
    message = str(info.value)
    assert "do not fit" in message and "4.weight" in message


def test_malformed_architecture_metadata(tmp_path: Path) -> None:
    good = _saved(tmp_path)
    tensors = load_state_dict_file(good)
    path = tmp_path / "arch.safetensors"
    for bad in ("{not json", json.dumps({"format": "chainrule.architecture", "version": 1,
                                         "model": {"type": "os.system"}})):
        meta = {"format": "chainrule", "chainrule_version": "0", "architecture": bad}
        safetensors.numpy.save_file(tensors, str(path), metadata=meta)
        with pytest.raises(ModelFileError, match=re.escape(str(path))):
            load(path)


# ---- PyTorch interoperability -------------------------------------------------------------

def _torch_twin(torch: Any) -> Any:
    tnn = torch.nn
    return tnn.Sequential(tnn.Linear(5, 16), tnn.BatchNorm1d(16), tnn.ReLU(), tnn.Dropout(0.3),
                          tnn.LayerNorm(16), tnn.Linear(16, 3))


def _chainrule_twin() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.LayerNorm(16), nn.Linear(16, 3))


@pytest.mark.torch
def test_torch_reads_our_file_and_predicts_the_same(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    cr.manual_seed(0)
    model = _trained_a_little(_chainrule_twin())
    path = tmp_path / "for_torch.safetensors"
    save(model, path)
    twin = _torch_twin(torch)
    ours = {k: v.shape for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert list(ours) == list(theirs) and ours == theirs
    loaded = st_torch.load_file(str(path))
    twin.load_state_dict(loaded, strict=True)
    twin.eval()
    x = _inputs()
    with torch.no_grad():
        expected = twin(torch.from_numpy(x.numpy())).numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert int(twin[1].num_batches_tracked) == 3


@pytest.mark.torch
def test_we_read_torch_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    twin = _torch_twin(torch)
    twin.train()
    with torch.no_grad():
        for _ in range(2):
            twin(torch.randn(8, 5))
    twin.eval()
    path = tmp_path / "from_torch.safetensors"
    st_torch.save_file(twin.state_dict(), str(path))
    model = _chainrule_twin().eval()
    model.load_state_dict(load_state_dict_file(path))
    x = _inputs()
    with torch.no_grad():
        expected = twin(torch.from_numpy(x.numpy())).numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_a_dtype_numpy_lacks_is_a_clear_error(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "bf16.safetensors"
    st_torch.save_file({"w": torch.ones(2, 2, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*'w'.*bfloat16"):
        load_state_dict_file(path)
    assert inspect_file(path).tensors == {"w": ("BF16", (2, 2))}


# ---- no pickle, no code execution -----------------------------------------------------------

def test_io_sources_never_pickle_or_evaluate_code() -> None:
    """Parse every io source: no pickle-family import, no eval/exec/__import__, no
    allow_pickle=True, no torch.load — so loading a file can never run code from it."""
    sources = sorted(IO_SOURCES.glob("*.py"))
    assert len(sources) >= 5
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal",
                      "shelve", "joblib", "torch"}
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, where
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, where
            elif isinstance(node, ast.Call):
                func = node.func  # model.eval() is fine; the builtin eval(...) is not
                builtin = isinstance(func, ast.Name) or (
                    isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id == "builtins")
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                assert not (builtin and name in {"eval", "exec", "__import__", "compile"}), \
                    where
                for kw in node.keywords:
                    if kw.arg == "allow_pickle":
                        assert isinstance(kw.value, ast.Constant) and kw.value.value is False
