"""AMI actions under random peer faults (issue 7: "every action resolves or times out …; no
Originate is ever re-sent blindly"). Our client (hotline.asterisk.ami.AmiNode) against the AMI
stand-in (answers as ../shared/asterisk-22/transcripts/ami-actions.jsonl and
ami-actions-live.jsonl do) sends Ping, QueueStatus (a list) and async Originate with a unique
ChannelId, many at a time, while the peer stops reading, drops the connection or restarts with
new state at random. Every action ends — an answer or one of AmiError's kinds, never a hang —
and each ChannelId reaches the peer at most once. Counts: `HOTLINE_FAULTS_SCALE`."""

import asyncio
import random
import time
from collections import Counter

from pydantic import SecretStr

from hotline.asterisk.ami import AmiError, AmiNode, NodeState
from hotline.config import AsteriskNodeConfig
from hotline.testing.ami_server import AmiStandin

from faults.harness import print_table, scaled, wait_until

ACTION_TIMEOUT = 1.0


async def test_every_action_ends_and_no_originate_is_sent_twice():
    rng = random.Random(11)
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    async with AmiStandin(auth_failure_delay=0.05) as ami:
        config = AsteriskNodeConfig(name="pbx1", host="127.0.0.1", port=ami.port,
                                    username="hotline", secret=SecretStr("hotline-secret"))
        node = AmiNode(config, backoff=(0.05, 0.2), action_timeout=ACTION_TIMEOUT,
                       ping_interval=0.2, ping_timeout=0.5, connect_timeout=1.0)
        runner = asyncio.create_task(node.run())
        stop = asyncio.Event()

        async def faults() -> None:
            while not stop.is_set():
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                fault = rng.choice(["half-open", "drop", "restart", "none"])
                outcomes[f"fault: {fault}"] += 1
                if fault == "half-open":
                    ami.stop_reading()
                    await asyncio.sleep(rng.uniform(0.1, 0.8))
                    ami.resume_reading()
                elif fault == "drop":
                    ami.drop()
                elif fault == "restart":
                    ami.restart()

        async def one(i: int) -> None:
            nonlocal slowest
            kind = ("Ping", "QueueStatus", "Originate")[i % 3]
            started = time.monotonic()
            try:
                if kind == "Ping":
                    await node.action({"Action": "Ping"})
                elif kind == "QueueStatus":
                    await node.action({"Action": "QueueStatus"}, as_list=True)
                else:
                    await node.originate("Local/13800000002@caller-sim", channel_id=f"bench-{i}",
                                         application="Playback", data="beep",
                                         reply_within=ACTION_TIMEOUT)
                outcomes[f"{kind}: answered"] += 1
            except AmiError as exc:
                outcomes[f"{kind}: {type(exc).__name__}"] += 1
            slowest = max(slowest, time.monotonic() - started)

        try:
            await wait_until(lambda: node.state == NodeState.CONNECTED, within=10)
            chaos = asyncio.create_task(faults())
            total = scaled(200)
            limit = asyncio.Semaphore(10)

            async def paced(i: int) -> None:
                async with limit:
                    await one(i)
                    await asyncio.sleep(0.05)

            async with asyncio.timeout(120):  # a hang fails here
                await asyncio.gather(*(paced(i) for i in range(total)))
            stop.set()
            await chaos
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        sent = Counter(a.get("ChannelId") for a in ami.actions_named("Originate"))
    print_table(["outcome", "count"], [[k, v] for k, v in sorted(outcomes.items())])
    print_table(["actions", "slowest s", "Originates received", "ChannelIds sent twice"],
                [[total, f"{slowest:.2f}", sum(sent.values()),
                  sum(n > 1 for n in sent.values())]])
    ended = sum(v for k, v in outcomes.items() if not k.startswith("fault"))
    assert ended == total
    assert all(n == 1 for n in sent.values())
    assert outcomes["Originate: answered"] > 0 and outcomes["Ping: answered"] > 0
