"""Ticket pages (zh-CN): the hotline's list and detail with action forms (/tickets), the
department portal (/portal: only the handler's department and region), and the ranking."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import func, select

from hotline.auth.policy import STAFF, allow
from hotline.db.base import utcnow
from hotline.db.models import Department, Role, TicketStatus
from hotline.tickets import deadlines, notifier, ranking, schemas, services
from hotline.tickets.models import TicketAssignment
from hotline.tickets.queries import list_tickets, offered_actions, ticket_detail, visible_ids
from hotline.tickets.services import Actor
from hotline.tickets.steps import REJECT_REASONS, SATISFACTION_LABELS, TRANSFER_TARGETS
from hotline.tickets.workflow import (
    ACTION_LABELS,
    STATUS_LABELS,
    WorkflowError,
)
from hotline.web.keys import BUS, DB, SETTINGS
from hotline.web.middleware import current_session, current_user
from hotline.web.schemas import ErrorOut
from hotline.web.templates import render

PORTAL_STATUSES = (TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS, TicketStatus.REVIEWING)
LATE_LABELS = {"sign": "签收超期", "reply": "办理超期", "nearly": "即将超期"}
FORM_FIELDS = ("note", "version", "reason", "department_id", "target", "days", "grant",
               "satisfaction", "solved", "into", "category", "topic")


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return render(template, status=status, user=current_user(request),
                  csrf_token=current_session(request).csrf_token, status_labels=STATUS_LABELS,
                  action_labels=ACTION_LABELS, late_labels=LATE_LABELS,
                  zone=request.app[SETTINGS].zone, **context)


async def _late(request: web.Request, actor: Actor) -> list[deadlines.Late]:
    hours = request.app[SETTINGS].tickets.nearly_overdue_hours
    async with request.app[DB]() as db:
        return await deadlines.late_tickets(db, utcnow(), timedelta(hours=hours),
                                            scope=visible_ids(actor))


@allow(STAFF)
async def ticket_list(request: web.Request) -> web.Response:
    actor = Actor.of(current_user(request))
    wanted = request.query.get("status", "")
    status = TicketStatus(wanted) if wanted in TicketStatus.__members__.values() else None
    query = request.query.get("q", "").strip()[:64]
    async with request.app[DB]() as db:
        rows = await list_tickets(db, actor, status=status, query=query, limit=100)
    return _page(request, "tickets_list.html", tickets=rows, late=await _late(request, actor),
                 filter_status=wanted, q=query)


@allow(Role.HANDLER)
async def portal(request: web.Request) -> web.Response:
    actor = Actor.of(current_user(request))
    async with request.app[DB]() as db:
        department = await db.get(Department, actor.department_id)
        groups = {s: await list_tickets(db, actor, status=s, limit=200) for s in PORTAL_STATUSES}
        ids = [t.id for rows in groups.values() for t in rows]
        sign_due = dict((await db.execute(
            select(TicketAssignment.ticket_id, func.max(TicketAssignment.sign_due_at))
            .where(TicketAssignment.ticket_id.in_(ids),
                   TicketAssignment.department_id == actor.department_id)
            .group_by(TicketAssignment.ticket_id))).all()) if ids else {}
    return _page(request, "portal_list.html", department=department, groups=groups,
                 sign_due=sign_due, late=await _late(request, actor), now=utcnow())


async def _detail(request: web.Request, portal: bool, *, status: int = 200,
                  error: str = "") -> web.Response:
    user = current_user(request)
    actor = Actor.of(user)
    async with request.app[DB]() as db:
        try:
            detail = await ticket_detail(db, request.match_info["number"], actor)
        except WorkflowError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        departments: list[Department] = []
        if not portal:
            statement = select(Department).where(
                Department.active.is_(True),
                Department.region_code.startswith(detail.ticket.region_code[:4]))
            departments = list((await db.scalars(statement.order_by(Department.name))).all())
    now = utcnow()
    return _page(
        request, "tickets_detail.html", status=status, d=detail, portal=portal, error=error,
        actions=offered_actions(detail, user.role), departments=departments,
        reject_reasons=REJECT_REASONS, transfer_targets=TRANSFER_TARGETS,
        satisfaction_labels=SATISFACTION_LABELS, overdue=bool(
            detail.ticket.due_at and detail.ticket.due_at < now
            and detail.ticket.status in deadlines.RUNNING),
        done=ACTION_LABELS.get(request.query.get("done", ""), ""),  # type: ignore[call-overload]
        estimate=bool(detail.ticket.due_at) and deadlines.calendar_for(
            request.app[SETTINGS].zone).is_estimate(detail.ticket.created_at,
                                                    detail.ticket.due_at or now),
    )


def parse_period(request: web.Request) -> tuple[datetime, datetime]:
    """The local dates ?from=&to= (both included) as UTC bounds; default: this month."""
    zone = request.app[SETTINGS].zone
    today = utcnow().astimezone(zone).date()
    query = {"from": request.query.get("from") or today.replace(day=1).isoformat(),
             "to": request.query.get("to") or today.isoformat()}
    try:
        period = schemas.Period.model_validate(query)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "from"
        raise web.HTTPBadRequest(text=ErrorOut(error=first["msg"], field=field).model_dump_json(),
                                 content_type="application/json") from None
    start = datetime.combine(period.since, time(0), tzinfo=zone)
    end = datetime.combine(period.until + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def _form_params(form: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"action": form.get("action", "")}
    for name in FORM_FIELDS:
        value = form.get(name)
        if isinstance(value, str) and value.strip() != "":
            raw[name] = value
    for flag in ("grant", "solved"):
        if flag in raw:
            raw[flag] = raw[flag] == "1"
    return raw


async def _submit(request: web.Request, portal: bool) -> web.Response:
    form = await request.post()
    try:
        data = schemas.ActionIn.model_validate(_form_params(form))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"输入有误（{where}）：{first['msg']}"
        return await _detail(request, portal, status=400, error=message)
    async with request.app[DB]() as db:
        try:
            actor = Actor.of(current_user(request))
            ticket = await services.get_ticket(db, request.match_info["number"], actor)
            before = ticket.status
            ticket = await services.act(
                db, ticket.id, data.action, actor, note=data.note,
                expected_version=data.version,
                options=services.Options.from_settings(request.app[SETTINGS]), **data.params())
        except WorkflowError as exc:
            if exc.status == 404:
                raise web.HTTPNotFound(text=str(exc)) from None
            return await _detail(request, portal, status=exc.status, error=str(exc))
    notifier.stepped(request.app[BUS], ticket, data.action.value, before)
    base = "/portal/tickets" if portal else "/tickets"
    raise web.HTTPSeeOther(f"{base}/{ticket.number}?done={data.action.value}")


@allow(STAFF)
async def ticket_page(request: web.Request) -> web.Response:
    return await _detail(request, portal=False)


@allow(STAFF)
async def ticket_submit(request: web.Request) -> web.Response:
    return await _submit(request, portal=False)


@allow(Role.HANDLER)
async def portal_ticket(request: web.Request) -> web.Response:
    return await _detail(request, portal=True)


@allow(Role.HANDLER)
async def portal_submit(request: web.Request) -> web.Response:
    return await _submit(request, portal=True)


@allow(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
async def ranking_page(request: web.Request) -> web.Response:
    try:
        since, until = parse_period(request)
    except web.HTTPBadRequest:
        return _page(request, "ranking.html", status=400, ranks=[], total=None,
                     since="", until="", error="请输入有效的起止日期（YYYY-MM-DD，不超过一年）")
    async with request.app[DB]() as db:
        ranks = await ranking.department_ranking(db, since, until, utcnow(),
                                                 scope=current_user(request).region_code)
    zone = request.app[SETTINGS].zone
    return _page(request, "ranking.html", ranks=ranks, total=ranking.overall(ranks), error="",
                 since=since.astimezone(zone).date().isoformat(),
                 until=(until.astimezone(zone) - timedelta(days=1)).date().isoformat())


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/tickets", ticket_list)
    router.add_get("/tickets/{number}", ticket_page)
    router.add_post("/tickets/{number}/actions", ticket_submit)
    router.add_get("/portal", portal)
    router.add_get("/portal/tickets/{number}", portal_ticket)
    router.add_post("/portal/tickets/{number}/actions", portal_submit)
    router.add_get("/ranking", ranking_page)
