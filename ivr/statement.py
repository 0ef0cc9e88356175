"""The caller's statement: a few words recorded on the Asterisk host (RECORD FILE), heard by the
speech recognizer (`hotline.ivr.speech.SpeechRecognizer` or anything with the same
`recognize`), with a verdict the flow acts on.

Where the audio lives: RECORD FILE writes on the ASTERISK host; the controller reads the same
file to recognize it. `[ivr] statement_dir` (default `<recordings dir>/ivr`) must therefore be a
folder both see at the same path: on one machine any folder the `asterisk` user can write, with
several nodes the shared recordings storage. Files are `yyyy/mm/dd/<node>-<uniqueid>-<kind>.wav`
(local day).

Whatever goes wrong with speech — no recognizer configured, no model, a timeout, the recognizer
busy or failing — the statement is logged and the caller goes to an agent: never silence, never
a dropped call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from hotline.asterisk.agi_channel import AgiChannel

log = logging.getLogger(__name__)

# Less than this many samples (8 kHz) is no statement: a click, a breath (0.2 s).
MIN_SAMPLES = 1600
WAV_HEADER = 44
DONE_KEY = "#"


class RecognitionLike(Protocol):
    """What the flow reads of `hotline.ivr.speech.Recognition`."""

    @property
    def status(self) -> str: ...  # ok | unavailable | timeout | busy | error

    @property
    def text(self) -> str: ...

    @property
    def emergency_service(self) -> str | None: ...


class Recognizer(Protocol):
    async def recognize(self, wav_path: Path) -> RecognitionLike: ...


@dataclass(frozen=True)
class Heard:
    """The flow's view of a statement. `status` is the recognizer's, or "silent" (nothing
    recorded), "unavailable" (no recognizer), "timeout" (our own deadline), "error"."""

    status: str
    text: str = ""
    emergency_service: str | None = None

    @property
    def is_emergency(self) -> bool:
        return self.status == "ok" and self.emergency_service in ("110", "119", "120", "122")


def recording_path(folder: Path, zone: ZoneInfo, node: str, uniqueid: str, kind: str,
                   now: datetime) -> str:
    """The RECORD FILE argument: a path without the format's extension (Asterisk adds it)."""
    day = now.astimezone(zone)
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in f"{node}-{uniqueid}")
    return str(folder / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{safe}-{kind}")


_made: set[Path] = set()  # day folders this process created (a thread hop saved per call)


async def prepare_folder(path: str) -> None:
    """Create the day's folder. Assumed, not captured: RECORD FILE (res_agi) does not create
    missing folders, so the controller does, on the folder Asterisk shares with it. Once per
    folder per process (a few days' worth remembered): every caller of the day records there."""
    folder = Path(path).parent
    if folder in _made:
        return
    try:
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create %s for recordings: %s", folder, exc)
        return
    if len(_made) >= 8:
        _made.clear()
    _made.add(folder)


async def audio_length(wav: Path) -> int:
    """Samples in the recording (16-bit mono after the 44-byte header); 0 when missing."""
    try:
        size = (await asyncio.to_thread(wav.stat)).st_size
    except OSError:
        return 0
    return max(size - WAV_HEADER, 0) // 2


async def record(channel: AgiChannel, path: str, *, max_seconds: int, silence_seconds: int,
                 escape_digits: str) -> tuple[str | None, Path | None]:
    """Record after a beep; returns (the key that ended it, or None; the WAV if audio came).
    `#` is how callers say "I am done": it ends the recording and keeps it, like silence.
    The captures show RECORD FILE with `s=` (agi-session-normal) but not `BEEP`: that argument
    is from res_agi's usage text (`… <timeout> [offset samples] [BEEP] [s=silence]`), assumed,
    not captured."""
    await prepare_folder(path)
    digit, endpos = await channel.record_file(
        path, "wav", escape_digits, max_seconds * 1000, beep=True, silence_s=silence_seconds)
    if digit is not None and digit != DONE_KEY:
        return digit, None
    wav = Path(f"{path}.wav")
    if (endpos or 0) < MIN_SAMPLES and await audio_length(wav) < MIN_SAMPLES:
        return None, None
    return None, wav


async def hear(recognizer: Recognizer | None, wav: Path, within: float) -> Heard:
    """What the recognizer made of the statement; never raises."""
    if recognizer is None:
        log.warning("statement %s: no speech recognizer configured; to an agent", wav)
        return Heard("unavailable")
    try:
        async with asyncio.timeout(within):
            result = await recognizer.recognize(wav)
    except TimeoutError:
        log.warning("statement %s: no recognition within %g s; to an agent", wav, within)
        return Heard("timeout")
    except Exception:
        log.exception("statement %s: the recognizer failed; to an agent", wav)
        return Heard("error")
    if result.status != "ok":
        log.warning("statement %s: recognizer %s; to an agent", wav, result.status)
    return Heard(result.status, result.text or "", result.emergency_service)
