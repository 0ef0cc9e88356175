"""GET /healthz: for load balancers and operators, without login. States only, no secrets,
hosts or stack traces. 200 while the database answers and FastAGI listens (a disconnected
Asterisk node is reported, not fatal: the web side still works); 503 otherwise."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from hotline.auth.policy import public
from hotline.web.keys import AMI, ENGINE, FASTAGI

DB_CHECK_TIMEOUT = 2.0


async def _database_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT), request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure is "not ok"; the detail goes to the log, not out
        request.app.logger.warning("healthz: database check failed", exc_info=True)
        return False
    return True


@public
async def healthz(request: web.Request) -> web.Response:
    database_ok = await _database_ok(request)
    fastagi = request.app[FASTAGI].status()
    nodes = request.app[AMI].status()
    healthy = database_ok and bool(fastagi["listening"])
    body = {
        "status": "ok" if healthy else "fail",
        "database": {"ok": database_ok},
        "fastagi": {key: fastagi[key] for key in
                    ("listening", "bind", "active_sessions", "refused_sessions")},
        "asterisk": [
            {"name": n["name"], "state": n["state"], "since": n["since"], "error": n["error"]}
            for n in nodes
        ],
    }
    return web.json_response(body, status=200 if healthy else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
