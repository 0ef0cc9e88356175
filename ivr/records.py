"""What the voice menu writes: the call's IVR fields, draft tickets (a message left out of hours,
an emergency handed over) and the callback a message is owed.

Each write is one transaction and idempotent per call: the ticket carries the idempotency key
`ivr-<kind>:<node>:<uniqueid>`, the callback task is unique per (kind, call), so a retried AGI
(Asterisk re-runs the route after a controller restart) finds what the first run wrote instead of
filing it twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.base import utcnow
from hotline.db.models import (
    Call,
    CallbackKind,
    CallbackTask,
    Ticket,
    TicketCall,
    TicketChannel,
    TicketEvent,
    TicketStatus,
)
from hotline.tickets.numbers import next_ticket_number

PROVINCE = "530000"  # a call with no known region is the province's (96128)
ACTOR = "ivr"
KEY_LENGTH = 64  # tickets.idempotency_key


@dataclass(frozen=True)
class CallKey:
    node: str
    uniqueid: str


async def note_call(db: AsyncSession, call: CallKey, *, commit: bool = True,
                    **fields: str | None) -> None:
    """Store what the menu learned on the call row (ivr_choice, transcript, category,
    emergency_service); only the fields given. `commit=False`: part of a larger transaction."""
    values = {name: value for name, value in fields.items()}
    if "transcript" in values and values["transcript"] is not None:
        values["transcript"] = values["transcript"][:4000]
    # Core on the session's connection: no ORM bulk-update machinery on every call's path.
    await (await db.connection()).execute(update(Call).where(
        Call.node == call.node, Call.uniqueid == call.uniqueid).values(**values))
    if commit:
        await db.commit()


@dataclass(frozen=True)
class DraftTicket:
    kind: str  # "message", "emergency": part of the idempotency key
    content: str
    category: str = ""
    title: str = ""
    emergency_service: str | None = None


def draft_key(kind: str, call: CallKey) -> str:
    """The draft's idempotency key: one per call and kind. A key longer than the column (a
    long node name, a uniqueid with Asterisk's systemname prefix) is a digest of it: cut, two
    calls of the same second would share a key, and the second one's ticket would be lost."""
    key = f"ivr-{kind}:{call.node}:{call.uniqueid}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"ivr-{kind}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


async def file_draft(db: AsyncSession, call: CallKey, draft: DraftTicket, zone: ZoneInfo,
                     now: datetime | None = None) -> Ticket:
    """A draft ticket linked to the call (one per call and kind), with its `create` event."""
    key = draft_key(draft.kind, call)
    existing = await db.scalar(select(Ticket).where(Ticket.idempotency_key == key))
    if existing is not None:
        return existing
    row = await db.scalar(select(Call).where(
        Call.node == call.node, Call.uniqueid == call.uniqueid))
    if row is None:
        raise LookupError(f"no call {call.node}/{call.uniqueid}")
    now = now or utcnow()
    region = row.region_code or PROVINCE
    ticket = Ticket(
        number=await next_ticket_number(db, region, now, zone), channel=TicketChannel.PHONE,
        category=draft.category, region_code=region, line_id=row.line_id,
        status=TicketStatus.DRAFT, title=draft.title[:200], content=draft.content,
        contact_number=row.caller_number, idempotency_key=key,
        emergency_service=draft.emergency_service, created_at=now, updated_at=now)
    db.add(ticket)
    try:
        await db.flush()
    except IntegrityError:  # another controller filed it a moment ago
        await db.rollback()
        found = await db.scalar(select(Ticket).where(Ticket.idempotency_key == key))
        if found is None:
            raise
        return found
    db.add(TicketCall(ticket_id=ticket.id, call_id=row.id))
    db.add(TicketEvent(ticket_id=ticket.id, at=now, actor=ACTOR, action="create",
                       to_status=TicketStatus.DRAFT, note=draft.title))
    await db.commit()
    return ticket


async def owe_callback(db: AsyncSession, call: CallKey, ticket: Ticket, queue: str,
                       note: str, due_at: datetime | None = None) -> CallbackTask:
    """The callback a message is owed (kind message, due when the hotline opens); one per
    call."""
    row = await db.scalar(select(Call).where(
        Call.node == call.node, Call.uniqueid == call.uniqueid))
    assert row is not None
    existing = await db.scalar(select(CallbackTask).where(
        CallbackTask.kind == CallbackKind.MESSAGE, CallbackTask.call_id == row.id))
    if existing is not None:
        return existing
    task = CallbackTask(kind=CallbackKind.MESSAGE, number=row.caller_number,
                        line_id=row.line_id, queue=queue, call_id=row.id, ticket_id=ticket.id,
                        note=note, due_at=due_at or utcnow())
    db.add(task)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        found = await db.scalar(select(CallbackTask).where(
            CallbackTask.kind == CallbackKind.MESSAGE, CallbackTask.call_id == row.id))
        if found is None:
            raise
        return found
    return task


async def find_ticket(db: AsyncSession, keyed: str) -> Ticket | None:
    """A ticket by the digits a caller keyed: `5301-20261125-0001` is keyed `5301202611250001`
    (dashes have no key; `*` may stand for them). The digits are cut the way numbers are built:
    four of the region, eight of the day, the rest the sequence (leading zeros may be left out)."""
    digits = "".join(c for c in keyed if c.isdigit())
    if len(digits) < 13:
        return None
    number = f"{digits[:4]}-{digits[4:12]}-{digits[12:].zfill(4)}"
    return await db.scalar(select(Ticket).where(Ticket.number == number))
