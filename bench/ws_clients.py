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
import base64
import json
import os
import re
import sys
import time
from array import array
from pathlib import Path

import aiohttp

N_FIELD = re.compile(rb'"n": (\d+)')  # only the bench's queue views carry "n"


class Reader(asyncio.Protocol):
    """A lean websocket reader (server frames are never masked): one Python process plays 500
    browsers, so it must not cost what aiohttp's client does per message. Notes the arrival of
    every bench queue state; answers pings; ends on the `bench-end` alert or a close frame."""

    def __init__(self, request: bytes, receipts: list[tuple[int, float]]) -> None:
        self.request, self.receipts = request, receipts
        self.buffer = bytearray()
        self.upgraded = False
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.messages = 0
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:buffer.find(b"\r\n")])
            del buffer[:end + 4]
            if b" 101 " not in status:
                self.first.set_exception(RuntimeError(status.decode()))
                return
            self.upgraded = True
        arrived = time.monotonic()
        while len(buffer) >= 2:
            opcode, size, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, at = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, at = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < at + size:
                return
            payload = bytes(buffer[at:at + size])
            del buffer[:at + size]
            self.frame(opcode, payload, arrived)

    def frame(self, opcode: int, payload: bytes, arrived: float) -> None:
        if opcode == 0x1:
            if not self.first.done():
                self.first.set_result(None)  # the snapshot
                return
            self.messages += 1
            self.receipts.extend((int(n), arrived) for n in N_FIELD.findall(payload))
            if b'"bench-end"' in payload and not self.done.done():
                self.done.set_result(None)
        elif opcode == 0x9 and self.transport is not None:  # ping: a masked pong, zero mask
            self.transport.write(bytes([0x8A, 0x80 | len(payload), 0, 0, 0, 0]) + payload)
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def open_reader(url: str, path: str, cookie: str,
                      receipts: list[tuple[int, float]]) -> tuple[asyncio.Transport, Reader]:
    host, port = url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {url}\r\nCookie: {cookie}\r\n\r\n")
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(
        lambda: Reader(request.encode(), receipts), host, int(port))
    return transport, reader


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
        cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
        readers = [await open_reader(args.url, args.path, cookie, receipts[i])
                   for i in range(args.clients)]
        stalled = [await http.ws_connect(args.path, headers=headers)
                   for _ in range(args.stalled)]
        for _, reader in readers:  # the snapshot each socket starts with
            await reader.first
        print("READY", flush=True)
        cpu_began = time.process_time()
        try:
            async with asyncio.timeout(args.timeout):
                await asyncio.gather(*(reader.done for _, reader in readers))
        except TimeoutError:
            pass
        cpu = time.process_time() - cpu_began  # the reading, until the end mark
        closed_slow = sum(reader.close_code == 4008 for _, reader in readers)
        messages = sum(reader.messages for _, reader in readers)
        stalled_open = sum(not ws.closed for ws in stalled)
        for transport, _ in readers:
            transport.close()
        for ws in stalled:
            await ws.close()
    sent = json.loads(await asyncio.to_thread(Path(args.sent_file).read_text))
    delays = array("d")
    covered = sum(delays_of(r, sent, args.keys, delays) for r in receipts)
    ordered = sorted(delays)

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    print(json.dumps({"p50": pick(50), "p99": pick(99), "max": ordered[-1] if ordered else 0.0,
                      "covered": covered, "expected": len(sent) * args.clients,
                      "messages": messages, "closed_slow": closed_slow,
                      "stalled_still_open": stalled_open, "clients_cpu": cpu}), flush=True)


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
