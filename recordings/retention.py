"""Retention: recordings older than `[recordings] retention_days` are deleted, except those of a
call with a ticket that is not finished (办结 closed or 不予受理 rejected): while a matter is open
its recording is evidence. The row stays (status `purged`), so audits still point somewhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import Ticket, TicketCall, TicketStatus
from hotline.recordings.models import Recording, RecordingStatus
from hotline.recordings.services import RecordingStore

log = logging.getLogger(__name__)
FINISHED = (TicketStatus.CLOSED, TicketStatus.REJECTED)
BATCH = 500


def unfinished_ticket_of_call():  # type: ignore[no-untyped-def]
    return (select(TicketCall.call_id).join(Ticket, Ticket.id == TicketCall.ticket_id)
            .where(TicketCall.call_id == Recording.call_id, Ticket.status.not_in(FINISHED))
            .exists())


async def purge(db: AsyncSession, store: RecordingStore, retention_days: int,
                now: datetime | None = None) -> list[int]:
    """Delete the files of expired recordings; returns their ids."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    expired = (await db.scalars(
        select(Recording).where(
            Recording.status != RecordingStatus.PURGED, Recording.finalised_at < cutoff,
            ~unfinished_ticket_of_call())
        .order_by(Recording.id).limit(BATCH))).all()
    purged = []
    for recording in expired:
        if recording.status == RecordingStatus.FINALISED:
            path = store.path_of(recording.path)
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(path.unlink)
        recording.status, recording.purged_at = RecordingStatus.PURGED, now or utcnow()
        purged.append(recording.id)
    await db.commit()
    if purged:
        log.info("recordings: purged %d older than %d days", len(purged), retention_days)
    return purged


async def run(db: SessionMaker, store: RecordingStore, retention_days: int,
              every: float = 3600.0) -> None:
    """Purge every `every` seconds until cancelled."""
    while True:
        try:
            async with db() as session:
                while len(await purge(session, store, retention_days)) == BATCH:
                    pass
        except Exception:
            log.exception("recordings: purge failed")
        await asyncio.sleep(every)
