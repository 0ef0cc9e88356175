"""`hotline serve` / `hotline run`: web, FastAGI and AMI in one process, stopped in order on
SIGTERM/SIGINT within SHUTDOWN_BUDGET seconds."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from hotline.auth.services import FIRST_ADMIN, ensure_first_admin
from hotline.config import Settings
from hotline.db.engine import create_engine, describe, session_maker
from hotline.db.migrate import require_head, upgrade_with_reference_data
from hotline.web.app import create_app

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET = 5.0


async def migrate(settings: Settings) -> None:
    """Bring the schema to head and load the shipped reference data (idempotent)."""
    engine = create_engine(settings.database_url)
    try:
        report = await upgrade_with_reference_data(engine)
        log.info("database %s at head; reference data: %s", describe(settings.database_url), report)
    finally:
        await engine.dispose()


async def prepare(settings: Settings, *, run_migrations: bool) -> None:
    """Before serving: migrate (or refuse an un-migrated database) and make sure an
    administrator exists, printing a generated password once on the terminal."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    if run_migrations:
        await migrate(settings)
    engine = create_engine(settings.database_url)
    try:
        await require_head(engine)
        async with session_maker(engine)() as db:
            password = await ensure_first_admin(db)
    finally:
        await engine.dispose()
    if password:
        # Deliberately printed, never logged: it is shown once, to whoever started the server.
        sys.stdout.write(
            "\n" + "=" * 64 + "\n"
            f"  First run: created the administrator account '{FIRST_ADMIN}'.\n"
            f"  Password (shown only now): {password}\n"
            "  Change it after logging in (修改密码), or reset it with\n"
            "  `hotline user reset-password admin`.\n"
            + "=" * 64 + "\n\n"
        )
        sys.stdout.flush()


async def serve(settings: Settings, *, run_migrations: bool = False,
                stop: asyncio.Event | None = None) -> None:
    await prepare(settings, run_migrations=run_migrations)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_BUDGET / 2)
    await runner.setup()  # starts the cleanup contexts: database, FastAGI, AMI
    try:
        bind = settings.web.bind
        site = web.TCPSite(runner, bind.host, bind.port)
        await site.start()
        log.info("web on http://%s/ (health: /healthz)", bind)
        await stop.wait()
        log.info("stopping")
    finally:
        try:
            async with asyncio.timeout(SHUTDOWN_BUDGET):
                await runner.cleanup()
        except TimeoutError:
            log.error("shutdown took longer than %.0f s; exiting anyway", SHUTDOWN_BUDGET)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
