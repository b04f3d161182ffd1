"""The runnable examples (examples/*.py) in quick mode reach what they claim.

Each example is a script and a module with ``main(quick=True, ...) -> dict``; these tests
import it by path and check its figures. A test skips when the layers its example needs
are not in this build.
"""

from __future__ import annotations

import math
import os
from types import ModuleType

import numpy as np
import pytest

from helpers import load_example

# ---- cnn_digits -----------------------------------------------------------------------


def test_shifted_batches_cover_every_image_once_and_shift_by_at_most_one() -> None:
    cnn_digits = load_example("cnn_digits")
    X = np.zeros((10, 1, 8, 8), np.float32)
    X[:, 0, 3:5, 3:5] = 1.0  # a 2×2 blob in the middle: any 1-pixel shift keeps it whole
    X *= np.arange(1, 11, dtype=np.float32)[:, None, None, None]  # tag each image
    y = np.arange(10)
    batches = list(cnn_digits.ShiftedBatches(X, y, batch_size=4, seed=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    shifted = 0
    for xb, yb in batches:
        assert xb.shape[1:] == (1, 8, 8) and xb.dtype == np.float32
        for img, label in zip(xb, yb):
            rows, cols = np.nonzero(img[0])
            assert img.max() == label + 1 and img.sum() == 4 * (label + 1)
            assert 2 <= rows.min() <= 4 and 2 <= cols.min() <= 4
            shifted += (rows.min(), cols.min()) != (3, 3)
    assert shifted > 0


def test_cnn_digits_quick_learns_the_digits() -> None:
    pytest.importorskip("chainrule.nn.conv")
    pytest.importorskip("chainrule.nn.pooling")
    r = load_example("cnn_digits").main(quick=True, verbose=False)
    assert r["test_size"] == 359  # load_dataset("digits", seed=0)'s test part
    # a 4-epoch narrow CNN: far above chance (10 %), short of the full run's 99 %
    assert r["test_accuracy"] > 0.85
    assert r["val_accuracy"] > 0.85
    assert r["mlp_test_accuracy"] is None


# ---- mnist1d --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist1d_module(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, str]:
    pytest.importorskip("mnist1d")
    return load_example("mnist1d_paper"), str(tmp_path_factory.mktemp("mnist1d_cache"))


def test_mnist1d_data_is_generated_once_and_cached_as_npz(
        mnist1d_module: tuple[ModuleType, str]) -> None:
    m, cache = mnist1d_module
    state = np.random.get_state()[1].copy()
    data = m.load_mnist1d(cache)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG left alone
    assert data["x"].shape == (4000, 40) and data["x"].dtype == np.float32
    assert data["x_test"].shape == (1000, 40) and data["y"].dtype == np.int64
    assert set(np.unique(data["y"]).tolist()) == set(range(10))
    files = os.listdir(cache)
    assert files == ["mnist1d_seed42_5000.npz"]
    with np.load(os.path.join(cache, files[0]), allow_pickle=False) as f:
        assert np.array_equal(f["x"], data["x"])
    again = m.load_mnist1d(cache)
    assert np.array_equal(again["y_test"], data["y_test"])


def test_mnist1d_quick_mlp_and_gru_learn(mnist1d_module: tuple[ModuleType, str]) -> None:
    pytest.importorskip("chainrule.nn.recurrent")
    m, cache = mnist1d_module
    r = m.main(quick=True, models=("mlp", "gru"), steps=200, cache_dir=cache, verbose=False)
    for name in ("mlp", "gru"):
        assert r[name]["final_loss"] < 0.7 * r[name]["first_loss"], name
        assert r[name]["test_accuracy"] > 0.35, name  # chance is 10 %
    assert "GRU" in r["table"]


def test_mnist1d_quick_cnn_beats_the_mlp(mnist1d_module: tuple[ModuleType, str]) -> None:
    pytest.importorskip("chainrule.nn.conv")
    m, cache = mnist1d_module
    r = m.main(quick=True, models=("mlp", "cnn"), steps=300, cache_dir=cache, verbose=False)
    assert r["cnn"]["parameters"] == 5210  # the paper's ConvBase: 3 convs of 25 + linear
    assert r["cnn"]["test_accuracy"] > 0.6
    assert r["cnn"]["test_accuracy"] > r["mlp"]["test_accuracy"]  # the spatial prior


# ---- char_lm --------------------------------------------------------------------------


def test_char_codec_round_trips_and_names_unknown_characters() -> None:
    char_lm = load_example("char_lm")
    codec = char_lm.CharCodec("hello world")
    ids = codec.encode("low")
    assert ids.dtype == np.int64 and codec.decode(ids) == "low"
    with pytest.raises(ValueError, match="'z'"):
        codec.encode("lazy")
    x, y = char_lm.random_windows(np.arange(100), 3, 5, np.random.default_rng(0))
    assert x.shape == y.shape == (3, 5) and np.array_equal(y, x + 1)


def test_shipped_text_is_a_small_plain_text() -> None:
    char_lm = load_example("char_lm")
    with open(char_lm.DEFAULT_TEXT, encoding="utf-8") as f:
        text = f.read()
    assert 20_000 <= len(text) <= 50_000
    assert text.isascii() and "CHAPTER" in text


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_char_lm_quick_loss_falls_and_samples(model: str) -> None:
    pytest.importorskip("chainrule.nn.embedding")
    pytest.importorskip("chainrule.nn.recurrent" if model == "lstm" else
                        "chainrule.nn.transformer")
    r = load_example("char_lm").main(model=model, quick=True, sample_length=40, verbose=False)
    # an untrained model guesses about uniformly: ln V nats per character
    assert abs(r["start_loss"] - r["uniform_loss"]) < 0.3
    assert r["final_loss"] < r["start_loss"] - 1.0  # ~4.1 → ~2.3 in 60 steps
    assert math.isfinite(r["final_train_loss"])
    assert r["sample"].startswith("The miller") and len(r["sample"]) == 10 + 40


# ---- cifar_cnn (issue 16: images) -------------------------------------------------------


def test_cifar_crop_and_flip_move_the_image_by_at_most_the_padding() -> None:
    cifar = load_example("cifar_cnn")
    X = np.zeros((64, 1, 32, 32), np.float32)
    X[:, 0, 14:18, 10:12] = 1.0  # a 4×2 bar, left of centre: any crop ±4 keeps it whole
    rng = np.random.default_rng(0)
    out = cifar.RandomCrop(32, padding=4)(X, rng)
    assert out.shape == X.shape and out.dtype == np.float32
    tops = [np.nonzero(img[0])[0].min() for img in out]
    lefts = [np.nonzero(img[0])[1].min() for img in out]
    assert all(o.sum() == 8 for o in out)  # nothing lost or duplicated
    assert set(tops) <= set(range(10, 19)) and set(lefts) <= set(range(6, 15))
    assert len(set(tops)) > 4 and len(set(lefts)) > 4  # offsets really vary
    flipped = cifar.RandomHorizontalFlip(0.5)(X, rng)
    mirrored = [bool(img[0, 14, 31 - 10]) for img in flipped]  # column 10 → 21
    assert 10 < sum(mirrored) < 54
    assert all(np.array_equal(f, X[0]) or np.array_equal(f, X[0][..., ::-1]) for f in flipped)


def test_cifar_augmented_batches_are_reproducible_from_the_seed() -> None:
    cifar = load_example("cifar_cnn")
    from chainrule.data import DataLoader

    X, y, _, _ = cifar.make_synthetic_images(40, 10, seed=0)
    norm = cifar.Normalize(X.mean(axis=(0, 2, 3)) / 255, X.std(axis=(0, 2, 3)) / 255)

    def batches(seed: int) -> list[np.ndarray]:
        ds = cifar.AugmentedImages(X, y, cifar.Compose([
            cifar.RandomCrop(32, 4), cifar.RandomHorizontalFlip(), norm]), seed=seed)
        loader = DataLoader(ds, batch_size=16, shuffle=True, seed=seed, num_workers=1)
        return [np.asarray(xb) for _ in range(2) for xb, _ in loader]

    a, b, c = batches(0), batches(0), batches(1)
    assert [x.shape for x in a] == [(16, 3, 32, 32), (16, 3, 32, 32), (8, 3, 32, 32)] * 2
    assert a[0].dtype == np.float32
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[3])  # a new epoch: a new order and new crops


def test_cifar_synthetic_images_are_cifar_shaped_and_balanced() -> None:
    cifar = load_example("cifar_cnn")
    X, y, X_test, y_test = cifar.make_synthetic_images(200, 100, seed=3)
    assert X.shape == (200, 3, 32, 32) and X.dtype == np.uint8 and y.dtype == np.int64
    assert X_test.shape == (100, 3, 32, 32)
    assert np.bincount(np.concatenate([y, y_test])).tolist() == [30] * 10
    assert 0 < X.std() and X.min() == 0 and X.max() == 255
    again = cifar.make_synthetic_images(200, 100, seed=3)
    assert np.array_equal(again[0], X)


def test_cifar_cnn_quick_learns_the_synthetic_images() -> None:
    pytest.importorskip("chainrule.nn.conv")
    r = load_example("cifar_cnn").main(quick=True, verbose=False)
    assert (r["train_size"], r["test_size"], r["epochs"]) == (1000, 300, 3)
    assert r["data"] == "synthetic (quick)"
    losses = [h["loss"] for h in r["history"]]
    assert losses[-1] < 0.7 * losses[0]
    # three epochs of a narrow CNN: far above chance (10 %); seed 0 reaches ~89 %
    assert r["test_accuracy"] > 0.7

# ---- spoken_digits ----------------------------------------------------------------------


def test_spoken_digits_quick_recognises_unseen_formant_voices() -> None:
    pytest.importorskip("chainrule.nn.conv")
    example = load_example("spoken_digits")
    r = example.main(quick=True, verbose=False)
    assert r["data"].startswith("formant-synthesised") and r["split"] == "voices.csv"
    assert r["test_voices"] == 4 and r["test_size"] == 4 * 10 * example.QUICK_TAKES
    assert r["confusion"].shape == (10, 10) and r["confusion"].sum() == r["test_size"]
    # chance is 10 %; the full run on espeak-ng's voices is in examples/README.md
    assert r["test_accuracy"] >= 0.9
