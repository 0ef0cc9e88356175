"""Menu 3: a ticket's progress. The caller keys the ticket number (digits only, `#` ends it;
`*` may stand for the dashes), hears it read back digit by digit and its status in Mandarin.
A number that matches no ticket is said so; either way the call then goes to an agent (the
flow's default), whom the caller can simply hang up on if the status was all they wanted.

GET DATA replies as in agi-session-normal: `200 result=<digits>`, `200 result= (timeout)`.
"""

from __future__ import annotations

import logging

from hotline.asterisk.agi_channel import AgiChannel
from hotline.ivr.context import CallState, FlowContext, play, play_all, safely
from hotline.ivr.prompts import say_number_sounds, sound_name, ticket_status_sound
from hotline.ivr.records import find_ticket

log = logging.getLogger(__name__)

DIGIT_TIMEOUT_MS = 6000  # GET DATA: between keys
MAX_DIGITS = 24  # 4 + 8 + a sequence of up to 12 digits


async def ticket_progress(channel: AgiChannel, ctx: FlowContext, state: CallState) -> None:
    keyed = await channel.get_data(sound_name("ticket-ask-number"), DIGIT_TIMEOUT_MS, MAX_DIGITS)
    if not keyed:
        return

    async def lookup() -> tuple[str, str] | None:
        async with ctx.db() as db:
            ticket = await find_ticket(db, keyed)
            return (ticket.number, ticket.status.value) if ticket is not None else None

    found = await safely("looking up a ticket", lookup())
    log.info("ticket progress on %s/%s: keyed %r → %s", state.call.node, state.call.uniqueid,
             keyed, found[0] if found else "not found")
    if found is None:
        await play(channel, sound_name("ticket-not-found"))
        return
    number, status = found
    await play_all(channel, [sound_name("ticket-number-is"), *say_number_sounds(number),
                             sound_name("ticket-status-is"), ticket_status_sound(status)])
