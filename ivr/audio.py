"""Telephone audio for the speech recognizer: read a WAV, resample it. Pure Python (no numpy, no
`audioop`, which Python 3.13 removed); blocking, so callers run it in a thread.

Asterisk's RECORD FILE with format `wav` writes 8 kHz mono 16-bit signed PCM; vosk models want
16 kHz. Doubling the rate (the telephone case) uses a windowed-sinc half-band interpolator, so
no mirror image of the speech appears between 4 and 8 kHz, where the models listen too; any
other ratio interpolates linearly.
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from pathlib import Path

# A statement is ≤ 8 s and an out-of-hours message ≤ 5 min; anything longer is refused.
MAX_SECONDS = 600
# Half-band interpolator: taps on each side of the new sample (Blackman-windowed sinc).
HALF_TAPS = 8


def _half_band(taps: int) -> list[float]:
    coefficients = []
    for k in range(taps):
        t = k + 0.5
        window = 0.42 + 0.5 * math.cos(math.pi * t / taps) + 0.08 * math.cos(2 * math.pi * t / taps)
        coefficients.append(math.sin(math.pi * t) / (math.pi * t) * window)
    scale = 0.5 / sum(coefficients)
    return [c * scale for c in coefficients]


_HALF_BAND = _half_band(HALF_TAPS)


def read_pcm(path: Path) -> tuple[bytes, int]:
    """Mono 16-bit little-endian PCM and its rate. Raises `wave.Error`, `EOFError`, `OSError`
    or `ValueError` (with a message saying what is wrong) for audio it cannot use."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        if width not in (1, 2):
            raise ValueError(f"{8 * width}-bit audio; 8 or 16-bit PCM expected")
        if not 4000 <= rate <= 96000:
            raise ValueError(f"sample rate {rate} Hz is not audio")
        if wav.getnframes() > MAX_SECONDS * rate:
            raise ValueError(f"longer than {MAX_SECONDS} s")
        frames = wav.readframes(wav.getnframes())
    if width == 1:  # unsigned 8-bit
        samples = array("h", ((b - 128) << 8 for b in frames))
    else:
        samples = array("h")
        samples.frombytes(frames[: len(frames) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
    if channels > 1:
        samples = array("h", (sum(samples[i:i + channels]) // channels
                              for i in range(0, len(samples) - channels + 1, channels)))
    return _to_bytes(samples), rate


def resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """16-bit mono PCM from `rate_in` to `rate_out`, by linear interpolation."""
    if rate_in == rate_out or not pcm:
        return pcm
    source = array("h")
    source.frombytes(pcm)
    if sys.byteorder == "big":
        source.byteswap()
    if rate_out == 2 * rate_in:
        return _to_bytes(_double(source))
    n_in = len(source)
    last = n_in - 1
    out = array("h", bytes(2 * (n_in * rate_out // rate_in)))
    for i in range(len(out)):
        j, frac = divmod(i * rate_in, rate_out)
        a = source[j]
        b = source[j + 1] if j < last else a
        out[i] = a + (b - a) * frac // rate_out
    return _to_bytes(out)


def _double(source: array[int]) -> array[int]:
    """Twice the rate: the samples stay, a sinc-interpolated one goes between each pair."""
    n = len(source)
    padded = [0] * HALF_TAPS + source.tolist() + [0] * (HALF_TAPS + 1)
    between = [0.0] * n
    for k, c in enumerate(_HALF_BAND):
        before = padded[HALF_TAPS - k: HALF_TAPS - k + n]  # x[i - k]
        after = padded[HALF_TAPS + 1 + k: HALF_TAPS + 1 + k + n]  # x[i + 1 + k]
        between = [v + c * (a + b) for v, a, b in zip(between, before, after, strict=True)]
    out = array("h", bytes(4 * n))
    out[0::2] = source
    out[1::2] = array("h", (-32768 if v < -32768 else 32767 if v > 32767 else round(v)
                            for v in between))
    return out


def _to_bytes(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()
