"""Recordings over HTTP: playback with Range requests, search of the transcripts.

Playback is for the agent who created a ticket of the call, supervisors and admins (of the
call's region), and the handlers of a department holding a ticket of the call
(services.visible_to). Every request for a recording that exists is audited, granted or not.
aiohttp's FileResponse serves the file: 206 with Content-Range for a Range, 416 for a range
outside the file, 200 for the whole; it streams with sendfile, never reading the file on the loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from hotline.auth.policy import ALL_ROLES, allow
from hotline.db.models import TicketCall
from hotline.recordings import services
from hotline.recordings.models import Recording, RecordingStatus
from hotline.recordings.schemas import RecordingOut
from hotline.recordings.services import RecordingStore
from hotline.tickets.queries import visible
from hotline.tickets.steps import Actor
from hotline.web.keys import DB, RECORDINGS
from hotline.web.middleware import current_user, json_error
from hotline.web.openapi import operation

SEARCH_LIMIT = 50
MAX_QUERY = 100


def _id(request: web.Request) -> int | None:
    raw = request.match_info["recording_id"]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _file_of(store: RecordingStore, relative: str) -> Path | None:
    """Blocking (resolve, stat): the recording's file, if it is there."""
    path = store.path_of(relative)
    return path if path.is_file() else None


@allow(ALL_ROLES)
@operation("Play a recording (audio/wav; HTTP Range); audited")
async def play(request: web.Request) -> web.StreamResponse:
    recording_id, user = _id(request), current_user(request)
    if recording_id is None:
        return json_error(404, "no such recording")
    store = request.app[RECORDINGS]
    async with request.app[DB]() as db:
        recording = await db.get(Recording, recording_id)
        if recording is None:
            return json_error(404, "no such recording")
        allowed = await services.may_play(db, user, recording)
        await services.audit_playback(
            db, recording.id, user.id, allowed=allowed,
            byte_range=request.headers.get("Range", ""), remote=request.remote or "")
    if not allowed:
        return json_error(403, "you may not play this recording")
    if recording.status == RecordingStatus.PURGED:
        return json_error(410, "this recording was deleted by the retention rule")
    path = None
    if recording.status != RecordingStatus.MISSING:  # stat in a thread: shared storage may lag
        path = await asyncio.to_thread(_file_of, store, recording.path)
    if path is None:
        return json_error(404, "the recording's file is not there")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, no-store"})


@allow(ALL_ROLES)
@operation("Recordings you may play, newest first; q searches the transcripts",
           response=list[RecordingOut], query={"q": "words of the transcript",
                                               "call_id": "the recording of one call",
                                               "ticket_id": "the recordings of a ticket's calls"})
async def search(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if len(q) > MAX_QUERY:
        return json_error(400, f"q: at most {MAX_QUERY} characters", field="q")
    call_id, ticket_id = request.query.get("call_id", ""), request.query.get("ticket_id", "")
    for name, value in (("call_id", call_id), ("ticket_id", ticket_id)):
        if value and not (value.isdigit() and len(value) < 19):
            return json_error(400, f"{name} must be a number", field=name)
    query = select(Recording).where(services.visible_to(current_user(request)))
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Recording.transcript.ilike(f"%{escaped}%", escape="\\"))
    if call_id:
        query = query.where(Recording.call_id == int(call_id))
    if ticket_id:
        query = query.where(Recording.call_id.in_(
            select(TicketCall.call_id).where(TicketCall.ticket_id == int(ticket_id))))
    actor = Actor.of(current_user(request))
    async with request.app[DB]() as db:
        rows = (await db.scalars(query.order_by(Recording.id.desc()).limit(SEARCH_LIMIT))).all()
        tickets = await services.tickets_of_calls(db, [row.call_id for row in rows])
        body = []
        for row in rows:
            out = RecordingOut.model_validate(row)
            out.tickets = [t.number for t in tickets.get(row.call_id, [])
                           if visible(t, actor)]  # not the numbers of others' tickets
            out.url = str(request.app.router["recording"].url_for(recording_id=str(row.id)))
            body.append(out.model_dump(mode="json"))
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/recordings", search)
    app.router.add_get(r"/api/recordings/{recording_id}", play, name="recording")
