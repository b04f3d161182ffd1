"""Make a spoken-digit set in the Free Spoken Digit Dataset's layout, split by voice.

    python examples/make_spoken_digits.py DIR                 # espeak-ng, every voice
    python examples/make_spoken_digits.py DIR --quick         # espeak-ng, 4 voices
    python examples/make_spoken_digits.py DIR --synthetic     # no espeak-ng needed

Two generators, both writing 16-bit mono WAV files at 8 kHz (FSDD's rate) named
``{digit}_{speaker}_{index}.wav`` and a ``voices.csv`` that says which voices are for
training and which are held out for the test (so the test set's voices are unseen):

* **espeak-ng** (``make_espeak_digits``; Debian: ``apt-get install espeak-ng``): the words
  "zero" … "nine" spoken by every English accent of espeak-ng (``espeak-ng --voices=en``,
  the eSpeak ``gmw/`` voices: en-gb, en-us, en-gb-scotland, en-gb-x-gbclan, en-gb-x-rp,
  en-gb-x-gbcwmd, en-029, en-us-nyc) combined with every voice variant
  (``espeak-ng --voices=variant``: m1–m8, f1–f5, klatt…, 100 in espeak-ng 1.51), each
  take at a random pitch (``-p`` 30–70), speed (``-s`` 130–210 words a minute) and
  amplitude (``-a`` 70–130). A voice (the speaker of the file name) is
  ``accent+variant``, e.g. ``en-gb-scotland+klatt3``. The split is by variant *family*
  (the name without its trailing number: klatt, klatt2 … klatt6 are one family), so no
  near-copy of a test voice is heard in training; the test voices are every accent
  speaking with the held-out families. espeak-ng writes 22,050 Hz: the files are
  resampled to 8 kHz (``chainrule.data.resample``) and trimmed of leading and trailing
  silence, as FSDD's recordings are.
* **formant synthesis** (``make_formant_digits``, NumPy only, for CI and machines without
  espeak-ng): each digit is a sequence of vowel-like and noise-like segments following
  its phonemes (``"six"``: s-noise, /ɪ/, a closure, a /k/ burst, s-noise); a voiced
  segment is a sum of harmonics of the voice's pitch shaped by three formants gliding
  between the vowels' formant frequencies. A voice is a pitch, a vocal-tract length
  (formants scaled by 0.85–1.2), a speaking rate and a breathiness; each take varies
  them a little. Easier than speech, but the same task: the classifier must hear the
  digit through voices it has not met.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from chainrule.data import read_wav, resample, write_wav

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAMPLE_RATE = 8000
MANIFEST = "voices.csv"


# ---- the split, written beside the files ------------------------------------------------


def write_manifest(folder: str, rows: Sequence[dict[str, str]]) -> str:
    """Write ``voices.csv`` (columns speaker, split, and the generator's own)."""
    path = os.path.join(folder, MANIFEST)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_manifest(folder: str) -> dict[str, str]:
    """``{speaker: "train" | "test"}`` from ``folder/voices.csv`` (empty if none)."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"speaker", "split"} <= set(rows[0]):
        raise ValueError(f"{path}: expected the columns 'speaker' and 'split'")
    return {r["speaker"]: r["split"] for r in rows}


def _hold_out(groups: Sequence[str], fraction: float, seed: int) -> set[str]:
    """A seeded ``fraction`` of the distinct groups (at least one), for the test."""
    unique = sorted(set(groups))
    n = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    rng = np.random.default_rng(seed)
    return {unique[i] for i in rng.choice(len(unique), size=n, replace=False)}


def trim_silence(x: np.ndarray, sample_rate: int, threshold_db: float = -40.0,
                 margin_s: float = 0.02) -> np.ndarray:
    """Cut the leading and trailing samples quieter than ``threshold_db`` below the peak,
    keeping ``margin_s`` seconds on each side."""
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak == 0:
        return x
    loud = np.flatnonzero(np.abs(x) >= peak * 10 ** (threshold_db / 20))
    margin = int(margin_s * sample_rate)
    return x[max(0, loud[0] - margin):loud[-1] + margin + 1]


# ---- espeak-ng ---------------------------------------------------------------------------


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` command is on the PATH."""
    return shutil.which("espeak-ng") is not None


def _voice_table(kind: str) -> list[tuple[str, str]]:
    """(language, file) columns of ``espeak-ng --voices=KIND``, read by the header's
    column positions (a file name may hold a space: ``!v/Mr serious``)."""
    out = subprocess.run(["espeak-ng", f"--voices={kind}"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    header = out[0]
    lang_at, file_at = header.index("Language"), header.index("File")
    other_at = header.find("Other Languages")
    rows = []
    for line in out[1:]:
        language = line[lang_at:].split()[0]
        file = line[file_at:other_at if other_at > 0 else None].strip()
        rows.append((language, file))
    return rows


def espeak_voices(language: str = "en") -> tuple[list[str], list[str]]:
    """The accents and the voice variants espeak-ng offers for ``language``.

    Returns:
        ``(accents, variants)``: accents are the eSpeak voices of the language (their
        files under ``gmw/``; MBROLA voices need separate packages and are left out),
        variants the names after ``+`` in ``-v accent+variant``.
    """
    # --voices=en also lists MBROLA voices (mb/) and a variant or two (!v/)
    accents = sorted({lang for lang, file in _voice_table(language)
                      if not file.startswith(("mb/", "!v/"))})
    variants = sorted({file.split("/", 1)[1] for _, file in _voice_table("variant")
                       if file.startswith("!v/")}, key=str.lower)
    return accents, variants


def variant_family(variant: str) -> str:
    """``"klatt3"`` → ``"klatt"``: variants that differ by a number are one family."""
    return re.sub(r"\d+$", "", variant).lower() or variant.lower()


def speaker_id(accent: str, variant: str) -> str:
    """The file-name speaker of a voice: ``accent+variant``, spaces and ``_`` as ``-``."""
    return re.sub(r"[^A-Za-z0-9+-]", "-", f"{accent}+{variant}")


def _espeak_take(task: tuple[str, str, int, int, int, int, str]) -> None:
    voice, word, pitch, speed, amplitude, _seed, path = task
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "say.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed),
                        "-a", str(amplitude), "-w", raw, word], check=True,
                       capture_output=True)
        x, rate = read_wav(raw)
    x = trim_silence(resample(x, rate, SAMPLE_RATE), SAMPLE_RATE)
    write_wav(path, x, SAMPLE_RATE)


def make_espeak_digits(out: str, accents: Sequence[str] | None = None,
                       variants: Sequence[str] | None = None, takes: int = 2,
                       test_fraction: float = 0.2, seed: int = 0, workers: int = 2,
                       log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Write "zero" … "nine" spoken by espeak-ng voices, in FSDD's layout, split by voice.

    Args:
        out: the folder to fill (created; existing digit files are overwritten).
        accents, variants: espeak-ng voices and variants to use (default: all English
            ones, :func:`espeak_voices`).
        takes: recordings per voice and digit, each at its own pitch, speed, amplitude.
        test_fraction: the share of variant families whose voices are held out.
        seed: seed of the split and of every take's pitch, speed and amplitude.
        workers: espeak-ng processes run at once.

    Returns:
        ``{"files", "train_voices", "test_voices", "accents", "variants",
        "test_families"}``.
    """
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed (Debian/Ubuntu: "
                           "`apt-get install espeak-ng`); or pass --synthetic")
    all_accents, all_variants = espeak_voices()
    accents = list(accents or all_accents)
    variants = list(variants or all_variants)
    test_families = _hold_out([variant_family(v) for v in variants], test_fraction, seed)
    os.makedirs(out, exist_ok=True)
    rows, tasks = [], []
    for a, accent in enumerate(accents):
        for v, variant in enumerate(variants):
            speaker = speaker_id(accent, variant)
            family = variant_family(variant)
            split = "test" if family in test_families else "train"
            rows.append({"speaker": speaker, "split": split, "accent": accent,
                         "variant": variant, "family": family})
            for digit, word in enumerate(WORDS):
                for take in range(takes):
                    rng = np.random.default_rng([seed, a, v, digit, take])
                    pitch, speed, amp = (int(rng.integers(30, 71)), int(rng.integers(130, 211)),
                                         int(rng.integers(70, 131)))
                    path = os.path.join(out, f"{digit}_{speaker}_{take}.wav")
                    tasks.append((f"{accent}+{variant}", word, pitch, speed, amp, seed, path))
    log(f"espeak-ng: {len(accents)} accents × {len(variants)} variants = {len(rows)} voices, "
        f"{len(tasks):,} files → {out}")
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(_espeak_take, tasks):
            done += 1
            if done % 2000 == 0:
                log(f"  {done:,}/{len(tasks):,}")
    write_manifest(out, rows)
    return {"files": len(tasks),
            "train_voices": sum(r["split"] == "train" for r in rows),
            "test_voices": sum(r["split"] == "test" for r in rows),
            "accents": accents, "variants": variants,
            "test_families": sorted(test_families)}


# ---- formant synthesis -----------------------------------------------------------------

# Formant frequencies (Hz) of an adult male voice for the vowels and voiced consonants
# used below, after Peterson & Barney (1952) and Hillenbrand et al. (1995).
_F = {
    "i": (270, 2290, 3010), "ɪ": (390, 1990, 2550), "e": (530, 1840, 2480),
    "æ": (660, 1720, 2410), "ɑ": (730, 1090, 2440), "ɔ": (570, 840, 2410),
    "ʊ": (440, 1020, 2240), "u": (300, 870, 2240), "ʌ": (640, 1190, 2390),
    "ɝ": (490, 1350, 1690), "o": (500, 900, 2400), "ə": (500, 1500, 2500),
    "w": (300, 700, 2200), "r": (350, 1100, 1500), "n": (250, 1200, 2500),
    "j": (280, 2250, 3000), "v": (300, 1300, 2300),
}
# Each digit: segments (kind, milliseconds, ...). "v": voiced, gliding from one formant
# set to another, with a loudness; "n": noise in a band (centre, width, loudness);
# "z": both at once (voiced fricatives); "c": a closure (silence).
_DIGITS: list[list[tuple]] = [
    [("z", 80, "v", 3300, 1200, 0.25), ("v", 120, "ɪ", "ɝ", 1.0), ("v", 180, "o", "u", 1.0)],
    [("v", 120, "w", "ʌ", 1.0), ("v", 90, "ʌ", "ʌ", 1.0), ("v", 110, "n", "n", 0.35)],
    [("c", 40), ("n", 30, 3200, 1500, 0.5), ("v", 260, "ʊ", "u", 1.0)],
    [("n", 100, 2800, 2400, 0.12), ("v", 80, "r", "r", 0.7), ("v", 200, "i", "i", 1.0)],
    [("n", 110, 2500, 2500, 0.15), ("v", 160, "ɔ", "ɔ", 1.0), ("v", 110, "ɔ", "ɝ", 0.9)],
    [("n", 100, 2500, 2500, 0.15), ("v", 240, "ɑ", "j", 1.0), ("z", 80, "v", 2500, 2000, 0.1)],
    [("n", 120, 3500, 700, 0.35), ("v", 110, "ɪ", "ɪ", 1.0), ("c", 50),
     ("n", 30, 1900, 600, 0.5), ("n", 120, 3500, 700, 0.35)],
    [("n", 110, 3500, 700, 0.35), ("v", 120, "e", "e", 1.0), ("z", 60, "v", 2500, 2000, 0.1),
     ("v", 60, "ə", "ə", 0.8), ("v", 100, "n", "n", 0.35)],
    [("v", 250, "e", "j", 1.0), ("c", 50), ("n", 40, 3200, 1500, 0.5)],
    [("v", 90, "n", "n", 0.35), ("v", 240, "ɑ", "j", 1.0), ("v", 110, "n", "n", 0.35)],
]


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Moving average over ``n`` samples: envelopes without clicks."""
    return np.convolve(x, np.ones(n) / n, mode="same") if n > 1 else x


def synthesize_digit(digit: int, f0: float, formant_scale: float, rate: float,
                     breath: float, rng: np.random.Generator,
                     sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One utterance of ``digit`` by the source-filter recipe above.

    Args:
        f0: the pitch in Hz; formant_scale: the vocal tract (1 = adult male);
        rate: speaking rate (2 = twice as fast); breath: noise mixed into the voicing.

    Returns:
        float64 samples at ``sample_rate``, peak 0.5.
    """
    segments = _DIGITS[digit]
    lengths = [int(s[1] / 1000 / rate * sample_rate) for s in segments]
    total = sum(lengths)
    formants = np.zeros((3, total))
    voicing, noise = np.zeros(total), np.zeros(total)
    start = 0
    for seg, n in zip(segments, lengths):
        kind, part = seg[0], slice(start, start + n)
        if kind == "v":
            a, b = np.array(_F[seg[2]]), np.array(_F[seg[3]])
            formants[:, part] = a[:, None] + (b - a)[:, None] * np.linspace(0, 1, n)
            voicing[part] = seg[4]
        elif kind in "nz":
            centre, width, loud = seg[-3:]
            band = rng.standard_normal(n)
            spec = np.fft.rfft(band)
            freqs = np.fft.rfftfreq(n, 1 / sample_rate)
            spec *= np.exp(-0.5 * ((freqs - centre * formant_scale ** 0.5) / (width / 2)) ** 2)
            band = np.fft.irfft(spec, n)
            noise[part] = loud * band / (np.std(band) + 1e-12)
            if kind == "z":
                formants[:, part] = np.array(_F[seg[2]])[:, None]
                voicing[part] = 0.3
        start += n
    # formants hold their last value through closures and fricatives (coarticulation)
    for k in range(3):
        held = formants[k]
        idx = np.maximum.accumulate(np.where(held > 0, np.arange(total), 0))
        held[:] = held[idx]
        held[held == 0] = _F["ə"][k]
    formants *= formant_scale
    ramp = int(0.012 * sample_rate)
    voicing, noise = _smooth(voicing, ramp), noise * _smooth((noise != 0) * 1.0, ramp // 2)
    # pitch: a slow fall across the word (declination) with a little wobble
    t = np.arange(total) / sample_rate
    pitch = f0 * (1.1 - 0.2 * t / t[-1]) * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    harmonics = np.arange(1, int(0.95 * sample_rate / 2 / pitch.min()) + 1)[:, None]
    hz = harmonics * pitch                                      # (harmonics, time)
    widths = np.array([70.0, 100.0, 140.0])[:, None, None] * formant_scale
    gains = np.array([1.0, 0.6, 0.3])[:, None, None]
    shape = np.sum(gains / (1 + ((hz - formants[:, None, :]) / widths) ** 2), axis=0)
    shape *= (hz < 0.97 * sample_rate / 2)                       # nothing above Nyquist
    voiced = np.sum(shape / np.sqrt(harmonics) * np.sin(harmonics * phase), axis=0)
    voiced /= np.max(np.abs(voiced)) + 1e-12
    aspiration = breath * rng.standard_normal(total) * 0.3
    x = voicing * (voiced + aspiration) + 0.25 * noise
    return 0.5 * x / (np.max(np.abs(x)) + 1e-12)


def make_formant_digits(out: str, voices: int = 16, takes: int = 3,
                        test_fraction: float = 0.25, seed: int = 0,
                        log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Write formant-synthesised digits in FSDD's layout, split by voice (no espeak-ng).

    Args:
        out: the folder to fill (created).
        voices: synthetic speakers (``synth00``, ``synth01``, …).
        takes: utterances per voice and digit.
        test_fraction: the share of voices held out for the test.
        seed: seed of the voices, the takes and the split.

    Returns:
        ``{"files", "train_voices", "test_voices"}``.
    """
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"synth{i:02d}" for i in range(voices)]
    held_out = _hold_out(names, test_fraction, seed)
    rows = []
    for name in names:
        # a voice: pitch and tract length go together (higher voices, shorter tracts)
        high = rng.uniform(0, 1)
        f0 = 85 + 170 * high * rng.uniform(0.8, 1.2)
        scale = 0.85 + 0.35 * high + rng.normal(0, 0.03)
        rate, breath = rng.uniform(0.8, 1.25), rng.uniform(0.0, 0.5)
        rows.append({"speaker": name, "split": "test" if name in held_out else "train",
                     "f0": f"{f0:.0f}", "formant_scale": f"{scale:.3f}",
                     "rate": f"{rate:.2f}", "breath": f"{breath:.2f}"})
        for digit in range(10):
            for take in range(takes):
                x = synthesize_digit(digit, f0 * rng.uniform(0.92, 1.08),
                                     scale * rng.uniform(0.97, 1.03),
                                     rate * rng.uniform(0.9, 1.1), breath, rng)
                write_wav(os.path.join(out, f"{digit}_{name}_{take}.wav"), x, SAMPLE_RATE)
    write_manifest(out, rows)
    held = sum(r["split"] == "test" for r in rows)
    log(f"formant synthesis: {voices} voices ({held} held out), {voices * 10 * takes} files "
        f"→ {out}")
    return {"files": voices * 10 * takes, "train_voices": voices - held, "test_voices": held}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="the folder to write")
    p.add_argument("--synthetic", action="store_true",
                   help="formant synthesis in NumPy instead of espeak-ng")
    p.add_argument("--quick", action="store_true",
                   help="a few voices only (espeak-ng: 2 accents × 2 variants)")
    p.add_argument("--takes", type=int, default=None,
                   help="takes per voice and digit (default 2 for espeak-ng, 3 synthetic)")
    p.add_argument("--voices", type=int, default=16, help="synthetic voices (default 16)")
    p.add_argument("--workers", type=int, default=2, help="espeak-ng processes at once")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.synthetic:
        return make_formant_digits(a.out, voices=4 if a.quick else a.voices,
                                   takes=a.takes or 3, seed=a.seed)
    if not espeak_available():
        sys.exit("espeak-ng is not installed (Debian/Ubuntu: `apt-get install espeak-ng`); "
                 "use --synthetic for the NumPy formant voices")
    accents, variants = espeak_voices()
    if a.quick:
        accents, variants = ["en-gb", "en-us"], ["m3", "f2"]
    return make_espeak_digits(a.out, accents, variants, takes=a.takes or 2, seed=a.seed,
                              workers=a.workers)


if __name__ == "__main__":
    main()
