"""What the wallboard shows first, before the live events: the queues as hotline.queue sees
them (waiting callers and their waits, members), today's counters per queue against the
GB/T 33358 targets, and every agent's state with its duration. Afterwards the page follows the
bus: "agents" (ours), "queues" and "alerts" (hotline.queue, the IVR's emergency transfers)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.db.base import utcnow
from hotline.queue import stats
from hotline.web import keys

# GB/T 33358-2016 政府热线服务规范 targets the wallboard compares with; the 15-s answer rate's
# target is the queue's `service_level_target` ([queue]), the connect rate's is fixed.
CONNECT_RATE_TARGET = 0.95


def _queue_config(app: web.Application) -> Any:
    return getattr(app[keys.SETTINGS], "queue", None)


def _live_queues(app: web.Application) -> list[dict[str, Any]]:
    """hotline.queue's live state, flattened to one entry per (node, queue)."""
    key = getattr(keys, "QUEUES", None)
    monitor = app.get(key) if key is not None else None
    if monitor is None:
        return []
    out = []
    for node in monitor.state.snapshot(utcnow()):
        for queue in node["queues"]:
            out.append({**queue, "node": node["node"]})
    return out


async def snapshot(app: web.Application) -> dict[str, Any]:
    config = _queue_config(app)
    level_seconds = getattr(config, "service_level_seconds", 15)
    today = utcnow().astimezone(app[keys.SETTINGS].zone).date()
    async with app[keys.DB]() as db:
        counters = await stats.day_stats(
            db, today, service_level_seconds=level_seconds,
            short_abandon_seconds=getattr(config, "short_abandon_seconds", 5))
    desk = app[keys.AGENT_DESK]
    return {
        "agents": desk.views(),
        "queues": _live_queues(app),
        "stats": {name: day.as_dict() for name, day in sorted(counters.items())},
        "targets": {
            "service_level_seconds": level_seconds,
            "service_level": getattr(config, "service_level_target", 0.85),
            "connect_rate": CONNECT_RATE_TARGET,
            "long_wait_seconds": getattr(config, "long_wait_alert_seconds", 60),
        },
    }
