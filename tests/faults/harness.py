"""The fault harness: a controller (`hotline run`) as a process that can be killed with
SIGKILL, `hotline simulate`'s calls traced one by one, and the checker that compares the
stand-ins' ground truth with the database and prints the table.

Ground truth, per call the stand-in placed (hotline.testing.simulate; FastAGI side as in
../shared/asterisk-22/transcripts/agi-session-normal.jsonl):
- *reached the flow*: the controller sent at least one AGI command, so the flow had started
  and its call row had been written (the flow records the call before its first command);
  such a call must be in the database exactly once;
- *routed*: the flow also set HOTLINE_DEST (the controller finished with the call);
- *fell back*: no command came (connection refused, or cut before the flow): Asterisk's
  AGISTATUS=FAILURE and the dialplan sends the caller to the queue without the controller
  (dialplans/, DESIGN.md §2); the database may or may not have it, never twice.

Scale: `HOTLINE_FAULTS_SCALE` (default 1) multiplies the call and input counts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import func, select

from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Call
from hotline.testing import simulate
from hotline.testing.agi_client import AgiSession

SCALE = max(1, int(os.environ.get("HOTLINE_FAULTS_SCALE", "1")))


def scaled(count: int) -> int:
    return count * SCALE


class _SlowReader:
    """Asterisk takes time over a command (a prompt plays for seconds): each command line is
    read `delay` seconds late, so calls overlap and a fault lands in the middle of flows."""

    def __init__(self, reader: asyncio.StreamReader, delay: float) -> None:
        self.reader, self.delay = reader, delay

    async def readline(self) -> bytes:
        line = await self.reader.readline()
        await asyncio.sleep(self.delay)
        return line


class TracedSession(AgiSession):
    """The FastAGI stand-in, unchanged but for `reply_delay`, keeping every session for the
    checker."""

    traced: ClassVar[list[TracedSession]] = []
    reply_delay = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TracedSession.traced.append(self)

    async def run(self, limit: float = 60.0) -> Any:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        slow: Any = _SlowReader(reader, self.reply_delay) if self.reply_delay else reader
        return await self.converse(slow, writer, self.environment(), limit)


def trace_calls(monkeypatch: Any, reply_delay: float = 0.0) -> list[TracedSession]:
    TracedSession.traced = []
    monkeypatch.setattr(TracedSession, "reply_delay", reply_delay)
    monkeypatch.setattr(simulate, "AgiSession", TracedSession)
    return TracedSession.traced


@dataclass
class CallCheck:
    fault: str
    placed: int = 0
    reached: int = 0
    routed: int = 0
    fell_back: int = 0
    in_db: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unknown)

    def row(self) -> list[object]:
        return [self.fault, self.placed, self.reached, self.routed, self.fell_back, self.in_db,
                len(self.lost), len(self.duplicated), "ok" if self.ok else "FAIL"]


CALL_HEADERS = ["fault", "placed", "reached flow", "routed", "fell back", "rows",
                "lost", "duplicated", "verdict"]


async def check_calls(fault: str, db_url: str, sessions: list[TracedSession]) -> CallCheck:
    """Calls are matched on their uniqueid (the row's key with the node)."""
    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as db:
            rows = Counter(dict((await db.execute(
                select(Call.uniqueid, func.count()).group_by(Call.uniqueid))).all()))
    finally:
        await engine.dispose()
    check = CallCheck(fault, placed=len(sessions), in_db=sum(rows.values()))
    placed = set()
    for session in sessions:
        placed.add(session.uniqueid)
        if session.result.commands:
            check.reached += 1
            if rows[session.uniqueid] == 0:
                check.lost.append(session.uniqueid)
        else:
            check.fell_back += 1
        if "HOTLINE_DEST" in session.result.variables:
            check.routed += 1
    check.duplicated = [u for u, count in rows.items() if count > 1]
    check.unknown = [u for u in rows if u not in placed]
    print_table(CALL_HEADERS, [check.row()])
    return check


async def wait_until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll the stand-ins' state (they have no event for "n calls reached the flow")."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state that has no event
            await asyncio.sleep(0.01)


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def config_file(tmp_path: Path, db_url: str, web: int, fastagi: int,
                ami_port: int | None = None) -> Path:
    text = (f'data_dir = "{tmp_path / "var"}"\n[database]\nurl = "{db_url}"\n'
            f'[web]\nbind = "127.0.0.1:{web}"\n[fastagi]\nbind = "127.0.0.1:{fastagi}"\n')
    if ami_port is not None:
        text += (f'[[asterisk]]\nname = "pbx1"\nhost = "127.0.0.1"\nport = {ami_port}\n'
                 'username = "hotline"\n')
    path = tmp_path / "hotline.toml"
    path.write_text(text)
    return path


async def _port_open(port: int) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


class Controller:
    """`hotline run` (migrates, then serves web + FastAGI + AMI) as a child process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        self.env.update(env or {})
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.log: list[str] = []

    async def start(self, within: float = 60.0, web_port: int | None = None) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", "--config", str(self.config), "run",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=self.env)
        listening = asyncio.Event()
        self._drain = asyncio.create_task(self._read(listening))
        try:
            async with asyncio.timeout(within):
                await listening.wait()
            if web_port is not None:  # the web site starts after FastAGI
                await _port_open(web_port)
        except TimeoutError:
            raise AssertionError("hotline run did not start:\n" + "\n".join(self.log)) from None

    async def _read(self, listening: asyncio.Event) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())
            if b"FastAGI listening" in line:
                listening.set()
        listening.set()  # ended: start() fails on the log

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self._ended()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await self._ended()
            except TimeoutError:
                self.proc.kill()
                await self._ended()

    async def _ended(self) -> None:
        assert self.proc is not None
        async with asyncio.timeout(15):
            await self.proc.wait()
            if self._drain is not None:
                await self._drain
