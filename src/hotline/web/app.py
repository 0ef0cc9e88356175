"""The application factory: one place that wires settings, database, Asterisk connections,
FastAGI and the routes. Long-lived resources live in cleanup contexts, started in order and
stopped in reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from hotline.agents import http as agents_http
from hotline.asterisk.agi_channel import AgiChannel
from hotline.asterisk.ami import AmiNodes
from hotline.asterisk.fastagi import FastAgiServer
from hotline.bus import Bus
from hotline.calls.ami_events import CallEventRecorder
from hotline.config import Settings
from hotline.db import registry  # noqa: F401 - every feature's tables mapped before use
from hotline.db.engine import create_engine, session_maker
from hotline.db.migrate import require_head
from hotline.followup import background as followup
from hotline.ivr import flows
from hotline.ivr import wiring as ivr_wiring
from hotline.ivr.context import start_call
from hotline.ivr.flows import FlowContext
from hotline.queue import http as queue_http
from hotline.recordings import background as recordings
from hotline.tickets import http as tickets_http
from hotline.web import api, health, http
from hotline.web.keys import AMI, BUS, DB, ENGINE, FASTAGI, IVR, SETTINGS
from hotline.web.middleware import MIDDLEWARES

STATIC = Path(__file__).with_name("static")


def _shed_first(ivr: flows.Flow, context: FlowContext) -> flows.Flow:
    """While FastAGI is overloaded (DESIGN.md §5) a new call takes the shortest path to the
    line's queue: no prompt, no menu, no speech. Its call row is still written before the call
    goes back to the dialplan: written in the background, it could land after the caller's
    queue events and Hangup, and stay open for ever (seen in test_simulate under load)."""

    async def route(channel: AgiChannel) -> None:
        if not channel.shedding:
            return await ivr(channel)
        await start_call(channel, context)
        queue = await context.queue_of(channel.query.get("line", ""))
        if queue:
            await channel.set_variable(flows.QUEUE, queue)
        await channel.set_variable(flows.DEST, "queue")

    return route


def create_app(settings: Settings, *, check_schema: bool = True) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=1024**2)
    app[SETTINGS] = settings
    app[BUS] = Bus()

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, echo=settings.database.echo,
                               pool_size=settings.database.pool_size)
        try:
            if check_schema:
                await require_head(engine)
            app[ENGINE] = engine
            app[DB] = session_maker(engine)
            yield
        finally:
            await engine.dispose()

    async def fastagi(app: web.Application) -> AsyncIterator[None]:
        # The follow-up dialer sets app[IVR].on_survey in a cleanup context started after this.
        context = FlowContext.from_settings(app[DB], settings, bus=app[BUS],
                                            recognizer=flows.recognizer_for(settings))
        app[IVR] = context
        routes = flows.routes(context)
        routes["ivr"] = _shed_first(routes["ivr"], context)
        server = FastAgiServer(settings.fastagi.bind, routes,
                               max_sessions=settings.fastagi.max_sessions,
                               shed_loop_lag=settings.fastagi.shed_loop_lag_ms / 1000,
                               shed_round_trip=settings.fastagi.shed_round_trip_ms / 1000)
        app[FASTAGI] = server
        await server.start()
        yield
        await server.close()
        await context.close()

    async def ami(app: web.Application) -> AsyncIterator[None]:
        nodes = AmiNodes(settings.asterisk)
        calls = CallEventRecorder(app[DB])
        nodes.subscribe(calls)
        app[AMI] = nodes
        nodes.start()
        yield
        await nodes.close()
        await calls.drain()

    async def close_bus(app: web.Application) -> None:
        app[BUS].close()  # ends every websocket's subscription before the server stops

    app.cleanup_ctx.extend([database, fastagi, ami])
    app.on_shutdown.append(close_bus)
    health.setup(app)
    http.setup(app)
    api.setup(app)
    tickets_http.setup(app)  # ticket API and pages, the 督办 deadline scan
    queue_http.setup(app)  # after the `ami` context; before agents/, which reads QUEUES
    ivr_wiring.setup(app)  # after queue/: the IVR offers virtual hold, routes overflow
    agents_http.setup(app)  # after the `ami` context: its own cleanup context follows it
    recordings.setup(app)
    followup.setup(app)
    app.router.add_static("/static/", STATIC, name="static", append_version=False)
    return app
