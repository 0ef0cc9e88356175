"""The live path: the AMI stand-in (events and replies cut from the real Asterisk 22.10.1
captures ami-queue-call, ami-abandon, ami-actions-live, ami-actions) → the real AmiNodes →
QueueMonitor → state, day counters, callback tasks and bus events.

The stand-in's queue is the captures' `hotline-12345` with members agent8001 and agent8002
(ami-actions QueueStatus). Its Asterisk counters (Completed, Abandoned) are its own."""

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select

from hotline.asterisk.ami import AmiNodes
from hotline.bus import Bus
from hotline.config import AsteriskNodeConfig
from hotline.db.base import utcnow
from hotline.db.models import CallbackKind, CallbackTask
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.settings import QueueConfig
from hotline.queue.state import MemberState
from hotline.testing import ami_actions
from hotline.testing.ami_server import AmiStandin

ZONE = ZoneInfo("Asia/Shanghai")
QUEUE = "hotline-12345"


def node_config(port):
    return AsteriskNodeConfig(name="pbx1", host="127.0.0.1", port=port, username="hotline",
                              secret=SecretStr("hotline-secret"))


async def until(predicate, seconds=10.0):
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state owned by the code under test
            await asyncio.sleep(0.02)


def drain(subscription):
    events = []
    while not subscription._queue.empty():
        item = subscription._queue.get_nowait()
        if item is not None:
            events.append(item[1])
    return events


def same_as_standin(monitor, standin):
    """The monitor's view of the queue equals the stand-in's truth."""
    live, truth = monitor.state.queue("pbx1", QUEUE), standin.state.queues[QUEUE]
    if live is None:
        return False
    members = {m.interface: (m.paused, m.in_call, m.calls_taken) for m in live.members.values()}
    return ([c.uniqueid for c in live.callers] == [c.uniqueid for c in truth.waiting]
            and members == {i: (m.paused, m.in_call, m.calls_taken)
                            for i, m in truth.members.items()}
            and (live.completed, live.abandoned) == (truth.completed, truth.abandoned))


async def test_calls_drops_and_restarts_through_the_standin(db):
    bus = Bus()
    watched = bus.subscribe(["queues", "alerts"], maxsize=100_000)
    ahead = timedelta()  # how far the monitor's clock runs ahead of the real one
    monitor = QueueMonitor(db, bus, QueueConfig(long_wait_alert_seconds=5), ZONE,
                           clock=lambda: utcnow() + ahead)
    async with AmiStandin() as standin:
        nodes = AmiNodes([node_config(standin.port)], backoff=(0.05, 0.2))
        nodes.subscribe(monitor)
        nodes.start()
        try:
            await until(lambda: monitor.state.node("pbx1").synced_at is not None)
            queue = lambda: monitor.state.queue("pbx1", QUEUE)  # noqa: E731
            assert set(queue().members) == set(standin.state.queues[QUEUE].members)

            answered = standin.queued_call(caller_num="13800000001")
            await until(lambda: [c.number for c in queue().callers] == ["13800000001"])
            standin.agent_connect(answered)
            interface = answered.member.interface
            await until(lambda: queue().members[interface].state == MemberState.IN_CALL)
            assert queue().callers == []
            standin.agent_complete(answered)
            await until(lambda: same_as_standin(monitor, standin))

            abandoned = standin.queued_call(caller_num="13800000002")
            abandoned.joined_at -= 6  # it waited 6 s: HoldTime 6, a callback is owed
            await until(lambda: len(queue().callers) == 1)
            assert monitor.check_waits() == []
            ahead = timedelta(seconds=6)
            assert [a["number"] for a in monitor.check_waits()] == ["13800000002"]
            assert monitor.check_waits() == []  # once per caller
            ahead = timedelta()
            standin.abandon(abandoned)
            await until(lambda: same_as_standin(monitor, standin))

            # The connection drops; meanwhile a caller joins and a member is paused: the events
            # are lost, the resync after the reconnect brings them.
            standin.drop()
            missed = standin.queued_call(caller_num="13800000003")
            standin.state.queues[QUEUE].members[interface].paused = True
            await until(lambda: [c.uniqueid for c in queue().callers] == [missed.uniqueid])
            assert same_as_standin(monitor, standin)

            # Asterisk restarts: no calls, its counters start again, members as configured.
            standin.restart()
            await until(lambda: queue().completed == 0 and queue().callers == [])
            assert same_as_standin(monitor, standin)
        finally:
            await nodes.close()
    await monitor.drain()

    stats = (await monitor.today())[QUEUE]
    # 1 answered, 1 abandoned after 6 s, 1 gone during the restart (lost: offered only)
    assert (stats.offered, stats.answered, stats.abandoned, stats.abandoned_short) == (3, 1, 1, 0)
    async with db() as session:
        tasks = (await session.scalars(select(CallbackTask))).all()
    assert [(t.kind, t.number) for t in tasks] == [(CallbackKind.ABANDONED, "13800000002")]
    published = drain(watched)
    kinds = {e["change"]["kind"] for e in published if e["type"] == "queue.changed"}
    assert {"joined", "ringing", "answered", "completed", "abandoned"} <= kinds
    assert sum(e["type"] == "queues.resynced" for e in published) >= 3  # start, drop, restart
    assert any(e["type"] == "alert.long_wait" and e["number"] == "13800000002"
               for e in published)
    assert any(e["type"] == "queue.stats" and e["stats"]["abandoned"] == 1 for e in published)


async def test_events_right_after_the_resync_answer_are_not_lost(db, monkeypatch):
    """The stand-in sends a whole call (join, answer, completion) right behind its QueueStatus
    answer, in the same write: the resync's seq says those events are not in the snapshot,
    so the state keeps them and Asterisk's counters count the completion."""
    handler, played = ami_actions.HANDLERS["queuestatus"], []

    def answer_then_call(server, session, action):
        handler(server, session, action)
        if not played:
            played.append(call := server.queued_call(caller_num="13800000004"))
            server.agent_connect(call)
            server.agent_complete(call)

    monkeypatch.setitem(ami_actions.HANDLERS, "queuestatus", answer_then_call)
    seen = []
    monitor = QueueMonitor(db, Bus(), QueueConfig(), ZONE)
    async with AmiStandin() as standin:
        nodes = AmiNodes([node_config(standin.port)], backoff=(0.05, 0.2))
        nodes.subscribe(seen.append)
        nodes.subscribe(monitor)
        nodes.start()
        try:
            await until(lambda: any(e.name == "resynced" for e in seen))
            await until(lambda: same_as_standin(monitor, standin))
        finally:
            await nodes.close()
    await monitor.drain()
    resync = next(e for e in seen if e.name == "resynced")
    join = next(e for e in seen if e.name == "QueueCallerJoin")
    assert [e.seq for e in seen if e.name != "resynced"] == list(range(1, len(seen)))
    assert resync.seq < join.seq  # the call came after the snapshot
    assert monitor.state.queue("pbx1", QUEUE).completed == 1
    assert (await monitor.today())[QUEUE].answered == 1
