"""kill -9 of the controller in the middle of calls, then a restart: every call whose flow had
started is in the database once; calls placed while it was down fell back to the queue (the
dialplan's AGISTATUS=FAILURE path) and none is recorded twice. Tickets filed with idempotency
keys through a kill -9 and the client's retries: none lost, none twice. FastAGI side as
../shared/asterisk-22/transcripts/agi-session-normal.jsonl (via hotline.testing.simulate)."""

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Ticket, TicketEvent
from hotline.testing.simulate import Simulation

from harness import (
    Controller,
    check_calls,
    config_file,
    print_table,
    scaled,
    trace_calls,
    wait_until,
)
from pg import free_port


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
    count = scaled(60)
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
