"""AMI events → finalised recordings.

MixMonitor runs on the call's first channel (the caller's, whose Uniqueid is the call's
Linkedid) and closes the file when that channel hangs up. The captures show no MixMonitorStop
on a hang-up (ami-queue-call.jsonl, ami-abandon.jsonl: MixMonitorStart, later the caller's
`Hangup` with `Uniqueid` = `Linkedid`), so that Hangup is the signal. Calls whose Hangup this
controller never saw (it was down, or another controller took it) are found by a periodic sweep
of ended calls without a recording row; finalising is idempotent, so both may meet.
A MixMonitorStop (StopMixMonitor before the hang-up; assumed, not captured: the event carries
the channel's Uniqueid and Linkedid as MixMonitorStart does) finalises the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from hotline.asterisk.ami import NodeEvent
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import Call
from hotline.recordings.models import Recording
from hotline.recordings.services import RecordingStore, call_of_linkedid, finalise_call

log = logging.getLogger(__name__)
MAX_PENDING = 500
SWEEP_BATCH = 200


@dataclass
class RecordingFinaliser:
    db: SessionMaker
    store: RecordingStore
    # A little time for MixMonitor to close the file after the hang-up.
    delay: float = 1.0
    sweep_every: float = 60.0
    sweep_window: timedelta = timedelta(days=2)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __call__(self, event: NodeEvent) -> None:
        if event.name not in ("Hangup", "MixMonitorStop"):
            return
        uniqueid, linkedid = event.get("Uniqueid"), event.get("Linkedid")
        if uniqueid and uniqueid == linkedid:
            self._spawn(self._after_hangup(event.node, linkedid))

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        if len(self._tasks) >= MAX_PENDING:
            coroutine.close()
            log.error("recordings: %d finalisations pending; the sweep will do this one",
                      len(self._tasks))
            return
        task = asyncio.ensure_future(self._guard(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coroutine: Coroutine[object, object, None]) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("recordings: finalisation failed")

    async def _after_hangup(self, node: str, linkedid: str) -> None:
        await asyncio.sleep(self.delay)
        async with self.db() as db:
            call_id = await call_of_linkedid(db, node, linkedid)
            if call_id is not None:
                await finalise_call(db, self.store, call_id)

    async def sweep(self) -> int:
        """Finalise ended calls of the last days that have no recording row yet."""
        now = utcnow()
        async with self.db() as db:
            ids = (await db.scalars(
                select(Call.id).where(
                    Call.ended_at.is_not(None), Call.ended_at < now - timedelta(seconds=5),
                    Call.ended_at > now - self.sweep_window,
                    ~select(Recording.id).where(Recording.call_id == Call.id).exists())
                .order_by(Call.id).limit(SWEEP_BATCH))).all()
            for call_id in ids:
                await finalise_call(db, self.store, call_id)
        return len(ids)

    async def run(self) -> None:
        """Sweep every `sweep_every` seconds until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("recordings: sweep failed")
            await asyncio.sleep(self.sweep_every)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.drain()
