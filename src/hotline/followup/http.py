"""The follow-up lists: jobs the dialer could not finish, for a person to call (人工回访).
Supervisors and admins of the ticket's region scope."""

from __future__ import annotations

from aiohttp import web

from hotline.auth.policy import allow
from hotline.db.models import Role
from hotline.followup import services
from hotline.followup.schemas import ManualFollowUpOut
from hotline.web.keys import DB
from hotline.web.middleware import current_session, current_user
from hotline.web.openapi import operation
from hotline.web.templates import render


async def _manual(request: web.Request) -> list[ManualFollowUpOut]:
    async with request.app[DB]() as db:
        rows = await services.manual_list(db, current_user(request).region_code)
    return [ManualFollowUpOut.model_validate(row) for row in rows]


@allow(Role.ADMIN, Role.SUPERVISOR)
@operation("Follow-ups (回访) the dialer could not finish: call these by hand",
           response=list[ManualFollowUpOut])
async def manual_api(request: web.Request) -> web.Response:
    return web.json_response([row.model_dump(mode="json") for row in await _manual(request)])


@allow(Role.ADMIN, Role.SUPERVISOR)
async def manual_page(request: web.Request) -> web.Response:
    return render("followup_manual.html", user=current_user(request),
                  csrf_token=current_session(request).csrf_token, rows=await _manual(request))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/followups/manual", manual_api)
    app.router.add_get("/followups/manual", manual_page)
