"""What the desk shows when a call rings: the caller's number, line and region, what the IVR
learned (transcript, category, key pressed), the caller's earlier calls and tickets, and the
ticket form's defaults. Read-only queries; the call row may not exist (the IVR's fallback sent
the caller straight to the queue), then the AMI event's fields are all there is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.services import CurrentCall
from hotline.db.models import Call, HotlineLine, Region, Ticket, TicketStatus

HISTORY_LIMIT = 10
STATUS_LABELS = {
    TicketStatus.DRAFT: "草稿", TicketStatus.ACCEPTED: "已受理", TicketStatus.REJECTED: "不予受理",
    TicketStatus.DISPATCHED: "已交办", TicketStatus.TRANSFERRED: "已转办",
    TicketStatus.IN_PROGRESS: "办理中", TicketStatus.RETURNED: "已退单",
    TicketStatus.REVIEWING: "审核中", TicketStatus.FOLLOW_UP: "回访中",
    TicketStatus.CLOSED: "已办结", TicketStatus.MERGED: "已并单",
}
OUTCOME_LABELS = {
    "answered": "已接听", "abandoned": "放弃", "ivr_only": "语音自助", "emergency": "紧急转接",
    "transferred": "已转接", "message": "留言", "failed": "未接通",
}


async def find_call(db: AsyncSession, node: str, uniqueid: str, linkedid: str) -> Call | None:
    return await db.scalar(select(Call).where(
        Call.node == node, or_(Call.uniqueid == uniqueid, Call.linkedid == linkedid))
        .order_by(Call.id).limit(1))


async def build_pop(db: AsyncSession, current: CurrentCall) -> dict[str, Any]:
    call = await find_call(db, current.node, current.uniqueid, current.linkedid)
    number = (call.caller_number if call and call.caller_number else current.caller_number)
    line = await db.get(HotlineLine, call.line_id) if call and call.line_id else None
    if line is None and current.queue:
        line = await db.scalar(select(HotlineLine).where(HotlineLine.queue == current.queue))
    region_code = (call.region_code if call and call.region_code else
                   line.region_code if line else "")
    region = await db.get(Region, region_code) if region_code else None
    earlier_calls, tickets = [], []
    if number:
        query = select(Call).where(Call.caller_number == number)
        if call is not None:
            query = query.where(Call.id != call.id)
        earlier_calls = (await db.scalars(
            query.order_by(Call.started_at.desc()).limit(HISTORY_LIMIT))).all()
        tickets = (await db.scalars(select(Ticket).where(Ticket.contact_number == number)
                                    .order_by(Ticket.created_at.desc())
                                    .limit(HISTORY_LIMIT))).all()
    return {
        "uniqueid": current.uniqueid,
        "call_id": call.id if call else None,
        "caller_number": number,
        "queue": current.queue,
        "line": {"code": line.code, "name": line.name} if line else None,
        "region": {"code": region.code, "name": region.name} if region else None,
        "ivr_choice": call.ivr_choice if call else "",
        "transcript": call.transcript if call else "",
        "category": call.category if call else "",
        "emergency_service": call.emergency_service if call else None,
        "earlier_calls": [{
            "id": c.id, "started_at": c.started_at.isoformat(),
            "outcome": OUTCOME_LABELS.get(c.outcome.value, c.outcome.value) if c.outcome else "",
            "category": c.category, "transcript": c.transcript,
        } for c in earlier_calls],
        "tickets": [{
            "id": t.id, "number": t.number, "title": t.title, "category": t.category,
            "status": STATUS_LABELS.get(t.status, t.status.value),
            "created_at": t.created_at.isoformat(),
        } for t in tickets],
        "form": {  # the ticket form's defaults
            "contact_number": number, "category": call.category if call else "",
            "region_code": region_code, "content": call.transcript if call else "",
            "line_code": line.code if line else "",
        },
    }
