"""`hotline simulate`: calls without a PBX. A SIMULATION: the Asterisk stand-ins of this package
(derived from the captures of a real Asterisk 22.10.1) play Asterisk's part against a running
`hotline serve`:

- the FastAGI side: each call opens a FastAGI session to the controller, as Asterisk's
  `AGI(agi://…/ivr?…)` would, with a transcript-shaped environment;
- the AMI side, when the configuration names an Asterisk node: an AMI stand-in listens where the
  node is configured (the controller connects to it as to a real Asterisk), and each call's
  queue events follow (QueueCallerJoin, AgentConnect, AgentComplete or QueueCallerAbandon,
  Hangup) with the same uniqueid, so the controller sees the whole call.

Without a node only the FastAGI side runs (the calls stay open: nothing tells the controller
they ended). It is also the load generator of the benchmarks.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from hotline.config import AsteriskNodeConfig, Settings
from hotline.testing.agi_client import AgiSession, Caller
from hotline.testing.ami_server import AmiStandin
from hotline.testing.ami_state import AsteriskState, Member, Queue

BANNER = ("SIMULATION — no real calls, no PBX: stand-ins for Asterisk 22 (built from recorded "
          "wire transcripts) are playing Asterisk's part.")
# Lines and their queues as shipped (src/hotline/data/lines.csv); calls spread over them.
SIM_LINES = [("12345-5301", "530100", "hl-12345-5301"), ("96128", "530000", "hl-96128"),
             ("12345-5329", "532900", "hl-12345-5329"), ("12345-5303", "530300", "hl-12345-5303")]


@dataclass
class SimulationReport:
    placed: int = 0
    ivr_done: int = 0
    answered: int = 0
    abandoned: int = 0
    failed: int = 0
    ami: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"calls placed:        {self.placed}",
            f"through the IVR:     {self.ivr_done}",
            f"answered by agents:  {self.answered}" + ("" if self.ami else " (no AMI node)"),
            f"abandoned in queue:  {self.abandoned}",
            f"failed:              {self.failed}",
            f"time:                {self.seconds:.1f} s",
        ]


def _state_for(agents: int) -> AsteriskState:
    state = AsteriskState.from_transcripts()
    for _, _, queue in SIM_LINES:
        members = {f"Local/{8000 + i}@hotline-agents/n": Member(
            f"Local/{8000 + i}@hotline-agents/n", f"坐席{8000 + i}") for i in range(1, agents + 1)}
        state.queues[queue] = Queue(queue, "rrmemory", members)
    return state


class Simulation:
    def __init__(self, settings: Settings, *, calls: int, rate: float, agents: int,
                 node: AsteriskNodeConfig | None, talk_seconds: float = 1.0,
                 abandon_share: float = 0.1, seed: int = 12345) -> None:
        self.settings = settings
        self.calls, self.rate, self.agents = calls, rate, agents
        self.node = node
        self.talk_seconds, self.abandon_share = talk_seconds, abandon_share
        self.random = random.Random(seed)
        # Decided up front, so the outcome of a run does not depend on how the calls interleave.
        self._abandoning = set(self.random.sample(range(calls), round(calls * abandon_share)))
        self.report = SimulationReport(ami=node is not None)
        self.ami: AmiStandin | None = None
        self._free_agents = asyncio.Semaphore(agents)

    async def run(self, connect_wait: float = 60.0) -> SimulationReport:
        started = time.monotonic()
        if self.node is not None:
            self.ami = AmiStandin(username=self.node.username,
                                  secret=self.node.secret.get_secret_value(),
                                  host=self.node.host, port=self.node.port,
                                  state=_state_for(self.agents))
            await self.ami.start()
            try:
                async with asyncio.timeout(connect_wait):
                    # Logged in and resynced: the controller now hears this node's events.
                    await self.ami.wait_for_action("CoreShowChannels")
            except TimeoutError:
                self.report.errors.append(
                    f"hotline serve did not connect to the AMI stand-in at "
                    f"{self.node.host}:{self.node.port} within {connect_wait:.0f} s")
                await self.ami.close()
                return self.report
        try:
            tasks = []
            for number in range(self.calls):
                tasks.append(asyncio.create_task(self._one_call(number)))
                await asyncio.sleep(1 / self.rate)
            await asyncio.gather(*tasks)
        finally:
            if self.ami is not None:
                await asyncio.sleep(0.5)  # the last events reach the controller
                await self.ami.close()
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _one_call(self, number: int) -> None:
        line, region, queue = SIM_LINES[number % len(SIM_LINES)]
        node = self.node.name if self.node else "sim"
        uniqueid = (self.ami.state.new_uniqueid() if self.ami
                    else f"{int(time.time())}.{number}")
        caller = Caller(number=f"138{(number * 7919 + 1234567) % 10**8:08d}")
        bind = self.settings.fastagi.bind
        script = f"ivr?line={line}&region={region}&node={node}&linkedid={uniqueid}"
        self.report.placed += 1
        try:
            result = await AgiSession(caller, script=script, uniqueid=uniqueid,
                                      channel=f"PJSIP/trunk-{number:08x}", host=bind.host,
                                      port=bind.port).run(limit=30)
        except (OSError, TimeoutError) as exc:
            self.report.failed += 1
            self.report.errors.append(f"call {number}: FastAGI: {exc}")
            return
        self.report.ivr_done += 1
        if self.ami is None or result.variables.get("HOTLINE_DEST") != "queue":
            return
        call = self.ami.queued_call(caller_num=caller.number, queue=queue, line=line,
                                    uniqueid=uniqueid)
        if number in self._abandoning:
            await asyncio.sleep(self.random.uniform(0.1, 0.5))
            self.ami.abandon(call)
            self.report.abandoned += 1
            return
        async with self._free_agents:
            self.ami.agent_connect(call)
            await asyncio.sleep(self.talk_seconds)
            self.ami.agent_complete(call, reason=self.random.choice(["agent", "caller"]))
        self.report.answered += 1


async def simulate(settings: Settings, *, calls: int, rate: float, agents: int,
                   node_name: str | None) -> SimulationReport:
    node = None
    if settings.asterisk:
        matches = [n for n in settings.asterisk if node_name in (None, n.name)]
        if not matches:
            raise LookupError(f"no [[asterisk]] node named {node_name!r} in the configuration")
        node = matches[0]
    elif node_name is not None:
        raise LookupError(f"no [[asterisk]] node named {node_name!r} in the configuration")
    return await Simulation(settings, calls=calls, rate=rate, agents=agents, node=node).run()
