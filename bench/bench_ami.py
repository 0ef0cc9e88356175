"""Benchmark 3 (issue 7): AMI ingest. The events Asterisk 22 sent in the captures
(transcripts ami-queue-call, ami-abandon, ami-actions-live, ami-agi-*: every `Event:` message,
in order) are repeated into one byte stream and replayed at full speed, in 16 KiB reads, into:

- ours, live path: panoramisk's AMIProtocol parser (what `hotline.asterisk.ami.AmiNode` runs
  on) → a real panoramisk Manager dispatching to `AmiNode._on_event` (numbering, NodeEvent) →
  the live queue state `hotline.queue.state.QueueState.apply`;
- ours, sans-IO codec: `hotline.asterisk.ami_codec.AmiParser` → NodeEvent → the same
  `QueueState.apply` (the codec the stand-in and the tests use);
- baseline: panoramisk's bare parser (AMIProtocol.data_received with no handler registered).

Printed: events/s each, and ours ÷ baseline (target ≥ 1.0 while we also apply the events).

    python bench/bench_ami.py --events 200000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import header, table
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from pydantic import SecretStr

from hotline.asterisk.ami import AmiNode, NodeEvent
from hotline.asterisk.ami_codec import AmiParser, Message
from hotline.config import AsteriskNodeConfig
from hotline.queue.state import QueueState
from hotline.testing.transcripts import load, names

CHUNK = 16 * 1024
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def event_stream(count: int) -> tuple[bytes, int]:
    blocks = [r.data for n in names() if n.startswith("ami-") for r in load(n)
              if r.direction == "recv" and r.data.startswith(b"Event:")]
    data = bytearray(BANNER)
    events = 0
    while events < count:
        for block in blocks:
            data += block
            events += 1
    return bytes(data), events


class _Transport(asyncio.Transport):
    def write(self, data: bytes) -> None:  # type: ignore[override]
        pass

    def close(self) -> None:
        pass


def panoramisk_protocol(manager: object) -> AMIProtocol:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = manager
    return protocol


def replay(feed, data: bytes) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for at in range(0, len(data), CHUNK):
        feed(data[at:at + CHUNK])
    return time.perf_counter() - started


def bare(data: bytes) -> float:
    manager = Manager(loop=asyncio.get_running_loop(), ping_delay=10**9)
    return replay(panoramisk_protocol(manager).data_received, data)


def live_path(data: bytes, state: QueueState) -> float:
    manager = Manager(loop=asyncio.get_running_loop(), ping_delay=10**9)
    node = AmiNode(AsteriskNodeConfig(name="pbx1", username="hotline",
                                      secret=SecretStr("bench")))
    node.subscribers.append(state.apply)
    manager.register_event("*", node._on_event)
    return replay(panoramisk_protocol(manager).data_received, data)


def codec_path(data: bytes, state: QueueState) -> float:
    parser = AmiParser()
    seq = 0

    def feed(chunk: bytes) -> None:
        nonlocal seq
        for event in parser.feed(chunk):
            if isinstance(event, Message):
                seq += 1
                message = event.message
                state.apply(NodeEvent("pbx1", message.get("Event") or "", message,  # type: ignore[arg-type]
                                      seq=seq))

    return replay(feed, data)


def synced_state() -> QueueState:
    """Live state after this connection's resync (so events apply, none is journalled)."""
    state = QueueState()
    node = state.node("pbx1")
    node.connected, node.synced_at = True, datetime.now(UTC)
    return state


async def main(args: argparse.Namespace) -> None:
    header("AMI ingest: captured events replayed at full speed")
    data, events = event_stream(args.events)
    rows = []
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # best of N: the machine is shared
        for label, run in (("panoramisk bare parser (baseline)", lambda: bare(data)),
                           ("ours: live path → QueueState",
                            lambda: live_path(data, synced_state())),
                           ("ours: sans-IO codec → QueueState",
                            lambda: codec_path(data, synced_state()))):
            seconds = run()
            best[label] = min(best.get(label, seconds), seconds)
    base = events / best["panoramisk bare parser (baseline)"]
    for label, seconds in best.items():
        rate = events / seconds
        rows.append([label, events, rate, f"{rate / base:.2f}x"])
    print(table(["path", "events", "events/s", "÷ baseline"], rows))
    print("target: ours ÷ baseline ≥ 1.0 while also applying the events to state")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
