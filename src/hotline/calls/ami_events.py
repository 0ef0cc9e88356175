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

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.asterisk.ami import NodeEvent
from hotline.calls.services import record_call_answered, record_call_end
from hotline.db.engine import SessionMaker
from hotline.db.models import Call, CallOutcome
from hotline.db.writes import OrderedWrites

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
    writes: OrderedWrites = field(init=False)

    def __post_init__(self) -> None:
        # Writes of one call run in event order (an answer is never overtaken by the end).
        self.writes = OrderedWrites(self.db, MAX_PENDING_WRITES, name="call events")

    def __call__(self, event: NodeEvent) -> None:
        key = (event.node, event.get("Uniqueid"))
        match event.name:
            case "QueueCallerJoin":
                self._progress.setdefault(key, _Progress()).queued = True
            case "AgentConnect":
                self._progress.setdefault(key, _Progress()).answered = True
                self.writes.submit(key, lambda db: record_call_answered(
                    db, event.node, key[1], event.at))
            case "QueueCallerAbandon":
                self._progress.setdefault(key, _Progress()).abandoned = True
            case "Hangup":
                outcome = self._progress.pop(key, _Progress()).outcome
                self.writes.submit(key, lambda db: record_call_end(
                    db, event.node, key[1], outcome, event.at))
            case "resynced":
                self.writes.submit(("resynced", event.node),
                                   lambda db: self._close_vanished(db, event))

    async def _close_vanished(self, db: AsyncSession, event: NodeEvent) -> None:
        live = {m.get("Uniqueid") for m in event.lists.get("CoreShowChannels", [])
                if m.get("Event") == "CoreShowChannel"}
        open_calls = (await db.scalars(select(Call.uniqueid).where(
            Call.node == event.node, Call.ended_at.is_(None)))).all()
        for uniqueid in open_calls:
            if uniqueid not in live:
                progress = self._progress.pop((event.node, uniqueid), _Progress())
                await record_call_end(db, event.node, uniqueid, progress.outcome, event.at)

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        await self.writes.drain()
