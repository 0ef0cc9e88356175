"""Benchmark 4 (issue 7): wallboard fan-out. The real app (SQLite) serves /ws/wallboard
(agents/wallboard_hub.py: one bus subscription for every wallboard, the latest state per queue /
agent coalesced and sent at most every `interval`, encoded once per supervisor scope; alerts at
once; a bounded queue per socket, slow clients closed with 4008). 500 websocket clients
(aiohttp, in their own process: ws_clients.py) are logged in as a supervisor; this process
publishes `queue.changed` events on the bus's "queues" topic at a fixed rate, round-robin over
`--keys` queues — the path QueueMonitor's updates take — and each client's delay for an event is
the time from its publication until the client receives a message that includes its effect (a
state of its queue at least that recent). Run again with one more client that never reads: the
others' p99 must not move.

Baseline in the same run: the per-event fan-out the wallboard had before (a bus subscriber per
socket sending every event: agents/websockets.serve, kept for the desk), mounted by this script
only at /bench/ws/wallboard-per-event. At R events/s it sends 500·R messages/s.

    python bench/bench_wallboard.py --clients 500 --rates 100 2000 --baseline-rates 100
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
from benchlib import PYTHON, cpu_seconds, free_port, header, table

from hotline.agents import wallboard, websockets
from hotline.agents.http import WALLBOARD_ROLES
from hotline.agents.wallboard_hub import FLUSH_INTERVAL, TOPICS, WALLBOARD_HUB, visible_to
from hotline.auth.policy import allow
from hotline.auth.services import create_user
from hotline.config import load_settings
from hotline.db.engine import create_engine
from hotline.db.migrate import upgrade_with_reference_data
from hotline.db.models import Role
from hotline.web.app import create_app
from hotline.web.keys import BUS, DB
from hotline.web.middleware import current_user

HERE = Path(__file__).resolve().parent
PASSWORD = "Correct-Horse-42"
OURS, BASELINE = "/ws/wallboard", "/bench/ws/wallboard-per-event"


@allow(WALLBOARD_ROLES)
async def per_event_socket(request: web.Request) -> web.StreamResponse:
    """The baseline: the wallboard as it was, every bus event to every socket."""
    scope = current_user(request).region_code

    async def first() -> list[dict[str, object]]:
        return [{"type": "snapshot", **await wallboard.snapshot(request.app, scope)}]

    return await websockets.serve(request, TOPICS, first,
                                  accept=lambda topic, event: visible_to(scope, topic, event))


async def migrated(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_with_reference_data(engine)
    finally:
        await engine.dispose()


async def one_run(app: web.Application, url: str, path: str, clients: int, stalled: int,
                  rate: float, seconds: float, keys: int, folder: str) -> dict[str, object]:
    sent_file = f"{folder}/sent.json"
    proc = await asyncio.create_subprocess_exec(
        PYTHON, str(HERE / "ws_clients.py"), url, "--path", path, "--clients", str(clients),
        "--stalled", str(stalled), "--keys", str(keys), "--sent-file", sent_file,
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    ready = await asyncio.wait_for(proc.stdout.readline(), 300)
    assert ready.strip() == b"READY", ready
    bus, hub = app[BUS], app[WALLBOARD_HUB]
    encoded_before, cpu_before = hub.messages, cpu_seconds()
    total = int(rate * seconds)
    sent = [0.0] * total
    began = time.monotonic()
    for i in range(total):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue = {"name": f"bench-q{i % keys}", "waiting": i % 5, "callers": [],
                 "longest_wait": 0, "logged_in": 3, "available": 1, "n": i}
        sent[i] = time.monotonic()
        bus.publish("queues", {"type": "queue.changed", "node": "bench", "queue": queue,
                               "change": {"kind": "joined", "uniqueid": str(i), "fields": {}}})
    took = time.monotonic() - began
    await asyncio.sleep(0.5)
    cpu = cpu_seconds() - cpu_before
    await asyncio.to_thread(Path(sent_file).write_text, json.dumps(sent))
    bus.publish("alerts", {"type": "bench-end"})
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    figures = json.loads(out.splitlines()[-1])
    figures.update(published=total, offered_seconds=took, server_cpu=cpu,
                   encoded=hub.messages - encoded_before)
    return figures


async def main(args: argparse.Namespace) -> None:
    header(f"Wallboard fan-out: {args.clients} websocket clients, {args.keys} queues; "
           f"ours: {OURS} (coalesced, interval {args.interval * 1000:.0f} ms); "
           f"baseline: per-event fan-out")
    plan = [("ours", OURS, rate, stalled) for rate in args.rates for stalled in (0, 1)]
    plan += [("per-event", BASELINE, rate, 0) for rate in args.baseline_rates]
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
        app.router.add_get(BASELINE, per_event_socket)
        app[WALLBOARD_HUB].interval = args.interval
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with app[DB]() as db:
            await create_user(db, username="bench-supervisor", display_name="基准",
                              role=Role.SUPERVISOR, password=PASSWORD)
        url = f"http://127.0.0.1:{port}"
        rows, p99 = [], {}
        try:
            for name, path, rate, stalled in plan:
                f = await one_run(app, url, path, args.clients, stalled, rate, args.seconds,
                                  args.keys, folder)
                p99[name, rate, stalled] = f["p99"]
                rows.append([name, rate, args.clients, stalled, f["published"],
                             f"{100 * f['covered'] / max(f['expected'], 1):.1f}%",
                             f"{f['messages'] / args.clients:.0f}", f["encoded"],
                             f["closed_slow"], 1000 * f["p50"], 1000 * f["p99"],
                             1000 * f["max"], f["stalled_still_open"],
                             f"{100 * f['server_cpu'] / (f['offered_seconds'] + 0.5):.0f}%",
                             f"{100 * f['clients_cpu'] / (f['offered_seconds'] + 0.5):.0f}%"])
                print(table(HEADERS, [rows[-1]]).splitlines()[-1], flush=True)
        finally:
            await runner.cleanup()
    print()
    print(table(HEADERS, rows))
    for rate in args.baseline_rates:
        if ("ours", rate, 0) in p99 and p99["ours", rate, 0] > 0:
            print(f"p99 at {rate:g} events/s: per-event ÷ ours = "
                  f"{p99['per-event', rate, 0] / p99['ours', rate, 0]:.2f}×")
    for rate in args.rates:
        print(f"p99 at {rate:g} events/s with a stalled client ÷ without = "
              f"{p99['ours', rate, 1] / max(p99['ours', rate, 0], 1e-9):.2f}×")
    print("target: p99 < 100 ms at 2,000 events/s; a stalled client does not move the others' "
          "p99")


HEADERS = ["fan-out", "events/s", "clients", "stalled", "events", "effect delivered",
           "msgs/client", "encoded", "closed 4008", "p50 ms", "p99 ms", "max ms",
           "stalled still open", "server CPU", "clients CPU"]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 2000],
                        help="bus events/s through /ws/wallboard (each with and without a "
                             "stalled client)")
    parser.add_argument("--baseline-rates", type=float, nargs="*", default=[100],
                        help="events/s through the per-event baseline (2,000 overruns it)")
    parser.add_argument("--keys", type=int, default=20, help="queues the events go round")
    parser.add_argument("--interval", type=float, default=FLUSH_INTERVAL,
                        help="the hub's coalescing interval, s")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--queue-size", type=int, default=256)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
