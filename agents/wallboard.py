"""What the wallboard shows first, before the live events: the queues as hotline.queue sees
them (waiting callers and their waits, members, the estimated wait of a new caller —
hotline.queue.estimate), today's counters per queue against the GB/T 33358 targets, and every
agent's state with its duration. Afterwards the page follows the bus: "agents" (ours), "queues"
and "alerts" (hotline.queue's events, the IVR's emergency transfers, the tickets' deadlines)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline import directory
from hotline.db.base import utcnow
from hotline.web import keys

# GB/T 33358-2016 政府热线服务规范: the connect rate's target; the 15-s answer rate's target is
# `[queue] service_level_target`.
CONNECT_RATE_TARGET = 0.95


async def snapshot(app: web.Application, scope: str | None = None) -> dict[str, Any]:
    """`scope`: the supervisor's region; the agents outside it are left out (queues, counters
    and alerts are the whole hotline's)."""
    config = app[keys.SETTINGS].queue
    monitor = app[keys.QUEUES]
    today = await monitor.today()  # first: the estimated waits use today's handling times
    queues = [{**queue, "node": node["node"]}
              for node in monitor.snapshot(utcnow()) for queue in node["queues"]]
    async with app[keys.DB]() as db:
        lines = await directory.list_lines(db)
    return {
        "agents": app[keys.AGENT_DESK].views(scope),
        "queues": queues,
        "queue_names": {line.queue: line.name for line in lines},
        "stats": {name: day.as_dict() for name, day in sorted(today.items())},
        "targets": {
            "service_level_seconds": config.service_level_seconds,
            "service_level": config.service_level_target,
            "connect_rate": CONNECT_RATE_TARGET,
            "long_wait_seconds": config.long_wait_alert_seconds,
        },
    }
