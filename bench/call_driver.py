"""Asterisk's side of whole calls for bench_call.py, in its own process: `calls` FastAGI
sessions of the real `ivr` route at `rate` per second, each through the stand-in
(hotline.testing.agi_client, replies as in agi-session-normal), the caller silent (no keys, no
recording: the flow's default path to an agent). `hold` seconds are spent on the first
STREAM FILE (the greeting playing: media takes time, variables do not), so `rate * hold` calls
are open at once. Prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from hotline.testing.agi_client import AgiSession, Caller


class _Delayed:
    def __init__(self, reader: asyncio.StreamReader, hold: float) -> None:
        self.reader, self.hold, self.first = reader, hold, True

    async def readline(self) -> bytes:
        line = await self.reader.readline()
        if self.first and line.startswith(b"STREAM FILE"):  # the greeting plays
            self.first = False
            await asyncio.sleep(self.hold)
        return line


class HeldSession(AgiSession):
    hold = 0.0

    async def run(self, limit: float = 60.0) -> Any:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        held: Any = _Delayed(reader, self.hold)
        return await self.converse(held, writer, self.environment(), limit)


async def main(args: argparse.Namespace) -> None:
    HeldSession.hold = args.hold
    durations: list[float] = []
    routed = failed = 0

    async def one(n: int) -> None:
        nonlocal routed, failed
        uniqueid = f"{int(time.time())}.{n}"
        script = f"ivr?line=12345-5301&region=530100&node=bench&linkedid={uniqueid}"
        started = time.monotonic()
        try:
            result = await HeldSession(Caller(number=f"139{n:08d}"), script=script,
                                       uniqueid=uniqueid, channel=f"PJSIP/trunk-{n:08x}",
                                       port=args.port).run(limit=args.hold + 60)
        except (OSError, TimeoutError):
            failed += 1
            return
        durations.append(time.monotonic() - started)
        routed += "HOTLINE_DEST" in result.variables

    began = time.monotonic()
    tasks = []
    for n in range(args.calls):
        delay = began + n / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    print(json.dumps({"durations": durations, "routed": routed, "failed": failed}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--hold", type=float, default=0.0)
    asyncio.run(main(parser.parse_args()))
