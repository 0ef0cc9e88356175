"""Routing: which queue a caller joins, with which priority, and when a 12345 caller overflows
to the provincial 96128 queue. Pure functions over the live state and `[queue]` settings; the
result is the set of channel variables the dialplan reads (dialplans/README.md, "Variables the
controller sets"): HOTLINE_QUEUE, HOTLINE_PRIORITY, HOTLINE_QUEUE_TIMEOUT.

Skills → penalties (`[queue.skill_penalties]`, default 普通话 0, 方言 1, English 2,
少数民族语言 3). app_queue rings the members with the lowest penalty first and a call can only
bound penalties from above (QUEUE_MAX_PENALTY), so one number per member has to carry the
choice. We keep the rare skills free: a member's penalty is the tier of the rarest skill they
have (`member_penalty`), so ordinary calls reach the agents who only speak 普通话 first and the
dialect, English and minority-language speakers when those are busy. A call that needs a rare
skill is not restricted by penalty (that would exclude exactly those specialists' colleagues
who could still help); the agent transfers it to a colleague when needed.

Overflow (issue 5 §2): a caller of a prefecture's 12345 line overflows to `overflow_queue`
(hl-96128) when no agent of that prefecture is logged in (its queue has no member on the node),
or after waiting `overflow_after_seconds` — the dialplan's Queue() timeout does the latter
(HOTLINE_QUEUE_TIMEOUT), `overdue_callers` lists them for the wallboard. Callbacks re-enter
with priority: `callback_priority` (abandoned-call callbacks) or `virtual_hold_priority` (a kept
place: ahead of everyone but emergencies, HOTLINE_EMERGENCY_PRIORITY 100).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hotline.asterisk.dialplan import VAR_PRIORITY, VAR_QUEUE, VAR_QUEUE_TIMEOUT
from hotline.queue.settings import QueueConfig
from hotline.queue.state import Caller, QueueState

DEFAULT_SKILL = "普通话"


class Entry(enum.StrEnum):
    NEW = "new"  # a citizen's call through the IVR
    CALLBACK = "callback"  # a missed-call callback the citizen answered
    VIRTUAL_HOLD = "virtual_hold"  # the place a caller kept comes up


@dataclass(frozen=True)
class Route:
    queue: str
    priority: int = 0
    timeout: int | None = None  # seconds before overflow; None: the dialplan's default
    overflowed: bool = False
    reason: str = ""

    def variables(self) -> dict[str, str]:
        """Channel variables for AGI SET VARIABLE or Originate `Variable:`."""
        values = {VAR_QUEUE: self.queue, VAR_PRIORITY: str(self.priority)}
        if self.timeout is not None:
            values[VAR_QUEUE_TIMEOUT] = str(self.timeout)
        return values


def member_penalty(skills: Iterable[str], config: QueueConfig) -> int:
    """QueueAdd Penalty for an agent with these skills: the tier of their rarest known skill
    (0 when they list none we know)."""
    tiers = [config.skill_penalties[s] for s in skills if s in config.skill_penalties]
    return max(tiers, default=config.skill_penalties.get(DEFAULT_SKILL, 0))


def is_prefecture_queue(queue: str, config: QueueConfig) -> bool:
    """12345 lines' queues are hl-12345-<prefecture>; everything else is not overflowed."""
    return queue != config.overflow_queue and queue.startswith("hl-12345")


def route_call(state: QueueState, node: str, line_queue: str, config: QueueConfig,
               entry: Entry = Entry.NEW) -> Route:
    """Where a caller for `line_queue` goes now."""
    priority = {Entry.NEW: 0, Entry.CALLBACK: config.callback_priority,
                Entry.VIRTUAL_HOLD: config.virtual_hold_priority}[entry]
    if not is_prefecture_queue(line_queue, config):
        return Route(line_queue, priority)
    queue = state.queue(node, line_queue)
    if queue is None or not queue.members:
        return Route(config.overflow_queue, priority, overflowed=True,
                     reason=f"{line_queue} 无坐席登录，转 {config.overflow_queue}")
    return Route(line_queue, priority, timeout=config.overflow_after_seconds)


def overdue_callers(state: QueueState, now: datetime,
                    config: QueueConfig) -> list[tuple[str, str, Caller]]:
    """(node, queue, caller) of 12345 callers past `overflow_after_seconds`: the dialplan
    moves them to the overflow queue at its Queue() timeout; shown meanwhile."""
    limit = config.overflow_after_seconds
    return [(node_name, name, caller)
            for node_name, node in sorted(state.nodes.items())
            for name, queue in sorted(node.queues.items())
            if limit and is_prefecture_queue(name, config)
            for caller in queue.callers if caller.wait(now) >= limit]
