"""The websocket clients of the wallboard benchmark, in their own process: log in as a
supervisor, open N websockets on /ws/wallboard (plus `--stalled` ones that never read), print
READY, record the delay of every `bench` event (publisher's monotonic clock → now; one machine),
and after the `bench-end` event print one JSON line of figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time

import aiohttp


async def main(args: argparse.Namespace) -> None:
    delays: list[float] = []
    received = [0] * args.clients
    closed_slow = 0
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
    connector = aiohttp.TCPConnector(limit=0)  # every websocket holds a connection
    async with aiohttp.ClientSession(base_url=args.url, cookie_jar=jar,
                                     connector=connector) as http:
        page = await http.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert match, "no login form"
        login = await http.post("/login", data={"username": args.user, "password": args.password,
                                                "csrf_token": match[1]}, allow_redirects=False)
        assert login.status == 303, await login.text()
        headers = {"Origin": args.url}
        sockets = [await http.ws_connect("/ws/wallboard", headers=headers, max_msg_size=0)
                   for _ in range(args.clients)]
        stalled = [await http.ws_connect("/ws/wallboard", headers=headers)
                   for _ in range(args.stalled)]
        for ws in sockets:  # the snapshot each socket starts with
            await ws.receive()
        print("READY", flush=True)

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal closed_slow
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                if event.get("type") == "bench":
                    delays.append(time.monotonic() - event["sent"])
                    received[i] += 1
                elif event.get("type") == "bench-end":
                    break
            if ws.close_code == 4008:
                closed_slow += 1

        try:
            async with asyncio.timeout(args.timeout):
                await asyncio.gather(*(read(i, ws) for i, ws in enumerate(sockets)))
        except TimeoutError:
            pass
        stalled_open = sum(not ws.closed for ws in stalled)
        for ws in sockets + stalled:
            await ws.close()
    print(json.dumps({"delays": delays, "received": received, "closed_slow": closed_slow,
                      "stalled_still_open": stalled_open}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--stalled", type=int, default=0)
    parser.add_argument("--user", default="bench-supervisor")
    parser.add_argument("--password", default="Correct-Horse-42")
    parser.add_argument("--timeout", type=float, default=60)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
