"""kill -9 of the controller in the middle of calls, then a restart: every call whose flow had
started is in the database once; calls placed while it was down fell back to the queue (the
dialplan's AGISTATUS=FAILURE path) and none is recorded twice. Tickets filed with idempotency
keys through a kill -9 and the client's retries: none lost, none twice. FastAGI side as
../shared/asterisk-22/transcripts/agi-session-normal.jsonl (via hotline.testing.simulate)."""

import asyncio
import contextlib
import re
import signal
import sys
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from hotline.auth.services import create_user
from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Role, Ticket, TicketEvent
from hotline.testing.simulate import Simulation

from faults.harness import (
    Controller,
    check_calls,
    config_file,
    print_table,
    scaled,
    trace_calls,
    wait_until,
)
from pg import free_port

PASSWORD = "Correct-Horse-42"


async def test_kill_9_in_the_middle_of_calls_then_restart(tmp_path, empty_db_url, monkeypatch):
    sessions = trace_calls(monkeypatch, reply_delay=0.05)
    config = config_file(tmp_path, empty_db_url, free_port(), free_port())
    settings = load_settings(config, environ={})
    controller = Controller(config)
    await controller.start()
    calls, after = scaled(30), scaled(8)
    simulation = asyncio.create_task(
        Simulation(settings, calls=calls, rate=20, agents=2, node=None).run())
    try:
        await wait_until(lambda: sum(bool(s.result.commands) for s in sessions) >= calls // 4)
        await controller.kill9()  # calls in the middle of their flow lose their controller
        await controller.start()  # a restart; calls placed meanwhile found no controller
        report = await simulation
        # Calls placed once it is back (uniqueids: a later second, so never one from before).
        later = await Simulation(settings, calls=after, rate=20, agents=2, node=None).run()
    finally:
        await controller.stop()
    check = await check_calls("kill -9 of the controller, restart", empty_db_url, sessions)
    assert (report.placed, later.placed) == (calls, after)
    assert check.ok, (check.lost, check.duplicated, check.unknown)
    assert check.reached < calls + after  # the fault really hit: some calls found no controller
    assert check.routed < check.reached  # and some were in the middle of their flow
    assert all(s.result.variables.get("HOTLINE_DEST") for s in sessions[calls:])


async def _file_tickets(db_url, count, *, kill_after=None):
    """Run ticket_writer.py; with `kill_after`, SIGKILL it once that many are acknowledged."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("ticket_writer.py")), db_url, "crash",
        str(count), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    acked = []
    async with asyncio.timeout(60):
        while line := await proc.stdout.readline():
            acked.append(line.split()[1].decode())
            if kill_after is not None and len(acked) >= kill_after:
                proc.send_signal(signal.SIGKILL)
                break
        _, err = await proc.communicate()
    assert kill_after is not None or proc.returncode == 0, err.decode()
    return acked


async def test_tickets_filed_through_a_kill_9_are_neither_lost_nor_duplicated(db_url):
    count = scaled(30)
    before_kill = await _file_tickets(db_url, count, kill_after=count // 3)
    retried = await _file_tickets(db_url, count)  # the client retries every key it sent
    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as db:
            keys = Counter(dict((await db.execute(
                select(Ticket.idempotency_key, func.count()).group_by(Ticket.idempotency_key)
            )).all()))
            numbers = (await db.execute(
                select(Ticket.number, func.count()).group_by(Ticket.number)
                .having(func.count() > 1))).all()
            events = Counter(dict((await db.execute(
                select(TicketEvent.ticket_id, func.count()).where(TicketEvent.action == "create")
                .group_by(TicketEvent.ticket_id))).all()))
    finally:
        await engine.dispose()
    expected = {f"crash-{i}" for i in range(count)}
    lost = expected - set(keys)
    duplicated = [k for k, n in keys.items() if n > 1] + [n for n, _ in numbers]
    print_table(["fault", "sent", "acked before kill", "tickets", "lost", "duplicated",
                 "create events", "verdict"],
                [["kill -9 while filing tickets", count, len(before_kill), sum(keys.values()),
                  len(lost), len(duplicated), sum(events.values()),
                  "ok" if not (lost or duplicated) else "FAIL"]])
    assert len(before_kill) >= count // 3 and set(retried) == expected
    assert not lost and not duplicated
    assert set(keys) == expected and sum(keys.values()) == count
    assert len(events) == count and set(events.values()) == {1}  # one `create` row each


async def _api_session(base: str) -> tuple[aiohttp.ClientSession, str]:
    """Log in as the test's agent like a browser; the session and its CSRF token."""
    http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())[1]
    response = await http.post("/login", data={"username": "crash-agent", "password": PASSWORD,
                                               "csrf_token": token}, allow_redirects=False)
    assert response.status == 303, await response.text()
    return http, (await (await http.get("/api/me")).json())["csrf_token"]


async def _post_ticket(http: aiohttp.ClientSession, token: str, key: str) -> int:
    response = await http.post("/api/tickets", headers={"X-CSRF-Token": token}, json={
        "channel": "web", "region_code": "530100", "category": "咨询", "title": f"网上 {key}",
        "content": "kill -9 测试", "contact_number": "13800138000", "idempotency_key": key})
    return response.status


async def test_tickets_posted_to_the_web_api_through_a_kill_9(tmp_path, db_url):
    """POST /api/tickets with idempotency keys; the controller is killed with a request in
    flight, restarted, and the client retries every key it sent: one ticket per key."""
    engine = create_engine(db_url)
    async with session_maker(engine)() as db:
        await create_user(db, username="crash-agent", display_name="坐席", role=Role.AGENT,
                          password=PASSWORD)
    await engine.dispose()
    web_port = free_port()
    controller = Controller(config_file(tmp_path, db_url, web_port, free_port()))
    await controller.start(web_port=web_port)
    base = f"http://127.0.0.1:{web_port}"
    count = scaled(30)
    keys = [f"web-crash-{i:04d}" for i in range(count)]
    acked = []
    try:
        http, token = await _api_session(base)
        try:
            for key in keys[:count // 3]:
                assert await _post_ticket(http, token, key) == 201
                acked.append(key)
            in_flight = asyncio.create_task(_post_ticket(http, token, keys[count // 3]))
            await asyncio.sleep(0)  # the request leaves …
            await controller.kill9()  # … and the controller dies under it
            with contextlib.suppress(aiohttp.ClientError):  # answered or cut: either way
                await in_flight
        finally:
            await http.close()
        await controller.start(web_port=web_port)
        http, token = await _api_session(base)
        try:
            statuses = Counter([await _post_ticket(http, token, key) for key in keys])
        finally:
            await http.close()
    finally:
        await controller.stop()
    tickets, events = await _tickets_by_key(db_url)
    lost = set(keys) - set(tickets)
    duplicated = [k for k, n in tickets.items() if n > 1]
    print_table(["fault", "keys", "acked before kill", "retries 201/200", "tickets", "lost",
                 "duplicated", "verdict"],
                [["kill -9 under POST /api/tickets", count, len(acked),
                  f"{statuses[201]}/{statuses[200]}", sum(tickets.values()), len(lost),
                  len(duplicated), "ok" if not (lost or duplicated) else "FAIL"]])
    assert set(statuses) <= {200, 201} and statuses[200] >= len(acked)
    assert not lost and not duplicated and sum(tickets.values()) == count
    assert len(events) == count and set(events.values()) == {1}


async def _tickets_by_key(db_url: str) -> tuple[Counter, Counter]:
    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as db:
            tickets = Counter(dict((await db.execute(
                select(Ticket.idempotency_key, func.count()).group_by(Ticket.idempotency_key)
            )).all()))
            events = Counter(dict((await db.execute(
                select(TicketEvent.ticket_id, func.count()).where(TicketEvent.action == "create")
                .group_by(TicketEvent.ticket_id))).all()))
    finally:
        await engine.dispose()
    return tickets, events
