"""One AMI connection per configured Asterisk node, on panoramisk's `Manager`.

This foundation keeps each node connected and logged in, retries with backoff, and reports the
state for /healthz. panoramisk's own reconnect is switched off: it re-sends queued actions on
FullyBooted (which a user without `system` rights never gets, see
asterisk-22/transcripts/ami-actions.txt and README fact 7), so reconnection is ours.
Event handling, actions and resync come with the protocol-layer issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from datetime import datetime
from typing import Any

from panoramisk import Manager

from hotline.config import AsteriskNodeConfig
from hotline.db.base import utcnow

log = logging.getLogger(__name__)


class NodeState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk Manager that tells us when the connection is lost instead of reconnecting."""

    def __init__(self, lost: asyncio.Event, **config: Any) -> None:
        super().__init__(**config)
        self._lost = lost

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._lost.set()
            return
        super().connection_made(future)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self._lost.set()


class AmiNode:
    def __init__(
        self,
        config: AsteriskNodeConfig,
        *,
        connect_timeout: float = 5.0,
        backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        self.config = config
        self.name = config.name
        self.connect_timeout = connect_timeout
        self.backoff_min, self.backoff_max = backoff
        self.state = NodeState.DISCONNECTED
        self.since: datetime = utcnow()
        self.last_error: str | None = None
        self.attempts = 0
        self.manager: _Manager | None = None

    def _set(self, state: NodeState, error: str | None = None) -> None:
        if state != self.state:
            log.info("AMI node %s: %s%s", self.name, state, f" ({error})" if error else "")
            self.state = state
            self.since = utcnow()
        self.last_error = error

    async def run(self) -> None:
        """Connect, stay connected, reconnect with exponential backoff; until cancelled."""
        delay = self.backoff_min
        try:
            while True:
                self.attempts += 1
                connected = await self._session()
                delay = self.backoff_min if connected else min(delay * 2, self.backoff_max)
                await asyncio.sleep(delay)
        finally:
            self._close()
            self._set(NodeState.STOPPED)

    async def _session(self) -> bool:
        """One connection's life. True when it had logged in (so the next retry is quick)."""
        lost = asyncio.Event()
        self._set(NodeState.CONNECTING, self.last_error)
        self.manager = _Manager(
            lost,
            host=self.config.host,
            port=self.config.port,
            username=self.config.username,
            secret=self.config.secret.get_secret_value(),
            loop=asyncio.get_running_loop(),
            ping_delay=10,
            ping_interval=10,
        )
        try:
            async with asyncio.timeout(self.connect_timeout):
                # Manager.connection_made (a done-callback registered before our await) has
                # sent Login by the time this await returns.
                await self.manager.connect()
                if self.manager.authenticated_future is None:
                    raise OSError("connection closed before login")
                login = await self.manager.authenticated_future
        except (TimeoutError, OSError) as exc:
            self._set(NodeState.DISCONNECTED, f"no answer from {self.config.host}:"
                      f"{self.config.port}" if isinstance(exc, TimeoutError) else str(exc))
            self._close()
            return False
        if not login.success:
            self._set(NodeState.AUTH_FAILED, f"login refused: {login.get('Message', 'error')}")
            self._close()
            return False
        self._set(NodeState.CONNECTED)
        await lost.wait()
        self._set(NodeState.DISCONNECTED, "connection lost")
        self._close()
        return True

    def _close(self) -> None:
        if self.manager is not None:
            with contextlib.suppress(Exception):
                self.manager.close()
            self.manager = None

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": str(self.state),
            "since": self.since.isoformat(),
            "error": self.last_error,
        }


class AmiNodes:
    """All configured nodes, each in its own task."""

    def __init__(self, configs: list[AsteriskNodeConfig], **options: Any) -> None:
        self.nodes = [AmiNode(config, **options) for config in configs]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(node.run(), name=f"ami-{node.name}") for node in self.nodes
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def status(self) -> list[dict[str, object]]:
        return [node.status() for node in self.nodes]
