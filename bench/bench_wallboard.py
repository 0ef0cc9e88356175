"""Benchmark 4 (issue 7): wallboard fan-out. The real app (SQLite) serves /ws/wallboard
(agents/websockets.py: one bounded bus subscription per socket, slow clients closed with 4008);
500 websocket clients (aiohttp, in their own process: ws_clients.py) are logged in as a
supervisor; this process publishes `bench` events on the bus's "queues" topic at a fixed rate —
the same path QueueMonitor's updates take (Bus.publish → subscription → ws.send_json) — and the
clients record each event's delay. Run twice: all clients reading, then with one more client
that never reads: the others' p99 must not move.

Rates: each bus event goes to every client, so 500 clients at R events/s are 500·R websocket
messages/s. The issue's 2,000 events/s (1,000,000 messages/s) is out of reach of one Python
process; `--rates` shows where the knee is.

    python bench/bench_wallboard.py --clients 500 --rates 20 100 2000 --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aiohttp import web
from benchlib import PYTHON, header, percentile, table

from hotline.auth.services import create_user
from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.migrate import upgrade
from hotline.db.models import Role
from hotline.db.reference import load_reference_data
from hotline.web.app import create_app
from hotline.web.keys import BUS, DB

HERE = Path(__file__).resolve().parent
PASSWORD = "Correct-Horse-42"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def migrated(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_maker(engine)() as db:
            await load_reference_data(db)
            await db.commit()
    finally:
        await engine.dispose()


async def one_run(app: web.Application, url: str, clients: int, stalled: int, rate: float,
                  seconds: float) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, str(HERE / "ws_clients.py"), url, "--clients", str(clients), "--stalled",
        str(stalled), stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    ready = await asyncio.wait_for(proc.stdout.readline(), 120)
    assert ready.strip() == b"READY", ready
    bus = app[BUS]
    began = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        bus.publish("queues", {"type": "bench", "sent": time.monotonic(), "n": i})
    await asyncio.sleep(0.5)
    bus.publish("queues", {"type": "bench-end"})
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    figures = json.loads(out.splitlines()[-1])
    figures["published"] = total
    return figures


async def main(args: argparse.Namespace) -> None:
    header(f"Wallboard fan-out: {args.clients} websocket clients on /ws/wallboard")
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await migrated(db_url)
        (Path(folder) / "hotline.toml").touch()
        port = free_port()
        settings = load_settings(Path(folder) / "hotline.toml", environ={
            "HOTLINE_DATA_DIR": f"{folder}/var", "HOTLINE_DATABASE_URL": db_url,
            "HOTLINE_WEB_BIND": f"127.0.0.1:{port}",
            "HOTLINE_FASTAGI_BIND": f"127.0.0.1:{free_port()}",
            "HOTLINE_AGENTS_WS_QUEUE_SIZE": str(args.queue_size)})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with app[DB]() as db:
            await create_user(db, username="bench-supervisor", display_name="基准",
                              role=Role.SUPERVISOR, password=PASSWORD)
        url = f"http://127.0.0.1:{port}"
        rows = []
        try:
            for rate in args.rates:
                for stalled in (0, 1):
                    f = await one_run(app, url, args.clients, stalled, rate, args.seconds)
                    delays = f["delays"]
                    expected = f["published"] * args.clients
                    rows.append([rate, args.clients, stalled, f["published"],
                                 f"{100 * len(delays) / max(expected, 1):.1f}%",
                                 f["closed_slow"], 1000 * percentile(delays, 50),
                                 1000 * percentile(delays, 99), f["stalled_still_open"]])
                    print(table(HEADERS, [rows[-1]]).splitlines()[-1], flush=True)
        finally:
            await runner.cleanup()
    print()
    print(table(HEADERS, rows))
    print("target: p99 < 100 ms at 2,000 events/s; a stalled client does not move the others' "
          "p99")


HEADERS = ["events/s", "clients", "stalled", "events", "delivered", "closed 4008", "p50 ms",
           "p99 ms", "stalled still open"]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rates", type=float, nargs="+", default=[20, 100])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--queue-size", type=int, default=256)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
