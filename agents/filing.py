"""The desk's ticket form: a ticket filed from a call (draft, or accepted at once: 受理), linked
to the call (TicketCall) with its `create` event, through the ticket workflow's API
(`hotline.tickets.services.create_ticket`, then `act(..., Action.ACCEPT)`). A retried submission
carries the same idempotency key and finds the same ticket: never filed twice."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.models import AgentStateChange
from hotline.agents.services import AgentError
from hotline.db.models import Call, Region, Role, Ticket, TicketChannel, TicketStatus, User
from hotline.regions import within
from hotline.tickets import services as tickets
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


async def _may_link(db: AsyncSession, user: User, call_id: int) -> bool:
    """A ticket's calls open their recordings to its creator (hotline.recordings.services), so
    an agent links only a call they were rung for or talked on (their stored state changes
    name it); a supervisor, a call of their region scope."""
    call = await db.get(Call, call_id)
    if call is None:
        return False
    if user.role is not Role.AGENT:
        return call.region_code is None or within(call.region_code, user.region_code)
    return await db.scalar(select(exists().where(
        AgentStateChange.user_id == user.id,
        AgentStateChange.call_uniqueid.in_({call.uniqueid, call.linkedid})))) is True


async def file_ticket(db: AsyncSession, user: User, form: TicketForm,
                      options: tickets.Options) -> Ticket:
    form.check()
    if await db.get(Region, form.region_code) is None:
        raise AgentError("请选择所属地区")
    if form.call_id is not None and not await _may_link(db, user, form.call_id):
        raise AgentError("关联的来电不存在", 404)  # the same answer: no probing of call ids
    new = tickets.NewTicket(
        channel=TicketChannel.PHONE, region_code=form.region_code, category=form.category,
        title=form.title.strip(), content=form.content.strip(), citizen_name=form.citizen_name,
        contact_number=form.contact_number, line_code=form.line_code or None,
        call_ids=[form.call_id] if form.call_id is not None else [],
        idempotency_key=form.idempotency_key)
    actor = tickets.Actor.of(user)
    try:
        created = await tickets.create_ticket(db, new, actor, options=options)
        ticket = created.ticket
        if form.accept and created.created and ticket.status is TicketStatus.DRAFT:
            ticket = await tickets.act(db, ticket.id, Action.ACCEPT, actor, options=options,
                                       note="坐席来电受理")
    except WorkflowError as exc:
        raise AgentError(str(exc), exc.status) from exc
    return ticket
