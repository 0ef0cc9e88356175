"""AMI events close call rows. The events are the real ones of
../shared/asterisk-22/transcripts/ami-queue-call.jsonl (answered by agent 8001) and
ami-abandon.jsonl (QueueCallerAbandon after 3 s), parsed with our AMI codec."""

import pytest
from sqlalchemy import select

from hotline.asterisk.ami import NodeEvent
from hotline.asterisk.ami_codec import AmiParser, Message
from hotline.calls.ami_events import CallEventRecorder
from hotline.calls.services import CallStart, record_call_start
from hotline.db.models import Call, CallOutcome
from hotline.testing.transcripts import from_asterisk


def node_events(transcript, node="pbx1"):
    parser = AmiParser(role="client")
    events = []
    for chunk in from_asterisk(transcript):
        for item in parser.feed(chunk):
            if isinstance(item, Message) and item.message.kind == "event":
                events.append(NodeEvent(node, item.message.name, dict(item.message.fields)))
    return events


def caller_uniqueid(events):
    join = next(e for e in events if e.name == "QueueCallerJoin")
    return join.get("Uniqueid"), join.get("Linkedid")


async def the_call_after(db, events, passes=1):
    """Store the transcript's caller as a call on pbx1, feed `events`, return the row."""
    uniqueid, linkedid = caller_uniqueid(events)
    async with db() as session:
        await record_call_start(session, CallStart("pbx1", uniqueid, linkedid, "0301234567"))
    recorder = CallEventRecorder(db)
    for _ in range(passes):
        for event in events:
            recorder(event)
        await recorder.drain()
    async with db() as session:
        return await session.scalar(select(Call))


@pytest.mark.parametrize("transcript, outcome, answered", [
    ("ami-queue-call", CallOutcome.ANSWERED, True),
    ("ami-abandon", CallOutcome.ABANDONED, False),
])
async def test_queue_events_close_the_call(db, transcript, outcome, answered):
    # The same events twice, as after a reconnect: the second pass changes nothing.
    call = await the_call_after(db, node_events(transcript), passes=2)
    assert call.outcome == outcome
    assert call.ended_at is not None
    assert (call.answered_at is not None) == answered


async def test_events_of_another_node_do_not_touch_the_call(db):
    call = await the_call_after(db, node_events("ami-queue-call", node="pbx2"))
    assert call.ended_at is None and call.answered_at is None


async def test_resync_closes_calls_asterisk_no_longer_has(db):
    async with db() as session:
        await record_call_start(session, CallStart("pbx1", "1795606851.0", "1795606851.0", "1"))
        await record_call_start(session, CallStart("pbx1", "1795606999.4", "1795606999.4", "2"))
    live = [{"Event": "CoreShowChannel", "Uniqueid": "1795606999.4"}]
    recorder = CallEventRecorder(db)
    recorder(NodeEvent("pbx1", "resynced", {}, lists={"CoreShowChannels": live,
                                                        "QueueStatus": []}))
    await recorder.drain()
    async with db() as session:
        calls = {c.uniqueid: c for c in (await session.scalars(select(Call))).all()}
    assert calls["1795606851.0"].ended_at is not None  # gone from Asterisk: closed
    assert calls["1795606999.4"].ended_at is None  # still up
