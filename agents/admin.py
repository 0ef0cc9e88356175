"""The administrator's agents page (坐席管理, `/admin/agents`): every agent and supervisor with
their extension, language skills and queues, and a form per agent to set them.

`save` is the one way a profile is saved from the web: the page's form and the JSON route
(`PUT /admin/agents/{id}/profile`) both go through it, so both check the same things
(hotline.agents.profiles) and both refresh the desk's view of the agent.
Category skills and a language's level are kept as they are unless the form changes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline import directory
from hotline.agents import profiles
from hotline.agents.models import AgentProfile, SkillKind
from hotline.agents.services import AgentError
from hotline.asterisk.dialplan import extension_for
from hotline.auth.policy import allow
from hotline.db.models import Role, User
from hotline.web.keys import AGENT_DESK, DB, SETTINGS
from hotline.web.middleware import current_session, current_user
from hotline.web.templates import render

LEVEL_LABELS = {1: "熟练", 2: "良好", 3: "基础"}
MAX_PENALTY = 100


async def save(app: web.Application, user_id: int, *, extension: str | None,
               queues: dict[str, int], skills: Iterable[profiles.Skill],
               node: str = "") -> AgentProfile:
    """Validate and store a profile, then let the desk see it. AgentError (zh-CN) if refused."""
    async with app[DB]() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise AgentError("没有这个用户", 404)
        try:
            profile = await profiles.save_profile(db, user, extension=extension, queues=queues,
                                                  skills=skills, node=node)
        except profiles.ProfileError as exc:
            raise AgentError(str(exc)) from exc
        except IntegrityError:  # another save took the extension between check and commit
            raise AgentError(f"分机号 {extension} 已被使用") from None
        active = user.active
    if active:  # a disabled account has no desk to refresh (it is set up for when it returns)
        await app[AGENT_DESK].refresh(user_id)
    return profile


# the page ------------------------------------------------------------------------------------
def _view(user: User, profile: AgentProfile | None) -> dict[str, Any]:
    """What one agent's form shows: stored values, or the defaults of a user without profile."""
    if profile is None:
        return {"extension": "", "default_extension": extension_for(user.id), "node": "",
                "languages": {}, "queues": {}, "categories": [], "configured": False}
    return {"extension": profile.extension, "default_extension": profile.extension,
            "node": profile.node,
            "languages": {s.name: s.level for s in profile.skills
                          if s.kind == SkillKind.LANGUAGE},
            "queues": {q.queue: q.penalty for q in profile.queues},
            "categories": [(s.name, s.level) for s in profile.skills
                           if s.kind == SkillKind.CATEGORY],
            "configured": True}


async def _page(request: web.Request, *, status: int = 200, error: str = "",
                error_user: int | None = None,
                submitted: dict[str, Any] | None = None) -> web.Response:
    async with request.app[DB]() as db:
        users = (await db.scalars(select(User).where(
            User.role.in_(profiles.SOFTPHONE_ROLES)).order_by(User.id))).all()
        stored = {p.user_id: p for p in (await db.scalars(select(AgentProfile))).all()}
        lines = await directory.list_lines(db)
        region_names = await directory.region_names(db)
    agents = []
    for user in users:
        view = _view(user, stored.get(user.id))
        # The form shows the stored values, or what the administrator typed, to correct it.
        typed = submitted if user.id == error_user and submitted is not None else {}
        agents.append({"user": user, **view, "form": {**view, **typed}})
    queue_names = {line.queue: line.name for line in lines}
    extra = sorted({q for a in agents for q in a["queues"]} - set(queue_names))
    nodes = [n.name for n in request.app[SETTINGS].asterisk]
    saved = request.query.get("saved", "")
    return render("agents_admin.html", status=status, user=current_user(request),
                  csrf_token=current_session(request).csrf_token, agents=agents,
                  languages=profiles.LANGUAGES, levels=LEVEL_LABELS,
                  queues=[(line.queue, line.name) for line in lines] + [(q, q) for q in extra],
                  nodes=nodes, region_names=region_names, error=error,
                  error_user=error_user, saved=int(saved) if saved.isdigit() else None)


@allow(Role.ADMIN)
async def agents_page(request: web.Request) -> web.Response:
    return await _page(request)


def _int(value: str, message: str, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise AgentError(message)
    return int(value)


def _submitted(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form as typed (shown back with an error, to be corrected)."""
    levels = {name: str(form.get(f"language_{i}", "")).strip()
              for i, name in enumerate(profiles.LANGUAGES)}
    return {
        "extension": str(form.get("extension", "")).strip(),
        "node": str(form.get("node", "")).strip(),
        "languages": {n: int(v) if v.isdigit() else v for n, v in levels.items() if v},
        "queues": {str(q): str(form.get(f"penalty:{q}", "0")).strip() or "0"
                   for q in form.getall("queue", [])},
    }


def _parse(typed: dict[str, Any], kept: Iterable[profiles.Skill]
           ) -> tuple[dict[str, int], list[profiles.Skill]]:
    """What was typed → (queues, skills). AgentError on a bad field."""
    queues = {name: _int(penalty, f"队列 {name} 的优先级惩罚值须为0到{MAX_PENALTY}的整数",
                         0, MAX_PENALTY) for name, penalty in typed["queues"].items()}
    skills = [profiles.Skill(SkillKind.LANGUAGE, name,
                             _int(str(level), f"“{name}”的等级须为1、2或3", 1, 3))
              for name, level in typed["languages"].items()]
    skills += [s for s in kept if s.kind == SkillKind.CATEGORY]
    return queues, skills


def user_id_of(request: web.Request) -> int:
    text = request.match_info["user_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise AgentError("没有这个用户", 404)
    return int(text)


@allow(Role.ADMIN)
async def agents_submit(request: web.Request) -> web.Response:
    missing = "没有这个话务员或班长"
    try:
        user_id = user_id_of(request)
    except AgentError:
        return await _page(request, status=404, error=missing)
    typed = _submitted(await request.post())
    async with request.app[DB]() as db:
        user = await db.get(User, user_id)
        if user is None or user.role not in profiles.SOFTPHONE_ROLES:
            return await _page(request, status=404, error=missing)
        old = await profiles.get_profile(db, user_id)
        kept = [profiles.Skill(s.kind, s.name, s.level) for s in (old.skills if old else [])]
    try:
        queues, skills = _parse(typed, kept)
        if typed["node"] and typed["node"] not in _known_nodes(request, old):
            raise AgentError(f"没有名为 {typed['node']} 的 Asterisk 节点")
        await save(request.app, user_id, extension=typed["extension"] or None, queues=queues,
                   skills=skills, node=typed["node"])
    except AgentError as exc:
        return await _page(request, status=exc.status, error=str(exc), error_user=user_id,
                           submitted=typed)
    raise web.HTTPSeeOther(f"/admin/agents?saved={user_id}#agent-{user_id}")


def _known_nodes(request: web.Request, old: AgentProfile | None) -> set[str]:
    names = {n.name for n in request.app[SETTINGS].asterisk}
    return names | ({old.node} if old and old.node else set())


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/agents", agents_page)
    app.router.add_post("/admin/agents/{user_id}", agents_submit)
