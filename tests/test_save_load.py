"""``cr.save``/``cr.load``: tensors, state dicts and checkpoint dicts round-trip exactly
through safetensors (never pickle), other objects are refused with a message saying
what is supported, and the files are ordinary safetensors files."""

from __future__ import annotations

import io
import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import chainrule as cr
from chainrule import nn


def test_tensor_round_trip_keeps_values_dtype_and_requires_grad(tmp_path) -> None:
    for t in (cr.randn(3, 4), cr.tensor(np.arange(6.0).reshape(2, 3)), cr.tensor([1, 2]),
              cr.tensor([True, False]), cr.tensor(2.5), cr.zeros(0, 3),
              cr.randn(2, requires_grad=True), cr.ones(3, dtype=cr.float16)):
        path = tmp_path / "t.pt"
        cr.save(t, path)
        back = cr.load(path)
        assert isinstance(back, cr.Tensor) and back.dtype == t.dtype and back.shape == t.shape
        np.testing.assert_array_equal(back.numpy(), t.numpy())
        assert back.requires_grad == t.requires_grad


def test_state_dict_round_trip_and_load_state_dict(tmp_path) -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = os.path.join(tmp_path, "model.pt")
    cr.save(model.state_dict(), path)
    state = cr.load(path, map_location="cpu")
    assert list(state) == list(model.state_dict())
    cr.manual_seed(1)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(state)
    x = cr.randn(5, 3)
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())
    # the file is a plain safetensors state dict under the same keys
    raw = safetensors.numpy.load_file(path)
    assert set(raw) == set(model.state_dict())
    np.testing.assert_array_equal(raw["0.weight"], np.asarray(model.state_dict()["0.weight"]))


def test_checkpoint_dict_with_optimizer_state_round_trips(tmp_path) -> None:
    cr.manual_seed(0)
    model = nn.Linear(2, 3)
    opt = cr.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    for _ in range(2):
        opt.zero_grad()
        model(cr.randn(4, 2)).pow(2).sum().backward()
        opt.step()
    checkpoint = {"epoch": 7, "loss": 0.25, "name": "run", "done": False, "note": None,
                  "model": model.state_dict(), "optimizer": opt.state_dict(),
                  "history": [1.5, 1.0], "shape": (2, 3), "seed": np.int64(4)}
    path = tmp_path / "ckpt.pt"
    cr.save(checkpoint, path)
    back = cr.load(path)
    assert back["epoch"] == 7 and back["loss"] == 0.25 and back["name"] == "run"
    assert back["done"] is False and back["note"] is None and back["history"] == [1.5, 1.0]
    assert back["shape"] == (2, 3) and back["seed"] == 4
    saved_state = opt.state_dict()
    assert list(back["optimizer"]["state"]) == list(saved_state["state"])  # int keys kept
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    for index, entry in saved_state["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(np.asarray(back["optimizer"]["state"][index][key]),
                                          np.asarray(value))
    fresh = cr.optim.Adam(nn.Linear(2, 3).parameters(), lr=0.5)
    fresh.load_state_dict(back["optimizer"])
    assert fresh.param_groups[0]["lr"] == 0.01


def test_arrays_stay_arrays_and_ordered_dicts_stay_ordered(tmp_path) -> None:
    obj = OrderedDict([("b", np.arange(3)), ("a", cr.ones(2)), ("c", {1: np.float32(2.5)})])
    buffer = io.BytesIO()
    cr.save(obj, buffer)
    buffer.seek(0)
    back = cr.load(buffer)
    assert isinstance(back, OrderedDict) and list(back) == ["b", "a", "c"]
    assert isinstance(back["b"], np.ndarray) and back["b"].tolist() == [0, 1, 2]
    assert isinstance(back["a"], cr.Tensor)
    assert back["c"][1] == np.float32(2.5) and back["c"][1].dtype == np.float32


def test_unsupported_objects_are_refused_with_what_is_supported(tmp_path) -> None:
    path = tmp_path / "bad.pt"
    with pytest.raises(TypeError, match=r"never pickles.*got .*Linear at obj"):
        cr.save(nn.Linear(2, 2), path)
    with pytest.raises(TypeError, match=r"obj\['opt'\]\['fn'\]"):
        cr.save({"opt": {"fn": print}}, path)
    with pytest.raises(TypeError, match="dict key"):
        cr.save({(1, 2): cr.ones(1)}, path)
    with pytest.raises(TypeError, match="set"):
        cr.save({1, 2}, path)
    assert not path.exists()


def test_load_arguments_and_errors(tmp_path) -> None:
    path = tmp_path / "t.pt"
    cr.save(cr.ones(2), path)
    for location in (None, "cpu", {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert cr.load(path, map_location=location).tolist() == [1.0, 1.0]
    assert cr.load(path, weights_only=True).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="map_location='cuda:0' is not supported"):
        cr.load(path, map_location="cuda:0")
    with pytest.raises(ValueError, match="no such file"):
        cr.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(ValueError, match="junk.pt"):
        cr.load(tmp_path / "junk.pt")


def test_foreign_safetensors_files_load_as_dicts_of_tensors(tmp_path) -> None:
    path = str(tmp_path / "foreign.safetensors")
    safetensors.numpy.save_file({"w": np.ones((2, 2), np.float32), "n": np.arange(3)}, path)
    back = cr.load(path)
    assert set(back) == {"w", "n"} and all(isinstance(v, cr.Tensor) for v in back.values())
    assert back["w"].dtype == np.float32 and back["n"].tolist() == [0, 1, 2]


def test_torch_reads_a_saved_state_dict(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    path = str(tmp_path / "w.safetensors")
    cr.save(model.state_dict(), path)
    theirs = torch.nn.Linear(3, 2)
    theirs.load_state_dict(st_torch.load_file(path))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(theirs(torch.tensor(x)).detach().numpy(),
                               model(cr.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
