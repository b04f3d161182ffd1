"""chainrule.data.spectrogram against librosa (stored reference), torch.stft, and the
properties a log-mel front end must have (Parseval, filter-bank sums, a tone's band)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from chainrule.data.spectrogram import (
    frame,
    hann_window,
    hz_to_mel,
    log_mel_spectrogram,
    mel_spectrogram,
    mel_to_hz,
    melscale_fbanks,
    spectrogram,
)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _reference_module():
    """tests/data/make_mel_reference.py: the configurations and the input signal."""
    spec = importlib.util.spec_from_file_location(
        "make_mel_reference", os.path.join(DATA, "make_mel_reference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _reference_module()


@pytest.fixture(scope="module")
def librosa_arrays() -> dict[str, np.ndarray]:
    with np.load(os.path.join(DATA, "mel_reference.npz"), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---- against librosa --------------------------------------------------------------------


@pytest.mark.parametrize("config", REF.FBANKS, ids=[c[0] for c in REF.FBANKS])
def test_filter_banks_equal_librosas(config: tuple, librosa_arrays: dict) -> None:
    name, sr, n_fft, n_mels, fmin, fmax, htk, norm = config
    fb = melscale_fbanks(n_fft // 2 + 1, fmin, fmax, n_mels, sr, norm,
                         "htk" if htk else "slaney")
    expected = librosa_arrays[name]
    assert fb.shape == expected.shape == (n_fft // 2 + 1, n_mels) and fb.dtype == np.float64
    np.testing.assert_allclose(fb, expected, rtol=0, atol=1e-12 * expected.max())


@pytest.mark.parametrize("config", REF.MELSPECS, ids=[c[0] for c in REF.MELSPECS])
def test_mel_spectrograms_equal_librosas(config: tuple, librosa_arrays: dict) -> None:
    name, n_fft, win, hop, power, htk, norm = config
    mel = mel_spectrogram(REF.reference_signal(), 8000, n_fft, win, hop, 20.0, 4000.0, 40,
                          power, norm=norm, mel_scale="htk" if htk else "slaney")
    expected = librosa_arrays[name]
    assert mel.shape == expected.shape and mel.dtype == np.float64
    np.testing.assert_allclose(mel, expected, rtol=1e-9, atol=1e-12 * expected.max())


def test_against_librosa_live_when_installed() -> None:
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(1).standard_normal(3000)
    ours = mel_spectrogram(y, 16000, 512, 400, 160, 30.0, 7600.0, 64, norm="slaney",
                           mel_scale="slaney")
    theirs = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, center=True,
        pad_mode="reflect", n_mels=64, fmin=30.0, fmax=7600.0, htk=False, norm="slaney")
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9 * theirs.max())


# ---- against torch.stft ----------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("n_fft, win, hop, center", [(256, 256, 64, True),
                                                     (256, 200, 80, True),
                                                     (128, 128, 50, False)])
def test_stft_equals_torch_stft(n_fft: int, win: int, hop: int, center: bool) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 1000))
    ours = spectrogram(x, n_fft, win, hop, power=None, center=center)
    theirs = torch.stft(torch.from_numpy(x), n_fft, hop_length=hop, win_length=win,
                        window=torch.hann_window(win, dtype=torch.float64), center=center,
                        pad_mode="reflect", return_complex=True).numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.complex128
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hann_window(win), torch.hann_window(win, dtype=torch.float64))
    np.testing.assert_allclose(hann_window(win, periodic=False),
                               torch.hann_window(win, periodic=False, dtype=torch.float64))


# ---- properties ------------------------------------------------------------------------


def test_hann_window_and_frames() -> None:
    np.testing.assert_allclose(hann_window(9, periodic=False), np.hanning(9), atol=1e-15)
    w = hann_window(8)
    assert w[0] == 0 and w[4] == 1 and np.allclose(w[1:4], w[7:4:-1])  # periodic
    # hop n/2: shifted periodic Hann windows add up to exactly 1 (no frame is favoured)
    np.testing.assert_allclose(w[:4] + w[4:], 1.0)
    x = np.arange(20.0)
    f = frame(x, 8, 3)
    assert f.shape == (5, 8) and not f.flags.writeable
    np.testing.assert_array_equal(f[:, 0], [0, 3, 6, 9, 12])
    with pytest.raises(ValueError, match="fewer than one frame"):
        frame(x, 32, 4)


def test_parseval_the_spectrum_holds_the_windowed_frames_energy() -> None:
    x = np.random.default_rng(2).standard_normal(2000)
    n_fft, hop = 256, 100
    power = spectrogram(x, n_fft, hop_length=hop, center=False)     # (129, frames)
    frames = frame(x, n_fft, hop) * hann_window(n_fft)
    # rfft keeps bins 0..n/2; each of bins 1..n/2-1 stands for itself and its mirror image
    weight = np.full(n_fft // 2 + 1, 2.0)
    weight[[0, -1]] = 1.0
    np.testing.assert_allclose(weight @ power / n_fft, np.sum(frames ** 2, axis=1),
                               rtol=1e-12)
    # and a constant is all DC, with the window's sum as its amplitude
    ones = spectrogram(np.ones(512), n_fft, hop_length=hop, center=False, power=1.0)
    np.testing.assert_allclose(ones[0], hann_window(n_fft).sum())
    assert np.max(ones[2:]) < 1e-9


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
def test_mel_scales_round_trip_and_match_their_formulas(mel_scale: str) -> None:
    f = np.array([0.0, 50.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 22050.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, mel_scale), mel_scale), f,
                               rtol=1e-12, atol=1e-9)
    assert np.all(np.diff(hz_to_mel(f, mel_scale)) > 0)
    if mel_scale == "htk":
        np.testing.assert_allclose(hz_to_mel(700.0), 2595 * np.log10(2))
    else:
        np.testing.assert_allclose(hz_to_mel([200.0, 1000.0, 6400.0], "slaney"),
                                   [3.0, 15.0, 42.0])
    with pytest.raises(ValueError, match="mel_scale"):
        hz_to_mel(1.0, "bark")


def test_htk_filters_peak_at_their_centres_and_sum_to_one_between_them() -> None:
    sr, n_fft, n_mels, f_min, f_max = 8000, 4096, 20, 100.0, 3800.0
    fb = melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sr)
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    assert np.all(np.abs(freqs[fb.argmax(axis=0)] - pts[1:-1]) <= sr / n_fft)
    assert np.all(fb[(freqs < f_min) | (freqs > f_max)] == 0)
    inner = (freqs >= pts[1]) & (freqs <= pts[-2])
    np.testing.assert_allclose(fb[inner].sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.count_nonzero(fb, axis=1)[inner] <= 2)  # two triangles overlap


def test_slaney_normalised_filters_each_have_unit_area() -> None:
    sr, n_freqs = 16000, 20001  # a fine grid, so the trapezoid rule is near exact
    fb = melscale_fbanks(n_freqs, 0.0, 8000.0, 40, sr, norm="slaney", mel_scale="slaney")
    df = (sr / 2) / (n_freqs - 1)
    np.testing.assert_allclose(fb.sum(axis=0) * df, 1.0, rtol=2e-3)


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
@pytest.mark.parametrize("freq", [150.0, 440.0, 1000.0, 2500.0, 3600.0])
def test_a_pure_tone_lands_in_the_band_centred_nearest_it(freq: float, mel_scale: str) -> None:
    sr, n_mels = 8000, 32
    x = np.sin(2 * np.pi * freq * np.arange(sr // 2) / sr)
    S = log_mel_spectrogram(x, sr, n_fft=512, hop_length=128, n_mels=n_mels,
                            mel_scale=mel_scale)
    centres = mel_to_hz(np.linspace(0, hz_to_mel(sr / 2, mel_scale), n_mels + 2),
                        mel_scale)[1:-1]
    loudest = np.bincount(S.argmax(axis=0), minlength=n_mels).argmax()
    assert loudest == np.abs(centres - freq).argmin()
    # ...and far bands hear next to nothing: 60 dB down is ln(1e6) ≈ 13.8 in log power
    far = np.abs(np.arange(n_mels) - loudest) > 3
    assert np.all(S[far, 10] < S[loudest, 10] - 13.8)


def test_dtypes_batches_and_the_log_floor() -> None:
    x64 = np.random.default_rng(3).standard_normal((3, 1600))
    S64 = log_mel_spectrogram(x64, 8000, n_fft=256, hop_length=80, n_mels=40)
    assert S64.dtype == np.float64 and S64.shape == (3, 40, 21)
    S32 = log_mel_spectrogram(x64.astype(np.float32), 8000, n_fft=256, hop_length=80,
                              n_mels=40)
    assert S32.dtype == np.float32
    np.testing.assert_allclose(S32, S64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(S64[2], log_mel_spectrogram(x64[2], 8000, n_fft=256,
                                                           hop_length=80, n_mels=40))
    assert mel_spectrogram(np.zeros(800, np.int16), 8000, 256, n_mels=8).dtype == np.float32
    silent = log_mel_spectrogram(np.zeros(800), 8000, amin=1e-6, n_fft=256, n_mels=8)
    np.testing.assert_array_equal(silent, np.log(1e-6))


def test_bad_arguments_say_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="win_length"):
        spectrogram(np.zeros(1000), n_fft=256, win_length=300)
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2 = 4000"):
        melscale_fbanks(129, 0.0, 5000.0, 40, 8000)
    with pytest.raises(ValueError, match="norm"):
        melscale_fbanks(129, 0.0, 4000.0, 40, 8000, norm="htk")
    with pytest.raises(ValueError, match="fewer than one frame"):
        spectrogram(np.zeros(100), n_fft=256, center=False)
