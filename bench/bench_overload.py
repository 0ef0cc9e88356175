"""Benchmark 6 (issue 7): offered FastAGI calls/s past the knee, completed calls/s with and
without overload shedding (hotline.asterisk.load; DESIGN.md §5).

The server runs `agi_servers.py shedding|no-shedding`: a flow of 10 commands plus 2 ms of CPU
per call, or — while the server is overloaded — the shortest path to the queue (two SET
VARIABLE). The driver (this process; replies as in bench_fastagi) offers calls open-loop at a
fixed rate for a few seconds; a call counts as completed when its session ends within the
caller's patience (default 3 s: past it, a real caller hangs up or Asterisk's own queue fills).
Completed/s should level off with shedding instead of falling.

    python bench/bench_overload.py --rates 200 400 800 1600 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fastagi import DriveStats, ServerProcess, _Call
from benchlib import header, percentile, table


async def offer(port: int, rate: float, seconds: float, patience: float) -> tuple[int, int,
                                                                                  list[float]]:
    loop = asyncio.get_running_loop()
    durations: list[float] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        started = time.perf_counter()
        done: asyncio.Future[None] = loop.create_future()
        try:
            await loop.create_connection(lambda: _Call(DriveStats(), done), "127.0.0.1", port)
            async with asyncio.timeout(30):
                await done
        except (OSError, TimeoutError):
            failed += 1
            return
        durations.append(time.perf_counter() - started)

    tasks = []
    begin = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    completed = sum(d <= patience for d in durations)
    return total, completed, durations


async def main(args: argparse.Namespace) -> None:
    header("Overload: offered vs completed FastAGI calls/s")
    rows = []
    for kind in ("no-shedding", "shedding"):
        for rate in args.rates:
            server = ServerProcess(kind)
            try:
                offered, completed, durations = await offer(server.port, rate, args.seconds,
                                                            args.patience)
            finally:
                server.stop()
            rows.append([kind, rate, offered, completed / args.seconds,
                         1000 * percentile(durations, 50), 1000 * percentile(durations, 99)])
            print(table(["server", "offered/s", "calls", "completed/s", "p50 ms", "p99 ms"],
                        [rows[-1]]).splitlines()[-1], flush=True)
    print()
    print(table(["server", "offered/s", "calls", "completed/s", "p50 ms", "p99 ms"], rows))
    top = max(args.rates)
    with_shed = next(r for r in rows if r[0] == "shedding" and r[1] == top)
    without = next(r for r in rows if r[0] == "no-shedding" and r[1] == top)
    print(f"\nat {top} offered/s: completed/s with shedding {with_shed[3]:.0f}, "
          f"without {without[3]:.0f}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 400, 800])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--patience", type=float, default=3.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
