"""Websocket plumbing shared by the desk and the wallboard.

- Auth: the routes are ordinary GET routes behind the access middleware (session cookie and
  role, like any page); the Origin must be the app's own or a trusted one (the middleware's
  rule), and must be present: browsers always send it, so a missing one is not a browser of ours.
- Fan-out: each desk socket has its own bounded subscription on the bus; the wallboard's
  sockets share one (agents/wallboard_hub.py: coalesced state, encoded once) and each has its
  own bounded queue of messages (`[agents] ws_queue_size`). Publishers never wait. A client
  that stops reading fills its TCP buffers, then its send waits; past `ws_send_timeout`, or
  once its queue (or subscription) overflowed, it is closed with code
  4008 (CLOSE_TOO_SLOW: reconnect and reload the state); the others never notice.
- Heartbeat: aiohttp's ping/pong every `ws_heartbeat` seconds; a peer that does not answer is
  closed. At the same pace the session is looked up again: after a logout or its expiry the
  socket is closed with 4001.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiohttp import web

from hotline.auth.services import find_session
from hotline.bus import Subscription
from hotline.web.keys import BUS, DB, SETTINGS
from hotline.web.middleware import (  # the middleware's own rule, not a copy
    SESSION_COOKIE,
    _same_origin,
)

log = logging.getLogger(__name__)

Accept = Callable[[str, dict[str, Any]], bool]
First = Callable[[], Awaitable[list[dict[str, Any]]]]
CLOSE_TOO_SLOW = 4008  # application range (4000-4999): fell behind, reconnect and reload
CLOSE_SHUTDOWN = 1001  # going away: the server stops
CLOSE_SESSION_ENDED = 4001  # logged out or expired: log in again


def check_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is None or not _same_origin(request, origin):
        raise web.HTTPForbidden(reason="cross-origin websocket refused")


class Feed(Protocol):
    """What a socket sends after its first messages: `next()` is the next encoded message, or
    None once the feed is closed (`overflowed`: because the socket fell behind)."""

    overflowed: bool

    async def next(self) -> str | None: ...

    def close(self) -> None: ...


class _BusFeed:
    """Every event on the socket's own bus subscription that `accept` lets through."""

    def __init__(self, subscription: Subscription, accept: Accept | None) -> None:
        self._subscription, self._accept = subscription, accept

    @property
    def overflowed(self) -> bool:
        return self._subscription.overflowed

    async def next(self) -> str | None:
        while (item := await self._subscription.get()) is not None:
            topic, event = item
            if self._accept is None or self._accept(topic, event):
                return _encoded(topic, event)
        return None

    def close(self) -> None:
        self._subscription.close()


async def serve(request: web.Request, topics: Iterable[str], first: First,
                accept: Accept | None = None) -> web.WebSocketResponse:
    """Send what `first()` returns (the current state), then every event on `topics`, until
    either side closes. The subscription starts before `first()` runs, so no event falls
    between them (one may come twice: events carry absolute state, a repeat is harmless).
    `accept(topic, event)` filters what this client may see."""
    check_origin(request)
    config = request.app[SETTINGS].agents
    subscription = request.app[BUS].subscribe(topics, maxsize=config.ws_queue_size)
    return await serve_feed(request, lambda: _BusFeed(subscription, accept), first)


async def serve_feed(request: web.Request, open_feed: Callable[[], Feed],
                     first: First) -> web.WebSocketResponse:
    """Send what `first()` returns, then the feed's messages (opened before `first()` runs),
    until either side closes; a feed that overflowed closes the socket with 4008."""
    check_origin(request)
    config = request.app[SETTINGS].agents
    ws = web.WebSocketResponse(heartbeat=config.ws_heartbeat, max_msg_size=4096,
                               timeout=config.ws_send_timeout, compress=False)
    feed = open_feed()
    closing: set[str] = set()  # which task closes the socket: that one is let finish
    try:
        await ws.prepare(request)
        forwarder = asyncio.create_task(
            _forward(request, ws, feed, first, config.ws_send_timeout, closing))
        watcher = asyncio.create_task(_watch_session(request, ws, config.ws_heartbeat, closing))
        try:
            async for _message in ws:  # nothing the client says matters; this sees its close
                pass
        finally:
            for name, task in (("forward", forwarder), ("watch", watcher)):
                if name not in closing:  # the closing one is bounded by its timeouts
                    task.cancel()
            for task in (forwarder, watcher):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        feed.close()
    return ws


async def _forward(request: web.Request, ws: web.WebSocketResponse, feed: Feed,
                   first: First, send_timeout: float, closing: set[str]) -> None:
    code = CLOSE_SHUTDOWN
    try:
        for event in await first():
            await _send(ws, json.dumps(event, ensure_ascii=False), send_timeout)
        while (text := await feed.next()) is not None:
            await _send(ws, text, send_timeout)
        if feed.overflowed:
            code = CLOSE_TOO_SLOW
    except TimeoutError:
        code = CLOSE_TOO_SLOW
    except (ConnectionError, RuntimeError):
        return  # the socket is already gone
    feed.close()
    closing.add("forward")
    if code == CLOSE_TOO_SLOW:
        log.warning("websocket %s for %s: client too slow, closed", request.path,
                    request.remote)
    heartbeat = request.app[SETTINGS].agents.ws_heartbeat
    await _close(request, ws, code, grace=max(send_timeout, heartbeat))


class _Encodings:
    """Each bus event is encoded once for all its sockets: publishers hand the same dict to
    every subscriber, so the last few (event, text) pairs are kept by identity."""

    def __init__(self, size: int = 64) -> None:
        self._recent: OrderedDict[int, tuple[dict[str, Any], str, str]] = OrderedDict()
        self._size = size

    def __call__(self, topic: str, event: dict[str, Any]) -> str:
        found = self._recent.get(id(event))
        if found is not None and found[0] is event and found[1] == topic:
            return found[2]
        text = json.dumps({**event, "topic": topic}, ensure_ascii=False)
        self._recent[id(event)] = (event, topic, text)  # the dict is held: its id stays unique
        if len(self._recent) > self._size:
            self._recent.popitem(last=False)
        return text


_encoded = _Encodings()


async def _watch_session(request: web.Request, ws: web.WebSocketResponse, every: float,
                         closing: set[str]) -> None:
    """A socket lives no longer than its login: once the session is closed (logout) or has
    expired, the socket is closed with 4001."""
    token = request.cookies.get(SESSION_COOKIE, "")
    while True:
        await asyncio.sleep(every)
        try:
            async with request.app[DB]() as db:
                session = await find_session(db, token)
        except Exception:  # the database is away: keep the socket, look again later
            log.warning("websocket %s: session check failed", request.path, exc_info=True)
            continue
        if session is None and not closing:
            closing.add("watch")
            with contextlib.suppress(Exception):
                await ws.close(code=CLOSE_SESSION_ENDED)
            return


async def _send(ws: web.WebSocketResponse, text: str, within: float) -> None:
    async with asyncio.timeout(within):
        await ws.send_str(text)


async def _close(request: web.Request, ws: web.WebSocketResponse, code: int, *,
                 grace: float) -> None:
    """Queue the close frame behind what the client has not read yet (no drain), wait for its
    reply (`ws_send_timeout`); a client that still has not read what was sent gets `grace`
    seconds (a heartbeat interval) to read it with the close frame, then the connection is
    dropped: nothing more is held for it."""
    with contextlib.suppress(Exception):
        await ws.close(code=code, drain=False)
    transport = request.transport
    if transport is None:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            while True:  # the kernel gives no event for "the peer read it": look now and then
                if transport.get_write_buffer_size() == 0:
                    return
                await asyncio.sleep(0.2)
    if transport.get_write_buffer_size() > 0:
        transport.abort()  # never read: nothing more to hold memory for
