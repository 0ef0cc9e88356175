"""FastAGI server: the socket Asterisk's `AGI(agi://host:4573/<script>?<query>)` connects to.

A thin asyncio.Protocol around the sans-IO codec (agi_codec). One session per connection:
the environment block (within ENV_TIMEOUT, bounded), then the flow registered for the script
name runs with an `AgiChannel`. Nothing here blocks the loop: a half-open or 1-byte-per-second
client only costs a timer. Past `max_sessions`, a new connection is closed at once, so the
dialplan's fallback sends that caller straight to the queue (shedding load before Asterisk's
own knee, DESIGN.md §5). Before that hard cap, `load` (load.py) watches the event-loop lag and
the AGI round trip; while past its bound, new sessions start with `channel.shedding` set and the
flow takes the shortest path to the queue (no speech, no menu).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hotline.asterisk import agi_codec
from hotline.asterisk.agi_channel import AgiChannel, AgiHangup, AgiProtocolFailure
from hotline.asterisk.load import Load
from hotline.config import Bind

log = logging.getLogger(__name__)

Flow = Callable[[AgiChannel], Awaitable[Any]]
ENV_TIMEOUT = 5.0  # seconds for the whole environment block
HANGUP_GRACE = 1.0  # the socket is closed at most this long after Asterisk's HANGUP
COMMAND_TIMEOUT = 60.0  # default wait for one command's reply


class _Session(asyncio.Protocol):
    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self.codec = agi_codec.AgiServerCodec()
        self.transport: asyncio.Transport | None = None
        self.channel: AgiChannel | None = None
        self.flow_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.id = next(server._ids)

    # asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._sessions.add(self)
        self.server.total_sessions += 1
        if len(self.server._sessions) > self.server.max_sessions:
            self.server.refused_sessions += 1
            log.warning("FastAGI: %d sessions open (limit %d): refusing one",
                        len(self.server._sessions) - 1, self.server.max_sessions)
            transport.abort()
            return
        self._timer = asyncio.get_running_loop().call_later(
            self.server.env_timeout, self._give_up, "no complete AGI environment in time")

    def data_received(self, data: bytes) -> None:
        for event in self.codec.feed(data):
            self._dispatch(event)

    def eof_received(self) -> bool:
        for event in self.codec.eof():
            self._dispatch(event)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._sessions.discard(self)
        self._cancel_timer()
        if self.channel is not None:
            self.channel._connection_lost()
        self.transport = None

    # events --------------------------------------------------------------------------------
    def _dispatch(self, event: agi_codec.Event) -> None:
        match event:
            case agi_codec.Reply() if self.channel is not None:  # the common case first
                if not self.channel._reply(event):
                    self._give_up("a reply without a command")
            case agi_codec.Environment():
                self._cancel_timer()
                self._start_flow(event)
            case agi_codec.Hangup():
                if self.channel is not None:
                    self.channel._hangup_seen()
                if self._timer is None and self.transport is not None:
                    self._timer = asyncio.get_running_loop().call_later(
                        self.server.hangup_grace, self.close)
            case agi_codec.ProtocolError(reason=reason):
                self._give_up(reason)
            case agi_codec.Provisional() | agi_codec.Closed():
                pass
            case _:
                self._give_up("a reply before the environment")

    def _start_flow(self, env: agi_codec.Environment) -> None:
        flow = self.server.routes.get(env.script)
        if flow is None:
            log.warning("FastAGI: no flow for script %r (channel %s)", env.script, env.channel)
            self.close()
            return
        assert self.transport is not None
        self.channel = AgiChannel(env, self.transport, self.server.command_timeout)
        load = self.server.load
        if load.overloaded:
            self.channel.shedding = True
            load.shed_sessions += 1
        if load.round_trip_bound:
            self.channel.on_round_trip = load.round_trip_seen
        self.flow_task = asyncio.create_task(self._run(flow), name=f"agi-{self.id}-{env.script}")
        self.server._tasks.add(self.flow_task)
        self.flow_task.add_done_callback(self.server._tasks.discard)

    async def _run(self, flow: Flow) -> None:
        assert self.channel is not None
        try:
            await flow(self.channel)
        except AgiHangup:
            log.debug("FastAGI %s: caller hung up", self.channel.env.channel)
        except AgiProtocolFailure as exc:
            log.warning("FastAGI %s: %s", self.channel.env.channel, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("FastAGI %s: flow %s failed", self.channel.env.channel,
                          self.channel.env.script)
        finally:
            self.close()

    # closing -------------------------------------------------------------------------------
    def _give_up(self, reason: str) -> None:
        log.warning("FastAGI session %d: %s; closing", self.id, reason)
        if self.channel is not None:
            self.channel._fail(reason)
        self.close()

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class FastAgiServer:
    def __init__(
        self,
        bind: Bind,
        routes: Mapping[str, Flow] | None = None,
        *,
        max_sessions: int = 2000,
        env_timeout: float = ENV_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        hangup_grace: float = HANGUP_GRACE,
        shed_loop_lag: float = 0.1,
        shed_round_trip: float = 0.2,
    ) -> None:
        """`shed_loop_lag` / `shed_round_trip`: seconds past which new sessions are shed
        (`channel.shedding`); 0 turns that signal off."""
        self.bind = bind
        self.routes: dict[str, Flow] = {}
        for name, flow in (routes or {}).items():
            self.route(name, flow)
        self.max_sessions = max_sessions
        self.env_timeout = env_timeout
        self.command_timeout = command_timeout
        self.hangup_grace = hangup_grace
        self.error: str | None = None
        self.total_sessions = 0
        self.refused_sessions = 0
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.load = Load(shed_loop_lag, shed_round_trip)

    def route(self, script: str, flow: Flow) -> None:
        # panoramisk's fast_agi crashed on plain functions; refuse them up front instead.
        if not inspect.iscoroutinefunction(flow):
            raise TypeError(f"FastAGI flow for {script!r} must be an async function")
        self.routes[script.strip("/")] = flow

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def overloaded(self) -> bool:
        """New sessions are being shed (DESIGN.md §5): flows should go straight to the queue."""
        return self.load.overloaded

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Session(self), self.bind.host, self.bind.port, backlog=1024)
        except OSError as exc:
            # Reported in /healthz; the web app keeps running so the operator can see why.
            self.error = f"cannot listen on {self.bind}: {exc.strerror}"
            log.error("FastAGI %s", self.error)
            return
        log.info("FastAGI listening on %s", self.bind)
        self.load.start()

    async def close(self, grace: float = 2.0) -> None:
        """Stop accepting, give running flows `grace` seconds, then cancel them."""
        await self.load.close()
        if self._server is not None:
            self._server.close()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def status(self) -> dict[str, object]:
        return {"listening": self.listening, "bind": str(self.bind), "error": self.error,
                "active_sessions": self.active_sessions, "total_sessions": self.total_sessions,
                "refused_sessions": self.refused_sessions, **self.load.status()}
