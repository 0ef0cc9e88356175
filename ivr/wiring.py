"""Plugs the queue feature (hotline.queue) into the call flows once both run: the app factory
calls `setup(app)` after `queue.http.setup(app)`, so this cleanup context starts after the one
that puts the QueueMonitor and the VirtualHoldService on the app. It also starts loading the
speech model, so the first caller who speaks does not wait for it (or time out on it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hotline.ivr.context import FlowContext
from hotline.web.keys import IVR, QUEUES, SETTINGS, VIRTUAL_HOLD

log = logging.getLogger(__name__)


class LiveQueuesOnly:
    """Virtual hold only for a queue whose live state is known: without it the estimate is a
    guess (the default handling time) and every caller would be offered a callback."""

    def __init__(self, service: Any, monitor: Any) -> None:
        self.service, self.monitor = service, monitor

    async def offer(self, node: str, queue: str) -> Any:
        if self.monitor.state.queue(node, queue) is None:
            return None
        return await self.service.offer(node, queue)

    async def accept(self, offer: Any, uniqueid: str, linkedid: str, number: str) -> int:
        return int(await self.service.accept(offer, uniqueid, linkedid, number))


def plug_queue(context: FlowContext, monitor: Any, service: Any, config: Any) -> None:
    """Give the flows the queue feature's routing (`route_call`) and virtual hold, for nodes
    and queues with live state only: without it every 12345 caller would overflow."""
    from hotline.queue.routing import route_call

    def route(node: str, queue: str) -> Mapping[str, str]:
        if node not in monitor.state.nodes:
            return {}
        return route_call(monitor.state, node, queue, config).variables()

    context.queue_route = route
    context.virtual_hold = LiveQueuesOnly(service, monitor) if service is not None else None


async def _preload(load: Callable[[], Awaitable[Any]]) -> None:
    try:
        await load()
    except Exception as exc:  # logged by the recognizer too; callers who speak get an agent
        log.warning("speech model not loaded: %s", exc)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_plug)


async def _plug(app: web.Application) -> AsyncIterator[None]:
    context = app[IVR]
    monitor = app.get(QUEUES)
    if monitor is not None:
        plug_queue(context, monitor, app.get(VIRTUAL_HOLD), app[SETTINGS].queue)
    load = getattr(context.recognizer, "load", None)
    if load is not None:
        context.spawn(_preload(load))
    yield
    context.queue_route = context.virtual_hold = None
