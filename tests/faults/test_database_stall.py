"""A stalled database in the middle of `hotline simulate`: on SQLite another process holds the
write lock for 2 s (BEGIN EXCLUSIVE); on PostgreSQL every connection of the controller is
killed (pg_terminate_backend), twice. Every call whose flow started is in the database once.
FastAGI side as ../shared/asterisk-22/transcripts/agi-session-normal.jsonl."""

import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url

from hotline.config import load_settings
from hotline.testing.simulate import Simulation
from hotline.web.app import create_app

from faults.harness import check_calls, config_file, scaled, trace_calls, wait_until
from pg import free_port

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


async def _lock_sqlite(path: str, seconds: float) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD_LOCK, path,
                                                str(seconds), stdout=asyncio.subprocess.PIPE)
    assert await proc.stdout.readline() == b"locked\n"
    await proc.wait()


async def _kill_pg_connections(db_url: str) -> int:
    url = make_url(db_url)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", url.database))
    finally:
        await conn.close()


async def test_a_stalled_database_loses_no_call(aiohttp_client, tmp_path, db_url, monkeypatch):
    sessions = trace_calls(monkeypatch, reply_delay=0.01)
    config = config_file(tmp_path, db_url, free_port(), free_port())
    settings = load_settings(config, environ={})
    await aiohttp_client(create_app(settings))
    calls = scaled(40)
    run = asyncio.create_task(Simulation(settings, calls=calls, rate=20, agents=2,
                                         node=None).run())
    await wait_until(lambda: len(sessions) >= calls // 4)
    killed = 1
    if db_url.startswith("sqlite"):
        fault = "SQLite write lock held 2 s by another process"
        await _lock_sqlite(make_url(db_url).database, 2.0)
    else:
        fault = "PostgreSQL connections killed, twice"
        killed = await _kill_pg_connections(db_url)
        await wait_until(lambda: len(sessions) >= calls // 2)
        killed = min(killed, await _kill_pg_connections(db_url))
    report = await run
    check = await check_calls(fault, db_url, sessions)
    assert report.placed == calls and report.failed == 0
    assert check.ok, (check.lost, check.duplicated, check.unknown)
    assert check.reached == calls
    assert killed > 0  # the fault really hit the controller's connections
