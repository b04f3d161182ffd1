"""chainrule.data.audio: WAV reading and writing, resampling, spoken-digit folders."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from chainrule.data.audio import (
    load_spoken_digits,
    parse_digit_filename,
    read_wav,
    resample,
    write_wav,
)


def _raw_wav(path: Path, frames: bytes, channels: int = 1, width: int = 2,
             rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(frames)
    return path


def _tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


# ---- reading and writing --------------------------------------------------------------


def test_read_wav_scales_int16_onto_minus_one_to_one(tmp_path: Path) -> None:
    ints = np.array([0, 1, -1, 16384, -32768, 32767], "<i2")
    x, rate = read_wav(_raw_wav(tmp_path / "a.wav", ints.tobytes(), rate=11025))
    assert rate == 11025 and x.dtype == np.float32 and x.shape == (6,)
    np.testing.assert_array_equal(x, ints.astype(np.float64) / 32768)


def test_write_then_read_round_trips_within_one_step(tmp_path: Path) -> None:
    x = _tone(440, 8000, 0.25, amp=0.9)
    write_wav(tmp_path / "t.wav", x, 8000)
    y, rate = read_wav(tmp_path / "t.wav")
    assert rate == 8000 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 0.5 / 32768 + 1e-9  # rounding to the nearest step
    with wave.open(str(tmp_path / "t.wav")) as f:  # what other readers see
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 8000)


def test_write_wav_clips_to_full_scale_and_refuses_bad_samples(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.array([2.0, -3.0, 1.0]), 8000)
    y, _ = read_wav(tmp_path / "c.wav")
    np.testing.assert_array_equal(y, np.array([32767, -32768, 32767]) / 32768)
    with pytest.raises(ValueError, match="1-D"):
        write_wav(tmp_path / "s.wav", np.zeros((2, 10)), 8000)
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "n.wav", np.array([0.0, np.nan]), 8000)


def test_truncated_wav_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "3_bob_0.wav"
    write_wav(path, _tone(300, 8000, 0.1), 8000)  # 800 frames
    data = path.read_bytes()
    path.write_bytes(data[:-100])  # the header still declares 800 frames
    with pytest.raises(ValueError, match=r"3_bob_0\.wav.*declares 800 frames.*750.*truncated"):
        read_wav(path)
    path.write_bytes(data[:-1])  # half a frame missing
    with pytest.raises(ValueError, match=r"3_bob_0\.wav.*799\.5"):
        read_wav(path)
    path.write_bytes(data[:30])  # cut inside the header
    with pytest.raises(ValueError, match=r"3_bob_0\.wav: not a readable PCM WAV"):
        read_wav(path)


@pytest.mark.parametrize("content", [b"", b"hello, this is not audio" * 4,
                                     b"RIFF\x10\x00\x00\x00WAVEjunk"])
def test_not_a_wav_is_an_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.wav: not a readable PCM WAV"):
        read_wav(path)


def test_stereo_8bit_and_float_wavs_are_refused_with_the_fix(tmp_path: Path) -> None:
    stereo = _raw_wav(tmp_path / "st.wav", bytes(40), channels=2)
    with pytest.raises(ValueError, match=r"st\.wav: 2 channels; only mono.*sox"):
        read_wav(stereo)
    eight = _raw_wav(tmp_path / "u8.wav", bytes(40), width=1)
    with pytest.raises(ValueError, match=r"u8\.wav: 8-bit samples; only 16-bit"):
        read_wav(eight)
    # an IEEE-float WAV (format tag 3): the wave module knows only PCM (tag 1)
    good = _raw_wav(tmp_path / "f.wav", bytes(40)).read_bytes()
    fmt = good.index(b"fmt ") + 8
    (tmp_path / "f.wav").write_bytes(good[:fmt] + b"\x03\x00" + good[fmt + 2:])
    with pytest.raises(ValueError, match=r"f\.wav: not a readable PCM WAV"):
        read_wav(tmp_path / "f.wav")


def test_a_missing_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        read_wav(tmp_path / "nowhere.wav")


# ---- resampling -----------------------------------------------------------------------


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("orig, new, freq", [(22050, 8000, 1000.0), (8000, 16000, 1500.0),
                                             (16000, 8000, 3000.0), (44100, 22050, 440.0)])
def test_resample_keeps_a_tone_at_its_frequency_and_amplitude(
        orig: int, new: int, freq: float) -> None:
    x = _tone(freq, orig, 1.0, amp=0.5)
    y = resample(x, orig, new)
    assert y.shape == (new,) and y.dtype == np.float64
    assert abs(_peak_hz(y, new) - freq) <= 1.0
    # away from the ends, the samples are the tone's values at the new instants
    expected = _tone(freq, new, 1.0, amp=0.5)
    middle = slice(new // 10, -new // 10)
    assert np.max(np.abs(y[middle] - expected[middle])) < 5e-3


def test_resample_removes_what_the_new_rate_cannot_hold() -> None:
    # 5 kHz cannot be represented at 8 kHz (Nyquist 4 kHz): naive decimation would fold
    # it to 3 kHz at full amplitude; the low-pass filter removes it instead
    x = _tone(5000, 22050, 1.0, amp=0.5)
    y = resample(x, 22050, 8000)
    assert np.max(np.abs(y[800:-800])) < 0.005
    naive = np.interp(np.arange(8000) * 22050 / 8000, np.arange(22050), x)
    assert np.max(np.abs(naive)) > 0.3


def test_resample_shapes_dtypes_and_errors() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 443)).astype(np.float32)
    y = resample(x, 44100, 16000)
    assert y.shape == (2, 3, 161) and y.dtype == np.float32  # ceil(443 · 160/441)
    np.testing.assert_allclose(y[1, 2], resample(x[1, 2], 44100, 16000), atol=1e-6)
    assert resample(np.arange(5, dtype=np.int16), 8000, 8000).dtype == np.float32
    np.testing.assert_array_equal(resample(x, 8000, 8000), x)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 8000)
    with pytest.raises(ValueError, match="rolloff"):
        resample(x, 16000, 8000, rolloff=1.5)


# ---- spoken-digit folders -------------------------------------------------------------


def test_parse_digit_filename_reads_fsdd_names_and_refuses_others() -> None:
    assert parse_digit_filename("0_george_49.wav") == (0, "george", 49)
    assert parse_digit_filename("/data/recordings/9_en-us-f3_4.wav") == (9, "en-us-f3", 4)
    for bad in ("10_george_1.wav", "george_1.wav", "1_a_b_2.wav", "1_george_1.mp3"):
        with pytest.raises(ValueError, match="digit.*speaker.*index"):
            parse_digit_filename(bad)


def test_load_spoken_digits_sorts_resamples_and_finds_recordings(tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    rec.mkdir()
    write_wav(rec / "2_bob_10.wav", _tone(500, 8000, 0.2), 8000)
    write_wav(rec / "2_bob_9.wav", _tone(500, 8000, 0.1), 8000)
    write_wav(rec / "1_bob_0.wav", _tone(500, 8000, 0.3), 8000)
    write_wav(rec / "5_alice_0.wav", _tone(700, 16000, 0.5), 16000)  # another rate
    (rec / "README.txt").write_text("not audio")  # other files are ignored
    data = load_spoken_digits(tmp_path)
    assert len(data) == 4 and data.sample_rate == 8000
    assert data.speakers.tolist() == ["alice", "bob", "bob", "bob"]
    assert data.digits.tolist() == [5, 1, 2, 2] and data.indices.tolist() == [0, 0, 9, 10]
    assert [len(w) for w in data.waves] == [4000, 2400, 800, 1600]
    assert all(w.dtype == np.float32 for w in data.waves)
    assert data.digits.dtype == np.int64 and os.path.basename(data.files[0]) == "5_alice_0.wav"
    assert abs(_peak_hz(data.waves[0], 8000) - 700) <= 2.0
    with pytest.raises(ValueError, match=r"5_alice_0\.wav: recorded at 16000 Hz"):
        load_spoken_digits(rec, resample_rate=False)


def test_load_spoken_digits_names_the_bad_file(tmp_path: Path) -> None:
    write_wav(tmp_path / "1_bob_0.wav", np.zeros(100), 8000)
    (tmp_path / "2_bob_0.wav").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match=r"2_bob_0\.wav"):
        load_spoken_digits(tmp_path)
    (tmp_path / "2_bob_0.wav").unlink()
    write_wav(tmp_path / "two_bob_0.wav", np.zeros(100), 8000)
    with pytest.raises(ValueError, match=r"two_bob_0\.wav: not a spoken-digit file name"):
        load_spoken_digits(tmp_path)


def test_load_spoken_digits_without_files_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no spoken-digit folder"):
        load_spoken_digits(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no \.wav files.*digit.*speaker"):
        load_spoken_digits(tmp_path)
