"""In-process publish/subscribe for live updates (wallboard, agent desks, supervisor alerts).

Publishers never wait: `publish` puts the event on each subscriber's bounded queue and returns.
A subscriber that falls behind (its queue is full) is cut off (`overflowed`), so one stalled
websocket never holds up the others or grows memory; its handler closes the socket with a code
that tells the browser to reconnect and reload the state.

Topics in use (payloads are JSON-ready dicts with at least a "type" key):
- "alerts":  supervisor alerts (emergency transfers, long waits, service level under target)
- "queues":  live queue state changes (hotline.queue)
- "agents":  agent state changes (hotline.agents)
- "desk:<user id>": one agent's screen pop and state
- "tickets": ticket events that supervisors watch (text emergencies, overdue)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Subscription:
    def __init__(self, bus: Bus, topics: frozenset[str], maxsize: int) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: asyncio.Queue[tuple[str, Event] | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def _offer(self, topic: str, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait((topic, event))
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("subscriber to %s fell behind; cut off", sorted(self.topics))
            self.close()

    async def get(self) -> tuple[str, Event] | None:
        """The next (topic, event), or None once closed (by `close` or by overflow)."""
        if self.closed and self._queue.empty():
            return None
        item = await self._queue.get()
        return item

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._remove(self)
        # Wake a reader blocked in get(); if the queue is full, drop the oldest to make room.
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[tuple[str, Event]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Event]]:
        while (item := await self.get()) is not None:
            yield item


class Bus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self.published = 0

    def subscribe(self, topics: Iterable[str], maxsize: int = 256) -> Subscription:
        subscription = Subscription(self, frozenset(topics), maxsize)
        for topic in subscription.topics:
            self._subscribers[topic].add(subscription)
        return subscription

    def publish(self, topic: str, event: Event) -> None:
        self.published += 1
        for subscription in list(self._subscribers.get(topic, ())):
            subscription._offer(topic, event)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def _remove(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[topic]

    def close(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()
