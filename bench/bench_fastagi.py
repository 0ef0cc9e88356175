"""Benchmark 1 (issue 7): FastAGI servers under N concurrent scripted IVR sessions.

Each session is the 10-command script of `agi_servers.py` (ANSWER, 8 x SET VARIABLE,
GET VARIABLE). The driver plays Asterisk: it sends the environment block of the captured
agi-session-normal transcript (via `hotline.testing.agi_client.AgiSession.environment`) and
answers each command with the line Asterisk 22 gives it in the captures (`200 result=0`,
`200 result=1`, `200 result=1 (zh)`). It is a lean asyncio.Protocol that only replays those
bytes, so it stays out of the way; it runs in this process and each server in its own, so the
server's CPU is measured alone (the driver's own CPU share is printed: near 100% means the
driver, not the server, set the pace of that row). No HANGUP is sent to anyone (panoramisk
would take it as the next command's reply, DESIGN.md §5).

Reported per server and concurrency: server CPU per session, sessions/s and commands/s seen,
the single-core capacity the CPU cost implies (1 / CPU per session), p50/p99 command
turnaround (driver's reply sent → next command received), and the ratios.

    python bench/bench_fastagi.py                       # 100 and 1,000 concurrent
    python bench/bench_fastagi.py --concurrency 100 1000 2000 --sessions 6000
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import PYTHON, cpu_seconds, header, percentile, ratio, table

from hotline.testing.agi_client import AgiSession, Caller

HERE = Path(__file__).resolve().parent
COMMANDS_PER_SESSION = 10
ENVIRONMENT = AgiSession(Caller(), script="bench", uniqueid="1764000000.1",
                         channel="PJSIP/trunk-00000001").environment()
# Asterisk's replies (agi-session-normal): ANSWER → 200 result=0; SET VARIABLE → 200 result=1;
# GET VARIABLE of a set variable → 200 result=1 (value).
REPLIES = {b"ANSWE": b"200 result=0\n", b"SET V": b"200 result=1\n",
           b"GET V": b"200 result=1 (zh)\n"}


@dataclass
class DriveStats:
    sessions: int = 0
    commands: int = 0
    failed: int = 0
    seconds: float = 0.0
    driver_cpu: float = 0.0
    turnarounds: list[float] = field(default_factory=list)


class _Call(asyncio.Protocol):
    def __init__(self, stats: DriveStats, done: asyncio.Future[None]) -> None:
        self.stats, self.done = stats, done
        self.buffer = b""
        self.sent = 0.0
        self.commands = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(ENVIRONMENT)  # type: ignore[attr-defined]
        self.sent = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            line, self.buffer = self.buffer[:end], self.buffer[end + 1:]
            self.stats.turnarounds.append(now - self.sent)
            self.commands += 1
            self.transport.write(REPLIES.get(line[:5], b"510 Invalid or unknown command\n"))
            self.sent = time.perf_counter()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def drive(port: int, sessions: int, concurrency: int) -> DriveStats:
    loop = asyncio.get_running_loop()
    stats = DriveStats()
    remaining = sessions

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            done: asyncio.Future[None] = loop.create_future()
            try:
                _, call = await loop.create_connection(lambda done=done: _Call(stats, done),
                                                       "127.0.0.1", port)
                async with asyncio.timeout(120):
                    await done
            except (OSError, TimeoutError):
                stats.failed += 1
                continue
            stats.commands += call.commands
            if call.commands == COMMANDS_PER_SESSION:
                stats.sessions += 1
            else:
                stats.failed += 1

    cpu0, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - started
    stats.driver_cpu = cpu_seconds() - cpu0
    return stats


class ServerProcess:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.proc = subprocess.Popen([PYTHON, str(HERE / "agi_servers.py"), kind],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def cpu(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Row:
    kind: str
    concurrency: int
    stats: DriveStats
    server_cpu: float

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.server_cpu / max(self.stats.sessions, 1)

    @property
    def rate(self) -> float:
        return self.stats.sessions / self.stats.seconds

    def cells(self) -> list[object]:
        s = self.stats
        return [self.kind, self.concurrency, s.sessions, s.failed, self.cpu_ms, self.rate,
                s.commands / s.seconds, 1000 / self.cpu_ms if self.cpu_ms else 0.0,
                1000 * percentile(s.turnarounds, 50), 1000 * percentile(s.turnarounds, 99),
                f"{100 * s.driver_cpu / s.seconds:.0f}%"]


HEADERS = ["server", "concurrent", "sessions", "failed", "CPU ms/session", "sessions/s",
           "commands/s", "1-core cap/s", "p50 ms", "p99 ms", "driver CPU"]


async def measure(kind: str, sessions: int, concurrency: int) -> Row:
    server = ServerProcess(kind)
    try:
        await drive(server.port, min(50, sessions), min(10, concurrency))  # warm-up
        cpu0 = server.cpu()
        stats = await drive(server.port, sessions, concurrency)
        return Row(kind, concurrency, stats, server.cpu() - cpu0)
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> list[Row]:
    header("FastAGI: scripted 10-command sessions")
    rows: list[Row] = []
    for concurrency in args.concurrency:
        sessions = max(args.sessions, concurrency * 2)
        for kind in ("ours", "panoramisk"):
            rows.append(await measure(kind, sessions, concurrency))
            print(table(HEADERS, [rows[-1].cells()]).splitlines()[-1], flush=True)
    rows.append(await measure("process", args.process_sessions, args.process_concurrency))
    print()
    print(table(HEADERS, [r.cells() for r in rows]))
    print()
    process = rows[-1]
    for concurrency in args.concurrency:
        ours = next(r for r in rows if r.kind == "ours" and r.concurrency == concurrency)
        theirs = next(r for r in rows if r.kind == "panoramisk" and r.concurrency == concurrency)
        print(f"{concurrency:>5} concurrent: panoramisk CPU/session ÷ ours = "
              f"{ratio(theirs.cpu_ms, ours.cpu_ms)} (target ≥ 2.5x); "
              f"ours sessions/s ÷ process-per-call = {ratio(ours.rate, process.rate)}, "
              f"1-core capacity ÷ process-per-call = "
              f"{ratio(1000 / ours.cpu_ms, process.rate)} (target ≥ 20x); "
              f"ours CPU {ours.cpu_ms:.3f} ms/session (target ≤ 0.25)")
    return rows


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sessions", type=int, default=3000, help="per row (≥ 2x concurrency)")
    parser.add_argument("--process-sessions", type=int, default=60)
    parser.add_argument("--process-concurrency", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
