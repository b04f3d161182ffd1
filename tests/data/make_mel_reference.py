"""Write tests/data/mel_reference.npz: librosa's mel filter banks and mel spectrograms.

tests/test_spectrogram.py compares chainrule.data.spectrogram with these arrays, so the
suite checks the front end against an independent implementation without librosa
installed. To regenerate (librosa is not a dependency; a throwaway venv is enough)::

    python -m venv /tmp/lr && /tmp/lr/bin/pip install librosa
    /tmp/lr/bin/python tests/data/make_mel_reference.py

The input signal is not stored: it is the formula in ``reference_signal`` (the test
computes it again).
"""

from __future__ import annotations

import os

import numpy as np

# (name, sample_rate, n_fft, n_mels, f_min, f_max, htk, norm)
FBANKS = [
    ("fb_htk_8k", 8000, 256, 40, 20.0, 4000.0, True, None),
    ("fb_slaney_8k", 8000, 256, 40, 20.0, 4000.0, False, "slaney"),
    ("fb_slaney_16k", 16000, 512, 64, 0.0, 8000.0, False, "slaney"),
    ("fb_htk_slaneynorm_22k", 22050, 1024, 80, 50.0, 9000.0, True, "slaney"),
]
# (name, n_fft, win_length, hop_length, power, htk, norm): sample rate 8000, 40 mels,
# 20 Hz to 4 kHz, centred frames padded by reflection
MELSPECS = [
    ("mel_htk_power2", 256, 200, 80, 2.0, True, None),
    ("mel_slaney_power1", 256, 256, 64, 1.0, False, "slaney"),
]


def reference_signal() -> np.ndarray:
    """0.5 s at 8 kHz: a 440 Hz tone, a chirp from 100 Hz to 1.6 kHz and a 3.1 kHz tone."""
    t = np.arange(4000) / 8000.0
    return (0.6 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * (100 * t + 1500 * t**2))
            + 0.1 * np.sin(2 * np.pi * 3100 * t))


def main() -> None:
    import librosa

    out: dict[str, np.ndarray] = {"librosa_version": np.array(librosa.__version__)}
    for name, sr, n_fft, n_mels, fmin, fmax, htk, norm in FBANKS:
        # librosa's bank is (n_mels, n_freqs); torchaudio's and ours are (n_freqs, n_mels)
        out[name] = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                        fmax=fmax, htk=htk, norm=norm, dtype=np.float64).T
    y = reference_signal()
    for name, n_fft, win, hop, power, htk, norm in MELSPECS:
        out[name] = librosa.feature.melspectrogram(
            y=y, sr=8000, n_fft=n_fft, win_length=win, hop_length=hop, window="hann",
            center=True, pad_mode="reflect", power=power, n_mels=40, fmin=20.0,
            fmax=4000.0, htk=htk, norm=norm, dtype=np.float64)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mel_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes) with librosa "
          f"{librosa.__version__}")


if __name__ == "__main__":
    main()
