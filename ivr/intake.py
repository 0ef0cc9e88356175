"""The inbound call: greeting, notice, then the one-level menu or a few spoken words.

    answer → greeting (line's) → out of hours? → message.py
           → notice ─┬─ key ─────────────────────────────┐
           → menu ───┤                                   ▼
           → say-matter + RECORD FILE ≤ 8 s (beep, s=) ─ key → the menu's route
                     └─ words → recognizer ─ emergency → transfer.py (110/119/120/122)
                                            └─ anything else → agent, transcript kept
    no key and no words → agent; a wrong key → "invalid" + the menu once more; twice → agent.

Every key ends every prompt (menu.KEYS), so a caller who knows the menu never waits for it.
STREAM FILE with escape digits, RECORD FILE and WAIT FOR DIGIT replies are as in
agi-session-normal (`200 result=<ascii> endpos=…`, `200 result=0 (timeout) endpos=…`,
`200 result=0`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hotline.asterisk.agi_channel import AgiChannel, AgiHangup
from hotline.ivr.context import CallState, FlowContext, note, play, play_all
from hotline.ivr.menu import KEYS, Route
from hotline.ivr.message import leave_message
from hotline.ivr.progress import ticket_progress
from hotline.ivr.prompts import greeting_for, sound_name
from hotline.ivr.statement import MIN_SAMPLES, Heard, audio_length, hear, record, recording_path
from hotline.ivr.transfer import report_emergency, to_emergency, to_queue
from hotline.ivr.waiting import join_queue

log = logging.getLogger(__name__)

MAX_INVALID = 2  # a wrong key this many times → an agent


async def intake(channel: AgiChannel, ctx: FlowContext, state: CallState) -> None:
    await channel.answer()
    await play_all(channel, greeting_for(state.line.code if state.line else "96128"))
    if not ctx.hours.is_open(ctx.now()):
        await leave_message(channel, ctx, state)
        return
    digit = await play(channel, sound_name("notice"), KEYS)
    digit = digit or await play(channel, sound_name("menu"), KEYS)
    if digit is None:
        digit = await play(channel, sound_name("say-matter"), KEYS)
    if digit is None:
        digit, heard = await _statement(channel, ctx, state)
        if heard is not None:
            await _after_statement(channel, ctx, state, heard)
            return
    await _menu(channel, ctx, state, digit)


async def requeue(channel: AgiChannel, ctx: FlowContext, state: CallState) -> None:
    """A caller the controller took out of a queue (`withdrawn=<info>` in the AGI URL, see
    dialplans/README.md) has been through the menu already: straight back to the line's queue,
    unless a feature that withdrew them decides otherwise before this runs."""
    log.info("call %s/%s withdrawn from its queue (%s): back to the queue", state.call.node,
             state.call.uniqueid, channel.query.get("withdrawn", ""))
    await to_queue(channel, state, ctx.menu.agent)


async def _statement(channel: AgiChannel, ctx: FlowContext,
                     state: CallState) -> tuple[str | None, Heard | None]:
    """RECORD FILE ≤ record_max_seconds with silence detection; a key ends it (menu choice)."""
    path = recording_path(ctx.recordings_dir, ctx.zone, state.call.node, state.call.uniqueid,
                          "statement", ctx.now())
    try:
        digit, wav = await record(channel, path, max_seconds=ctx.ivr.record_max_seconds,
                                  silence_seconds=ctx.ivr.silence_seconds, escape_digits=KEYS)
    except AgiHangup:
        # Words cut short by a hang-up may still be an emergency: heard once the row is closed.
        caller = channel.env.caller_number
        state.after_hangup.append(lambda: _heard_after_hangup(ctx, state, caller, path))
        raise
    if wav is None:
        return digit, None
    return None, await hear(ctx.recognizer, wav, ctx.recognize_within)


async def _heard_after_hangup(ctx: FlowContext, state: CallState, caller: str,
                             path: str) -> None:
    """Assumed, not captured: Asterisk keeps what RECORD FILE recorded before the hang-up."""
    wav = Path(f"{path}.wav")
    if await audio_length(wav) < MIN_SAMPLES:
        return
    heard = await hear(ctx.recognizer, wav, ctx.recognize_within)
    if heard.is_emergency:
        assert heard.emergency_service is not None
        log.warning("emergency %s said by %s, who hung up before the transfer: %r",
                    heard.emergency_service, caller, heard.text)
        await report_emergency(ctx, state, caller, heard.emergency_service, heard.text,
                               transferred=False)


async def _after_statement(channel: AgiChannel, ctx: FlowContext, state: CallState,
                           heard: Heard) -> None:
    if heard.is_emergency:
        assert heard.emergency_service is not None
        await to_emergency(channel, ctx, state, heard.emergency_service, heard.text)
        return
    # Not an emergency, or the recognizer could not say: an agent, with what was understood.
    log.info("statement on %s/%s: %s %r", state.call.node, state.call.uniqueid, heard.status,
             heard.text)
    await to_agent(channel, ctx, state, ctx.menu.agent, choice="speech", transcript=heard.text)


async def _menu(channel: AgiChannel, ctx: FlowContext, state: CallState,
                digit: str | None) -> None:
    invalid = 0
    while True:
        if digit is None:
            await to_agent(channel, ctx, state, ctx.menu.agent, choice="none")
            return
        route = ctx.menu.route(digit)
        if route is not None:
            break
        invalid += 1
        log.info("menu on %s/%s: invalid key %r (%d)", state.call.node, state.call.uniqueid,
                 digit, invalid)
        if invalid >= MAX_INVALID:
            await to_agent(channel, ctx, state, ctx.menu.agent, choice="invalid")
            return
        await play(channel, sound_name("invalid"))
        digit = await play(channel, sound_name("menu"), KEYS)
        if digit is None:
            digit = await channel.wait_for_digit(ctx.ivr.menu_timeout_seconds * 1000)
    if route.action == "progress":
        await _note(ctx, state, ivr_choice=route.choice)
        await ticket_progress(channel, ctx, state)
        await to_agent(channel, ctx, state, ctx.menu.agent, choice=route.choice, note=False)
        return
    await to_agent(channel, ctx, state, route, choice=route.choice)


async def to_agent(channel: AgiChannel, ctx: FlowContext, state: CallState, route: Route, *,
                   choice: str, transcript: str | None = None, note: bool = True) -> None:
    """Store what was learned, then join the queue (waiting.py: variables first, then the
    prompt or the virtual-hold offer)."""
    if note:
        fields: dict[str, str] = {"ivr_choice": choice}
        if route.category:
            fields["category"] = route.category
        if transcript:
            fields["transcript"] = transcript
        await _note(ctx, state, **fields)
    await join_queue(channel, ctx, state, route)


async def _note(ctx: FlowContext, state: CallState, **fields: str) -> None:
    note(state, **fields)  # written once when the flow ends (context.run_guarded)
