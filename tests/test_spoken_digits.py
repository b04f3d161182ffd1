"""The spoken-digit generators (examples/make_spoken_digits.py) and the example's
features, crops and split (examples/spoken_digits.py); its quick run is in
tests/test_examples.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import load_spoken_digits, read_wav, write_wav
from chainrule.data.audio import parse_digit_filename
from helpers import load_example


@pytest.fixture(scope="module")
def gen():
    return load_example("make_spoken_digits")


@pytest.fixture(scope="module")
def example():
    return load_example("spoken_digits")


# ---- formant synthesis (no espeak-ng) ---------------------------------------------------


def test_formant_set_is_fsdd_shaped_split_by_voice_and_seeded(gen, tmp_path: Path) -> None:
    summary = gen.make_formant_digits(str(tmp_path / "a"), voices=4, takes=1, seed=3,
                                      log=lambda *a: None)
    assert summary == {"files": 40, "train_voices": 3, "test_voices": 1}
    names = sorted(n for n in os.listdir(tmp_path / "a") if n.endswith(".wav"))
    parsed = [parse_digit_filename(n) for n in names]
    assert {d for d, _, _ in parsed} == set(range(10))
    assert {s for _, s, _ in parsed} == {"synth00", "synth01", "synth02", "synth03"}
    split = gen.read_manifest(str(tmp_path / "a"))
    assert sorted(split.values()) == ["test", "train", "train", "train"]
    data = load_spoken_digits(tmp_path / "a", resample_rate=False)  # written at 8 kHz
    lengths = np.array([len(w) for w in data.waves]) / 8000
    assert lengths.min() > 0.2 and lengths.max() < 0.9
    peaks = np.array([np.abs(w).max() for w in data.waves])
    np.testing.assert_allclose(peaks, 0.5, atol=1e-3)
    gen.make_formant_digits(str(tmp_path / "b"), voices=4, takes=1, seed=3,
                            log=lambda *a: None)
    for n in names[::5]:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()


def test_formant_digits_differ_where_their_phonemes_do(gen) -> None:
    # "six" opens with s-noise (energy near 3.5 kHz), "nine" with a nasal (low energy)
    def top_share(digit: int) -> float:
        x = gen.synthesize_digit(digit, 120.0, 1.0, 1.0, 0.0, np.random.default_rng(0))
        onset = np.abs(np.fft.rfft(x[:600])) ** 2
        return float(onset[np.fft.rfftfreq(600, 1 / 8000) > 2500].sum() / onset.sum())
    assert top_share(6) > 0.5 > 0.05 > top_share(9)


def test_manifest_split_helpers(gen, tmp_path: Path) -> None:
    held = gen._hold_out(["a", "b", "c", "d", "e", "a"], 0.4, seed=0)
    assert len(held) == 2 and held <= {"a", "b", "c", "d", "e"}
    assert gen._hold_out(["a", "b"], 0.9, seed=0) != {"a", "b"}  # one stays for training
    assert gen.read_manifest(str(tmp_path)) == {}
    (tmp_path / "voices.csv").write_text("name,group\nx,y\n")
    with pytest.raises(ValueError, match="voices.csv.*'speaker' and 'split'"):
        gen.read_manifest(str(tmp_path))
    x = np.concatenate([np.zeros(800), np.ones(400), np.zeros(800)])
    trimmed = gen.trim_silence(x, 8000, margin_s=0.01)
    assert len(trimmed) == 400 + 2 * 80 and trimmed.sum() == 400


def test_voice_names_and_families(gen) -> None:
    assert gen.variant_family("klatt3") == "klatt" == gen.variant_family("klatt")
    assert gen.variant_family("RicishayMax2") == "ricishaymax"
    assert gen.variant_family("m7") == "m"
    assert gen.speaker_id("en-gb-scotland", "Mr serious") == "en-gb-scotland+Mr-serious"
    assert parse_digit_filename(f"3_{gen.speaker_id('en-us', 'f_x 2')}_0.wav")[1] == \
        "en-us+f-x-2"


# ---- espeak-ng (skips where it is not installed) ----------------------------------------


def test_espeak_set_speaks_every_digit_in_unseen_families(gen, tmp_path: Path) -> None:
    if not gen.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    accents, variants = gen.espeak_voices()
    assert {"en-us", "en-gb"} <= set(accents) and {"m3", "f2", "klatt"} <= set(variants)
    assert not any(a.startswith("mb") or a == "variant" for a in accents)
    summary = gen.make_espeak_digits(str(tmp_path), ["en-us"], ["m3", "klatt", "klatt2", "f2"],
                                     takes=1, test_fraction=0.34, seed=0, workers=2,
                                     log=lambda *a: None)
    assert summary["files"] == 40 and summary["test_voices"] >= 1
    split = gen.read_manifest(str(tmp_path))
    assert split["en-us+klatt"] == split["en-us+klatt2"]  # one family, one side
    assert set(split.values()) == {"train", "test"}
    data = load_spoken_digits(tmp_path, resample_rate=False)  # resampled to 8 kHz already
    assert len(data) == 40 and sorted(set(data.digits.tolist())) == list(range(10))
    seconds = np.array([len(w) for w in data.waves]) / 8000
    assert seconds.min() > 0.15 and seconds.max() < 1.5  # trimmed words, not silence
    assert min(np.abs(w).max() for w in data.waves) > 0.05


# ---- the example's front end, crops and split ------------------------------------------


def test_log_mel_images_centre_each_word_relative_to_its_peak(example) -> None:
    t = np.arange(2400) / 8000
    short = (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    long_ = np.tile(short, 5)                             # 1.5 s: cut to the middle second
    images = example.log_mel_images([short, 0.01 * short, long_])
    assert images.shape == (3, 1, 32, 81) and images.dtype == np.float32
    np.testing.assert_allclose(images.max(axis=(1, 2, 3)), 0.0, atol=1e-6)
    assert images.min() >= example.FLOOR - 1e-4
    np.testing.assert_allclose(images[0], images[1], atol=1e-3)  # loudness is removed
    loud = images[0, 0].max(axis=0) > -5                   # frames holding the tone
    frames = np.flatnonzero(loud)
    assert abs((frames[0] + frames[-1]) / 2 - 40) <= 1     # centred on the canvas
    assert np.all(images[2, 0].max(axis=0) > -5)           # the long one fills it
    assert example.centre_crop(images).shape == (3, 1, 32, 64)


def test_random_crops_cover_every_image_once_at_varied_offsets(example) -> None:
    X = np.zeros((10, 1, 32, 81), np.float32)
    X[..., 40] = np.arange(10)[:, None, None] + 1.0        # a marked frame per image
    y = np.arange(10)
    batches = list(example.RandomCrops(X, y, batch_size=4, seed=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(10))
    positions = []
    for xb, yb in batches:
        assert xb.shape[1:] == (1, 32, 64) and xb.dtype == np.float32
        for img, label in zip(xb, yb):
            cols = np.flatnonzero(img[0, 0])
            assert img.max() == label + 1 and len(cols) == 1
            positions.append(int(cols[0]))
    assert len(set(positions)) > 3


def test_split_speakers_by_manifest_by_name_or_seeded(example, gen, tmp_path: Path) -> None:
    speakers = np.array(["ann", "ann", "bob", "cy", "dee", "eve"])
    mask, how = example.split_speakers(speakers, str(tmp_path), ["bob", "cy"], seed=0)
    assert mask.tolist() == [False, False, True, True, False, False] and "given" in how
    with pytest.raises(ValueError, match="no files of \\['zed'\\]"):
        example.split_speakers(speakers, str(tmp_path), ["zed"], seed=0)
    mask, how = example.split_speakers(speakers, str(tmp_path), None, seed=0)
    assert len(set(speakers[mask].tolist())) == 1 and "seeded" in how  # a fifth of 5
    gen.write_manifest(str(tmp_path), [{"speaker": "ann", "split": "test"},
                                       {"speaker": "bob", "split": "train"}])
    mask, how = example.split_speakers(speakers, str(tmp_path), None, seed=0)
    assert mask.tolist() == [True, True, False, False, False, False] and how == "voices.csv"


def test_the_example_reads_a_recorded_folder_without_a_manifest(example, tmp_path: Path
                                                                ) -> None:
    # FSDD-like: real names, 8 kHz, one file at 16 kHz; a seeded fifth of speakers is test
    rng = np.random.default_rng(0)
    for speaker in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler"):
        for digit in range(10):
            f = 300 + 80 * digit
            x = 0.3 * np.sin(2 * np.pi * f * np.arange(3000) / 8000) + 0.01 * rng.normal(
                size=3000)
            write_wav(tmp_path / f"{digit}_{speaker}_0.wav", x, 8000)
    write_wav(tmp_path / "0_theo_1.wav", np.zeros(6000), 16000)
    assert read_wav(tmp_path / "0_theo_1.wav")[1] == 16000
    r = example.main(data=str(tmp_path), epochs=3, verbose=False)
    assert r["test_voices"] == 1 and r["train_voices"] + 1 + 1 == 6  # train, val, test
    assert r["split"] == "a seeded fifth of the speakers"
    assert r["test_size"] == 10 and r["confusion"].sum() == 10
