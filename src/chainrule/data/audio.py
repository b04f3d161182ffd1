"""Audio files: 16-bit PCM mono WAV in and out, resampling, and spoken-digit folders.

Public surface::

    read_wav, write_wav, resample, parse_digit_filename, load_spoken_digits, SpokenDigits

WAV files are read with the standard library's ``wave`` module, checked before they are
trusted (16-bit PCM, one channel, as many frames as the header declares) and returned as
float32 in [-1, 1). Spoken-digit folders use the Free Spoken Digit Dataset's layout:
one utterance per file, named ``{digit}_{speaker}_{index}.wav`` (FSDD records at 8 kHz).

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(800) / 8000)
    >>> write_wav(os.path.join(folder, "7_alice_0.wav"), tone, 8000)
    >>> data = load_spoken_digits(folder)
    >>> len(data), data.digits.tolist(), data.speakers.tolist(), data.waves[0].dtype
    (1, [7], ['alice'], dtype('float32'))
"""

from __future__ import annotations

import math
import os
import re
import wave
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SpokenDigits", "load_spoken_digits", "parse_digit_filename", "read_wav",
           "resample", "write_wav"]

_FULL_SCALE = 32768.0  # int16 spans [-32768, 32767]: dividing by 2**15 maps it onto [-1, 1)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM mono WAV file as float32 samples in [-1, 1).

    Args:
        path: the ``.wav`` file.

    Returns:
        ``(samples, sample_rate)``: a float32 array of shape (frames,) and the rate in Hz
        (the order of ``torchaudio.load``; the array is 1-D, there being one channel).

    Raises:
        ValueError: naming the file, when it is not a WAV file, is not 16-bit PCM mono,
            or holds fewer frames than its header declares (a truncated copy).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
        >>> write_wav(path, np.array([0.0, 0.5, -1.0]), 8000)
        >>> read_wav(path)
        (array([ 0. ,  0.5, -1. ], dtype=float32), 8000)
    """
    path = os.fspath(path)
    try:
        with wave.open(path, "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            declared = f.getnframes()
            if width != 2:
                raise ValueError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV "
                                 "is read (convert it, e.g. `sox in.wav -b 16 out.wav`)")
            if channels != 1:
                raise ValueError(f"{path}: {channels} channels; only mono WAV is read "
                                 "(mix it down, e.g. `sox in.wav -c 1 out.wav`)")
            if rate <= 0:
                raise ValueError(f"{path}: sample rate {rate} Hz in the header")
            # the header's frame count is checked against the bytes really there before
            # anything is trusted: readframes returns what it finds, never more
            raw = f.readframes(declared)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a readable PCM WAV file ({e})") from None
    frames = len(raw) // 2
    if frames != declared or len(raw) % 2:
        raise ValueError(f"{path}: the header declares {declared} frames but the file holds "
                         f"{len(raw) / 2:g} (truncated or corrupted)")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(_FULL_SCALE)
    return samples, rate


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write samples in [-1, 1] as a 16-bit PCM mono WAV file (values outside are clipped).

    Args:
        path: the ``.wav`` file to write (replaced if it exists).
        samples: shape (frames,), any float or int dtype; 1.0 is full scale.
        sample_rate: in Hz.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
        >>> write_wav(path, np.zeros(8000), 8000)
        >>> os.path.getsize(path)  # a 44-byte header and 2 bytes a frame
        16044
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"write_wav({os.fspath(path)!r}): samples must be 1-D (mono), "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"write_wav({os.fspath(path)!r}): samples hold NaN or inf")
    pcm = np.clip(np.round(x * _FULL_SCALE), -32768, 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())


def resample(waveform: np.ndarray, orig_freq: int, new_freq: int,
             lowpass_filter_width: int = 16, rolloff: float = 0.945) -> np.ndarray:
    """Change the sample rate by band-limited (windowed-sinc) interpolation.

    Each output sample is a weighted sum of the input samples within
    ``lowpass_filter_width`` zero crossings of a sinc low-pass filter at ``rolloff`` times
    the lower Nyquist frequency, tapered by a Hann window; so going down, frequencies
    above the new Nyquist are removed instead of folding back (aliasing). The argument
    names are those of ``torchaudio.functional.resample``.

    Args:
        waveform: shape (..., time); resampled along the last axis.
        orig_freq, new_freq: sample rates in Hz (positive integers).
        lowpass_filter_width: the filter's half-length in zero crossings (sharper when
            larger, slower too).
        rolloff: the cut-off as a fraction of the lower Nyquist frequency, in (0, 1].

    Returns:
        shape (..., ceil(time * new_freq / orig_freq)), the input's float dtype (float32
        for integer input).

    Example:
        >>> x = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)   # 1 kHz, 1 s
        >>> y = resample(x, 22050, 8000)
        >>> y.shape, int(np.argmax(np.abs(np.fft.rfft(y))))          # still 1 kHz
        ((8000,), 1000)
    """
    orig_freq, new_freq = int(orig_freq), int(new_freq)
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_freq} → "
                         f"{new_freq}")
    if not 0 < rolloff <= 1 or lowpass_filter_width < 1:
        raise ValueError(f"resample: need 0 < rolloff <= 1 and lowpass_filter_width >= 1, "
                         f"got {rolloff} and {lowpass_filter_width}")
    x = np.asarray(waveform)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    if orig_freq == new_freq:
        return x.astype(dtype, copy=True)
    g = math.gcd(orig_freq, new_freq)
    up, down = new_freq // g, orig_freq // g
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    # the filter in units of input samples: cut-off (cycles per input sample, ×2) and the
    # half-width of its support
    cutoff = rolloff * min(1.0, up / down)
    half = lowpass_filter_width / cutoff
    taps = np.arange(-math.ceil(half), math.ceil(half) + 1)
    # output i sits at input position i·down/up = base + phase/up, computed exactly; the
    # filter weights depend only on the phase, so there are `up` sets of them (polyphase)
    tau = np.arange(up)[:, None] / up - taps                  # (phases, taps)
    window = np.where(np.abs(tau) < half, np.cos(np.pi * tau / (2 * half)) ** 2, 0.0)
    table = cutoff * np.sinc(cutoff * tau) * window
    flat = x.reshape(-1, n_in).astype(np.float64)
    # zeros beyond both ends, so every tap's index is valid
    padded = np.pad(flat, ((0, 0), (len(taps), len(taps) + down + 1)))
    out = np.empty((flat.shape[0], n_out), np.float64)
    chunk = max(1, 2 ** 18 // len(taps))  # bound the (outputs, taps) work array
    for start in range(0, n_out, chunk):
        i = np.arange(start, min(start + chunk, n_out), dtype=np.int64)
        base, phase = (i * down) // up, (i * down) % up
        idx = base[:, None] + taps + len(taps)                  # (outputs, taps)
        weight = table[phase]
        for row in range(flat.shape[0]):
            out[row, start:start + len(i)] = np.sum(padded[row, idx] * weight, axis=1)
    return out.reshape(*x.shape[:-1], n_out).astype(dtype)


_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$")


def parse_digit_filename(name: str) -> tuple[int, str, int]:
    """Split an FSDD file name ``{digit}_{speaker}_{index}.wav`` into its three parts.

    Example:
        >>> parse_digit_filename("7_jackson_32.wav")
        (7, 'jackson', 32)
    """
    match = _NAME.match(os.path.basename(name))
    if match is None:
        raise ValueError(f"{name}: not a spoken-digit file name; expected "
                         "'{digit}_{speaker}_{index}.wav' as in the Free Spoken Digit "
                         "Dataset, e.g. '7_jackson_32.wav' (no '_' inside the speaker)")
    return int(match[1]), match[2], int(match[3])


@dataclass
class SpokenDigits:
    """Utterances read by :func:`load_spoken_digits`, one entry per file, in file order.

    Attributes:
        waves: float32 arrays of shape (time,), lengths vary.
        digits: int64 (N,), the spoken digit 0–9.
        speakers: str (N,), the speaker (or synthetic voice) of each file.
        indices: int64 (N,), the take number from the file name.
        files: the paths read.
        sample_rate: the rate of every wave, in Hz.
    """

    waves: list[np.ndarray]
    digits: np.ndarray
    speakers: np.ndarray
    indices: np.ndarray
    files: list[str] = field(repr=False)
    sample_rate: int

    def __len__(self) -> int:
        return len(self.waves)


def load_spoken_digits(root: str | os.PathLike[str], sample_rate: int = 8000,
                       resample_rate: bool = True) -> SpokenDigits:
    """Read a folder of spoken digits in the Free Spoken Digit Dataset's layout.

    Args:
        root: the folder of ``{digit}_{speaker}_{index}.wav`` files, or a folder holding
            them in ``recordings/`` (a clone of FSDD).
        sample_rate: the rate every wave is returned at (FSDD's 8 kHz by default).
        resample_rate: resample files recorded at another rate (:func:`resample`); when
            False such a file is an error naming it.

    Returns:
        :class:`SpokenDigits`, files sorted by speaker, digit, then index.

    Raises:
        FileNotFoundError: no such folder, or no ``.wav`` file in it.
        ValueError: naming the file, for a misnamed, unreadable or truncated file.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no spoken-digit folder at {root}")
    folder = root
    names = [n for n in os.listdir(folder) if n.lower().endswith(".wav")]
    if not names and os.path.isdir(os.path.join(root, "recordings")):
        folder = os.path.join(root, "recordings")
        names = [n for n in os.listdir(folder) if n.lower().endswith(".wav")]
    if not names:
        raise FileNotFoundError(f"no .wav files in {root} (nor in {root}/recordings); "
                                "expected '{digit}_{speaker}_{index}.wav' files")
    parsed = sorted((*_parse_swapped(n, folder), n) for n in names)
    waves, files = [], []
    for _speaker, _digit, _index, name in parsed:
        path = os.path.join(folder, name)
        wave_, rate = read_wav(path)
        if rate != sample_rate:
            if not resample_rate:
                raise ValueError(f"{path}: recorded at {rate} Hz, expected {sample_rate} "
                                 "Hz (pass resample_rate=True to convert)")
            wave_ = resample(wave_, rate, sample_rate)
        waves.append(wave_)
        files.append(path)
    return SpokenDigits(
        waves=waves,
        digits=np.array([p[1] for p in parsed], dtype=np.int64),
        speakers=np.array([p[0] for p in parsed], dtype=str),
        indices=np.array([p[2] for p in parsed], dtype=np.int64),
        files=files, sample_rate=int(sample_rate))


def _parse_swapped(name: str, folder: str) -> tuple[str, int, int]:
    """(speaker, digit, index) of a file name, the order files are sorted in."""
    digit, speaker, index = parse_digit_filename(os.path.join(folder, name))
    return speaker, digit, index
