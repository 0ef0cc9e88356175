"""The AMI transcripts of ../shared/asterisk-22/transcripts as the NodeEvents `AmiNodes` would
hand to subscribers: events without an ActionID one by one; a QueueStatus list (the items
answering our client's action, up to `EventList: Complete`) as one `resynced` event, which is
what AmiNode's resync publishes. Times are the capture's (a fixed start + the record's t)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline.asterisk.ami import NodeEvent
from hotline.asterisk.ami_codec import AmiParser, Message
from hotline.testing.transcripts import load

START = datetime(2026, 11, 25, 3, 40, 51, tzinfo=UTC)  # 11:40:51 Asia/Shanghai


def node_events(transcript: str, node: str = "pbx1") -> list[NodeEvent]:
    parser = AmiParser(role="client")
    events: list[NodeEvent] = []
    listing: list[dict[str, str]] | None = None
    for record in load(transcript):
        if record.direction != "recv":
            continue
        at = START + timedelta(seconds=record.t)
        for item in parser.feed(record.data):
            if not isinstance(item, Message):
                continue
            message = item.message
            fields = dict(message.fields)
            if message.kind == "response" and fields.get("EventList") == "start":
                listing = []
            elif listing is not None and message.action_id is not None:
                listing.append(fields)
                if fields.get("EventList") == "Complete":
                    if fields.get("Event") == "QueueStatusComplete":
                        events.append(NodeEvent(node, "resynced", {}, at=at,
                                                lists={"QueueStatus": listing}))
                    listing = None
            elif message.kind == "event":
                events.append(NodeEvent(node, message.name or "", fields, at=at))
    return events
