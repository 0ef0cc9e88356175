"""The AMI peer misbehaves in the middle of `hotline simulate`: it stops reading (half-open),
drops the connection, then restarts with new state (an Asterisk restart). AMI side as
../shared/asterisk-22/transcripts/ami-queue-call.jsonl, ami-abandon.jsonl, ami-actions-live.jsonl
(hotline.testing.ami_server). Every call whose flow started is in the database once, and once
the controller has resynced, no call row stays open (the resync closes calls Asterisk no
longer has)."""

import asyncio

from sqlalchemy import func, select

from hotline.asterisk.ami import NodeState
from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Call
from hotline.testing.simulate import Simulation
from hotline.web.app import create_app
from hotline.web.keys import AMI

from faults.harness import check_calls, config_file, print_table, scaled, trace_calls, wait_until
from pg import free_port


async def _open_rows(db_url):
    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as db:
            return await db.scalar(select(func.count()).where(Call.ended_at.is_(None)))
    finally:
        await engine.dispose()


async def test_half_open_drop_and_restart_of_the_ami_peer(aiohttp_client, tmp_path, db_url,
                                                          monkeypatch):
    sessions = trace_calls(monkeypatch, reply_delay=0.01)
    config = config_file(tmp_path, db_url, free_port(), free_port(), ami_port=free_port())
    settings = load_settings(config, environ={"HOTLINE_ASTERISK_PBX1_SECRET": "sim-Secret-1"})
    client = await aiohttp_client(create_app(settings))
    node = client.app[AMI].nodes[0]
    calls = scaled(40)
    sim = Simulation(settings, calls=calls, rate=8, agents=3, node=settings.asterisk[0],
                     talk_seconds=0.2)
    run = asyncio.create_task(sim.run(connect_wait=20))
    await wait_until(lambda: sim.ami is not None and node.state == NodeState.CONNECTED)
    ami = sim.ami
    await wait_until(lambda: len(sessions) >= calls // 5)
    ami.stop_reading()  # half-open: the controller's Ping goes unanswered
    await wait_until(lambda: node.state != NodeState.CONNECTED, within=15)
    ami.resume_reading()
    await wait_until(lambda: node.state == NodeState.CONNECTED, within=15)
    ami.drop()
    await wait_until(lambda: node.state != NodeState.CONNECTED, within=15)
    await wait_until(lambda: node.state == NodeState.CONNECTED, within=15)
    first = await run
    # Asterisk restarts: a new stand-in on the same port, new boot, no calls. Its uniqueids
    # (epoch.counter from 0) cannot repeat the first one's: in the last second of the first
    # run its counter was far past what the second run reaches.
    second = await Simulation(settings, calls=calls // 4, rate=10, agents=3,
                              node=settings.asterisk[0], talk_seconds=0.2).run(connect_wait=20)
    check = await check_calls("AMI half-open, dropped, Asterisk restarted", db_url, sessions)
    async with asyncio.timeout(20):
        while still_open := await _open_rows(db_url):  # noqa: ASYNC110 - database state
            await asyncio.sleep(0.2)
    print_table(["AMI connections", "answered", "abandoned", "rows left open"],
                [[node.connections, first.answered + second.answered,
                  first.abandoned + second.abandoned, still_open]])
    assert (first.placed, second.placed) == (calls, calls // 4)
    assert first.errors == second.errors == []
    assert check.ok, (check.lost, check.duplicated, check.unknown)
    assert check.reached == calls + calls // 4  # FastAGI never depended on AMI
    assert node.connections >= 4  # the first, after half-open, after the drop, after restart
