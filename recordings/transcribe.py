"""Background transcription of finished recordings, for search (`GET /api/recordings?q=`).

The recognizer (vosk, through hotline.ivr.speech) is CPU-bound and blocking, so each recording
is recognised in a thread, and at most `[recordings] transcribe_concurrency` at once. A
recognizer that fails on a file leaves its message in `transcribe_error` and the file is not
tried again (a broken file must not loop); header-only recordings have nothing to hear.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.recordings.models import Recording, RecordingStatus
from hotline.recordings.services import RecordingStore

log = logging.getLogger(__name__)
Recognize = Callable[[Path], str | Awaitable[str]]
CALL_TIMEOUT = 600.0  # seconds to recognise one recording


@dataclass
class Transcriber:
    db: SessionMaker
    store: RecordingStore
    recognize: Recognize
    concurrency: int = 1
    batch: int = 20
    every: float = 30.0

    async def run_once(self) -> int:
        """Transcribe up to `batch` waiting recordings; returns how many were tried."""
        async with self.db() as db:
            waiting = (await db.execute(
                select(Recording.id, Recording.path).where(
                    Recording.status == RecordingStatus.FINALISED,
                    Recording.header_only.is_(False), Recording.transcribed_at.is_(None),
                    Recording.transcribe_error == "")
                .order_by(Recording.id).limit(self.batch))).all()
        gate = asyncio.Semaphore(max(1, self.concurrency))

        async def one(recording_id: int, relative: str) -> None:
            async with gate:
                await self._transcribe(recording_id, relative)

        await asyncio.gather(*(one(r, p) for r, p in waiting))
        return len(waiting)

    async def _transcribe(self, recording_id: int, relative: str) -> None:
        values: dict[str, Any]
        try:
            path = self.store.path_of(relative)
            call = self.recognize
            if _is_async(call):
                text = await call(path)  # type: ignore[misc]
            else:  # a blocking recognizer: in a thread
                text = await asyncio.to_thread(call, path)
            values = {"transcript": str(text or "").strip(), "transcribed_at": utcnow()}
        except Exception as exc:
            log.warning("recording %s: transcription failed: %s", recording_id, exc)
            values = {"transcribe_error": (f"{type(exc).__name__}: {exc}")[:255] or "error"}
        async with self.db() as db:
            await db.execute(update(Recording).where(Recording.id == recording_id)
                             .values(**values))
            await db.commit()

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once() == self.batch:
                    pass
            except Exception:
                log.exception("recordings: transcription pass failed")
            await asyncio.sleep(self.every)


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__)


class VoskRecognize:
    """hotline.ivr.speech's vosk recognizer as a `Recognize`: the text, or an error."""

    def __init__(self, speech: Any, concurrency: int) -> None:
        from hotline.ivr.speech import SpeechRecognizer

        # Its IVR deadline (seconds, for a caller's short statement) is lifted: a whole call
        # takes longer to recognise, and nobody waits on the line for it.
        self.recognizer = SpeechRecognizer(
            speech.model, language=speech.language, sample_rate=speech.sample_rate,
            timeout=CALL_TIMEOUT, max_concurrent=max(1, concurrency))

    async def __call__(self, path: Path) -> str:
        heard = await self.recognizer.recognize(path)
        if not heard.ok:
            raise RuntimeError(f"{heard.status}: {heard.detail}")
        return str(heard.text)

    def close(self) -> None:
        self.recognizer.close()


def default_recognizer(settings: Any, concurrency: int) -> VoskRecognize | None:
    """The vosk recognizer of the `[speech]` model, or None when no model is configured."""
    if not getattr(getattr(settings, "speech", None), "model", ""):
        return None
    return VoskRecognize(settings.speech, concurrency)
