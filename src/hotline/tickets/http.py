"""Ticket JSON API (thin: logic in services/queries/deadlines/ranking), the 督办 background
scan, and `setup(app)` which also mounts the pages (pages.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select

from hotline.auth.policy import ALL_ROLES, STAFF, allow
from hotline.db.base import utcnow
from hotline.db.models import Department, Role, TicketChannel, TicketStatus
from hotline.ivr.emergency import classify
from hotline.tickets import deadlines, notifier, pages, ranking, schemas, services
from hotline.tickets.models import DispatchRule
from hotline.tickets.queries import list_tickets, offered_actions, ticket_detail, visible_ids
from hotline.tickets.services import Actor, NewTicket, Options
from hotline.tickets.workflow import WorkflowError
from hotline.tickets.writer import TicketWriter
from hotline.web.api import dump, read_json
from hotline.web.keys import BUS, DB, SETTINGS
from hotline.web.middleware import current_user, json_error
from hotline.web.openapi import operation
from hotline.web.schemas import ErrorOut

log = logging.getLogger(__name__)

# Files the API's tickets by group commit (writer.py): concurrent submissions share a transaction.
WRITER = web.AppKey("ticket_writer", TicketWriter)


def options_of(request: web.Request) -> Options:
    return Options.from_settings(request.app[SETTINGS])


def refused(exc: WorkflowError) -> web.Response:
    return json_error(exc.status, str(exc), field=exc.field)


@allow(STAFF)
@operation("File a ticket from a web form, SMS, e-mail, WeChat or the app; the text goes "
           "through the emergency classifier (an emergency alerts supervisors at once)",
           body=schemas.TicketIn, response=schemas.TicketCreatedOut, status=201)
async def create_ticket(request: web.Request) -> web.Response:
    data = await read_json(request, schemas.TicketIn)
    verdict = classify(f"{data.title}。{data.content}")
    new = NewTicket(channel=TicketChannel(data.channel), region_code=data.region_code,
                    category=data.category, topic=data.topic, title=data.title,
                    content=data.content, citizen_name=data.citizen_name,
                    contact_number=data.contact_number, idempotency_key=data.idempotency_key,
                    emergency_service=verdict.service)
    try:
        result = await request.app[WRITER].create(new, Actor.of(current_user(request)),
                                                  options=options_of(request))
    except WorkflowError as exc:
        return refused(exc)
    ticket = result.ticket
    if result.created:
        bus = request.app[BUS]
        if verdict.is_emergency:
            notifier.emergency(bus, ticket, verdict)
        notifier.created(bus, ticket)
    body = schemas.TicketOut.model_validate(ticket).model_dump(mode="json")
    return web.json_response({**body, "created": result.created},
                             status=201 if result.created else 200)


def _int(request: web.Request, name: str, default: int, top: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= top:
        raise web.HTTPBadRequest(text=schemas_error(f"{name} must be 0-{top}", name),
                                 content_type="application/json")
    return int(raw)


def schemas_error(message: str, field: str) -> str:
    return ErrorOut(error=message, field=field).model_dump_json()


@allow(ALL_ROLES)
@operation("Tickets you may see (a department handler: those with their department)",
           response=list[schemas.TicketOut],
           query={"status": "a ticket status", "q": "number, title or phone contains",
                  "limit": "at most 200 (default 50)", "offset": "skip this many"})
async def tickets(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in TicketStatus.__members__.values():
        return json_error(400, "unknown status", field="status")
    limit, offset = _int(request, "limit", 50, 200), _int(request, "offset", 0, 1_000_000)
    async with request.app[DB]() as db:
        rows = await list_tickets(db, Actor.of(current_user(request)),
                                  status=TicketStatus(status) if status else None,
                                  query=request.query.get("q", "").strip()[:64],
                                  limit=limit, offset=offset)
    return dump(schemas.TicketOut, rows)


@allow(ALL_ROLES)
@operation("One ticket with its history, calls, assignments and the actions you may take",
           response=schemas.TicketDetailOut)
async def ticket(request: web.Request) -> web.Response:
    user = current_user(request)
    async with request.app[DB]() as db:
        try:
            detail = await ticket_detail(db, request.match_info["number"], Actor.of(user))
        except WorkflowError as exc:
            return refused(exc)
    body = schemas.TicketDetailOut(
        ticket=schemas.TicketOut.model_validate(detail.ticket),
        actions=offered_actions(detail, user.role),
        events=[schemas.EventOut.model_validate(e) for e in detail.events],
        calls=[schemas.CallOut.model_validate(c) for c in detail.calls],
        assignments=[schemas.AssignmentOut.model_validate(a) for a in detail.assignments],
        extensions=[schemas.ExtensionOut.model_validate(e) for e in detail.extensions],
        surveys=[schemas.SurveyOut.model_validate(s) for s in detail.surveys],
        merged_from=[t.number for t in detail.merged_from],
        merged_into=detail.merged_into.number if detail.merged_into else None,
    )
    return web.json_response(body.model_dump(mode="json"))


@allow(ALL_ROLES)
@operation("Take a workflow step (accept, reject, dispatch, sign, reply, return, approve, "
           "follow_up, merge, …); a step the status does not allow answers 409",
           body=schemas.ActionIn, response=schemas.TicketOut)
async def ticket_action(request: web.Request) -> web.Response:
    data = await read_json(request, schemas.ActionIn)
    async with request.app[DB]() as db:
        try:
            actor = Actor.of(current_user(request))
            ticket_ = await services.get_ticket(db, request.match_info["number"], actor)
            before = ticket_.status
            ticket_ = await services.act(
                db, ticket_.id, data.action, actor, note=data.note,
                expected_version=data.version, options=options_of(request), **data.params())
        except WorkflowError as exc:
            return refused(exc)
    notifier.stepped(request.app[BUS], ticket_, data.action.value, before)
    return dump(schemas.TicketOut, ticket_)


@allow(ALL_ROLES)
@operation("督办: overdue (sign or reply) and nearly overdue tickets you may see",
           response=list[schemas.LateOut])
async def overdue(request: web.Request) -> web.Response:
    hours = request.app[SETTINGS].tickets.nearly_overdue_hours
    async with request.app[DB]() as db:
        late = await deadlines.late_tickets(db, utcnow(), timedelta(hours=hours),
                                            scope=visible_ids(Actor.of(current_user(request))))
    return web.json_response([schemas.LateOut(
        number=x.ticket.number, title=x.ticket.title, status=x.ticket.status, kind=x.kind,
        due_at=x.due_at, department=x.department).model_dump(mode="json") for x in late])


@allow(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
@operation("Department ranking for a period: on-time, satisfaction, first-contact resolution "
           "and returned rates", response=list[schemas.RankOut],
           query={"from": "first local date YYYY-MM-DD (default: 1st of this month)",
                  "to": "last local date YYYY-MM-DD (default: today)"})
async def ranking_api(request: web.Request) -> web.Response:
    since, until = pages.parse_period(request)
    async with request.app[DB]() as db:
        ranks = await ranking.department_ranking(db, since, until, utcnow(),
                                                 scope=current_user(request).region_code)
    return web.json_response([rank_out(r).model_dump(mode="json") for r in ranks])


def rank_out(rank: ranking.DepartmentRank) -> schemas.RankOut:
    return schemas.RankOut(
        department_id=rank.department_id, name=rank.name, region_code=rank.region_code,
        assignments=rank.assignments, on_time_rate=rank.on_time.rate,
        satisfaction_rate=rank.satisfaction.rate, first_contact_rate=rank.first_contact.rate,
        returned_rate=rank.returned.rate, score=rank.score)


@allow(ALL_ROLES)
@operation("Dispatch rules (交办规则): region + topic → department",
           response=list[schemas.DispatchRuleOut])
async def dispatch_rules(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        rows = (await db.scalars(select(DispatchRule).order_by(
            DispatchRule.region_code, DispatchRule.topic))).all()
    return dump(schemas.DispatchRuleOut, list(rows))


@allow(Role.ADMIN)
@operation("Set the department for a region and topic (replaces the existing rule)",
           body=schemas.DispatchRuleIn, response=schemas.DispatchRuleOut)
async def set_dispatch_rule(request: web.Request) -> web.Response:
    data = await read_json(request, schemas.DispatchRuleIn)
    async with request.app[DB]() as db:
        department = await db.get(Department, data.department_id)
        if department is None or department.region_code[:4] != data.region_code[:4]:
            return json_error(400, "承办单位不存在或不在该地区", field="department_id")
        rule = await db.scalar(select(DispatchRule).where(
            DispatchRule.region_code == data.region_code, DispatchRule.topic == data.topic))
        if rule is None:
            rule = DispatchRule(region_code=data.region_code, topic=data.topic,
                                department_id=department.id)
            db.add(rule)
        rule.department_id = department.id
        await db.commit()
    return dump(schemas.DispatchRuleOut, rule)


async def _writer(app: web.Application) -> AsyncIterator[None]:
    app[WRITER] = writer = TicketWriter(app[DB])
    yield
    await writer.close()  # what is queued is filed before the database goes


async def _deadline_scan(app: web.Application) -> AsyncIterator[None]:
    """督办: every `[tickets] scan_seconds`, alert supervisors of newly late tickets."""
    config = app[SETTINGS].tickets

    async def loop() -> None:
        while True:
            await asyncio.sleep(config.scan_seconds)
            try:
                async with app[DB]() as db:
                    await deadlines.escalate(db, app[BUS], utcnow(),
                                             timedelta(hours=config.nearly_overdue_hours))
            except Exception:  # a failed scan must not end the job: the next one retries
                log.exception("deadline scan failed")

    task = asyncio.create_task(loop(), name="tickets-deadline-scan")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def setup(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/tickets", create_ticket)
    router.add_get("/api/tickets", tickets)
    router.add_get("/api/tickets/overdue", overdue)
    router.add_get("/api/tickets/{number}", ticket)
    router.add_post("/api/tickets/{number}/actions", ticket_action)
    router.add_get("/api/ranking", ranking_api)
    router.add_get("/api/dispatch-rules", dispatch_rules)
    router.add_post("/api/dispatch-rules", set_dispatch_rule)
    pages.setup(app)
    app.cleanup_ctx.extend([_writer, _deadline_scan])
