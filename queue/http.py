"""The queue feature in the web app: read API and the background work.

- GET /api/queues (admin, supervisor, agent): every node's live queues (`QueueState.snapshot`),
  today's counters per queue with the rates (`DayStats.as_dict`), the targets, and the
  estimated wait of a new caller per queue (`hotline.queue.estimate`; also on each queue).
- GET /api/callbacks (admin, supervisor, agent): open callback tasks (abandoned calls, virtual
  hold, messages), oldest due first; a user with a region sees those of the lines in it.

`setup(app)` adds the routes and a cleanup context that (after the database and AMI ones)
puts a QueueMonitor at app[QUEUES] subscribed to every AMI node, a VirtualHoldService at
app[VIRTUAL_HOLD], and runs the long-wait watch and the virtual-hold dialer as tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from hotline.auth.policy import STAFF, allow
from hotline.db.base import utcnow
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.callbacks import open_callbacks
from hotline.queue.virtual_hold import VirtualHoldDialer, VirtualHoldService
from hotline.web.keys import AMI, BUS, DB, QUEUES, SETTINGS, VIRTUAL_HOLD
from hotline.web.middleware import current_user
from hotline.web.openapi import operation

SHUTDOWN_SECONDS = 5.0


@allow(STAFF)
@operation("Live queues per Asterisk node, today's counters and targets")
async def queues(request: web.Request) -> web.Response:
    monitor, config = request.app[QUEUES], request.app[SETTINGS].queue
    now = utcnow()
    today = await monitor.today()  # first: the estimates use today's handling times
    nodes = monitor.snapshot(now)
    waits = {q["name"]: q["estimated_wait"] for node in nodes for q in node["queues"]}
    return web.json_response({
        "at": now.isoformat(), "nodes": nodes,
        "today": {name: stats.as_dict() for name, stats in sorted(today.items())},
        "estimated_wait": waits,
        "targets": {"service_level_seconds": config.service_level_seconds,
                    "service_level": config.service_level_target,
                    "long_wait_seconds": config.long_wait_alert_seconds},
    })


@allow(STAFF)
@operation("Open callback tasks (abandoned calls, virtual hold, messages)")
async def callbacks(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        rows = await open_callbacks(db, current_user(request).region_code)
    return web.json_response(rows)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/callbacks", callbacks)
    app.cleanup_ctx.append(_background)


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    monitor = QueueMonitor(app[DB], app[BUS], settings.queue, settings.zone)
    app[AMI].subscribe(monitor)
    app[QUEUES] = monitor
    app[VIRTUAL_HOLD] = VirtualHoldService(app[DB], monitor, settings.queue)
    dialer = VirtualHoldDialer(app[DB], app[AMI], monitor, settings.queue)
    waits = asyncio.create_task(monitor.watch_waits(), name="queue-waits")
    dialing = asyncio.create_task(dialer.run(), name="queue-virtual-hold")
    yield
    waits.cancel()
    dialer.stop()  # let a pass in progress finish its database work rather than cut it
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            await asyncio.shield(dialing)
    dialing.cancel()
    await asyncio.gather(waits, dialing, return_exceptions=True)
    await monitor.drain()
