"""Reading tickets with the caller's visibility: hotline staff see their region scope (None:
the whole province); a department handler sees only the tickets currently with their
department, in their region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline.db.models import Call, Department, Role, Ticket, TicketCall, TicketEvent, TicketStatus
from hotline.regions import scope_prefix, within
from hotline.tickets.models import (
    ExtensionStatus,
    TicketAssignment,
    TicketExtension,
    TicketMerge,
    TicketSurvey,
)
from hotline.tickets.workflow import Action, TicketNotFound, available_actions

if TYPE_CHECKING:
    from hotline.tickets.steps import Actor


async def get_ticket(db: AsyncSession, ref: int | str, actor: Actor | None = None) -> Ticket:
    """By id (int) or by number (str); TicketNotFound otherwise, and also when `actor` may not
    see it, with the same words: nobody learns which numbers exist outside their scope."""
    if isinstance(ref, int):
        ticket = await db.get(Ticket, ref)
    else:
        ticket = await db.scalar(select(Ticket).where(Ticket.number == str(ref)))
    if ticket is None or (actor is not None and not visible(ticket, actor)):
        raise TicketNotFound(f"工单 {ref} 不存在")
    return ticket


def visible(ticket: Ticket, actor: Actor) -> bool:
    if actor.role is None:  # system parts (dialer, IVR) act on any ticket
        return True
    if not within(ticket.region_code, actor.region_code):
        return False
    if actor.role == Role.HANDLER:
        return ticket.department_id is not None and ticket.department_id == actor.department_id
    return True


def visible_ids(actor: Actor) -> Select[Any]:
    """The ids of the tickets `actor` may see, as a subquery-ready select (on an alias, so it
    never correlates with an outer query on tickets)."""
    seen = aliased(Ticket)
    statement = select(seen.id)
    if actor.role is not None and actor.region_code is not None:
        statement = statement.where(seen.region_code.startswith(scope_prefix(actor.region_code)))
    if actor.role == Role.HANDLER:
        statement = statement.where(seen.department_id == actor.department_id)
    return statement


async def list_tickets(db: AsyncSession, actor: Actor, *, status: TicketStatus | None = None,
                       query: str = "", limit: int = 50, offset: int = 0) -> list[Ticket]:
    statement = select(Ticket).where(Ticket.id.in_(visible_ids(actor)))
    if status is not None:
        statement = statement.where(Ticket.status == status)
    if query:
        like = f"%{query}%"
        statement = statement.where(or_(Ticket.number.like(like), Ticket.title.like(like),
                                        Ticket.contact_number.like(like)))
    statement = statement.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    return list((await db.scalars(statement.limit(limit).offset(offset))).all())


@dataclass
class TicketDetail:
    ticket: Ticket
    department: Department | None
    events: list[TicketEvent]  # this ticket's and those of the tickets merged into it
    calls: list[Call]
    assignments: list[TicketAssignment]
    extensions: list[TicketExtension]
    surveys: list[TicketSurvey]
    merged_from: list[Ticket]
    merged_into: Ticket | None
    department_names: dict[int, str]


def offered_actions(detail: TicketDetail, role: Role) -> list[Action]:
    """The steps to offer `role` on this ticket: those its status allows, less the extension
    steps that cannot apply now (nothing to decide; a request already pending)."""
    pending = any(x.status == ExtensionStatus.PENDING for x in detail.extensions)
    skip = {Action.REQUEST_EXTENSION} if pending else {Action.DECIDE_EXTENSION}
    return [a for a in available_actions(detail.ticket.status, role) if a not in skip]


async def ticket_detail(db: AsyncSession, ref: int | str, actor: Actor) -> TicketDetail:
    ticket = await get_ticket(db, ref, actor)
    sources = list((await db.scalars(
        select(Ticket).join(TicketMerge, TicketMerge.source_ticket_id == Ticket.id)
        .where(TicketMerge.target_ticket_id == ticket.id).order_by(Ticket.id))).all())
    ids = [ticket.id, *(s.id for s in sources)]
    into_id = await db.scalar(select(TicketMerge.target_ticket_id)
                              .where(TicketMerge.source_ticket_id == ticket.id))

    async def rows(model: Any, *order: Any) -> list[Any]:
        return list((await db.scalars(
            select(model).where(model.ticket_id == ticket.id).order_by(*order))).all())

    assignments = await rows(TicketAssignment, TicketAssignment.id)
    department_ids = {a.department_id for a in assignments}
    names = {d.id: d.name for d in (await db.scalars(
        select(Department).where(Department.id.in_(department_ids)))).all()} \
        if department_ids else {}
    return TicketDetail(
        ticket=ticket,
        department=await db.get(Department, ticket.department_id) if ticket.department_id
        else None,
        events=list((await db.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ids))
                                      .order_by(TicketEvent.at, TicketEvent.id))).all()),
        calls=list((await db.scalars(
            select(Call).join(TicketCall, TicketCall.call_id == Call.id)
            .where(TicketCall.ticket_id == ticket.id).order_by(Call.started_at))).all()),
        assignments=assignments,
        extensions=await rows(TicketExtension, TicketExtension.id),
        surveys=await rows(TicketSurvey, TicketSurvey.id),
        merged_from=sources,
        merged_into=await db.get(Ticket, into_id) if into_id else None,
        department_names=names,
    )
