"""A log-mel spectrogram front end in NumPy: framing, window, FFT, mel filter bank, log.

Public surface::

    hann_window, frame, spectrogram, hz_to_mel, mel_to_hz, melscale_fbanks,
    mel_spectrogram, log_mel_spectrogram

The steps, for a waveform sampled at ``sample_rate``:

1. **frames**: slices of ``n_fft`` samples every ``hop_length`` samples (with
   ``center=True`` the signal is first padded by ``n_fft // 2`` on each side, so frame
   ``t`` is centred on sample ``t * hop_length``);
2. **window**: each frame times a periodic Hann window, so its ends fade to zero and a
   tone's energy stays in a few FFT bins instead of leaking across all of them;
3. **FFT**: ``np.fft.rfft`` of each frame, ``|X|**power`` → (n_fft // 2 + 1) frequencies;
4. **mel filter bank**: triangles evenly spaced on the mel scale (close together at low
   frequencies, where hearing resolves pitch finely, wide at high ones) sum the
   frequencies into ``n_mels`` bands. The mel scale is the HTK formula
   ``2595 log10(1 + f / 700)`` by default, or Slaney's (Auditory Toolbox: linear below
   1 kHz, logarithmic above) with ``mel_scale="slaney"``;
5. **log**: ``log(max(mel, amin))``, as loudness is heard on a log scale.

Names, arguments, defaults and shapes follow ``torchaudio`` (``torchaudio.functional.
melscale_fbanks``, ``torchaudio.transforms.MelSpectrogram``): spectrograms are
``(..., freq, time)``. tests/test_spectrogram.py compares the filter banks and mel
spectrograms with librosa's and the STFT with ``torch.stft``.

Example:
    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> x = np.sin(2 * np.pi * 1000 * t)                        # 1 s of a 1 kHz tone
    >>> S = log_mel_spectrogram(x, 8000, n_fft=256, hop_length=80, n_mels=40)
    >>> S.shape, S.dtype                                          # (mels, frames)
    ((40, 101), dtype('float64'))
    >>> centers = mel_to_hz(np.linspace(0, hz_to_mel(4000.0), 42))[1:-1]
    >>> bool(abs(centers[S[:, 50].argmax()] - 1000) < 100)       # the loudest band
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["frame", "hann_window", "hz_to_mel", "log_mel_spectrogram", "mel_spectrogram",
           "mel_to_hz", "melscale_fbanks", "spectrogram"]

_MEL_SCALES = ("htk", "slaney")


def _float_dtype(x: np.ndarray) -> np.dtype:
    """float64 stays float64 and float32 stays float32; integers become float32."""
    return x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def hann_window(window_length: int, periodic: bool = True,
                dtype: np.dtype | type = np.float64) -> np.ndarray:
    """The Hann window ``0.5 - 0.5 cos(2π n / N)``, as ``torch.hann_window``.

    Args:
        window_length: samples in the window.
        periodic: ``N = window_length`` (for spectral analysis: a window that repeats
            exactly every frame) when True, ``N = window_length - 1`` (symmetric, as
            ``np.hanning``) when False.

    Example:
        >>> hann_window(4)
        array([0. , 0.5, 1. , 0.5])
    """
    if window_length < 1:
        raise ValueError(f"hann_window: window_length must be >= 1, got {window_length}")
    if window_length == 1:
        return np.ones(1, dtype)
    n = np.arange(window_length)
    denom = window_length if periodic else window_length - 1
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / denom)).astype(dtype)


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Overlapping frames of the last axis, as a read-only view (no copy).

    Args:
        x: shape (..., time), ``time >= frame_length``.
        frame_length, hop_length: samples per frame, and between frame starts.

    Returns:
        shape (..., 1 + (time - frame_length) // hop_length, frame_length).

    Example:
        >>> frame(np.arange(7), 3, 2)
        array([[0, 1, 2],
               [2, 3, 4],
               [4, 5, 6]])
    """
    x = np.asarray(x)
    if frame_length < 1 or hop_length < 1:
        raise ValueError(f"frame: frame_length and hop_length must be >= 1, got "
                         f"{frame_length} and {hop_length}")
    if x.shape[-1] < frame_length:
        raise ValueError(f"frame: the signal has {x.shape[-1]} samples, fewer than one "
                         f"frame of {frame_length}")
    windows = np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=-1)
    return windows[..., ::hop_length, :]


def spectrogram(waveform: np.ndarray, n_fft: int = 400, win_length: int | None = None,
                hop_length: int | None = None, power: float | None = 2.0,
                center: bool = True, pad_mode: str = "reflect",
                normalized: bool = False) -> np.ndarray:
    """The short-time Fourier transform's magnitude to ``power`` (or complex when None).

    Args:
        waveform: shape (..., time).
        n_fft: FFT size; ``n_fft // 2 + 1`` frequencies from 0 to the Nyquist frequency.
        win_length: Hann window length (default ``n_fft``), centred in the FFT frame and
            zero-padded to ``n_fft``.
        hop_length: samples between frames (default ``win_length // 2``).
        power: 2 for power, 1 for magnitude, None for the complex STFT.
        center: pad ``n_fft // 2`` samples on both sides (``pad_mode``, any mode of
            ``np.pad``) so frame ``t`` is centred on sample ``t * hop_length``.
        normalized: divide by the window's L2 norm (``torchaudio``'s ``normalized=True``).

    Returns:
        shape (..., n_fft // 2 + 1, frames); float64 for float64 input, else float32.

    Example:
        >>> S = spectrogram(np.ones(1000), n_fft=256, hop_length=100)
        >>> S.shape, int(S[:, 5].argmax())          # a constant is all at 0 Hz
        ((129, 11), 0)
    """
    x = np.asarray(waveform)
    dtype = _float_dtype(x)
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 2 if hop_length is None else hop_length
    if not 1 <= win_length <= n_fft:
        raise ValueError(f"spectrogram: need 1 <= win_length <= n_fft, got win_length "
                         f"{win_length} and n_fft {n_fft}")
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left:left + win_length] = hann_window(win_length)
    if center:
        pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        x = np.pad(x, pad, mode=pad_mode)
    frames = frame(x, n_fft, hop_length)                       # (..., frames, n_fft)
    stft = np.fft.rfft(frames * window, axis=-1)               # (..., frames, freqs)
    if normalized:
        stft = stft / np.sqrt(np.sum(window ** 2))
    stft = np.swapaxes(stft, -1, -2)                           # (..., freqs, frames)
    if power is None:
        return stft.astype(np.complex128 if dtype == np.float64 else np.complex64)
    return (np.abs(stft) ** power).astype(dtype)


def hz_to_mel(freq: float | np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Frequency in Hz → mels.

    ``"htk"``: ``2595 log10(1 + f / 700)``. ``"slaney"``: ``3 f / 200`` below 1 kHz, then
    logarithmic, ``15 + 27 ln(f / 1000) / ln 6.4``.

    Example:
        >>> round(float(hz_to_mel(1000.0)), 3), float(hz_to_mel(1000.0, "slaney"))
        (999.986, 15.0)
    """
    f = np.asarray(freq, dtype=np.float64)
    _check_scale(mel_scale)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = 3.0 * f / 200.0
    logstep = np.log(6.4) / 27.0
    with np.errstate(divide="ignore"):  # log of 0 Hz, in the branch np.where discards
        log_part = 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / logstep
    return np.where(f >= 1000.0, log_part, linear)


def mel_to_hz(mels: float | np.ndarray, mel_scale: str = "htk") -> np.ndarray:
    """Mels → frequency in Hz, the inverse of :func:`hz_to_mel`.

    Example:
        >>> float(mel_to_hz(hz_to_mel(440.0)))
        440.0
    """
    m = np.asarray(mels, dtype=np.float64)
    _check_scale(mel_scale)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), 200.0 * m / 3.0)


def _check_scale(mel_scale: str) -> None:
    if mel_scale not in _MEL_SCALES:
        raise ValueError(f"mel_scale must be one of {_MEL_SCALES}, got {mel_scale!r}")


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int,
                    sample_rate: int, norm: str | None = None,
                    mel_scale: str = "htk") -> np.ndarray:
    """Triangular mel filters, as ``torchaudio.functional.melscale_fbanks``.

    ``n_mels + 2`` points evenly spaced in mels from ``f_min`` to ``f_max`` are the
    triangles' feet and peaks: filter ``m`` rises linearly (in Hz) from point ``m`` to 1
    at point ``m + 1`` and falls to 0 at point ``m + 2``. Neighbouring triangles cross at
    1/2, so between the first and the last peak the filters sum to 1.

    Args:
        n_freqs: frequencies of the spectrogram (``n_fft // 2 + 1``), spaced evenly from
            0 to ``sample_rate / 2``.
        f_min, f_max: the band covered, in Hz.
        n_mels: filters.
        norm: None (peaks at 1), or ``"slaney"``: each filter divided by its width in Hz
            (``2 / (f[m + 2] - f[m])``), so every band has the same area.
        mel_scale: ``"htk"`` or ``"slaney"`` (see :func:`hz_to_mel`).

    Returns:
        shape (n_freqs, n_mels), float64: ``spec.T @ fb`` maps frequencies to mel bands.

    Example:
        >>> fb = melscale_fbanks(129, 0.0, 4000.0, 20, 8000)
        >>> fb.shape, round(float(fb.max()), 2)    # a peak falls between two FFT bins
        ((129, 20), 1.0)
    """
    if n_mels < 1 or n_freqs < 2:
        raise ValueError(f"melscale_fbanks: need n_mels >= 1 and n_freqs >= 2, got "
                         f"{n_mels} and {n_freqs}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"melscale_fbanks: need 0 <= f_min < f_max <= sample_rate / 2 = "
                         f"{sample_rate / 2:g}, got f_min {f_min} and f_max {f_max}")
    if norm not in (None, "slaney"):
        raise ValueError(f"melscale_fbanks: norm must be None or 'slaney', got {norm!r}")
    all_freqs = np.linspace(0.0, sample_rate / 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale),
                        n_mels + 2)
    f_pts = mel_to_hz(m_pts, mel_scale)
    width = np.diff(f_pts)                                       # (n_mels + 1,)
    slopes = f_pts[None, :] - all_freqs[:, None]                 # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / width[:-1]                          # rising edge
    up = slopes[:, 2:] / width[1:]                               # falling edge
    fb = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        fb *= 2.0 / (f_pts[2:] - f_pts[:-2])
    return fb


def mel_spectrogram(waveform: np.ndarray, sample_rate: int = 16000, n_fft: int = 400,
                    win_length: int | None = None, hop_length: int | None = None,
                    f_min: float = 0.0, f_max: float | None = None, n_mels: int = 128,
                    power: float = 2.0, center: bool = True, pad_mode: str = "reflect",
                    norm: str | None = None, mel_scale: str = "htk") -> np.ndarray:
    """The mel spectrogram: :func:`spectrogram` summed into mel bands.

    Arguments and defaults are ``torchaudio.transforms.MelSpectrogram``'s (``f_max``
    defaults to ``sample_rate / 2``); see :func:`spectrogram` and
    :func:`melscale_fbanks`.

    Returns:
        shape (..., n_mels, frames); float64 for float64 input, else float32.

    Example:
        >>> mel_spectrogram(np.zeros(1600), 16000, n_mels=64).shape
        (64, 9)
    """
    x = np.asarray(waveform)
    spec = spectrogram(x, n_fft, win_length, hop_length, power, center, pad_mode)
    fb = melscale_fbanks(n_fft // 2 + 1, f_min,
                         sample_rate / 2 if f_max is None else f_max,
                         n_mels, sample_rate, norm, mel_scale)
    mel = np.einsum("...ft,fm->...mt", spec.astype(np.float64), fb)
    return mel.astype(_float_dtype(x))


def log_mel_spectrogram(waveform: np.ndarray, sample_rate: int = 16000,
                        amin: float = 1e-10, **kwargs: object) -> np.ndarray:
    """``log(max(mel_spectrogram(waveform, ...), amin))``, natural log.

    ``amin`` is the floor for silent bands, where the log would be -inf; 1e-10 is
    -100 dB of full-scale power. Other keyword arguments go to :func:`mel_spectrogram`.

    Returns:
        shape (..., n_mels, frames); float64 for float64 input, else float32.

    Example:
        >>> float(log_mel_spectrogram(np.zeros(800), 8000, n_fft=256, n_mels=10).min())
        -23.025850929940457
    """
    x = np.asarray(waveform)
    mel = mel_spectrogram(x, sample_rate, **kwargs)  # type: ignore[arg-type]
    return np.log(np.maximum(mel, amin)).astype(_float_dtype(x))
