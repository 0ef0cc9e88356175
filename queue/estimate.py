"""Estimated wait for a new caller in a queue (EWT):
    position = callers waiting + 1
    staffed  = members logged in and not paused (busy ones count: they will free up)
    EWT      = 0 when a member is free and nobody waits, else
               ceil(AHT × position / max(staffed, 1))
with AHT today's average handling time of that queue (`hotline.queue.stats`), or
`default_handling_seconds` before today has an answered call.

The IVR's virtual-hold offer (`hotline.queue.virtual_hold`), GET /api/queues and the wallboard
(every queue snapshot the monitor publishes) all use this one formula. `HandlingTimes` keeps
each queue's AHT from the monitor's last reading of today's counters, so an estimate can be
given without a database query when an AMI event changes a queue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hotline.queue.state import LiveQueue


def estimated_wait(queue: LiveQueue | None, handling_seconds: float) -> int:
    """Seconds a caller joining `queue` now would wait (formula in the module docstring)."""
    if queue is None:
        return math.ceil(handling_seconds)
    if queue.available and not queue.callers:
        return 0
    position = len(queue.callers) + 1
    return math.ceil(handling_seconds * position / max(queue.staffed, 1))


class HandlingTimes:
    """Today's average handling time per queue, as last read; the default for the others."""

    def __init__(self, default_seconds: float) -> None:
        self.default = float(default_seconds)
        self._seconds: dict[str, float] = {}

    def update(self, averages: Mapping[str, float | None], *, every_queue: bool) -> None:
        """`averages`: queue → today's average (None: nothing handled yet). `every_queue`:
        the reading covered all queues, so a queue missing from it has none today."""
        if every_queue:
            self._seconds.clear()
        for name, seconds in averages.items():
            if seconds:
                self._seconds[name] = seconds
            else:
                self._seconds.pop(name, None)

    def __getitem__(self, queue: str) -> float:
        return self._seconds.get(queue) or self.default

    def estimate(self, queue: LiveQueue) -> int:
        return estimated_wait(queue, self[queue.name])
