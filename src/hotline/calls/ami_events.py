"""AMI events → call rows: answered when an agent connects, closed when the caller's channel
hangs up, with the outcome the queue events showed.

Event names and fields are those of ../shared/asterisk-22/transcripts/ami-queue-call.jsonl and
ami-abandon.jsonl: QueueCallerJoin / AgentConnect / QueueCallerAbandon carry the caller's
`Uniqueid`; the caller's `Hangup` carries the same `Uniqueid` (the row's key with the node).
Writes run as tasks so the AMI reader never waits on the database; a repeated event finds the
row already updated (the updates are conditional), so duplicates after a reconnect are harmless.
After a resync, calls this node still shows as open but Asterisk no longer has are closed: the
resync wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

from sqlalchemy import select

from hotline.asterisk.ami import NodeEvent
from hotline.calls.services import record_call_answered, record_call_end
from hotline.db.engine import SessionMaker
from hotline.db.models import Call, CallOutcome

log = logging.getLogger(__name__)
MAX_PENDING_WRITES = 1000


@dataclass
class _Progress:
    queued: bool = False
    answered: bool = False
    abandoned: bool = False

    @property
    def outcome(self) -> CallOutcome:
        if self.answered:
            return CallOutcome.ANSWERED
        if self.abandoned or self.queued:
            return CallOutcome.ABANDONED
        return CallOutcome.IVR_ONLY


@dataclass
class CallEventRecorder:
    db: SessionMaker
    _progress: dict[tuple[str, str], _Progress] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _last_write: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)

    def __call__(self, event: NodeEvent) -> None:
        key = (event.node, event.get("Uniqueid"))
        match event.name:
            case "QueueCallerJoin":
                self._progress.setdefault(key, _Progress()).queued = True
            case "AgentConnect":
                self._progress.setdefault(key, _Progress()).answered = True
                self._write(key, record_call_answered, event.node, key[1], event.at)
            case "QueueCallerAbandon":
                self._progress.setdefault(key, _Progress()).abandoned = True
            case "Hangup":
                progress = self._progress.pop(key, _Progress())
                self._write(key, record_call_end, event.node, key[1], progress.outcome,
                            event.at)
            case "resynced":
                self._spawn(self._close_vanished(event))

    def _write(self, key: tuple[str, str], function: Callable[..., Awaitable[object]],
               *args: object) -> None:
        """Writes of one call run in event order (an answer is never overtaken by the end)."""
        before = self._last_write.get(key)

        async def run() -> None:
            if before is not None:
                await asyncio.wait([before])
            async with self.db() as db:
                await function(db, *args)

        task = self._spawn(run())
        if task is not None:
            self._last_write[key] = task
            task.add_done_callback(
                lambda done: self._last_write.pop(key, None) if self._last_write.get(key) is done
                else None)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> asyncio.Task[None] | None:
        if len(self._tasks) >= MAX_PENDING_WRITES:
            coroutine.close()
            log.error("call events: %d writes pending, dropping one", len(self._tasks))
            return None
        task = asyncio.ensure_future(self._guard(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guard(coroutine: Coroutine[object, object, None]) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("call events: a database write failed")

    async def _close_vanished(self, event: NodeEvent) -> None:
        live = {m.get("Uniqueid") for m in event.lists.get("CoreShowChannels", [])
                if m.get("Event") == "CoreShowChannel"}
        async with self.db() as db:
            open_calls = (await db.scalars(select(Call.uniqueid).where(
                Call.node == event.node, Call.ended_at.is_(None)))).all()
            for uniqueid in open_calls:
                if uniqueid not in live:
                    progress = self._progress.pop((event.node, uniqueid), _Progress())
                    await record_call_end(db, event.node, uniqueid, progress.outcome, event.at)

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
