"""AMI events → agent states and screen pops.

The events and their fields are those of ../shared/asterisk-22/transcripts/ami-queue-call
(AgentCalled, AgentConnect with HoldTime/RingTime, AgentComplete `Reason: agent`) and
ami-actions-live (AgentComplete `Reason: caller`): each carries the member's `Interface`, the
caller's `Uniqueid`, `Linkedid`, `Channel`, `CallerIDNum`, the `Queue`, and the member's leg
as `DestChannel`. AgentRingNoAnswer and AgentDump are not in the captures (assumed, not
captured: same caller/member fields; both end the ringing).

Events are handled one at a time, in arrival order, by one task (a bounded queue in front), so
the AMI reader never waits on the database and an agent's events are never reordered. After a
(re)connect the resync wins: a logged-in agent whose interface Asterisk no longer lists as a
member (Asterisk restarted) is added to their queues again, and a call Asterisk no longer has
ends the agent's ringing or call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hotline.agents.models import AgentState
from hotline.agents.screen_pop import build_pop
from hotline.agents.services import Agent, AgentDesk, AgentError, CurrentCall
from hotline.asterisk.ami import NodeEvent

log = logging.getLogger(__name__)
MAX_PENDING_EVENTS = 10_000
HANDLED = frozenset({"AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer",
                     "AgentDump", "resynced"})


def current_call(event: NodeEvent) -> CurrentCall:
    return CurrentCall(node=event.node, uniqueid=event.get("Uniqueid"),
                       linkedid=event.get("Linkedid"), channel=event.get("Channel"),
                       agent_channel=event.get("DestChannel"), queue=event.get("Queue"),
                       caller_number=event.get("CallerIDNum"))


class AgentEventHandler:
    def __init__(self, desk: AgentDesk) -> None:
        self.desk = desk
        self._queue: asyncio.Queue[NodeEvent] = asyncio.Queue(MAX_PENDING_EVENTS)
        self._worker: asyncio.Task[None] | None = None

    def __call__(self, event: NodeEvent) -> None:
        if event.name not in HANDLED:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.error("agent events: %d pending, dropping %s", MAX_PENDING_EVENTS, event.name)

    def start(self) -> None:
        """Handle the events queued so far and from now on (after the desk has loaded)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="agent-events")

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.handle(event)
            except Exception:
                log.exception("agent events: %s failed", event.name)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every event received so far is handled (tests, shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def handle(self, event: NodeEvent) -> None:
        if event.name == "resynced":
            await self._resynced(event)
            return
        agent = self.desk.by_interface(event.get("Interface"))
        if agent is None:
            return  # not one of our softphones (a static member, another system's)
        call = current_call(event)
        notifier = self.desk.notifier
        match event.name:
            case "AgentCalled":
                if await self.desk.from_asterisk(agent, AgentState.RINGING, call):
                    await self._pop(agent, call)
            case "AgentConnect":
                if await self.desk.from_asterisk(agent, AgentState.ON_CALL, call):
                    if not (agent.call and agent.call.pop):
                        await self._pop(agent, call)
                    notifier.call_connected(agent.user_id, call.uniqueid)
            case "AgentComplete":
                await self._ended(agent, call)
            case "AgentRingNoAnswer" | "AgentDump":
                if agent.status.state is AgentState.RINGING:
                    await self.desk.from_asterisk(agent, AgentState.READY, call, ended=True)

    async def _ended(self, agent: Agent, call: CurrentCall) -> None:
        target = AgentState.WRAP_UP if self.desk.wrap_up_seconds > 0 else AgentState.READY
        if await self.desk.from_asterisk(agent, target, call, ended=True, completed=True):
            self.desk.notifier.call_ended(agent.user_id, call.uniqueid)

    async def _pop(self, agent: Agent, call: CurrentCall) -> None:
        async with self.desk.db() as db:
            call.pop = await build_pop(db, call)
        if agent.call is not None and agent.call.uniqueid == call.uniqueid:
            agent.call.pop = call.pop
        self.desk.notifier.screen_pop(agent.user_id, call.pop)

    async def _resynced(self, event: NodeEvent) -> None:
        members = {m.get("Location") or m.get("Interface")
                   for m in event.lists.get("QueueStatus", []) if m.get("Event") == "QueueMember"}
        live = {m.get("Uniqueid") for m in event.lists.get("CoreShowChannels", [])
                if m.get("Event") == "CoreShowChannel"}
        for agent in list(self.desk.agents.values()):
            try:
                if self.desk.node_for(agent).name != event.node:
                    continue
            except AgentError:
                continue
            state = agent.status.state
            if state is AgentState.LOGGED_OUT:
                continue
            if agent.interface not in members:
                try:
                    await self.desk.rejoin(agent)
                except AgentError as exc:
                    log.warning("agent %s: could not rejoin the queues: %s", agent.username, exc)
            uniqueid = agent.status.call_uniqueid
            if state in (AgentState.RINGING, AgentState.ON_CALL) and uniqueid not in live:
                ended = agent.call or CurrentCall(event.node, uniqueid, "", "", "", "", "")
                await self._ended(agent, ended)
