"""load_dataset specs and DataBundle."""

import json

import numpy as np
import pytest

from chainrule.data import Standardizer, load_dataset, write_idx


def test_digits_bundle():
    b = load_dataset("digits", seed=0)
    assert b.task == "classification" and b.num_classes == 10 and b.num_outputs == 10
    assert b.input_shape == (64,) and b.num_features == 64 and b.image_shape == (1, 8, 8)
    sizes = (len(b.X_train), len(b.X_val), len(b.X_test))
    assert sum(sizes) == 1797 and sizes == (1258, 180, 359)
    for y in (b.y_train, b.y_val, b.y_test):  # stratified: every class in every part
        assert len(np.bincount(y, minlength=10)) == 10 and np.bincount(y).min() > 0
    assert b.X_train.dtype == np.float32 and b.X_train.max() <= 1.0
    json.dumps(b.info)
    b2 = load_dataset("digits", seed=0)
    np.testing.assert_array_equal(b.y_train, b2.y_train)
    assert not np.array_equal(b.y_train, load_dataset("digits", seed=1).y_train)


@pytest.mark.parametrize("spec,task,classes", [("moons", "classification", 2),
                                               ("spirals", "classification", 2),
                                               ("circles", "classification", 2),
                                               ("regression", "regression", None)])
def test_synthetic_bundles(spec, task, classes):
    b = load_dataset(spec, seed=3)
    assert b.task == task and b.num_classes == classes and b.input_shape in ((2,), (1,))
    assert len(b.X_train) == 700 and len(b.X_val) == 100 and len(b.X_test) == 200
    if task == "regression":
        assert b.y_train.shape == (700, 1) and b.num_outputs == 1
    json.dumps(b.info)


def test_xor_bundle():
    b = load_dataset("xor")
    assert b.X_train.shape == (4, 2) and b.y_train.tolist() == [0, 1, 1, 0]
    assert b.num_classes == 2


def test_csv_bundle_standardised_on_train(tmp_path):
    rng = np.random.default_rng(0)
    n = 50
    x = rng.normal(10, 3, size=(n, 2))
    labels = np.where(x[:, 0] > 10, "hi", "lo")
    p = tmp_path / "t.csv"
    p.write_text("f1,f2,kind\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(x, labels)))
    b = load_dataset(f"csv:{p}", seed=0)
    assert b.task == "classification" and b.info["classes"] == ["hi", "lo"]
    assert b.num_classes == 2 and b.info["feature_names"] == ["f1", "f2"]
    np.testing.assert_allclose(b.X_train.mean(axis=0), 0, atol=1e-5)
    scaler = Standardizer.from_state_dict(json.loads(json.dumps(b.info["standardizer"])))
    assert len(b.X_train) + len(b.X_val) + len(b.X_test) == n
    assert b.X_train.dtype == np.float32
    raw = scaler.inverse_transform(b.X_test).astype(np.float64)  # back to the file's rows
    dist = np.abs(raw[:, None, :] - x[None, :, :]).max(axis=2).min(axis=1)
    assert dist.max() < 1e-3


def test_idx_bundle(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    write_idx(d / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (40, 5, 5), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.arange(40, dtype=np.uint8) % 4)
    write_idx(d / "t10k-images-idx3-ubyte", rng.integers(0, 256, (8, 5, 5), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte", np.arange(8, dtype=np.uint8) % 4)
    b = load_dataset(f"idx:{d}")
    assert (len(b.X_train), len(b.X_val), len(b.X_test)) == (36, 4, 8)
    assert b.num_classes == 4 and b.input_shape == (25,) and b.image_shape == (1, 5, 5)


def test_unknown_spec_lists_known():
    with pytest.raises(ValueError, match="digits.*moons"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="path"):
        load_dataset("csv:")
    with pytest.raises(FileNotFoundError):
        load_dataset("csv:/no/such/file.csv")
