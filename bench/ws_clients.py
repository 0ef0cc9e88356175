"""The websocket clients of the wallboard benchmark, in their own process: log in as a
supervisor, open N websockets on `--path` (plus `--stalled` ones that never read), print READY,
and note the arrival of every `queue.changed` of a `bench-q*` queue (its view carries `n`, the
number of the bench event it is the state after). After the `bench-end` alert, read the
publisher's send times (`--sent-file`, JSON list indexed by n; event n went to queue n % K) and
count each event's delay, for each client, as the time from its publication until the first
message that includes its effect: a state of its queue with a number ≥ its own (coalesced
messages carry only the latest state per queue). Print one JSON line of figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from array import array
from pathlib import Path

import aiohttp


def delays_of(receipts: list[tuple[int, float]], sent: list[float], keys: int,
              out: array) -> int:
    """Append each covered event's delay to `out`; return how many events were covered.
    `receipts`: (n, arrival) in arrival order."""
    last = [k - keys for k in range(keys)]  # the last event number seen per queue
    covered = 0
    for n, arrived in receipts:
        if n >= len(sent):
            continue
        key = n % keys
        for i in range(last[key] + keys, n + 1, keys):
            out.append(arrived - sent[i])
            covered += 1
        last[key] = max(last[key], n)
    return covered


async def main(args: argparse.Namespace) -> None:
    receipts: list[list[tuple[int, float]]] = [[] for _ in range(args.clients)]
    messages = [0] * args.clients
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
        sockets = [await http.ws_connect(args.path, headers=headers, max_msg_size=0)
                   for _ in range(args.clients)]
        stalled = [await http.ws_connect(args.path, headers=headers)
                   for _ in range(args.stalled)]
        for ws in sockets:  # the snapshot each socket starts with
            await ws.receive()
        print("READY", flush=True)

        async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal closed_slow
            mine = receipts[i]
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                arrived = time.monotonic()
                messages[i] += 1
                data = json.loads(message.data)
                events = data["events"] if data["type"] == "wallboard.batch" else [data]
                end = False
                for event in events:
                    if event["type"] == "queue.changed" and "n" in event["queue"]:
                        mine.append((event["queue"]["n"], arrived))
                    elif event["type"] == "bench-end":
                        end = True
                if end:
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
    sent = json.loads(await asyncio.to_thread(Path(args.sent_file).read_text))
    delays = array("d")
    covered = sum(delays_of(r, sent, args.keys, delays) for r in receipts)
    ordered = sorted(delays)

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    print(json.dumps({"p50": pick(50), "p99": pick(99), "max": ordered[-1] if ordered else 0.0,
                      "covered": covered, "expected": len(sent) * args.clients,
                      "messages": sum(messages), "closed_slow": closed_slow,
                      "stalled_still_open": stalled_open}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--path", default="/ws/wallboard")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--stalled", type=int, default=0)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--sent-file", required=True)
    parser.add_argument("--user", default="bench-supervisor")
    parser.add_argument("--password", default="Correct-Horse-42")
    parser.add_argument("--timeout", type=float, default=60)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
