"""Callback tasks the queue creates: every call abandoned after waiting `callback_after_seconds`
(5 s) or more becomes a CallbackTask(kind=abandoned) that agents and supervisors see.

Idempotent: the task hangs on the call row (created here if the call never went through the
IVR, e.g. the dialplan's fallback), and (kind, call_id) is unique, so a replayed
QueueCallerAbandon finds the task already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.asterisk.dialplan import dialable
from hotline.calls.services import CallStart, record_call_end, record_call_start
from hotline.db.models import CallbackKind, CallbackStatus, CallbackTask, CallOutcome, HotlineLine
from hotline.regions import scope_prefix

OPEN_STATUSES = (CallbackStatus.PENDING, CallbackStatus.DIALING)


@dataclass(frozen=True)
class Abandon:
    node: str
    uniqueid: str
    linkedid: str
    number: str
    queue: str
    at: datetime


async def line_of_queue(db: AsyncSession, queue: str) -> HotlineLine | None:
    return await db.scalar(select(HotlineLine).where(HotlineLine.queue == queue))


async def record_abandoned_callback(db: AsyncSession, abandon: Abandon) -> int | None:
    """The task's id (new or already there); None when there is no number to call back."""
    number = abandon.number.strip()
    if not dialable(number):  # anonymous or withheld: nobody to call
        return None
    line = await line_of_queue(db, abandon.queue)
    call_id = await record_call_start(db, CallStart(
        abandon.node, abandon.uniqueid, abandon.linkedid or abandon.uniqueid, number,
        region_code=line.region_code if line else None, started_at=abandon.at,
        line_id=line.id if line else None))  # the line is known: no second lookup by code
    # the caller hung up (QueueCallerAbandon follows the Hangup, fact 11): the first end wins
    await record_call_end(db, abandon.node, abandon.uniqueid, CallOutcome.ABANDONED, abandon.at)
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    await db.execute(insert(CallbackTask).values(
        kind=CallbackKind.ABANDONED, status=CallbackStatus.PENDING, number=number[:32],
        line_id=line.id if line else None, queue=abandon.queue, call_id=call_id, note="",
        attempts=0, created_at=abandon.at, due_at=abandon.at,
    ).on_conflict_do_nothing())
    task_id = await db.scalar(select(CallbackTask.id).where(
        CallbackTask.kind == CallbackKind.ABANDONED, CallbackTask.call_id == call_id))
    await db.commit()
    return task_id


async def open_callbacks(db: AsyncSession, scope: str | None = None,
                         limit: int = 500) -> list[dict[str, Any]]:
    """Pending and dialing callback tasks, oldest due first (GET /api/callbacks); with a
    region `scope` (the user's region) only those of lines in it."""
    query = (select(CallbackTask, HotlineLine.code).outerjoin(
        HotlineLine, HotlineLine.id == CallbackTask.line_id)
        .where(CallbackTask.status.in_(OPEN_STATUSES))
        .order_by(CallbackTask.due_at, CallbackTask.id).limit(limit))
    if scope is not None:
        query = query.where(HotlineLine.region_code.startswith(scope_prefix(scope)))
    rows = (await db.execute(query)).all()
    return [{"id": task.id, "kind": str(task.kind), "status": str(task.status),
             "number": task.number, "line": code, "queue": task.queue, "call_id": task.call_id,
             "ticket_id": task.ticket_id, "attempts": task.attempts, "note": task.note,
             "created_at": task.created_at.isoformat(), "due_at": task.due_at.isoformat()}
            for task, code in rows]
