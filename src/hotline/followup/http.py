"""The follow-up lists: jobs the dialer could not finish, for a person to call (人工回访):
supervisors and admins of the ticket's region scope see them; hotline staff record the outcome
of the call they made."""

from __future__ import annotations

from aiohttp import web

from hotline.auth.policy import STAFF, allow
from hotline.db.base import utcnow
from hotline.db.models import Role
from hotline.followup import services
from hotline.followup.models import JobStatus
from hotline.followup.schemas import FollowUpOut, ManualFollowUpOut, ManualResultIn
from hotline.tickets.services import Actor, Options
from hotline.web.api import read_json
from hotline.web.keys import DB, SETTINGS
from hotline.web.middleware import current_session, current_user, json_error
from hotline.web.openapi import operation
from hotline.web.templates import render


async def _manual(request: web.Request) -> list[ManualFollowUpOut]:
    async with request.app[DB]() as db:
        rows = await services.manual_list(db, Actor.of(current_user(request)))
    return [ManualFollowUpOut.model_validate(row) for row in rows]


@allow(Role.ADMIN, Role.SUPERVISOR)
@operation("Follow-ups (回访) the dialer could not finish: call these by hand",
           response=list[ManualFollowUpOut])
async def manual_api(request: web.Request) -> web.Response:
    return web.json_response([row.model_dump(mode="json") for row in await _manual(request)])


@allow(STAFF)
@operation("Follow-up (回访) jobs of the tickets in your region scope",
           response=list[FollowUpOut],
           query={"status": "pending | dialing | done | manual | cancelled",
                  "ticket_id": "the jobs of one ticket"})
async def jobs_api(request: web.Request) -> web.Response:
    status, ticket_id = request.query.get("status", ""), request.query.get("ticket_id", "")
    if status and status not in set(JobStatus):
        return json_error(400, "status: pending, dialing, done, manual or cancelled",
                          field="status")
    if ticket_id and not (ticket_id.isdigit() and len(ticket_id) < 19):
        return json_error(400, "ticket_id must be a number", field="ticket_id")
    async with request.app[DB]() as db:
        rows = await services.list_jobs(
            db, Actor.of(current_user(request)), status=JobStatus(status) if status else None,
            ticket_id=int(ticket_id) if ticket_id else None)
    return web.json_response([FollowUpOut.model_validate(r).model_dump(mode="json")
                              for r in rows])


@allow(Role.ADMIN, Role.SUPERVISOR)
async def manual_page(request: web.Request) -> web.Response:
    return render("followup_manual.html", user=current_user(request),
                  csrf_token=current_session(request).csrf_token, rows=await _manual(request))


@allow(STAFF)
@operation("Record the outcome of a follow-up made by hand (人工回访): the citizen's answers "
           "go onto the ticket, or, not reached, the ticket is closed without a survey",
           body=ManualResultIn, status=204)
async def manual_result(request: web.Request) -> web.Response:
    raw = request.match_info["job_id"]
    if not raw.isdigit() or len(raw) > 18:
        return json_error(404, "no such follow-up job")
    data = await read_json(request, ManualResultIn)
    async with request.app[DB]() as db:
        try:
            await services.record_manual_result(
                db, int(raw), Actor.of(current_user(request)), satisfaction=data.satisfaction,
                solved=data.solved, reached=data.reached, note=data.note, now=utcnow(),
                ticket_options=Options.from_settings(request.app[SETTINGS]))
        except services.ManualResultError as exc:
            return json_error(exc.status, str(exc))
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/followups", jobs_api)
    app.router.add_get("/api/followups/manual", manual_api)
    app.router.add_post(r"/api/followups/{job_id}/result", manual_result)
    app.router.add_get("/followups/manual", manual_page)
