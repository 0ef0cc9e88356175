"""Overload detection for the FastAGI server (issue 7 item 6, DESIGN.md §5).

Asterisk tops out near 500 FastAGI calls/s per core and collapses past that knee (p99 of
seconds), and so does a controller whose event loop falls behind. So the controller watches
two things and, past a configured bound, answers NEW sessions with the shortest path to the
queue (no speech, no menu) until both are back under half their bound (hysteresis, so it does
not flap):

- its own event-loop lag: a probe sleeps `interval` and measures how late it wakes up; the
  figure rises at once and decays by `DECAY` per probe;
- the AGI round trip: the time Asterisk takes to answer a command that does not touch the
  channel (GET/SET VARIABLE, VERBOSE: no media, so the time is Asterisk's and our loop's
  queueing, not the caller's). A moving average over replies; without replies it decays too.

A bound of 0 turns that signal off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

DECAY = 0.7  # per probe, for both signals when nothing new comes
RTT_WEIGHT = 0.2  # weight of one new round trip in the moving average


class Load:
    def __init__(self, lag_bound: float = 0.1, round_trip_bound: float = 0.2,
                 interval: float = 0.05) -> None:
        self.lag_bound = lag_bound  # seconds; 0 = not watched
        self.round_trip_bound = round_trip_bound
        self.interval = interval
        self.lag = 0.0  # seconds
        self.round_trip = 0.0  # seconds
        self.overloaded = False
        self.shed_sessions = 0  # sessions started while overloaded
        self.episodes = 0  # times the bound was crossed
        self._fresh_rtt = False
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.lag_bound or self.round_trip_bound)

    def round_trip_seen(self, seconds: float) -> None:
        self.round_trip += RTT_WEIGHT * (seconds - self.round_trip)
        self._fresh_rtt = True
        if not self.overloaded and self.round_trip_bound \
                and self.round_trip > self.round_trip_bound:
            self._update()

    def lag_seen(self, seconds: float) -> None:
        self.lag = max(seconds, self.lag * DECAY)
        if not self._fresh_rtt:
            self.round_trip *= DECAY
        self._fresh_rtt = False
        self._update()

    def _over(self, value: float, bound: float, factor: float) -> bool:
        return bool(bound) and value > bound * factor

    def _update(self) -> None:
        if not self.overloaded:
            if self._over(self.lag, self.lag_bound, 1) or \
                    self._over(self.round_trip, self.round_trip_bound, 1):
                self.overloaded = True
                self.episodes += 1
                log.warning("FastAGI overloaded (loop lag %.0f ms, AGI round trip %.0f ms): "
                            "new calls go straight to the queue", self.lag * 1000,
                            self.round_trip * 1000)
        elif not (self._over(self.lag, self.lag_bound, 0.5)
                  or self._over(self.round_trip, self.round_trip_bound, 0.5)):
            self.overloaded = False
            log.warning("FastAGI load back to normal (loop lag %.0f ms, AGI round trip %.0f ms)",
                        self.lag * 1000, self.round_trip * 1000)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._probe(), name="fastagi-load-probe")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lag_seen(max(0.0, loop.time() - expected))

    def status(self) -> dict[str, object]:
        return {"overloaded": self.overloaded, "loop_lag_ms": round(self.lag * 1000, 1),
                "agi_round_trip_ms": round(self.round_trip * 1000, 1),
                "shed_sessions": self.shed_sessions, "overload_episodes": self.episodes}
