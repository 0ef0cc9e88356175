"""Call flows the FastAGI server runs, by script name (`AGI(agi://…/ivr?…)`).

`hotline_entry` is the protocol layer's flow: it records the call the moment it arrives, greets
the caller and hands the call back to the dialplan for the line's queue. The IVR issue grows it
into the full menu (notice, statement, emergency detection, DTMF shortcuts). A missing prompt
or a database hiccup never keeps a citizen from an agent: the dialplan's default is the queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from hotline.asterisk.agi_channel import AgiChannel, AgiCommandError, AgiHangup
from hotline.calls.services import CallStart, record_call_end, record_call_start
from hotline.db.engine import SessionMaker
from hotline.db.models import CallOutcome, HotlineLine

log = logging.getLogger(__name__)

# Variables the dialplan reads after the AGI (the contract is in dialplans/README.md).
DEST = "HOTLINE_DEST"
QUEUE = "HOTLINE_QUEUE"
WELCOME = "hotline/welcome"


@dataclass
class FlowContext:
    db: SessionMaker
    default_node: str = "pbx"
    _queues: dict[str, str] = field(default_factory=dict)

    async def queue_of(self, line_code: str) -> str | None:
        if not self._queues:
            async with self.db() as db:
                lines = (await db.execute(select(HotlineLine.code, HotlineLine.queue))).all()
            self._queues = dict(lines)  # type: ignore[arg-type]
        return self._queues.get(line_code)


@dataclass(frozen=True)
class CallIdentity:
    node: str
    uniqueid: str
    linkedid: str

    @classmethod
    def of(cls, channel: AgiChannel, default_node: str) -> CallIdentity:
        # The dialplan passes node and linkedid in the AGI URL: no extra round trip.
        query = channel.query
        uniqueid = channel.env.uniqueid
        return cls(query.get("node") or default_node, uniqueid, query.get("linkedid") or uniqueid)


async def play(channel: AgiChannel, sound: str, escape_digits: str = "") -> str | None:
    """Play a prompt; a missing or broken sound file is logged and skipped, never fatal."""
    try:
        digit, _ = await channel.stream_file(sound, escape_digits)
    except AgiCommandError as exc:
        log.warning("prompt %s could not be played: %s", sound, exc)
        return None
    return digit


async def hotline_entry(channel: AgiChannel, ctx: FlowContext) -> None:
    call = CallIdentity.of(channel, ctx.default_node)
    line_code = channel.query.get("line", "")
    async with ctx.db() as db:
        await record_call_start(db, CallStart(
            node=call.node, uniqueid=call.uniqueid, linkedid=call.linkedid,
            caller_number=channel.env.caller_number, line_code=line_code or None,
            region_code=channel.query.get("region") or None,
        ))
    try:
        await channel.answer()
        await play(channel, WELCOME, "0123456789*#")
        queue = await ctx.queue_of(line_code)
        if queue:
            await channel.set_variable(QUEUE, queue)
        await channel.set_variable(DEST, "queue")
    except AgiHangup:
        async with ctx.db() as db:
            await record_call_end(db, call.node, call.uniqueid, CallOutcome.IVR_ONLY)
        raise
