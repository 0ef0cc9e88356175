"""The FastAGI servers the FastAGI benchmark compares, each run as its own process
(`python bench/agi_servers.py KIND`) so its CPU time is measured alone:

- `ours`: hotline's FastAgiServer with a flow doing the scripted session;
- `panoramisk`: panoramisk 1.4's `fast_agi.Application` with an `async def` endpoint doing the
  same commands (asyncio streams, `asyncio.start_server`);
- `process`: process-per-call AGI: each connection gets a new Python process running pyst2's
  `asterisk.agi.AGI` with the socket as its stdin/stdout — what Asterisk does with a classic
  AGI script over pipes, minus Asterisk's own copying.

Control protocol on stdin/stdout: the server prints `PORT <n>`; each `cpu` line read from stdin
is answered with the process's CPU seconds so far (plus reaped children's for `process`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import cpu_seconds

# The scripted 10-command IVR session: ANSWER, 8 x SET VARIABLE, GET VARIABLE.
VARIABLES = [(f"BENCH_VAR_{i}", f"value-{i}") for i in range(1, 9)]
LANGUAGE = "CHANNEL(language)"

PYST2_SCRIPT = f"""
import sys
from asterisk.agi import AGI
agi = AGI(stderr=open('/dev/null', 'w'))
agi.answer()
for name, value in {VARIABLES!r}:
    agi.set_variable(name, value)
agi.get_variable({LANGUAGE!r})
"""


async def serve_ours() -> int:
    from hotline.asterisk.agi_channel import AgiChannel
    from hotline.asterisk.fastagi import FastAgiServer
    from hotline.config import Bind

    async def flow(channel: AgiChannel) -> None:
        await channel.answer()
        for name, value in VARIABLES:
            await channel.set_variable(name, value)
        await channel.get_variable(LANGUAGE)

    server = FastAgiServer(Bind("127.0.0.1", 0), {"bench": flow}, max_sessions=10_000)
    await server.start()
    return server.port


async def serve_panoramisk() -> int:
    from panoramisk.fast_agi import Application

    async def endpoint(request):  # type: ignore[no-untyped-def]
        await request.send_command("ANSWER")
        for name, value in VARIABLES:
            await request.send_command(f'SET VARIABLE {name} "{value}"')
        await request.send_command(f"GET VARIABLE {LANGUAGE}")

    app = Application()
    app.add_route("bench", endpoint)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=1024)
    _keep.append(server)
    return int(server.sockets[0].getsockname()[1])


async def serve_process() -> int:
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)

    async def one(conn: socket.socket) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PYST2_SCRIPT, stdin=conn, stdout=conn,
                stderr=asyncio.subprocess.DEVNULL)
        finally:
            conn.close()  # the child holds its own copy; it closes when the script ends
        await proc.wait()

    async def accept() -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(True)
            task = asyncio.create_task(one(conn))
            _keep.append(task)
            task.add_done_callback(_keep.remove)

    _keep.append(asyncio.create_task(accept()))
    return int(listener.getsockname()[1])


async def serve_overload(shedding: bool) -> int:
    """A heavier flow for the overload benchmark: 10 commands and 2 ms of CPU (standing for
    the IVR's own work) per call; while shedding, the shortest path to the queue instead (two
    SET VARIABLE, no prompt, no work) — what the real flow does with `channel.shedding`."""
    from hotline.asterisk.agi_channel import AgiChannel
    from hotline.asterisk.fastagi import FastAgiServer
    from hotline.config import Bind

    async def flow(channel: AgiChannel) -> None:
        if channel.shedding:
            await channel.set_variable("HOTLINE_QUEUE", "hl-96128")
            await channel.set_variable("HOTLINE_DEST", "queue")
            return
        await channel.answer()
        for name, value in VARIABLES:
            await channel.set_variable(name, value)
        busy_until = time.process_time() + 0.002
        while time.process_time() < busy_until:
            pass
        await channel.set_variable("HOTLINE_DEST", "queue")

    server = FastAgiServer(Bind("127.0.0.1", 0), {"bench": flow}, max_sessions=100_000,
                           shed_loop_lag=0.1 if shedding else 0,
                           shed_round_trip=0.2 if shedding else 0)
    await server.start()
    _keep.append(server)
    return server.port


async def serve_shedding() -> int:
    return await serve_overload(True)


async def serve_no_shedding() -> int:
    return await serve_overload(False)


_keep: list[object] = []
SERVERS = {"ours": serve_ours, "panoramisk": serve_panoramisk, "process": serve_process,
           "shedding": serve_shedding, "no-shedding": serve_no_shedding}


async def main(kind: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    port = await SERVERS[kind]()
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    stdin = sys.stdin.buffer.raw  # type: ignore[attr-defined]

    def on_control() -> None:
        line = os.read(stdin.fileno(), 1024)
        if not line:
            loop.remove_reader(stdin.fileno())
            done.set_result(None)
            return
        for _ in line.split(b"\n")[:-1]:
            sys.stdout.write(f"{cpu_seconds(children=kind == 'process'):.6f}\n")
        sys.stdout.flush()

    loop.add_reader(stdin.fileno(), on_control)
    await done


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
