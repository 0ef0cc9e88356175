"""FastAGI under hostile peers: truncated headers, byte-at-a-time senders, HANGUP in the middle
of a session, and fuzzed inputs (mutations of Asterisk's side of the captures
../shared/asterisk-22/transcripts/agi-session-*.jsonl). The event loop never stalls, every
socket is closed, the server's sessions and tasks and the process's open file descriptors go
back to the baseline. Counts are small for CI; `HOTLINE_FAULTS_SCALE` multiplies them (the
issue's 100,000 fuzzed inputs: HOTLINE_FAULTS_SCALE=250)."""

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hotline.asterisk.fastagi import FastAgiServer
from hotline.config import Bind
from hotline.testing.agi_client import AgiSession, Caller
from hotline.testing.transcripts import load, names

from faults.harness import print_table, scaled

T = TypeVar("T")
SOURCES = [b"".join(r.data for r in load(n) if r.direction == "recv")
           for n in names() if n.startswith("agi-session-")]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:  # cut here
            del data[at:]
        elif kind == 2:  # random bytes
            data[at:at] = rng.randbytes(rng.randint(1, 40))
        elif kind == 3:  # a HANGUP anywhere, even inside a line
            data[at:at] = b"HANGUP\n"
        elif kind == 4:  # drop a slice
            del data[at:at + rng.randint(1, 30)]
        else:  # a very long line
            data[at:at] = b"200 result=1 (" + b"x" * rng.randint(100, 20000)
    return bytes(data)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _lag_probe(stop: asyncio.Event, seen: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + 0.01
        await asyncio.sleep(0.01)
        seen.append(loop.time() - expected)


async def _send_and_wait_close(port: int, data: bytes, *, per_byte: float = 0.0) -> bool:
    """True when the server closed the connection (EOF) after our bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(10):
            if per_byte:
                for byte in data:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(per_byte)
                    if reader.at_eof():
                        break
            else:
                writer.write(data)
            if not writer.is_closing() and writer.can_write_eof():
                writer.write_eof()
            while await reader.read(65536):
                pass
        return True
    except TimeoutError:
        return False  # the server kept it open
    except OSError:  # reset, or already shut down under us: the server closed it
        return True
    finally:
        writer.close()


async def _in_turn(count: int, start: Callable[[int], Awaitable[T]], width: int = 50) -> list[T]:
    """Run start(0) … start(count - 1), `width` at a time (bounded file descriptors; each
    input is made only when its turn comes, so building them never holds the loop)."""
    results: list[Any] = [None] * count
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            results[i] = await start(i)

    await asyncio.gather(*(worker() for _ in range(width)))
    return results


async def test_hostile_peers_never_stall_and_leave_nothing_open():
    async def flow(channel):
        await channel.answer()
        await channel.stream_file("hotline/welcome", "0123456789")
        await channel.set_variable("HOTLINE_DEST", "queue")
        await channel.get_variable("CHANNEL(language)")

    server = FastAgiServer(Bind("127.0.0.1", 0), {"ivr": flow}, env_timeout=1.0,
                           command_timeout=2.0, max_sessions=10_000)
    await server.start()
    baseline = _open_fds()
    stop, lag = asyncio.Event(), []
    probe = asyncio.create_task(_lag_probe(stop, lag))
    rng = random.Random(7)
    rows = []
    try:
        # Truncated environment blocks.
        cut = SOURCES[0].index(b"\n\n")
        closed = await _in_turn(scaled(50), lambda i: _send_and_wait_close(
            server.port, SOURCES[0][:rng.randrange(1, cut)]))
        rows.append(["truncated headers", len(closed), sum(closed)])
        # Byte-at-a-time senders (a slow link), a few at once.
        closed = await _in_turn(scaled(5), lambda i: _send_and_wait_close(
            server.port, SOURCES[0][:200], per_byte=0.004))
        rows.append(["1 byte per 4 ms senders", len(closed), sum(closed)])
        # HANGUP during each command of a normal session.
        sessions = scaled(30)
        results = await _in_turn(sessions, lambda i: AgiSession(
            Caller(hangup_during=i % 2), script="ivr", uniqueid=f"9.{i}",
            channel=f"Local/h{i}", port=server.port).run(limit=10))
        grace = [r.closed_at - r.hung_up_at for r in results if r.hung_up_at and r.closed_at]
        rows.append(["HANGUP in the middle", sessions,
                     sum(r.closed_at is not None for r in results)])
        # Fuzzed inputs.
        closed = await _in_turn(scaled(400), lambda i: _send_and_wait_close(
            server.port, _mutate(random.Random(i), SOURCES[i % len(SOURCES)])))
        rows.append(["fuzzed inputs", len(closed), sum(closed)])
        async with asyncio.timeout(10):  # the last sessions' transports finish closing
            while server.active_sessions or server._tasks:  # noqa: ASYNC110 - server state
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await probe
        after = _open_fds()
        await server.close()
    print_table(["input", "connections", "closed by the server"], rows)
    print_table(["max loop lag ms", "max close after HANGUP ms", "fds before", "fds after"],
                [[f"{max(lag) * 1000:.1f}", f"{max(grace, default=0) * 1000:.0f}", baseline,
                  after]])
    assert all(sent == closed for _, sent, closed in rows)
    assert len(grace) == sessions and max(grace) <= server.hangup_grace + 0.5
    assert after <= baseline
    # A stall detector, loose so a busy shared machine does not trip it (the 50 ms
    # bound is measured in bench/, not asserted here).
    assert max(lag) < 0.5, f"event loop lag {max(lag) * 1000:.1f} ms"
