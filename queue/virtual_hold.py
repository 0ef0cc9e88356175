"""Virtual hold (按1保留排队位置，稍后回拨): the caller keeps their place without holding the line.

Estimated wait for a new caller in a queue (EWT): `hotline.queue.estimate.estimated_wait`
(ceil(AHT × (callers waiting + 1) / members staffed), 0 when a member is free and nobody
waits), the same figure GET /api/queues and the wallboard show.

The IVR offers virtual hold when EWT ≥ `virtual_hold_offer_seconds` (`offer`); if the caller
presses 1 it calls `accept`, which persists a CallbackTask(kind=virtual_hold) and the place:
the callers waiting ahead at that moment. The place comes up when none of them is still waiting
in that queue and a member is free (earlier kept places first). Then `VirtualHoldDialer`
originates to the caller (dialplans/README.md "callback"): Channel Local/<number>@hotline-outbound,
Context hotline-callback, HOTLINE_PRIORITY = `virtual_hold_priority`, so the answered call
joins the queue ahead of the callers who came after; HOTLINE_JOB = the task id.

Never dialling twice: each attempt is claimed in `callback_attempts` (unique (task, attempt) and
unique ChannelId `vh-<task>-<attempt>`) before its Originate is sent. A dialer that starts and
finds an attempt still `sent` (a restart, a lost connection) does not send it again: it looks
for the channel (its uniqueid is the ChannelId: waiting in a queue or with a member, or a
queue_calls row) and counts the attempt answered if found; without a trace, once the ring time
has passed, the attempt is `unknown` and the next one (a new ChannelId) follows the retry delay.
Every attempt and outcome is also written on the task's note.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from hotline.asterisk.ami import AmiError, AmiNode, AmiNodes, NodeState
from hotline.asterisk.dialplan import (
    CTX_CALLBACK,
    START_EXTEN,
    VAR_CALLERID,
    VAR_JOB,
    VAR_LINE,
    VAR_REGION,
    outbound_channel,
)
from hotline.calls.services import CallStart, record_call_start
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import CallbackKind, CallbackStatus, CallbackTask, HotlineLine
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.callbacks import line_of_queue
from hotline.queue.estimate import estimated_wait
from hotline.queue.models import AttemptOutcome, CallbackAttempt, QueueCall, VirtualHold
from hotline.queue.routing import Route
from hotline.queue.settings import QueueConfig
from hotline.queue.state import QueueState

log = logging.getLogger(__name__)
TRACE_MARGIN = 15.0  # seconds after the ring time before an untraced attempt counts as unknown


def channel_id(task_id: int, attempt: int) -> str:
    return f"vh-{task_id}-{attempt}"


@dataclass(frozen=True)
class Offer:
    node: str
    queue: str
    estimated_wait: int
    position: int
    ahead: tuple[str, ...]


class VirtualHoldService:
    """What the IVR calls: `offer` before the caller joins, `accept` when they press 1."""

    def __init__(self, db: SessionMaker, monitor: QueueMonitor, config: QueueConfig) -> None:
        self.db, self.monitor, self.config = db, monitor, config

    async def handling_seconds(self, queue: str) -> float:
        today = (await self.monitor.today(queue)).get(queue)
        average = today.average_handling if today else None
        return average or float(self.config.default_handling_seconds)

    async def offer(self, node: str, queue: str) -> Offer | None:
        live = self.monitor.state.queue(node, queue)
        wait = estimated_wait(live, await self.handling_seconds(queue))
        if wait < self.config.virtual_hold_offer_seconds:
            return None
        ahead = tuple(c.uniqueid for c in live.callers) if live else ()
        return Offer(node, queue, wait, len(ahead) + 1, ahead)

    async def accept(self, offer: Offer, uniqueid: str, linkedid: str, number: str) -> int:
        """Persist the kept place; the task id (the same one when asked again for this call)."""
        async with self.db() as db:
            line = await line_of_queue(db, offer.queue)
            call_id = await record_call_start(db, CallStart(
                offer.node, uniqueid, linkedid or uniqueid, number,
                line_code=line.code if line else None))
            insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
            now = utcnow()
            await db.execute(insert(CallbackTask).values(
                kind=CallbackKind.VIRTUAL_HOLD, status=CallbackStatus.PENDING,
                number=number[:32], line_id=line.id if line else None, queue=offer.queue,
                call_id=call_id, attempts=0, created_at=now, due_at=now,
                note=_log_line(now, f"保留排队位置：第{offer.position}位，"
                                    f"预计等待{offer.estimated_wait}秒")
            ).on_conflict_do_nothing())
            task_id = await db.scalar(select(CallbackTask.id).where(
                CallbackTask.kind == CallbackKind.VIRTUAL_HOLD, CallbackTask.call_id == call_id))
            assert task_id is not None
            await db.execute(insert(VirtualHold).values(
                task_id=task_id, node=offer.node, uniqueid=uniqueid, queue=offer.queue,
                position=offer.position, estimated_wait=offer.estimated_wait,
                ahead=" ".join(offer.ahead), created_at=now).on_conflict_do_nothing())
            await db.commit()
        return task_id


def _log_line(at: datetime, text: str) -> str:
    return f"{at.isoformat(timespec='seconds')} {text}\n"


@dataclass
class _Job:
    task: CallbackTask
    hold: VirtualHold
    last: CallbackAttempt | None


class VirtualHoldDialer:
    """Works the virtual-hold tasks: `run()` until cancelled, woken by queue changes."""

    def __init__(self, db: SessionMaker, nodes: AmiNodes, monitor: QueueMonitor,
                 config: QueueConfig, *, poll: float = 1.0) -> None:
        self.db, self.nodes, self.monitor, self.config = db, nodes, monitor, config
        self.poll = poll
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: dict[str, asyncio.Task[None]] = {}  # channel id → its Originate
        monitor.listeners.append(lambda _change: self._wake.set())

    async def run(self) -> None:
        """Until `stop()` (the pass under way ends first) or cancelled."""
        try:
            while not self._stopping:
                try:
                    await self.tick()
                except Exception:
                    log.exception("virtual hold: a pass failed")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            await self.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        self._inflight.clear()

    async def tick(self) -> None:
        now = utcnow()
        jobs = await self._open_jobs()
        dialing: dict[tuple[str, str], int] = {}
        for job in jobs:
            if job.task.status == CallbackStatus.DIALING:
                key = (job.hold.node, job.hold.queue)
                dialing[key] = dialing.get(key, 0) + 1
                if job.last is not None and job.last.channel_id not in self._inflight:
                    await self._settle(job, now)
        for job in jobs:
            key = (job.hold.node, job.hold.queue)
            if (job.task.status == CallbackStatus.PENDING and job.task.due_at <= now
                    and self._place_has_come(job.hold, dialing.get(key, 0))
                    and await self._claim(job, now)):
                dialing[key] = dialing.get(key, 0) + 1

    async def _open_jobs(self) -> list[_Job]:
        async with self.db() as db:
            rows = (await db.execute(
                select(CallbackTask, VirtualHold).join(
                    VirtualHold, VirtualHold.task_id == CallbackTask.id)
                .where(CallbackTask.kind == CallbackKind.VIRTUAL_HOLD,
                       CallbackTask.status.in_((CallbackStatus.PENDING,
                                                CallbackStatus.DIALING)))
                .order_by(VirtualHold.created_at, CallbackTask.id))).all()
            jobs = []
            for task, hold in rows:
                last = await db.scalar(select(CallbackAttempt).where(
                    CallbackAttempt.task_id == task.id).order_by(
                    CallbackAttempt.attempt.desc()).limit(1))
                jobs.append(_Job(task, hold, last))
        return jobs

    def _place_has_come(self, hold: VirtualHold, dialing: int) -> bool:
        state: QueueState = self.monitor.state
        node = state.nodes.get(hold.node)
        if node is None or node.synced_at is None:
            return False  # not knowing the queue is not a reason to call
        queue = node.queues.get(hold.queue)
        if queue is None:
            return False
        ahead = set(hold.ahead.split())
        still_ahead = any(c.uniqueid in ahead for c in queue.callers)
        return not still_ahead and queue.available > dialing

    # -- one attempt ---------------------------------------------------------------------------

    async def _claim(self, job: _Job, now: datetime) -> bool:
        """Claim the next attempt in the database, then send it (in a task)."""
        node = self._node(job.hold.node)
        if node is None or node.state != NodeState.CONNECTED:
            return False
        attempt = job.task.attempts + 1
        ident = channel_id(job.task.id, attempt)
        async with self.db() as db:
            claimed = await db.execute(update(CallbackTask).where(
                CallbackTask.id == job.task.id, CallbackTask.status == CallbackStatus.PENDING,
                CallbackTask.attempts == job.task.attempts).values(
                status=CallbackStatus.DIALING, attempts=attempt,
                note=CallbackTask.note + _log_line(now, f"第{attempt}次回拨 {ident}")))
            if not claimed.rowcount:
                await db.rollback()
                return False
            db.add(CallbackAttempt(task_id=job.task.id, attempt=attempt, node=job.hold.node,
                                   channel_id=ident, started_at=now))
            try:
                await db.commit()
            except IntegrityError:  # another controller claimed this attempt
                await db.rollback()
                return False
            line = await db.get(HotlineLine, job.task.line_id) if job.task.line_id else None
        self._inflight[ident] = asyncio.create_task(
            self._originate(job, attempt, ident, line), name=f"virtual-hold-{ident}")
        self._inflight[ident].add_done_callback(lambda _t: self._inflight.pop(ident, None))
        return True

    async def _originate(self, job: _Job, attempt: int, ident: str,
                         line: HotlineLine | None) -> None:
        node = self._node(job.hold.node)
        route = Route(job.hold.queue, self.config.virtual_hold_priority)
        variables = {VAR_JOB: str(job.task.id), **route.variables()}
        if line is not None:
            variables |= {VAR_LINE: line.code, VAR_REGION: line.region_code,
                          VAR_CALLERID: line.service_number}
        try:
            assert node is not None
            result = await node.originate(
                outbound_channel(job.task.number), channel_id=ident, context=CTX_CALLBACK,
                exten=START_EXTEN, caller_id=job.task.number, variables=variables,
                timeout_ms=self.config.dial_timeout_seconds * 1000,
                reply_within=self.config.dial_timeout_seconds + TRACE_MARGIN)
        except (AmiError, ValueError) as exc:
            # Sent or not, we cannot tell: the attempt stays `sent` and is settled by its trace.
            log.warning("virtual hold %s: %s", ident, exc)
            if isinstance(exc, ValueError):
                await self._finish(job.task.id, attempt, AttemptOutcome.FAILED, str(exc))
            return
        outcome = AttemptOutcome.ANSWERED if result.success else AttemptOutcome.FAILED
        await self._finish(job.task.id, attempt, outcome, f"reason {result.reason}")

    async def _settle(self, job: _Job, now: datetime) -> None:
        """An attempt `sent` that no task of ours is waiting for: find its trace."""
        last = job.last
        assert last is not None
        if await self._traced(last):
            await self._finish(job.task.id, last.attempt, AttemptOutcome.ANSWERED, "找到通话")
        elif now - last.started_at > timedelta(
                seconds=self.config.dial_timeout_seconds + TRACE_MARGIN):
            await self._finish(job.task.id, last.attempt, AttemptOutcome.UNKNOWN, "结果未知")

    async def _traced(self, attempt: CallbackAttempt) -> bool:
        node = self.monitor.state.nodes.get(attempt.node)
        if node is not None:
            for queue in node.queues.values():
                if queue.caller(attempt.channel_id) is not None or any(
                        m.talking_to == attempt.channel_id for m in queue.members.values()):
                    return True
        async with self.db() as db:
            row = await db.scalar(select(QueueCall.id).where(
                QueueCall.node == attempt.node, QueueCall.uniqueid == attempt.channel_id))
        return row is not None

    async def _finish(self, task_id: int, attempt: int, outcome: AttemptOutcome,
                      reason: str) -> None:
        now = utcnow()
        async with self.db() as db:
            done = await db.execute(update(CallbackAttempt).where(
                CallbackAttempt.task_id == task_id, CallbackAttempt.attempt == attempt,
                CallbackAttempt.outcome == AttemptOutcome.SENT).values(
                outcome=outcome, reason=reason[:128], ended_at=now))
            if not done.rowcount:  # settled already (by another controller)
                await db.rollback()
                return
            task = await db.get(CallbackTask, task_id)
            assert task is not None
            text = f"第{attempt}次回拨：{_OUTCOME_TEXT[outcome]}（{reason}）"
            if outcome == AttemptOutcome.ANSWERED:
                task.status, task.done_at = CallbackStatus.DONE, now
            elif task.attempts >= self.config.virtual_hold_attempts:
                task.status = CallbackStatus.FAILED
                text += "，已达最多次数，转人工回拨"
            else:
                task.status = CallbackStatus.PENDING
                task.due_at = now + timedelta(seconds=self.config.virtual_hold_retry_seconds)
            task.note += _log_line(now, text)
            await db.commit()
        log.info("virtual hold task %s attempt %s: %s", task_id, attempt, outcome)

    def _node(self, name: str) -> AmiNode | None:
        try:
            return self.nodes[name]
        except KeyError:
            return None


_OUTCOME_TEXT = {AttemptOutcome.ANSWERED: "已接通，重新排队", AttemptOutcome.FAILED: "未接通",
                 AttemptOutcome.UNKNOWN: "结果未知", AttemptOutcome.SENT: "已发出"}
