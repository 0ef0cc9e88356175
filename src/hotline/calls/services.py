"""Call rows: written as soon as the flow knows the call, closed when it ends. Both writes are
idempotent on (node, uniqueid), so a retried write, a replayed AMI event or a second controller
never adds a second row (DESIGN.md §2.3, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.base import utcnow
from hotline.db.models import Call, CallDirection, CallOutcome, HotlineLine


@dataclass(frozen=True)
class CallStart:
    node: str
    uniqueid: str
    linkedid: str
    caller_number: str
    line_code: str | None = None
    region_code: str | None = None
    direction: CallDirection = CallDirection.INBOUND
    started_at: datetime | None = None


async def record_call_start(db: AsyncSession, start: CallStart) -> int:
    """Insert the call unless it is there already; returns its id."""
    line = None
    if start.line_code:
        line = await db.scalar(select(HotlineLine).where(HotlineLine.code == start.line_code))
    region = start.region_code or (line.region_code if line else None)
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    values = {
        "node": start.node, "uniqueid": start.uniqueid, "linkedid": start.linkedid,
        "direction": start.direction, "caller_number": start.caller_number[:32],
        "line_id": line.id if line else None, "region_code": region if region else None,
        "started_at": start.started_at or utcnow(),
    }
    await db.execute(insert(Call).values(**values).on_conflict_do_nothing())
    call_id = await db.scalar(
        select(Call.id).where(Call.node == start.node, Call.uniqueid == start.uniqueid))
    await db.commit()
    assert call_id is not None
    return call_id


async def record_call_answered(db: AsyncSession, node: str, uniqueid: str,
                               at: datetime | None = None) -> None:
    await db.execute(update(Call).where(
        Call.node == node, Call.uniqueid == uniqueid, Call.answered_at.is_(None),
    ).values(answered_at=at or utcnow()))
    await db.commit()


async def record_call_end(db: AsyncSession, node: str, uniqueid: str, outcome: CallOutcome,
                          at: datetime | None = None) -> bool:
    """Close the call once: the first end recorded wins (True when this call closed it). A call
    the IVR handed to 110/119/120/122 (emergency_service set) ends as EMERGENCY whatever the
    caller's channel did next."""
    emergency = case((Call.emergency_service.is_not(None), CallOutcome.EMERGENCY.value),
                     else_=outcome.value)
    result = await db.execute(update(Call).where(
        Call.node == node, Call.uniqueid == uniqueid, Call.ended_at.is_(None),
    ).values(ended_at=at or utcnow(), outcome=emergency))
    await db.commit()
    return bool(result.rowcount)
