"""Recordings: finalisation when a call ends, the link to the call's tickets, who may play one.

Finalising reads the file MixMonitor wrote (paths.py says where): its size, its duration from
the WAV header, its sha256 (all in a thread: a recording can be large). A 44-byte file is a WAV
header with no audio (MixMonitor option `b`, fact 13 of asterisk-22/README.md: nobody was ever
bridged to the caller); it is kept and flagged `header_only`, never hidden. MixMonitor fixes the
header's sizes when it closes the file, a moment after the hang-up, so a file whose RIFF size
does not match its length yet is looked at again a few times before it is taken as it is.
A recording reaches tickets through its call (`ticket_calls`): every ticket of the call sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import wave
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import Call, CallDirection, Role, Ticket, TicketCall, User
from hotline.recordings import paths
from hotline.recordings.models import PlaybackAudit, Recording, RecordingStatus
from hotline.regions import scope_prefix, within

log = logging.getLogger(__name__)
HEADER_BYTES = 44  # a canonical WAV header: RIFF, fmt and an empty data chunk
CHUNK = 1 << 20


@dataclass(frozen=True)
class WavFacts:
    size: int
    duration_s: float
    sha256: str
    header_only: bool
    settled: bool  # the header's RIFF size matches the file: MixMonitor has closed it


def inspect_wav(path: Path) -> WavFacts:
    """Blocking: run it in a thread."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        head = file.read(12)
        file.seek(0)
        for block in iter(lambda: file.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
    duration = 0.0
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getframerate():
                duration = wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError) as exc:
        log.warning("recording %s: not a readable WAV (%s)", path, exc)
    riff = head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size
    return WavFacts(size, round(duration, 3), digest.hexdigest(), size <= HEADER_BYTES, riff)


@dataclass(frozen=True)
class RecordingStore:
    """Where recordings are, and how long to wait for MixMonitor to close a file."""

    root: Path
    zone: ZoneInfo
    settle_tries: int = 5
    settle_delay: float = 0.5

    def find(self, call: Call) -> str | None:
        """Blocking (stat): the relative path of the call's file, if there is one."""
        for relative in paths.candidates(call.node, call.linkedid, call.started_at, self.zone):
            if paths.absolute(self.root, relative).is_file():
                return str(relative)
        return None

    def path_of(self, relative: str) -> Path:
        return paths.absolute(self.root, relative)

    async def inspect(self, relative: str) -> WavFacts:
        path = paths.absolute(self.root, relative)
        facts = await asyncio.to_thread(inspect_wav, path)
        for _ in range(self.settle_tries):
            if facts.settled:
                break
            await asyncio.sleep(self.settle_delay)
            facts = await asyncio.to_thread(inspect_wav, path)
        return facts


async def finalise_call(db: AsyncSession, store: RecordingStore, call_id: int) -> Recording | None:
    """The call's recording row, written once (a second call, event or controller finds it).
    An inbound call without a file gets a `missing` row (flagged); other calls without one
    (follow-up surveys are not recorded) get none."""
    existing = await db.scalar(select(Recording).where(Recording.call_id == call_id))
    if existing is not None:
        return existing
    call = await db.get(Call, call_id)
    if call is None:
        return None
    try:
        relative = await asyncio.to_thread(store.find, call)
    except paths.BadRecordingPath as exc:
        log.warning("call %s: %s", call_id, exc)
        return None
    if relative is None:
        if call.direction != CallDirection.INBOUND:
            return None
        expected = paths.candidates(call.node, call.linkedid, call.started_at, store.zone)[0]
        recording = Recording(call_id=call_id, path=str(expected),
                              status=RecordingStatus.MISSING)
        log.warning("call %s ended without a recording at %s", call_id, expected)
    else:
        facts = await store.inspect(relative)
        recording = Recording(call_id=call_id, path=relative, size=facts.size,
                              duration_s=facts.duration_s, sha256=facts.sha256,
                              header_only=facts.header_only)
    db.add(recording)
    try:
        await db.commit()
    except IntegrityError:  # finalised meanwhile by another event or controller
        await db.rollback()
        return await db.scalar(select(Recording).where(Recording.call_id == call_id))
    return recording


async def call_of_linkedid(db: AsyncSession, node: str, linkedid: str) -> int | None:
    return await db.scalar(select(Call.id).where(Call.node == node, Call.linkedid == linkedid))


async def tickets_of_calls(db: AsyncSession, call_ids: list[int]) -> dict[int, list[Ticket]]:
    """Every ticket of each call, by call id, in one query (a search lists many recordings)."""
    if not call_ids:
        return {}
    rows = await db.execute(select(TicketCall.call_id, Ticket)
                            .join(Ticket, Ticket.id == TicketCall.ticket_id)
                            .where(TicketCall.call_id.in_(set(call_ids))).order_by(Ticket.id))
    found: dict[int, list[Ticket]] = {}
    for call_id, ticket in rows.all():
        found.setdefault(call_id, []).append(ticket)
    return found


def visible_to(user: User):  # type: ignore[no-untyped-def]
    """A WHERE clause on Recording: the recordings `user` may play.

    Supervisors and admins: those of their region scope (a call without a region: everyone's).
    An agent: the recordings of calls with a ticket they created. A department handler: those
    of calls with a ticket their department holds."""
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        if user.region_code is None:
            return Recording.id.is_not(None)
        return Recording.call_id.in_(select(Call.id).where(
            Call.region_code.is_(None)
            | Call.region_code.startswith(scope_prefix(user.region_code))))
    ticket = select(TicketCall.call_id).join(Ticket, Ticket.id == TicketCall.ticket_id)
    if user.role == Role.AGENT:
        ticket = ticket.where(Ticket.created_by_id == user.id)
    elif user.role == Role.HANDLER and user.department_id is not None:
        ticket = ticket.where(Ticket.department_id == user.department_id)
    else:
        return Recording.id.is_(None)
    return Recording.call_id.in_(ticket)


async def may_play(db: AsyncSession, user: User, recording: Recording) -> bool:
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        call = await db.get(Call, recording.call_id)
        return call is not None and (call.region_code is None
                                     or within(call.region_code, user.region_code))
    return bool(await db.scalar(select(exists().where(
        Recording.id == recording.id, visible_to(user)))))


async def audit_playback(db: AsyncSession, recording_id: int, user_id: int, *, allowed: bool,
                         byte_range: str = "", remote: str = "") -> None:
    db.add(PlaybackAudit(recording_id=recording_id, user_id=user_id, allowed=allowed,
                         byte_range=byte_range[:64], remote=remote[:64]))
    await db.commit()
