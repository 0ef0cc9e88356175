"""Wiring of the recordings feature into the app: routes, and one cleanup context that
subscribes the finaliser to AMI and runs the sweep, the purge and the transcriber as tasks
(cancelled on shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from hotline.recordings import http, retention
from hotline.recordings.ami_events import RecordingFinaliser
from hotline.recordings.services import RecordingStore
from hotline.recordings.transcribe import Transcriber, default_recognizer
from hotline.web.keys import AMI, DB, RECORDINGS, SETTINGS


def setup(app: web.Application) -> None:
    """Call after the database and AMI cleanup contexts are in place."""
    settings = app[SETTINGS]
    app[RECORDINGS] = RecordingStore(settings.recordings_dir, settings.zone)
    http.setup(app)
    app.cleanup_ctx.append(_background)


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings, store, db = app[SETTINGS], app[RECORDINGS], app[DB]
    finaliser = RecordingFinaliser(db, store)
    app[AMI].subscribe(finaliser)
    tasks = [asyncio.create_task(finaliser.run(), name="recordings-sweep"),
             asyncio.create_task(retention.run(db, store, settings.recordings.retention_days),
                                 name="recordings-purge")]
    concurrency = settings.recordings.transcribe_concurrency
    recognize = default_recognizer(settings, concurrency) if concurrency else None
    if recognize is not None:
        transcriber = Transcriber(db, store, recognize, concurrency=concurrency)
        tasks.append(asyncio.create_task(transcriber.run(), name="recordings-transcribe"))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await finaliser.close()
    if recognize is not None:
        recognize.close()
