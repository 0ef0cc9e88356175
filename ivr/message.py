"""Outside business hours: the caller leaves a message. It becomes a draft ticket (channel
phone, content naming the recording) linked to the call, and a callback task (kind message)
due when the hotline next opens (the callback dialer works it then); the call ends
(HOTLINE_DEST=hangup) with outcome `message`.

Hanging up is the natural way to end a message, so a hang-up during RECORD FILE still files
what was recorded. Assumed, not captured: Asterisk keeps the part recorded before the hang-up
(res_agi's RECORD FILE closes the file when the channel goes; the captures only show the
`200 result=-1` reply a hang-up gives a pending command, agi-session-caller-hangup).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hotline.asterisk import dialplan as dp
from hotline.asterisk.agi_channel import AgiChannel, AgiHangup
from hotline.db.models import CallOutcome
from hotline.ivr.context import CallState, FlowContext, play, safely
from hotline.ivr.prompts import sound_name
from hotline.ivr.records import DraftTicket, file_draft, note_call, owe_callback
from hotline.ivr.statement import MIN_SAMPLES, audio_length, prepare_folder, recording_path

log = logging.getLogger(__name__)

MESSAGE_SILENCE_SECONDS = 5  # a pause to think is not the end of a message


async def leave_message(channel: AgiChannel, ctx: FlowContext, state: CallState) -> None:
    await play(channel, sound_name("out-of-hours"))
    path = recording_path(ctx.recordings_dir, ctx.zone, state.call.node, state.call.uniqueid,
                          "message", ctx.now())
    await prepare_folder(path)
    wav = Path(f"{path}.wav")
    try:
        await channel.record_file(path, "wav", "#", ctx.ivr.message_max_seconds * 1000,
                                  beep=True, silence_s=MESSAGE_SILENCE_SECONDS)
    except AgiHangup:
        await _file(ctx, state, wav)
        raise
    filed = await _file(ctx, state, wav)
    state.outcome = state.outcome or CallOutcome.IVR_ONLY  # the call ends with the flow
    await channel.set_variable(dp.VAR_DEST, dp.Destination.HANGUP)
    await play(channel, sound_name("message-saved" if filed else "goodbye"))


async def _file(ctx: FlowContext, state: CallState, wav: Path) -> bool:
    """The ticket and the callback for a message; False when nothing was recorded."""
    if await audio_length(wav) < MIN_SAMPLES:
        log.info("no message left on %s/%s", state.call.node, state.call.uniqueid)
        return False

    async def write() -> bool:
        async with ctx.db() as db:
            await note_call(db, state.call, ivr_choice="message")
        async with ctx.db() as db:
            ticket = await file_draft(db, state.call, DraftTicket(
                kind="message", title="非工作时间留言", content=f"留言录音: {wav}"), ctx.zone,
                ctx.now())
        async with ctx.db() as db:
            await owe_callback(db, state.call, ticket, state.line.queue if state.line else "",
                               note=f"留言工单 {ticket.number}",
                               due_at=ctx.hours.next_open(ctx.now()) or ctx.now())
        return True

    filed = bool(await safely("filing a message", write()))
    if filed:
        state.outcome = CallOutcome.MESSAGE
    return filed
