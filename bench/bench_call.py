"""Benchmarks 2 and 7 (issue 7), small forms: whole calls through the real IVR (`ivr` route of
the real app: call row, greeting, notice, menu, the line's queue; SQLite in WAL mode; speech
excluded: no model configured, so a caller who would speak goes to an agent), and a soak.

The controller (create_app: web, FastAGI, AMI, database) runs in this process; the calls come
from call_driver.py in another process, so this process's CPU is the controller's.

- whole call: `--calls` calls at `--rate`/s: controller CPU per call (target ≤ 0.5 ms), beside
  the scripted 10-command session of bench_fastagi on the same FastAGI server as the baseline
  (ratio: how many bare sessions one real call costs);
- soak: `--soak-seconds` of `--soak-rate` new calls/s each held `--hold` s (so rate × hold calls
  open at once): event-loop lag p99 (target ≤ 20 ms) and the RSS slope (target: flat), also
  from the end of the ramp-up (`--hold` s) to the last new call (the steady state). The
  issue's soak is 10 calls/s, 1,000 concurrent, 10 minutes: `--soak-seconds 600 --hold 100`.

    python bench/bench_call.py --calls 300 --soak-seconds 30
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
from agi_servers import LANGUAGE, VARIABLES
from aiohttp import web
from bench_fastagi import drive
from benchlib import PYTHON, cpu_seconds, free_port, header, percentile, rss_mib, table

from hotline.asterisk.agi_channel import AgiChannel
from hotline.config import load_settings
from hotline.db.engine import create_engine
from hotline.db.migrate import upgrade_with_reference_data
from hotline.web.app import create_app
from hotline.web.keys import FASTAGI

HERE = Path(__file__).resolve().parent


async def scripted(channel: AgiChannel) -> None:
    await channel.answer()
    for name, value in VARIABLES:
        await channel.set_variable(name, value)
    await channel.get_variable(LANGUAGE)


async def calls(port: int, count: int, rate: float, hold: float) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, str(HERE / "call_driver.py"), str(port), "--calls", str(count), "--rate",
        str(rate), "--hold", str(hold), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + 0.05
        await asyncio.sleep(0.05)
        samples.append(loop.time() - expected)


def slope_mib_per_min(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (r - mean_r) for t, r in points) / var if var else 0.0


async def main(args: argparse.Namespace) -> None:
    header("Whole calls through the real IVR, and a soak")
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite+aiosqlite:///{folder}/bench.db"
        engine = create_engine(db_url)
        await upgrade_with_reference_data(engine)
        await engine.dispose()
        (Path(folder) / "hotline.toml").touch()
        agi_port = free_port()
        settings = load_settings(Path(folder) / "hotline.toml", environ={
            "HOTLINE_DATA_DIR": f"{folder}/var", "HOTLINE_DATABASE_URL": db_url,
            "HOTLINE_WEB_BIND": f"127.0.0.1:{free_port()}",
            "HOTLINE_FASTAGI_BIND": f"127.0.0.1:{agi_port}",
            "HOTLINE_FASTAGI_MAX_SESSIONS": "5000", "HOTLINE_LOG_LEVEL": "WARNING"})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            server = app[FASTAGI]
            server.route("bench", scripted)
            await calls(agi_port, 20, 20, 0)  # warm-up: line cache, connections
            cpu0 = cpu_seconds()
            whole = await calls(agi_port, args.calls, args.rate, 0)
            whole_cpu = 1000 * (cpu_seconds() - cpu0) / max(len(whole["durations"]), 1)
            cpu0 = cpu_seconds()
            bare = await drive(agi_port, args.calls, 50)
            bare_cpu = 1000 * (cpu_seconds() - cpu0) / max(bare.sessions, 1)
            durations = whole["durations"]
            print(table(["flow", "calls", "routed", "failed", "controller CPU ms/call",
                         "p50 call ms", "p99 call ms"], [
                ["real ivr (DB writes)", args.calls, whole["routed"], whole["failed"],
                 whole_cpu, 1000 * percentile(durations, 50), 1000 * percentile(durations, 99)],
                ["scripted 10 commands", args.calls, bare.sessions, bare.failed, bare_cpu,
                 "", ""]]))
            print(f"real call ÷ scripted session CPU = {whole_cpu / bare_cpu:.1f}x; "
                  f"target ≤ 0.5 ms per call")
            if args.soak_seconds > 0:
                await soak(agi_port, args)
        finally:
            await runner.cleanup()


async def soak(port: int, args: argparse.Namespace) -> None:
    samples: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(samples, stop))
    rss: list[tuple[float, float]] = []
    began = time.monotonic()
    driver = asyncio.create_task(calls(port, int(args.soak_rate * args.soak_seconds),
                                       args.soak_rate, args.hold))
    while not driver.done():
        rss.append((time.monotonic() - began, rss_mib()))
        await asyncio.wait({driver}, timeout=1.0)
    stop.set()
    await probe
    result = driver.result()
    steady = [(t, r) for t, r in rss if args.hold <= t <= args.soak_seconds]
    print(table(["soak s", "calls/s", "held s", "open at once", "routed", "failed",
                 "loop lag p99 ms", "max ms", "RSS MiB start→end", "RSS slope MiB/min",
                 "after ramp-up"], [
        [args.soak_seconds, args.soak_rate, args.hold, int(args.soak_rate * args.hold),
         result["routed"], result["failed"], 1000 * percentile(samples, 99),
         1000 * max(samples, default=0), f"{rss[0][1]:.1f}→{rss[-1][1]:.1f}",
         slope_mib_per_min(rss), slope_mib_per_min(steady)]]))
    print("targets: loop lag p99 ≤ 20 ms, RSS flat")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--soak-seconds", type=float, default=30)
    parser.add_argument("--soak-rate", type=float, default=10)
    parser.add_argument("--hold", type=float, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
