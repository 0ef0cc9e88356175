"""Telephone audio for the speech recognizer: read a WAV, resample it. Pure Python (no numpy, no
`audioop`, which Python 3.13 removed); blocking, so callers run it in a thread.

Asterisk's RECORD FILE with format `wav` writes 8 kHz mono 16-bit signed PCM; vosk models want
16 kHz. Doubling the rate (the telephone case) uses a windowed-sinc half-band interpolator, so
no mirror image of the speech appears between 4 and 8 kHz, where the models listen too; it runs
block by block (`stream_pcm`), so a whole call's recording is never held in memory at once. Any
other ratio interpolates linearly, on the whole file.
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# A sanity bound: a statement is ≤ 8 s, a message ≤ 5 min, a recorded call rarely hours.
MAX_SECONDS = 4 * 3600
BLOCK_SECONDS = 2
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


@dataclass(frozen=True)
class WavInfo:
    rate: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def _check(wav: wave.Wave_read) -> WavInfo:
    width, rate = wav.getsampwidth(), wav.getframerate()
    if width not in (1, 2):
        raise ValueError(f"{8 * width}-bit audio; 8 or 16-bit PCM expected")
    if not 4000 <= rate <= 96000:
        raise ValueError(f"sample rate {rate} Hz is not audio")
    if wav.getnframes() > MAX_SECONDS * rate:
        raise ValueError(f"longer than {MAX_SECONDS} s")
    return WavInfo(rate, wav.getnframes())


def wav_info(path: Path) -> WavInfo:
    """Rate and length of a WAV the recognizer can use. Raises `wave.Error`, `EOFError`,
    `OSError` or `ValueError` (saying what is wrong) for one it cannot."""
    try:
        with wave.open(str(path), "rb") as wav:
            return _check(wav)
    except wave.Error as exc:
        raise ValueError(f"not a PCM WAV file ({exc}); Asterisk's RECORD FILE format wav is "
                         f"one, or convert with: sox IN -b 16 -e signed-integer OUT.wav") from None


def _samples(frames: bytes, width: int, channels: int) -> array[int]:
    """Mono 16-bit samples of raw frames (unsigned 8-bit widened, channels averaged)."""
    if width == 1:
        samples = array("h", ((b - 128) << 8 for b in frames))
    else:
        samples = array("h")
        samples.frombytes(frames[: len(frames) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
    if channels > 1:
        samples = array("h", (sum(samples[i:i + channels]) // channels
                              for i in range(0, len(samples) - channels + 1, channels)))
    return samples


def _blocks(path: Path) -> Iterator[tuple[array[int], int]]:
    with wave.open(str(path), "rb") as wav:
        info = _check(wav)
        width, channels = wav.getsampwidth(), wav.getnchannels()
        while frames := wav.readframes(BLOCK_SECONDS * info.rate):
            yield _samples(frames, width, channels), info.rate


def read_pcm(path: Path) -> tuple[bytes, int]:
    """The whole file as mono 16-bit little-endian PCM, and its rate."""
    rate = wav_info(path).rate
    samples = array("h")
    for block, _ in _blocks(path):
        samples.extend(block)
    return _to_bytes(samples), rate


def stream_pcm(path: Path, rate_out: int) -> Iterator[bytes]:
    """The file as mono 16-bit little-endian PCM at `rate_out`, a block at a time."""
    rate_in = wav_info(path).rate
    if rate_in == rate_out:
        for block, _ in _blocks(path):
            yield _to_bytes(block)
    elif rate_out == 2 * rate_in:
        for block in _double_blocks(b for b, _ in _blocks(path)):
            yield _to_bytes(block)
    else:
        pcm, _ = read_pcm(path)
        yield resample(pcm, rate_in, rate_out)


def resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """16-bit mono PCM from `rate_in` to `rate_out` (half-band for 2×, else linear)."""
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
    """Twice the rate: the samples stay, a sinc-interpolated one goes between each pair
    (silence assumed beyond both ends)."""
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


def _double_blocks(blocks: Iterator[array[int]]) -> Iterator[array[int]]:
    """`_double` block by block, the same samples as on the whole: each block is doubled with
    HALF_TAPS samples of context on each side (the next block is read ahead)."""
    before = array("h")
    current: array[int] | None = None
    for following in _with_end(blocks):
        if current is not None and len(current):
            window = before + current + following[:HALF_TAPS]
            start = 2 * len(before)
            yield _double(window)[start:start + 2 * len(current)]
            before = (before + current)[-HALF_TAPS:]
        current = following


def _with_end(blocks: Iterator[array[int]]) -> Iterator[array[int]]:
    yield from blocks
    yield array("h")


def _to_bytes(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()
