"""Joining the line's queue, with what the queue feature knows (hotline.queue), when it runs:

- `FlowContext.queue_route(node, queue)` → channel variables: the queue to join (a 12345 line
  with no agent logged in overflows to 96128 at once), HOTLINE_QUEUE_TIMEOUT (`route_call` of
  hotline.queue.routing);
- `FlowContext.virtual_hold` (hotline.queue.virtual_hold.VirtualHoldService): when the
  estimated wait passes `[queue] virtual_hold_offer_seconds`, the caller hears it in minutes and
  is offered 按1保留排队位置: pressing 1 keeps the place (`accept`: a CallbackTask the
  virtual-hold dialer calls back) and the call ends; anything else joins the queue.

Without them (the protocol-layer tests, a controller without AMI) the caller simply joins the
line's queue; a failure of either is logged and the caller joins the line's queue too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from hotline.asterisk import dialplan as dp
from hotline.asterisk.agi_channel import AgiChannel
from hotline.db.models import CallOutcome
from hotline.ivr.context import CallState, FlowContext, play, play_all, safely
from hotline.ivr.menu import Route
from hotline.ivr.prompts import say_number_sounds, sound_name

log = logging.getLogger(__name__)

OFFER_KEY = "1"
OFFER_WAIT_MS = 3000  # after the offer, before the caller counts as staying


class OfferLike(Protocol):
    @property
    def queue(self) -> str: ...

    @property
    def estimated_wait(self) -> int: ...


class VirtualHold(Protocol):
    async def offer(self, node: str, queue: str) -> Any: ...

    async def accept(self, offer: Any, uniqueid: str, linkedid: str, number: str) -> int: ...


async def join_queue(channel: AgiChannel, ctx: FlowContext, state: CallState,
                     route: Route) -> None:
    """Set the queue variables (before any prompt: a hang-up leaves nothing half-done), then
    offer virtual hold when the wait is long, else say the caller is being put through."""
    variables: dict[str, str] = {}
    queue = state.line.queue if state.line is not None else None
    if queue is not None:
        variables[dp.VAR_QUEUE] = queue
        if ctx.queue_route is not None:
            routed = _routed(ctx, state, queue)
            variables.update({k: v for k, v in routed.items() if k != dp.VAR_PRIORITY})
    variables[dp.VAR_PRIORITY] = str(route.priority)
    if route.max_penalty is not None:
        variables[dp.VAR_MAX_PENALTY] = str(route.max_penalty)
    for name, value in variables.items():
        await channel.set_variable(name, value)
    await channel.set_variable(dp.VAR_DEST, dp.Destination.QUEUE)
    joined = variables.get(dp.VAR_QUEUE)
    if ctx.virtual_hold is not None and joined and await _kept_place(channel, ctx, state,
                                                                      joined):
        return
    await play(channel, sound_name("transfer-agent"))


def _routed(ctx: FlowContext, state: CallState, queue: str) -> Mapping[str, str]:
    assert ctx.queue_route is not None
    try:
        return ctx.queue_route(state.call.node, queue)
    except Exception:
        log.exception("queue routing failed for %s; the line's queue", queue)
        return {}


async def _kept_place(channel: AgiChannel, ctx: FlowContext, state: CallState,
                      queue: str) -> bool:
    """Offer virtual hold; True when the caller took it (the call then ends), False when they
    stay in line (join_queue then says they are being put through)."""
    assert ctx.virtual_hold is not None
    if not dp.dialable(channel.env.caller_number):
        return False  # no number to call back (withheld, unknown): the caller keeps waiting
    offer = await safely("the virtual-hold estimate", ctx.virtual_hold.offer(state.call.node,
                                                                             queue))
    if offer is None:
        return False
    minutes = max(1, math.ceil(offer.estimated_wait / 60))
    digit = await play_all(channel, [
        sound_name("queue-wait-before"), *say_number_sounds(minutes),
        sound_name("queue-wait-after"), sound_name("virtual-hold-offer")], OFFER_KEY)
    if digit is None:
        digit = await channel.wait_for_digit(OFFER_WAIT_MS)
    if digit != OFFER_KEY:
        return False
    task = await safely("keeping the place", ctx.virtual_hold.accept(
        offer, state.call.uniqueid, state.call.linkedid, channel.env.caller_number))
    if task is None:  # not kept: the caller stays in line rather than lose it
        return False
    log.info("call %s/%s keeps its place in %s (callback task %s)", state.call.node,
             state.call.uniqueid, queue, task)
    await channel.set_variable(dp.VAR_DEST, dp.Destination.HANGUP)
    state.outcome = CallOutcome.IVR_ONLY  # the call ends here; the callback is a new call
    await play(channel, sound_name("virtual-hold-confirmed"))
    return True
