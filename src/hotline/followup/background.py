"""Wiring of the follow-up feature into the app: the lists' routes, the tickets service's hook
that creates a job when a ticket enters 回访 (on every controller), and the dialer task with its
AMI subscription and the survey's receiver (only where `[followup] enabled`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import Ticket
from hotline.followup import http, services
from hotline.followup.dialer import Dialer
from hotline.followup.services import Policy
from hotline.web.keys import AMI, BUS, DB, IVR, SETTINGS

DIALER = web.AppKey("followup_dialer", Dialer)
WAKE_AFTER_COMMIT = 0.5  # seconds: the hook runs before its transaction commits


def setup(app: web.Application) -> None:
    """Call after the database, FastAGI and AMI cleanup contexts are in place."""
    http.setup(app)
    app.cleanup_ctx.append(_background)


async def _background(app: web.Application) -> AsyncIterator[None]:
    from hotline.tickets import services as tickets

    settings = app[SETTINGS]
    config = settings.followup
    dialer = Dialer(app[DB], app[AMI], Policy.of(config, settings.zone),
                    poll_seconds=config.poll_seconds, result_grace=config.result_grace_seconds,
                    ticket_options=tickets.Options.from_settings(settings), bus=app[BUS])
    app[DIALER] = dialer

    async def job_for(db: AsyncSession, ticket: Ticket) -> None:
        await services.create_job(db, ticket)
        asyncio.get_running_loop().call_later(WAKE_AFTER_COMMIT, dialer.wake)

    remove_hook = tickets.on_follow_up(job_for)
    task = None
    if config.enabled:
        app[AMI].subscribe(dialer.on_ami_event)
        app[IVR].on_survey = dialer.on_survey  # hotline.ivr.survey reports the answers here
        task = asyncio.create_task(dialer.run(), name="followup-dialer")
    try:
        yield
    finally:
        remove_hook()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dialer.close()
