"""Call flows the FastAGI server runs, by script name (`AGI(agi://…/ivr?…)`): `routes(ctx)`.

- `ivr` (`hotline_ivr`): every inbound call. The call row is written the moment the call
  arrives; then the line's greeting, the notice (what the hotline does not take, emergencies may
  be said now), and — in business hours — the one-level menu (menu.py) or a few spoken words
  (statement.py) that may turn out to be an emergency (transfer.py); outside them a message
  (message.py). A human is the default at every step: no key, a wrong key twice, a failed
  recognizer all end in the line's queue.
- `callback` (`callback_flow`): an answered callback: greeting, then an agent.
- `survey` (`survey.survey_flow`): the follow-up (回访) questions.

A caller hanging up at any point ends the flow quietly: no exception escapes, the call row is
closed (ivr_only, or emergency when the call was handed to 110/119/120/122, see
`hotline.calls.services.record_call_end`). A database hiccup never keeps a citizen from an
agent: it is logged and the call goes on (the dialplan's default is the queue).
`hotline_entry` is the protocol layer's minimal flow (greeting, then the queue), which the
FastAGI server's own tests run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hotline.asterisk import dialplan as dp
from hotline.asterisk.agi_channel import AgiChannel, AgiHangup
from hotline.calls.services import CallStart, record_call_end, record_call_start
from hotline.config import Settings
from hotline.db.models import CallDirection, CallOutcome
from hotline.ivr.context import (
    CallIdentity,
    FlowContext,
    play,
    play_all,
    run_guarded,
    start_call,
)
from hotline.ivr.prompts import greeting_for
from hotline.ivr.statement import Recognizer

__all__ = ["CallIdentity", "FlowContext", "callback_flow", "hotline_entry", "hotline_ivr", "play",
           "recognizer_for", "routes"]

log = logging.getLogger(__name__)

# Variables the dialplan reads after the AGI (the contract is in dialplans/README.md).
DEST = dp.VAR_DEST
QUEUE = dp.VAR_QUEUE
Flow = Callable[[AgiChannel], Awaitable[None]]


async def hotline_ivr(channel: AgiChannel, ctx: FlowContext) -> None:
    from hotline.ivr.intake import intake, requeue

    state = await start_call(channel, ctx)
    if "withdrawn" in channel.query:  # taken out of the queue (QueueWithdrawCaller): back in
        await run_guarded(channel, ctx, state, lambda: requeue(channel, ctx, state))
        return
    await run_guarded(channel, ctx, state, lambda: intake(channel, ctx, state))


async def callback_flow(channel: AgiChannel, ctx: FlowContext) -> None:
    """An answered callback (the dialplan's [hotline-callback]): the line's greeting, then an
    agent — HOTLINE_QUEUE and HOTLINE_PRIORITY as the Originate set them, else the line's queue
    (the dialplan puts callbacks ahead of new callers)."""
    from hotline.ivr.prompts import sound_name

    state = await start_call(channel, ctx, CallDirection.OUTBOUND)

    async def body() -> None:
        if not await channel.get_variable(dp.VAR_QUEUE) and state.line is not None:
            await channel.set_variable(dp.VAR_QUEUE, state.line.queue)
        await channel.set_variable(dp.VAR_DEST, dp.Destination.QUEUE)
        await play_all(channel, greeting_for(state.line.code if state.line else "96128"))
        await play(channel, sound_name("transfer-agent"))

    await run_guarded(channel, ctx, state, body)


def recognizer_for(settings: Settings) -> Recognizer:
    """The speech recognizer of `[speech]` (without a model it answers `unavailable`: callers
    who speak then go to an agent)."""
    from hotline.ivr.speech import SpeechRecognizer

    return SpeechRecognizer.from_settings(settings.speech)


def routes(ctx: FlowContext) -> dict[str, Flow]:
    """The FastAGI routes (dialplan's AGI_ROUTES), bound to one context."""
    from hotline.ivr.survey import survey_flow

    async def ivr(channel: AgiChannel) -> None:
        await hotline_ivr(channel, ctx)

    async def callback(channel: AgiChannel) -> None:
        await callback_flow(channel, ctx)

    async def survey(channel: AgiChannel) -> None:
        await survey_flow(channel, ctx)

    return {"ivr": ivr, "callback": callback, "survey": survey}


async def hotline_entry(channel: AgiChannel, ctx: FlowContext) -> None:
    """The protocol layer's minimal flow: greet, hand the call to its line's queue."""
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
        # The line's own greeting (prompts-zh.toml), as the full flow plays it.
        await play_all(channel, greeting_for(line_code or "96128"), "0123456789*#")
        queue = await ctx.queue_of(line_code)
        if queue:
            await channel.set_variable(QUEUE, queue)
        await channel.set_variable(DEST, "queue")
    except AgiHangup:
        async with ctx.db() as db:
            await record_call_end(db, call.node, call.uniqueid, CallOutcome.IVR_ONLY)
        raise
