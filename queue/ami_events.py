"""AMI events → live queue state (`hotline.queue.state`), persisted day counters
(`hotline.queue.stats`), abandoned-call callback tasks, and what the wallboard sees on the bus.

Subscribed to `AmiNodes` (one instance for every node). The AMI reader never waits on the
database: writes run as tasks, those of one call in event order. Bus topics:
- "queues": {"type": "queue.changed", node, queue: <LiveQueue.snapshot>, change: {kind,
  uniqueid, fields}} after every change; {"type": "queues.resynced", node, queues: [...]} after
  a resync; {"type": "queue.stats", queue, stats: <DayStats.as_dict>, estimated_wait: {node:
  seconds}} after a counter changed (the average handling time moves the estimate). Every queue
  snapshot published carries `estimated_wait` (hotline.queue.estimate) for a new caller;
- "alerts": {"type": "alert.long_wait", …} once per caller waiting `long_wait_alert_seconds`;
  {"type": "alert.service_level", …} when a queue's 15-s answer rate falls under the target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.asterisk.ami import NodeEvent
from hotline.bus import Bus
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.writes import OrderedWrites
from hotline.queue import stats
from hotline.queue.callbacks import Abandon, record_abandoned_callback
from hotline.queue.estimate import HandlingTimes
from hotline.queue.settings import QueueConfig
from hotline.queue.state import Change, LiveQueue, QueueState, as_int

log = logging.getLogger(__name__)
Listener = Callable[[Change], None]


class QueueMonitor:
    def __init__(self, db: SessionMaker, bus: Bus, config: QueueConfig, zone: ZoneInfo,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.bus, self.config, self.zone, self.clock = db, bus, config, zone, clock
        self.state = QueueState()
        self.handling = HandlingTimes(config.default_handling_seconds)  # AHT per queue
        self.listeners: list[Listener] = []  # e.g. the virtual-hold dialer, woken on changes
        self.writes = OrderedWrites(db, name="queue writes")
        self._alerted_waits: set[tuple[str, str]] = set()
        self._under_target: set[str] = set()

    # -- events ------------------------------------------------------------------------------

    def __call__(self, event: NodeEvent) -> None:
        for change in self.state.apply(event):
            self._publish(change)
            self._persist(change, event)
            for listener in list(self.listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("queue listener failed on %s", change.kind)

    def _publish(self, change: Change) -> None:
        now = self.clock()
        if change.queue is None:
            node = self.state.node(change.node)
            self.bus.publish("queues", {
                "type": "queues.resynced" if change.kind == "resynced" else "queues.node",
                "node": change.node, "connected": node.connected,
                "queues": [self.queue_view(q, now) for _, q in sorted(node.queues.items())]})
            return
        queue = self.state.queue(change.node, change.queue)
        self.bus.publish("queues", {
            "type": "queue.changed", "node": change.node,
            "queue": self.queue_view(queue, now) if queue else {"name": change.queue},
            "change": {"kind": change.kind, "uniqueid": change.uniqueid,
                       "fields": dict(change.fields)}})

    def _persist(self, change: Change, event: NodeEvent) -> None:
        if change.kind == "resynced":
            waiting = set()
            for name, queue in self.state.node(change.node).queues.items():
                for caller in queue.callers:  # joined while we were not listening: offered
                    waiting.add((caller.uniqueid, name))
                    key = stats.CallKey(change.node, caller.uniqueid, name)
                    self._write(key, stats.record_joined, key, caller.number, caller.joined_at,
                                self.zone)
            self.writes.submit(("lost", change.node),
                               lambda session: self._mark_lost(session, change.node, waiting,
                                                               event.at))
            return
        if change.queue is None or not change.uniqueid:
            return
        key = stats.CallKey(change.node, change.uniqueid, change.queue)
        hold, at, zone = as_int(event.get("HoldTime")), event.at, self.zone
        member = event.get("Interface")
        match change.kind:
            case "joined":
                self._write(key, stats.record_joined, key, event.get("CallerIDNum"), at, zone)
            case "left":
                self._write(key, stats.record_left, key, at)
            case "answered":
                self._write(key, stats.record_answered, key, hold, member, at, zone)
            case "completed":
                self._write(key, stats.record_completed, key, hold,
                            as_int(event.get("TalkTime")), member, at, zone)
            case "abandoned":
                self._write(key, stats.record_abandoned, key, hold, at, zone)
                if hold >= self.config.callback_after_seconds:
                    abandon = Abandon(change.node, change.uniqueid, event.get("Linkedid"),
                                      event.get("CallerIDNum"), change.queue, at)
                    self._write(key, record_abandoned_callback, abandon, counts=False)

    # -- writes --------------------------------------------------------------------------------

    def _write(self, key: stats.CallKey, function: Callable[..., Awaitable[object]],
               *args: object, counts: bool = True) -> None:
        """One call's writes run in event order; then the queue's counters are published."""
        self.writes.submit((key.node, key.uniqueid, key.queue),
                           lambda session: function(session, *args),
                           (lambda: self.publish_stats(key.queue)) if counts else None)

    @staticmethod
    async def _mark_lost(db: AsyncSession, node: str, waiting: set[tuple[str, str]],
                         at: datetime) -> None:
        if await stats.record_lost(db, node, waiting, at):
            log.info("AMI node %s: calls gone while disconnected marked lost", node)

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        await self.writes.drain()

    # -- views -------------------------------------------------------------------------------

    def queue_view(self, queue: LiveQueue, now: datetime) -> dict[str, Any]:
        """A queue's snapshot with the estimated wait of a new caller."""
        return {**queue.snapshot(now), "estimated_wait": self.handling.estimate(queue)}

    def snapshot(self, now: datetime) -> list[dict[str, Any]]:
        """`QueueState.snapshot`, each queue with its `estimated_wait`. Read `today()` first
        for estimates from the current average handling times."""
        nodes = self.state.snapshot(now)
        for node in nodes:
            for view in node["queues"]:
                live = self.state.queue(node["node"], view["name"])
                view["estimated_wait"] = self.handling.estimate(live) if live else None
        return nodes

    def estimated_waits(self, queue: str) -> dict[str, int]:
        """node → estimated wait, for every node that has `queue`."""
        return {name: self.handling.estimate(node.queues[queue])
                for name, node in sorted(self.state.nodes.items()) if queue in node.queues}

    # -- stats and alerts --------------------------------------------------------------------

    async def today(self, queue: str | None = None) -> dict[str, stats.DayStats]:
        """Today's counters (all queues, or one); also refreshes the handling times."""
        async with self.db() as db:
            days = await stats.day_stats(
                db, stats.local_day(self.clock(), self.zone), queue=queue,
                service_level_seconds=self.config.service_level_seconds,
                short_abandon_seconds=self.config.short_abandon_seconds)
        averages = {name: day.average_handling for name, day in days.items()}
        if queue is not None:
            averages.setdefault(queue, None)
        self.handling.update(averages, every_queue=queue is None)
        return days

    async def publish_stats(self, queue: str) -> None:
        day = (await self.today(queue)).get(queue)
        if day is None:
            return
        self.bus.publish("queues", {"type": "queue.stats", "queue": queue,
                                    "stats": day.as_dict(),
                                    "estimated_wait": self.estimated_waits(queue)})
        level, target = day.service_level, self.config.service_level_target
        under = (level is not None and level < target
                 and day.offered >= self.config.service_level_min_offered)
        if under and queue not in self._under_target:
            self.bus.publish("alerts", {
                "type": "alert.service_level", "queue": queue, "service_level": level,
                "target": target, "offered": day.offered,
                "message": f"{queue} 今日{self.config.service_level_seconds}秒接通率 "
                           f"{level:.0%}，低于目标 {target:.0%}"})
        if under:
            self._under_target.add(queue)
        else:
            self._under_target.discard(queue)

    def check_waits(self) -> list[dict[str, Any]]:
        """Alert once for each caller waiting `long_wait_alert_seconds` or more."""
        now, limit, alerts = self.clock(), self.config.long_wait_alert_seconds, []
        waiting: set[tuple[str, str]] = set()
        for node_name, node in self.state.nodes.items():
            for queue in node.queues.values():
                for caller in queue.callers:
                    key = (node_name, caller.uniqueid)
                    waiting.add(key)
                    if caller.wait(now) >= limit and key not in self._alerted_waits:
                        self._alerted_waits.add(key)
                        alerts.append({
                            "type": "alert.long_wait", "node": node_name, "queue": queue.name,
                            "uniqueid": caller.uniqueid, "number": caller.number,
                            "wait": caller.wait(now),
                            "message": f"{queue.name} 来电 {caller.number or '未知号码'} "
                                       f"已等待 {caller.wait(now)} 秒"})
        self._alerted_waits &= waiting
        for alert in alerts:
            self.bus.publish("alerts", alert)
        return alerts

    async def watch_waits(self, interval: float = 1.0) -> None:
        """Until cancelled: the long-wait check every `interval` seconds."""
        while True:
            await asyncio.sleep(interval)
            self.check_waits()
