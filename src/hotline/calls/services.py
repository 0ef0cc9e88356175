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
    line_id: int | None = None  # known already (the IVR's cached line): no lookup


async def record_call_start(db: AsyncSession, start: CallStart) -> int:
    """Insert the call unless it is there already; returns its id. Core statements, one in
    the usual case (INSERT … ON CONFLICT DO NOTHING; RETURNING id on PostgreSQL): this runs
    for every call (issue 7, whole call)."""
    conn = await db.connection()
    line_id, region = start.line_id, start.region_code
    if start.line_code and (line_id is None or not region):
        found = (await conn.execute(select(HotlineLine.id, HotlineLine.region_code).where(
            HotlineLine.code == start.line_code))).first()
        if found is not None:
            line_id, region = line_id or found.id, region or found.region_code
    postgresql = conn.dialect.name == "postgresql"
    insert = pg_insert if postgresql else sqlite_insert
    values = {
        "node": start.node, "uniqueid": start.uniqueid, "linkedid": start.linkedid,
        "direction": start.direction, "caller_number": start.caller_number[:32],
        "line_id": line_id, "region_code": region or None,
        "started_at": start.started_at or utcnow(),
    }
    statement = insert(Call).values(**values).on_conflict_do_nothing()
    if postgresql:
        call_id = (await conn.execute(statement.returning(Call.id))).scalar()
    else:  # the row id without RETURNING's fetch (one thread hop less through aiosqlite)
        result = await conn.execute(statement)
        call_id = result.lastrowid if result.rowcount == 1 else None
    if call_id is None:  # there already (a retried AGI, a replayed event)
        call_id = (await conn.execute(select(Call.id).where(
            Call.node == start.node, Call.uniqueid == start.uniqueid))).scalar()
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
