"""Day counters per queue, persisted, from the real AMI transcripts
(../shared/asterisk-22/transcripts) replayed through QueueMonitor, on SQLite and PostgreSQL.

What the transcripts say (node pbx1, queue hotline-12345, all on 2026-11-25 Asia/Shanghai):
- ami-queue-call: 1795606851.0 joins, AgentConnect HoldTime 0, AgentComplete TalkTime 33;
- ami-abandon: 1795606989.10 joins, QueueCallerAbandon HoldTime 3 (under 5 s: no callback);
- ami-actions-live: 1795607076.16 joins, AgentConnect HoldTime 1, AgentComplete TalkTime 2.
"""

from dataclasses import replace
from zoneinfo import ZoneInfo

from queue_transcripts import START, node_events
from sqlalchemy import func, select

from hotline.bus import Bus
from hotline.db.models import Call, CallbackKind, CallbackTask
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.models import QueueCall, QueueOutcome
from hotline.queue.settings import QueueConfig

ZONE = ZoneInfo("Asia/Shanghai")
TRANSCRIPTS = ("ami-queue-call", "ami-abandon", "ami-actions-live")


def monitor(db, bus=None):
    return QueueMonitor(db, bus or Bus(), QueueConfig(), ZONE, clock=lambda: START)


async def feed(monitor, events):
    for event in events:
        monitor(event)
    await monitor.drain()


async def test_transcripts_give_the_days_counters_once_even_when_replayed(db):
    events = [e for name in TRANSCRIPTS for e in node_events(name)]
    first = monitor(db)
    await feed(first, events)
    await feed(first, events)  # the same events again, as after a reconnect
    await feed(monitor(db), events)  # and from a second controller
    stats = (await first.today())["hotline-12345"]
    assert (stats.offered, stats.answered, stats.answered_in_time) == (3, 2, 2)
    assert (stats.abandoned, stats.abandoned_short) == (1, 1)  # HoldTime 3 < 5
    assert (stats.total_wait, stats.longest_wait) == (0 + 3 + 1, 3)
    assert (stats.total_handling, stats.handled, stats.average_handling) == (35, 2, 17.5)
    assert stats.service_level == round(2 / 3, 4)
    async with db() as session:
        outcomes = dict((await session.execute(
            select(QueueCall.uniqueid, QueueCall.outcome))).all())
        tasks = await session.scalar(select(func.count()).select_from(CallbackTask))
    assert outcomes == {"1795606851.0": QueueOutcome.ANSWERED,
                        "1795606989.10": QueueOutcome.ABANDONED,
                        "1795607076.16": QueueOutcome.ANSWERED}
    assert tasks == 0  # nobody abandoned after 5 s or more


async def test_an_abandon_after_five_seconds_becomes_one_callback_task(db):
    """ami-abandon's QueueCallerAbandon with HoldTime 7 instead of 3 (assumed, not captured)."""
    events = [replace(e, fields={**e.fields, "HoldTime": "7"})
              if e.name == "QueueCallerAbandon" else e for e in node_events("ami-abandon")]
    bus = Bus()
    stats_events = bus.subscribe(["queues"])
    watcher = monitor(db, bus)
    await feed(watcher, events)
    await feed(watcher, events)
    async with db() as session:
        tasks = (await session.scalars(select(CallbackTask))).all()
        call = await session.scalar(select(Call))
    assert [(t.kind, t.number, t.queue, t.call_id) for t in tasks] == [
        (CallbackKind.ABANDONED, "0301234567", "hotline-12345", call.id)]
    assert (call.node, call.uniqueid) == ("pbx1", "1795606989.10")
    stats = (await watcher.today())["hotline-12345"]
    assert (stats.abandoned, stats.abandoned_short, stats.longest_wait) == (1, 0, 7)
    published = []
    while not stats_events._queue.empty():
        published.append((await stats_events.get())[1])
    assert any(p["type"] == "queue.stats" and p["stats"]["abandoned"] == 1 for p in published)


async def test_a_caller_gone_while_disconnected_is_lost_not_abandoned(db):
    """A join (ami-queue-call), then the connection goes; the next resync's QueueStatus has
    nobody waiting: the call is offered but neither answered nor abandoned."""
    events = node_events("ami-queue-call")
    join = next(e for e in events if e.name == "QueueCallerJoin")
    watcher = monitor(db)
    await feed(watcher, [join])
    later = START.replace(minute=START.minute + 5)
    await feed(watcher, [replace(join, name="disconnected", fields={}, at=later),
                         replace(join, name="resynced", fields={}, at=later,
                                 lists={"QueueStatus": [{"Event": "QueueParams",
                                                         "Queue": "hotline-12345"}]})])
    async with db() as session:
        assert await session.scalar(select(QueueCall.outcome)) == QueueOutcome.LOST
    stats = (await watcher.today())["hotline-12345"]
    assert (stats.offered, stats.answered, stats.abandoned) == (1, 0, 0)


async def test_service_level_under_target_raises_one_alert(db):
    """ami-abandon: the only call offered is abandoned, so the 15-s answer rate is 0 %; then
    ami-queue-call's answered call brings it to 50 %, still under 85 %: one alert, not two."""
    bus = Bus()
    alerts = bus.subscribe(["alerts"])
    watcher = QueueMonitor(db, bus, QueueConfig(service_level_min_offered=1), ZONE,
                           clock=lambda: START)
    await feed(watcher, node_events("ami-abandon"))
    await feed(watcher, node_events("ami-queue-call"))
    published = [e for _, e in [alerts._queue.get_nowait() for _ in range(alerts._queue.qsize())]]
    assert [(a["type"], a["queue"], a["service_level"]) for a in published] == [
        ("alert.service_level", "hotline-12345", 0.0)]
    assert "低于目标 85%" in published[0]["message"]
