"""Overload shedding (issue 7 item 6, DESIGN.md §5): past its bound on event-loop lag or AGI
round trip the FastAGI server starts new sessions with `channel.shedding` set, and stops once
both are back under half their bound. AGI side as agi-session-normal (hotline.testing)."""

import asyncio
import time

from hotline.asterisk.fastagi import FastAgiServer
from hotline.asterisk.load import Load
from hotline.config import Bind
from hotline.testing.agi_client import AgiSession, Caller

from faults.harness import wait_until


def test_lag_past_the_bound_sheds_until_below_half_of_it():
    load = Load(lag_bound=0.1, round_trip_bound=0)
    load.lag_seen(0.09)
    assert not load.overloaded
    load.lag_seen(0.15)
    assert load.overloaded and load.episodes == 1
    load.lag_seen(0.0)  # decays: 0.105, still over half the bound
    assert load.overloaded
    for _ in range(5):
        load.lag_seen(0.0)
    assert not load.overloaded and load.lag < 0.05


def test_slow_agi_replies_shed_and_silence_lets_it_recover():
    load = Load(lag_bound=0, round_trip_bound=0.2)
    for _ in range(3):
        load.round_trip_seen(0.05)
    assert not load.overloaded
    for _ in range(10):
        load.round_trip_seen(1.0)
    assert load.overloaded
    for _ in range(10):  # no reply seen between probes: the estimate decays
        load.lag_seen(0.0)
    assert not load.overloaded


def test_a_signal_with_bound_zero_is_off():
    load = Load(lag_bound=0, round_trip_bound=0)
    load.lag_seen(10.0)
    load.round_trip_seen(10.0)
    assert not load.overloaded and not load.enabled


async def test_new_sessions_are_shed_while_the_loop_lags():
    seen = []

    async def flow(channel):
        seen.append(channel.shedding)
        if channel.query.get("block"):
            time.sleep(0.5)  # noqa: ASYNC251 - a deliberate stall of the event loop
        await channel.set_variable("HOTLINE_DEST", "queue")

    server = FastAgiServer(Bind("127.0.0.1", 0), {"ivr": flow}, shed_loop_lag=0.15,
                           shed_round_trip=0)
    await server.start()

    async def call(script):
        return await AgiSession(Caller(), script=script, uniqueid="1.1", channel="Local/s",
                                port=server.port).run(limit=10)

    try:
        await call("ivr")
        await call("ivr?block=1")
        await wait_until(lambda: server.overloaded, within=5)
        shed = await call("ivr")
        await wait_until(lambda: not server.overloaded, within=5)
        await call("ivr")
    finally:
        await server.close()
    assert seen == [False, False, True, False]
    assert shed.variables == {"HOTLINE_DEST": "queue"}
    assert server.status()["shed_sessions"] == 1 and server.status()["overload_episodes"] == 1


async def test_the_agi_round_trip_is_measured_on_variable_commands():
    async def flow(channel):
        await channel.answer()
        await channel.set_variable("HOTLINE_DEST", "queue")

    server = FastAgiServer(Bind("127.0.0.1", 0), {"ivr": flow}, shed_loop_lag=0,
                           shed_round_trip=0.2)
    await server.start()
    try:
        await AgiSession(Caller(), script="ivr", uniqueid="1.1", channel="Local/s",
                         port=server.port).run(limit=10)
    finally:
        await server.close()
    assert 0 < server.load.round_trip < 0.2 and not server.overloaded


async def test_the_app_sends_a_shed_call_straight_to_the_lines_queue(client, db, monkeypatch):
    """The real app's `ivr` route while overloaded: two SET VARIABLE and nothing else (no
    ANSWER, no prompt), the line's queue, and the call row all the same — already written when
    the call leaves the AGI (its queue events and Hangup must find it, or it stays open)."""
    from sqlalchemy import select

    from hotline.db.models import Call
    from hotline.ivr import context as ivr_context
    from hotline.web.keys import FASTAGI

    server = client.app[FASTAGI]
    await server.load.close()  # no probe: the test decides the load
    server.load.overloaded = True
    slow_write = ivr_context.record_call_start

    async def record_call_start(*args, **kwargs):  # a database under load: the write is slow
        await asyncio.sleep(0.3)
        return await slow_write(*args, **kwargs)

    monkeypatch.setattr(ivr_context, "record_call_start", record_call_start)
    result = await AgiSession(
        Caller(number="13800138001"), script="ivr?line=12345-5301&region=530100&node=pbx1",
        uniqueid="1795600000.7", channel="PJSIP/trunk-00000007", port=server.port).run(limit=10)
    assert result.commands == ["SET VARIABLE HOTLINE_QUEUE hl-12345-5301",
                               "SET VARIABLE HOTLINE_DEST queue"]
    async with db() as session:
        call = await session.scalar(select(Call).where(Call.uniqueid == "1795600000.7"))
    assert call is not None and call.caller_number == "13800138001"
