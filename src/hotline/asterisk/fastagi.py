"""FastAGI listener (the socket Asterisk's `AGI(agi://…)` connects to).

This foundation only binds, reports and closes: each connection is closed at once, which
Asterisk's dialplan treats like any failed AGI and sends the caller straight to the queue.
The sans-IO AGI codec and the call flows (protocol-layer issue) plug into `handle`.
"""

from __future__ import annotations

import asyncio
import logging

from hotline.config import Bind

log = logging.getLogger(__name__)


class FastAgiListener:
    def __init__(self, bind: Bind) -> None:
        self.bind = bind
        self._server: asyncio.Server | None = None
        self.error: str | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self.handle, self.bind.host, self.bind.port)
        except OSError as exc:
            # Reported in /healthz; the web app keeps running so the operator can see why.
            self.error = f"cannot listen on {self.bind}: {exc.strerror}"
            log.error("FastAGI %s", self.error)
            return
        log.info("FastAGI listening on %s", self.bind)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def status(self) -> dict[str, object]:
        return {"listening": self.listening, "bind": str(self.bind), "error": self.error}
