"""Ticket workflow logic: every function loads the ticket, checks the step (workflow.py), changes
the row, appends one TicketEvent (actor, time, note) and commits, all in one transaction.

API for the other features (stable; keyword arguments as shown):

- `create_ticket(db, NewTicket(...), actor)` → `Created(ticket, created)`: idempotent by
  `NewTicket.idempotency_key` (a retried submission returns the same ticket, `created=False`).
  The agent desk files tickets from a call with `call_ids=[call.id]` and `channel=PHONE`.
- `act(db, ticket, Action.X, actor, **params)` is the one entry point for every step (the
  parameters of each are listed in steps.py).
- Follow-up (回访, the dialer of hotline.followup): a ticket enters `follow_up` by `approve`
  (审核通过; `enter_follow_up` is the same step). Two ways to react:
  * `on_follow_up(hook)`: `await hook(db, ticket)` runs INSIDE the transaction that moves the
    ticket to follow_up (before commit), so a job row added there is atomic with the change;
  * or poll: `tickets_awaiting_follow_up(db)` lists tickets in follow_up (restart-safe).
  The HTTP layer also publishes `{"type": "follow_up", ...}` on the bus topic "tickets".
- `record_follow_up_result(db, ticket_id, satisfaction, solved, actor="dialer")`: stores the
  survey answers (TicketSurvey row) and closes the ticket (办结), or — when the citizen is
  dissatisfied and `[tickets] reopen_on_dissatisfied` is true (the default) — reopens it to the
  same department (status dispatched, to be signed again, new deadline).

Errors: `WorkflowError` subclasses (workflow.py) carry the HTTP status: InvalidStep 409 (wrong
status), StaleTicket 409 (version changed), NotAllowed 403, TicketNotFound 404, plain 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from hotline.db.base import utcnow
from hotline.db.models import (
    Call,
    HotlineLine,
    Region,
    Ticket,
    TicketCall,
    TicketChannel,
    TicketEvent,
    TicketStatus,
)
from hotline.tickets import steps
from hotline.tickets.models import SurveySatisfaction as Satisfaction
from hotline.tickets.numbers import next_ticket_number
from hotline.tickets.queries import get_ticket, visible
from hotline.tickets.steps import (
    REJECT_REASONS,
    TRANSFER_TARGETS,
    Actor,
    ActorLike,
    FollowUpHook,
    Options,
    as_actor,
    on_follow_up,
)
from hotline.tickets.workflow import (
    Action,
    StaleTicket,
    WorkflowError,
    check_step,
)

__all__ = [
    "REJECT_REASONS", "TRANSFER_TARGETS", "Action", "Actor", "ActorLike", "Created",
    "FollowUpHook", "NewTicket", "Options", "Satisfaction", "act", "create_ticket",
    "enter_follow_up", "get_ticket", "on_follow_up", "record_follow_up_result",
    "tickets_awaiting_follow_up",
]

EMERGENCY_SERVICES = frozenset({"110", "119", "120", "122"})


@dataclass(frozen=True)
class NewTicket:
    channel: TicketChannel
    region_code: str
    category: str = ""  # 诉求类型: 咨询 求助 投诉 举报 建议 (sets the deadline)
    topic: str = ""  # 业务分类, e.g. 供水 (picks the department by the dispatch rules)
    title: str = ""
    content: str = ""
    citizen_name: str = ""
    contact_number: str = ""
    line_code: str | None = None
    call_ids: Sequence[int] = ()
    idempotency_key: str | None = None
    emergency_service: str | None = None  # 110/119/120/122 when the matter is an emergency


@dataclass(frozen=True)
class Created:
    ticket: Ticket
    created: bool  # False: the idempotency key found an existing ticket


class KeyTaken(WorkflowError):
    """The idempotency key is a ticket's the submitter may not see (HTTP 409)."""

    status = 409


async def _by_key(db: AsyncSession, key: str, who: Actor) -> Ticket | None:
    """The ticket filed with `key`; refused when `who` may not see it: keys can be guessed
    (the IVR's are `ivr-<kind>:<node>:<uniqueid>`), and the answer is the whole ticket."""
    ticket = await db.scalar(select(Ticket).where(Ticket.idempotency_key == key))
    if ticket is not None and not visible(ticket, who):
        raise KeyTaken("该提交标识已被使用", field="idempotency_key")
    return ticket


def check_emergency(new: NewTicket) -> None:
    if new.emergency_service is not None and new.emergency_service not in EMERGENCY_SERVICES:
        raise WorkflowError("紧急服务只能是 110/119/120/122", field="emergency_service")


def create_note(new: NewTicket) -> str:
    """The note of a ticket's `create` event."""
    return f"{new.channel.value} 渠道登记" + (
        f"；紧急求助，应转 {new.emergency_service}" if new.emergency_service else "")


async def create_ticket(db: AsyncSession, new: NewTicket, actor: ActorLike = "system", *,
                        options: Options | None = None, now: datetime | None = None) -> Created:
    """File a ticket (status draft) with its number, linked calls, and a `create` event."""
    who = as_actor(actor)
    options = options or Options()
    now = now or utcnow()
    if new.idempotency_key:
        existing = await _by_key(db, new.idempotency_key, who)
        if existing is not None:
            return Created(existing, False)
    if await db.get(Region, new.region_code) is None:
        raise WorkflowError(f"地区代码 {new.region_code} 不存在", field="region_code")
    check_emergency(new)
    line_id = None
    if new.line_code:
        line_id = await db.scalar(select(HotlineLine.id).where(HotlineLine.code == new.line_code))
        if line_id is None:
            raise WorkflowError(f"热线 {new.line_code} 不存在", field="line_code")
    call_ids = sorted(set(new.call_ids))
    if call_ids:
        found = set((await db.scalars(select(Call.id).where(Call.id.in_(call_ids)))).all())
        if missing := [c for c in call_ids if c not in found]:
            raise WorkflowError(f"来电 {missing[0]} 不存在", field="call_ids")
    ticket = Ticket(
        number=await next_ticket_number(db, new.region_code, now, options.zone),
        channel=new.channel, category=new.category, topic=new.topic,
        region_code=new.region_code, line_id=line_id, status=TicketStatus.DRAFT,
        title=new.title, content=new.content, citizen_name=new.citizen_name,
        contact_number=new.contact_number, created_by_id=who.user_id,
        idempotency_key=new.idempotency_key or None, created_at=now, updated_at=now,
        emergency_service=new.emergency_service,
    )
    db.add(ticket)
    try:
        await db.flush()
        db.add_all(TicketCall(ticket_id=ticket.id, call_id=c) for c in call_ids)
        db.add(TicketEvent(ticket_id=ticket.id, at=now, actor_id=who.user_id, actor=who.name,
                           action="create", to_status=TicketStatus.DRAFT,
                           note=create_note(new)))
        await db.commit()
    except IntegrityError:
        # A concurrent submission with the same key won the race: hand back its ticket.
        await db.rollback()
        if new.idempotency_key and (existing := await _by_key(db, new.idempotency_key, who)):
            return Created(existing, False)
        raise
    return Created(ticket, True)


async def act(db: AsyncSession, ref: int | str, action: Action | str, actor: ActorLike, *,
              note: str = "", expected_version: int | None = None,
              options: Options | None = None, now: datetime | None = None,
              **params: Any) -> Ticket:
    """Take one workflow step (parameters per action: steps.py). Returns the ticket after it."""
    who = as_actor(actor)
    options = options or Options()
    now = now or utcnow()
    try:
        action = Action(action)
    except ValueError:
        raise WorkflowError(f"未知操作 {action!r}", field="action") from None
    ticket = await get_ticket(db, ref, who)
    if expected_version is not None and ticket.version != expected_version:
        raise StaleTicket("工单已被他人修改，请刷新后重试", field="version")
    step = check_step(action, ticket.status, who.role)
    before = ticket.status
    context = steps.StepContext(db, ticket, who, note.strip(), options, now, params)
    try:  # any flush from here on may find the row changed by someone else
        outcome = await steps.run(action, context)
        ticket.status = outcome.status or step.target or before
        ticket.updated_at = now  # always an UPDATE: the version moves, concurrent steps conflict
        db.add(TicketEvent(ticket_id=ticket.id, at=now, actor_id=who.user_id, actor=who.name,
                           action=action.value, from_status=before, to_status=ticket.status,
                           note=outcome.note))
        if ticket.status == TicketStatus.FOLLOW_UP and before != TicketStatus.FOLLOW_UP:
            await steps.run_follow_up_hooks(db, ticket)
        await db.commit()
    except WorkflowError:
        await db.rollback()
        raise
    except StaleDataError:
        await db.rollback()
        raise StaleTicket("工单已被他人修改，请刷新后重试", field="version") from None
    return ticket


async def enter_follow_up(db: AsyncSession, ref: int | str, actor: ActorLike,
                          **kwargs: Any) -> Ticket:
    """审核通过: reviewing → follow_up (runs the on_follow_up hooks)."""
    return await act(db, ref, Action.APPROVE, actor, **kwargs)


async def record_follow_up_result(db: AsyncSession, ticket_id: int | str,
                                  satisfaction: Satisfaction | str, solved: bool,
                                  actor: ActorLike = "dialer", **kwargs: Any) -> Ticket:
    """Store the survey answers; 办结, or reopen when dissatisfied (per configuration)."""
    return await act(db, ticket_id, Action.FOLLOW_UP, actor, satisfaction=satisfaction,
                     solved=solved, **kwargs)


async def tickets_awaiting_follow_up(db: AsyncSession) -> list[Ticket]:
    """Every ticket in follow_up, oldest first (for a dialer that polls)."""
    statement = select(Ticket).where(Ticket.status == TicketStatus.FOLLOW_UP) \
        .order_by(Ticket.updated_at, Ticket.id)
    return list((await db.scalars(statement)).all())
