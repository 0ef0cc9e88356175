"""Database writes off the AMI reader (the call rows, hotline.calls, and the queue's,
hotline.queue): each write is a task, so an event handler never waits on
the database; the writes of one key (a call) take a FIFO lock, so they run one at a time in the
order they were submitted (tasks start in creation order). Bounded: past `limit` writes in
flight a new one is dropped and logged, rather than memory growing without end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.engine import SessionMaker

log = logging.getLogger(__name__)
Write = Callable[[AsyncSession], Awaitable[object]]


class OrderedWrites:
    def __init__(self, db: SessionMaker, limit: int = 1000, name: str = "writes") -> None:
        self.db, self.limit, self.name = db, limit, name
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[Hashable, tuple[asyncio.Lock, set[asyncio.Task[None]]]] = {}

    def submit(self, key: Hashable, write: Write,
               after: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Run `write(session)` (then `after()`) in a task; False when too many are pending."""
        if len(self._tasks) >= self.limit:
            log.error("%s: %d pending, one dropped", self.name, len(self._tasks))
            return False
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), set()))
        task = asyncio.ensure_future(self._run(lock, write, after))
        users.add(task)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(key, done))
        return True

    async def _run(self, lock: asyncio.Lock, write: Write,
                   after: Callable[[], Awaitable[None]] | None) -> None:
        try:
            async with lock, self.db() as session:
                await write(session)
            if after is not None:
                await after()
        except Exception:
            log.exception("%s: a database write failed", self.name)

    def _done(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        entry = self._locks.get(key)
        if entry is not None:
            entry[1].discard(task)
            if not entry[1]:
                del self._locks[key]

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
