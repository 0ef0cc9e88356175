"""The wallboard's fan-out: one hub for every /ws/wallboard socket, coalescing state.

Each bus event used to be one message to each socket: 500 wallboards at 2,000 AMI events/s would
be a million messages a second. The wallboard shows state, not history, so one task (the hub)
subscribes to the bus once and folds the events into the latest one per key:

- `agent_state` per agent, `queue.changed` per (node, queue), `queue.stats` per queue; a
  `queues.node` / `queues.resynced` (a node's whole list) replaces that node's pending queues;
- alerts (emergency transfers, long waits, ...) are never merged nor dropped: the pending state is
  sent first, then the alert, at once and in order; an event of a kind not listed here is kept
  in order too, never merged.

The pending entries are sent when the hub is idle (the first event after a quiet `interval`
goes at once: low rates keep their latency) and otherwise at most every `interval` seconds, as
ONE message per supervisor scope, encoded once and handed to every socket of that scope: a lone
entry as the bare event (as before), several as `{"type": "wallboard.batch", "events": [...],
"abandoned": bool}` (`abandoned`: a caller hung up in a queue meanwhile; the page reloads its
callback list). Events carry absolute state, so the last one per key is the truth.

Each socket keeps its own bounded queue of messages (`[agents] ws_queue_size`): one that stops
reading fills it and is cut off (4008) by agents/websockets.py; the others never wait on it.
The hub lives while sockets are open; if it falls behind the bus (its own subscription
overflowed), every socket is closed with 4008 so that the pages reload their snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import OrderedDict
from typing import Any

from aiohttp import web

from hotline.bus import Bus, Subscription
from hotline.regions import within

log = logging.getLogger(__name__)

TOPICS = ("agents", "queues", "alerts")
FLUSH_INTERVAL = 0.05  # s: at most 20 state messages a second per socket
HUB_QUEUE_SIZE = 20_000  # bus events the hub may have unread (10 s at 2,000 events/s)

Event = dict[str, Any]


class HubClient:
    """One socket's bounded queue of encoded messages; `None` ends it."""

    def __init__(self, hub: WallboardHub, scope: str | None, maxsize: int) -> None:
        self._hub = hub
        self.scope = scope
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def offer(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("wallboard socket fell behind; cut off")
            self.close()

    async def next(self) -> str | None:
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._hub._remove(self)
        if self._queue.full():  # make room for the end mark
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class WallboardHub:
    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._clients: dict[str | None, set[HubClient]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._pending: OrderedDict[tuple[Any, ...], tuple[str, Event]] = OrderedDict()
        self._abandoned = False
        self._last_flush = float("-inf")
        self._serial = itertools.count()
        self.messages = 0  # encoded messages (one per scope per flush, one per alert)

    # -- sockets -----------------------------------------------------------------------------

    def connect(self, bus: Bus, scope: str | None, maxsize: int) -> HubClient:
        client = HubClient(self, scope, maxsize)
        self._clients.setdefault(scope, set()).add(client)
        if self._task is None:
            self._subscription = bus.subscribe(TOPICS, maxsize=HUB_QUEUE_SIZE)
            self._task = asyncio.create_task(self._run(self._subscription),
                                             name="wallboard-hub")
        return client

    @property
    def client_count(self) -> int:
        return sum(len(clients) for clients in self._clients.values())

    def _remove(self, client: HubClient) -> None:
        clients = self._clients.get(client.scope)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.scope]
        if not self._clients:
            self._stop()

    def _stop(self) -> None:
        task, subscription = self._task, self._subscription
        self._task = self._subscription = None
        self._pending.clear()
        self._abandoned = False
        self._last_flush = float("-inf")
        if subscription is not None:
            subscription.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- the task ----------------------------------------------------------------------------

    async def _run(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        item: tuple[str, Event] | None = None
        while (item := await subscription.get()) is not None:
            self._fold(*item)
            wait = self._last_flush + self.interval - loop.time()
            if wait > 0:  # sent a moment ago: gather what comes until the interval is over
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        while (item := await subscription.get()) is not None:
                            self._fold(*item)
            self._flush(loop.time())
            if item is None:
                break
        self._flush(loop.time())
        overflowed = subscription.overflowed
        if overflowed:
            log.warning("wallboard hub fell behind the bus; every wallboard reloads")
        for clients in list(self._clients.values()):
            for client in list(clients):
                client.overflowed = overflowed
                client.close()

    def _fold(self, topic: str, event: Event) -> None:
        try:
            self._fold_one(topic, event)
        except Exception:  # a malformed event must not stop every wallboard
            log.exception("wallboard hub: event on %s not folded: %r", topic, event)

    def _fold_one(self, topic: str, event: Event) -> None:
        kind = event.get("type")
        key: tuple[Any, ...]
        if topic == "alerts":
            self._flush(asyncio.get_running_loop().time())
            self._send([(topic, event)], abandoned=False)
            return
        if topic == "agents" and kind == "agent_state":
            key = ("agent", (event.get("agent") or {}).get("user_id"))
        elif kind == "queue.changed":
            key = ("queue", event.get("node"), (event.get("queue") or {}).get("name"))
            if (event.get("change") or {}).get("kind") == "abandoned":
                self._abandoned = True
        elif kind in ("queues.node", "queues.resynced"):
            node = event.get("node")
            for stale in [k for k in self._pending if k[0] == "queue" and k[1] == node]:
                del self._pending[stale]
            key = ("node", node)
        elif kind == "queue.stats":
            key = ("stats", event.get("queue"))
        else:  # not known to be state: kept in order, never merged
            key = ("event", next(self._serial))
        self._pending.pop(key, None)  # a new value goes after what came before it
        self._pending[key] = (topic, event)

    def _flush(self, now: float) -> None:
        if not self._pending:
            return
        entries = list(self._pending.values())
        abandoned = self._abandoned
        self._pending.clear()
        self._abandoned = False
        self._last_flush = now
        self._send(entries, abandoned=abandoned)

    def _send(self, entries: list[tuple[str, Event]], *, abandoned: bool) -> None:
        for scope, clients in list(self._clients.items()):
            visible = [(topic, event) for topic, event in entries
                       if visible_to(scope, topic, event)]
            if not visible:
                continue
            text = encode(visible, abandoned=abandoned)
            self.messages += 1
            for client in list(clients):
                client.offer(text)


def visible_to(scope: str | None, topic: str, event: Event) -> bool:
    """A supervisor with a region sees the agents of that region only, and the alerts about
    that region (an alert carries the citizen's number: one tagged with a `region_code` goes to
    that region's supervisors and the province's). Queues, counters and untagged alerts are the
    whole hotline's."""
    if scope is None:
        return True
    if topic == "agents":
        return within((event.get("agent") or {}).get("region_code"), scope)
    if topic == "alerts" and event.get("region_code"):
        return within(event["region_code"], scope)
    return True


def encode(entries: list[tuple[str, Event]], *, abandoned: bool) -> str:
    events = [{**event, "topic": topic} for topic, event in entries]
    only = events[0]
    lone_abandoned = (only.get("change") or {}).get("kind") == "abandoned"
    if len(events) == 1 and abandoned == lone_abandoned:
        return json.dumps(only, ensure_ascii=False)
    return json.dumps({"type": "wallboard.batch", "events": events, "abandoned": abandoned},
                      ensure_ascii=False)


WALLBOARD_HUB = web.AppKey("wallboard_hub", WallboardHub)
