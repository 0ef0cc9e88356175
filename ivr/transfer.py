"""Where a call goes when the flow returns: the line's queue (with priority and skill), an
emergency centre, or nowhere (hang up). Only channel variables are set here; the dialplan does
the rest ([hotline-dispatch], dialplans/README.md).

An emergency verdict sets HOTLINE_EMERGENCY and HOTLINE_DEST at once — SET VARIABLE still works
after a hang-up (agi-session-hangup) — and the flow returns right away, so the dialplan's
[hotline-emergency] dials 110/119/120/122 through the trunk, presenting the citizen's number,
within milliseconds of the verdict: no prompt is played in between (the ringback tells the
caller what is happening). Supervisors get an "alerts" event on the bus; the call and a draft
ticket are marked in the background (bounded wait, then the flow goes on without it: the
database never delays the transfer by more than `EMERGENCY_WRITE_WAIT`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from hotline.asterisk import dialplan as dp
from hotline.asterisk.agi_channel import AgiChannel
from hotline.db.base import utcnow
from hotline.ivr.menu import Route
from hotline.ivr.records import DraftTicket, file_draft, note_call

if TYPE_CHECKING:
    from hotline.ivr.context import CallState, FlowContext

log = logging.getLogger(__name__)

EMERGENCY_WRITE_WAIT = 0.5  # seconds the flow waits for the emergency's database writes
SERVICE_NAMES = {"110": "匪警", "119": "火警", "120": "急救", "122": "交通事故"}


async def to_queue(channel: AgiChannel, state: CallState, route: Route) -> None:
    """The line's queue, with the route's priority and, when it has one, skill (max penalty)."""
    if state.line is not None:
        await channel.set_variable(dp.VAR_QUEUE, state.line.queue)
    await channel.set_variable(dp.VAR_PRIORITY, route.priority)
    if route.max_penalty is not None:
        await channel.set_variable(dp.VAR_MAX_PENALTY, route.max_penalty)
    await channel.set_variable(dp.VAR_DEST, dp.Destination.QUEUE)


async def to_emergency(channel: AgiChannel, ctx: FlowContext, state: CallState, service: str,
                       transcript: str) -> None:
    if service not in dp.EMERGENCY_NUMBERS:
        raise ValueError(f"not an emergency number: {service!r}")
    await channel.set_variable(dp.VAR_EMERGENCY, service)
    await channel.set_variable(dp.VAR_DEST, dp.Destination.EMERGENCY)
    state.emergency = service
    caller = channel.env.caller_number
    log.warning("emergency %s: call %s/%s from %s on line %s: %r", service, state.call.node,
                state.call.uniqueid, caller, state.line.code if state.line else "-", transcript)
    task = ctx.spawn(report_emergency(ctx, state, caller, service, transcript, transferred=True))
    await asyncio.wait({task}, timeout=EMERGENCY_WRITE_WAIT)


async def report_emergency(ctx: FlowContext, state: CallState, caller: str, service: str,
                           transcript: str, *, transferred: bool) -> None:
    """Alert the supervisors, then mark the call and file the draft ticket. `transferred`
    False: the caller hung up before the verdict (the emergency is on record, nobody was
    connected: a supervisor should call back)."""
    if ctx.bus is not None:
        ctx.bus.publish("alerts", {
            "type": "emergency", "service": service, "caller": caller,
            "line": state.line.code if state.line else "", "call_id": state.call_id,
            "region_code": state.line.region_code if state.line else None,
            "transcript": transcript, "at": utcnow().isoformat(), "transferred": transferred,
        })
    await _mark_emergency(ctx, state, service, transcript, transferred)


async def _mark_emergency(ctx: FlowContext, state: CallState, service: str,
                          transcript: str, transferred: bool) -> None:
    async with ctx.db() as db:
        await note_call(db, state.call, emergency_service=service, transcript=transcript,
                        ivr_choice="emergency")
    title = (f"紧急情况已转{service}{SERVICE_NAMES[service]}" if transferred
             else f"紧急情况（{service}{SERVICE_NAMES[service]}），来电人已挂机，未转接")
    draft = DraftTicket(
        kind="emergency", emergency_service=service, title=title,
        content=f"来电陈述（语音识别）：{transcript}" if transcript else "来电陈述：（无识别文本）")
    async with ctx.db() as db:
        await file_draft(db, state.call, draft, ctx.zone, ctx.now())
