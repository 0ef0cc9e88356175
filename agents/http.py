"""The agent desk and the supervisor wallboard: pages, their JSON routes, their websockets.
Thin: the logic is in services / call_control / filing / wallboard."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hotline import directory
from hotline.agents import (
    admin,
    call_control,
    filing,
    profiles,
    wallboard,
    wallboard_hub,
    websockets,
)
from hotline.agents.ami_events import AgentEventHandler
from hotline.agents.models import SkillKind
from hotline.agents.notifier import AgentNotifier, desk_topic
from hotline.agents.schemas import ProfileIn, SpyIn, StateIn, TicketIn, TransferIn
from hotline.agents.services import AgentDesk, AgentError
from hotline.agents.state import STATE_LABELS, PauseReason
from hotline.asterisk.dialplan import EMERGENCY_NUMBERS
from hotline.auth.policy import allow
from hotline.db.models import Role, User
from hotline.tickets.services import Options
from hotline.web.keys import AGENT_DESK, AMI, BUS, DB, SETTINGS
from hotline.web.middleware import current_session, current_user, json_error
from hotline.web.templates import render

DESK_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
WALLBOARD_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
MAX_BODY = 64 * 1024

M = TypeVar("M", bound=BaseModel)
JsonHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise AgentError("请以 application/json 提交", 415)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise AgentError("提交内容过大", 413)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AgentError(f"输入无效（{where}）：{first['msg']}") from None


def json_route(handler: JsonHandler) -> JsonHandler:
    """AgentError → JSON error with its status (the pages' scripts show the message)."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AgentError as exc:
            return json_error(exc.status, str(exc))
    return wrapped


def _desk(request: web.Request) -> AgentDesk:
    return request.app[AGENT_DESK]


# pages -------------------------------------------------------------------------------------
@allow(DESK_ROLES)
async def desk_page(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        lines = await directory.list_lines(db)
        regions = await directory.list_regions(db)
    return render("desk.html", user=current_user(request),
                  csrf_token=current_session(request).csrf_token,
                  pause_reasons=[r.value for r in PauseReason], lines=lines,
                  regions=[r for r in regions if r.level.value != "county"],
                  emergency_numbers=EMERGENCY_NUMBERS, states=STATE_LABELS)


@allow(WALLBOARD_ROLES)
async def wallboard_page(request: web.Request) -> web.Response:
    user = current_user(request)
    return render("wallboard.html", user=user, csrf_token=current_session(request).csrf_token,
                  can_spy=user.role is Role.SUPERVISOR)


# websockets --------------------------------------------------------------------------------
@allow(DESK_ROLES)
async def desk_socket(request: web.Request) -> web.StreamResponse:
    websockets.check_origin(request)
    user, desk = current_user(request), _desk(request)

    async def hello() -> list[dict[str, Any]]:
        try:
            agent = await desk.agent(user.id)
        except AgentError as exc:
            return [{"type": "hello", "agent": None, "error": str(exc)}]
        pop = agent.call.pop if agent.call and agent.call.pop else None
        return [{"type": "hello", "agent": agent.view(desk.clock(), desk.zone), "call": pop}]

    return await websockets.serve(request, [desk_topic(user.id)], hello)


@allow(WALLBOARD_ROLES)
async def wallboard_socket(request: web.Request) -> web.StreamResponse:
    websockets.check_origin(request)
    scope = current_user(request).region_code

    async def first() -> list[dict[str, Any]]:
        return [{"type": "snapshot", **await wallboard.snapshot(request.app, scope)}]

    def open_feed() -> wallboard_hub.HubClient:
        return request.app[wallboard_hub.WALLBOARD_HUB].connect(
            request.app[BUS], scope, request.app[SETTINGS].agents.ws_queue_size)

    return await websockets.serve_feed(request, open_feed, first)


# desk JSON routes --------------------------------------------------------------------------
@allow(DESK_ROLES)
@json_route
async def change_state(request: web.Request) -> web.Response:
    body = await _body(request, StateIn)
    desk = _desk(request)
    agent = await desk.change_state(current_user(request).id, body.state, body.reason)
    return web.json_response({"agent": agent.view(desk.clock(), desk.zone)})


@allow(DESK_ROLES)
@json_route
async def end_wrap_up(request: web.Request) -> web.Response:
    desk = _desk(request)
    agent = await desk.end_wrap_up(current_user(request).id)
    return web.json_response({"agent": agent.view(desk.clock(), desk.zone)})


@allow(DESK_ROLES)
@json_route
async def transfer(request: web.Request) -> web.Response:
    body = await _body(request, TransferIn)
    text = await call_control.transfer(_desk(request), current_user(request).id, body.target)
    return web.json_response({"message": text})


@allow(DESK_ROLES)
@json_route
async def file_ticket(request: web.Request) -> web.Response:
    body = await _body(request, TicketIn)
    form = filing.TicketForm(**body.model_dump())
    async with request.app[DB]() as db:
        user = await db.get(User, current_user(request).id)
        assert user is not None
        ticket = await filing.file_ticket(db, user, form,
                                          Options.from_settings(request.app[SETTINGS]))
        number, status = ticket.number, ticket.status.value
    return web.json_response({"id": ticket.id, "number": number, "status": status}, status=201)


# wallboard JSON routes ---------------------------------------------------------------------
@allow(Role.SUPERVISOR)
@json_route
async def spy(request: web.Request) -> web.Response:
    body = await _body(request, SpyIn)
    user = current_user(request)
    text = await call_control.spy(_desk(request), user.id, body.agent_id, body.mode,
                                  scope=user.region_code)
    return web.json_response({"message": text})


@allow(Role.ADMIN)
@json_route
async def save_profile(request: web.Request) -> web.Response:
    body = await _body(request, ProfileIn)
    user_id = admin.user_id_of(request)
    try:
        skills = [profiles.Skill(SkillKind(s.kind), s.name, s.level) for s in body.skills]
    except ValueError:
        raise AgentError("技能类型须为 language 或 category") from None
    profile = await admin.save(request.app, user_id, extension=body.extension,
                               queues=body.queues, skills=skills, node=body.node)
    return web.json_response({"user_id": user_id, "extension": profile.extension})


# wiring --------------------------------------------------------------------------------------
async def _agents(app: web.Application) -> AsyncIterator[None]:
    """After the `ami` context: the desk follows every node's events from the start."""
    nodes = app[AMI]
    desk = AgentDesk(app[DB], nodes, AgentNotifier(app[BUS]),
                     wrap_up_seconds=app[SETTINGS].agents.wrap_up_seconds,
                     queue_config=app[SETTINGS].queue, zone=app[SETTINGS].zone)
    events = AgentEventHandler(desk)
    nodes.subscribe(events)  # queued until the profiles are loaded
    await desk.load()
    events.start()
    app[AGENT_DESK] = desk
    yield
    await events.close()
    await desk.close()


def setup(app: web.Application) -> None:
    app.router.add_get("/desk", desk_page)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/ws/desk", desk_socket)
    app.router.add_get("/ws/wallboard", wallboard_socket)
    app.router.add_post("/desk/state", change_state)
    app.router.add_post("/desk/wrap-up/end", end_wrap_up)
    app.router.add_post("/desk/transfer", transfer)
    app.router.add_post("/desk/tickets", file_ticket)
    app.router.add_post("/wallboard/spy", spy)
    app.router.add_put("/admin/agents/{user_id}/profile", save_profile)
    admin.setup(app)
    app[wallboard_hub.WALLBOARD_HUB] = wallboard_hub.WallboardHub()
    app.cleanup_ctx.append(_agents)

