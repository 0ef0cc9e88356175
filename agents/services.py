"""Agent states with their AMI side effects, stored with their time.

- login (→ ready, or → paused with a reason): AMI QueueAdd to each of the agent's queues with
  its penalty (`profiles.queue_penalty`: base + skill tier), `Paused: true` when logging in paused;
- pause / unpause: AMI QueuePause with the reason (no Queue header: every queue of the member,
  as Asterisk's AMI documentation says; the captures only show it with a Queue);
- logout: AMI QueueRemove from each queue;
- AgentCalled / AgentConnect / AgentComplete / AgentRingNoAnswer for the agent's interface
  (fed by `ami_events.AgentEventHandler`): ringing → on call → wrap-up; wrap-up pauses the
  member with the reason 话后处理 and ends after `[agents] wrap_up_seconds` (or when the agent
  ends it) with an unpause.

The AMI action runs first; the state changes only when Asterisk accepted it, so the desk never
shows "ready" for an agent Asterisk will not ring. Every change is one `agent_state_changes`
row. The live status is kept in this process (one controller per Asterisk node serves the
desks; rows are the record); after a restart it is read back from the last row of each agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents import profiles, reports
from hotline.agents.models import AgentProfile, AgentState, AgentStateChange
from hotline.agents.notifier import AgentNotifier
from hotline.agents.state import (
    AgentStatus,
    Cause,
    InvalidTransition,
    PauseReason,
    after_wrap_up,
    logged_out,
    transition,
)
from hotline.asterisk.ami import AmiActionFailed, AmiError, AmiNode, AmiNodes, AmiNotConnected
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import User
from hotline.queue.settings import QueueConfig
from hotline.regions import within

log = logging.getLogger(__name__)
COMPLETED_MEMORY = 50  # finished calls remembered per agent, against replayed events
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")


class AgentError(Exception):
    """A refused request; `status` is the HTTP status, the message is for the user (zh-CN)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CurrentCall:
    """The call an agent is ringing for / talking on, from AgentCalled / AgentConnect."""

    node: str
    uniqueid: str  # the caller's channel (the call row's key with the node)
    linkedid: str
    channel: str  # the caller's channel name (Redirect target)
    agent_channel: str  # the agent's leg (Atxfer)
    queue: str
    caller_number: str
    pop: dict[str, Any] = field(default_factory=dict)


@dataclass
class Agent:
    user_id: int
    username: str
    name: str
    profile: AgentProfile
    status: AgentStatus
    region_code: str | None = None  # the user's scope (None: the province)
    call: CurrentCall | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timer: asyncio.Task[None] | None = None
    completed_calls: deque[str] = field(default_factory=lambda: deque(maxlen=COMPLETED_MEMORY))
    # Seconds paused on the local day `paused_day` before the current state began.
    paused_before: float = 0.0
    paused_day: date | None = None

    @property
    def interface(self) -> str:
        return profiles.interface_of(self.profile)

    def paused_today(self, now: datetime, zone: ZoneInfo) -> int:
        today = reports.day_start(now, zone)
        total = self.paused_before if self.paused_day == today.date() else 0.0
        if self.status.state is AgentState.PAUSED:
            total += max(0.0, (now - max(self.status.since, today)).total_seconds())
        return int(total)

    def left_state(self, at: datetime, zone: ZoneInfo) -> None:
        """The current state ends at `at`: a pause adds to the day's pause time."""
        today = reports.day_start(at, zone)
        if self.paused_day != today.date():
            self.paused_before, self.paused_day = 0.0, today.date()
        if self.status.state is AgentState.PAUSED:
            self.paused_before += max(0.0, (at - max(self.status.since, today)).total_seconds())

    def view(self, now: datetime, zone: ZoneInfo = DEFAULT_ZONE) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "username": self.username, "name": self.name,
            "extension": self.profile.extension, "state": self.status.state.value,
            "label": self.status.label, "reason": self.status.reason,
            "since": self.status.since.isoformat(),
            "seconds": self.status.seconds_in_state(now),
            "queues": [q.queue for q in self.profile.queues],
            "caller_number": self.call.caller_number if self.call else "",
            "call_uniqueid": self.status.call_uniqueid,
            "region_code": self.region_code,
            "paused_today": self.paused_today(now, zone),
        }


async def _last_changes(db: AsyncSession, user_ids: list[int]) -> dict[int, AgentStateChange]:
    if not user_ids:
        return {}
    last_ids = (select(func.max(AgentStateChange.id))
                .where(AgentStateChange.user_id.in_(user_ids))
                .group_by(AgentStateChange.user_id))
    rows = await db.scalars(select(AgentStateChange).where(AgentStateChange.id.in_(last_ids)))
    return {row.user_id: row for row in rows}


def _status_of(row: AgentStateChange | None, profile: AgentProfile) -> AgentStatus:
    if row is None:
        return logged_out(profile.created_at)
    return AgentStatus(row.state, row.at, row.reason, row.call_uniqueid)


class AgentDesk:
    def __init__(self, db: SessionMaker, nodes: AmiNodes | None, notifier: AgentNotifier, *,
                 wrap_up_seconds: int = 15, queue_config: QueueConfig | None = None,
                 zone: ZoneInfo = DEFAULT_ZONE,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.nodes, self.notifier = db, nodes, notifier
        self.zone = zone
        self.queue_config = queue_config or QueueConfig()
        self.wrap_up_seconds = wrap_up_seconds
        self.clock = clock
        self.agents: dict[int, Agent] = {}
        self._by_interface: dict[str, int] = {}

    # loading ---------------------------------------------------------------------------------
    async def load(self) -> None:
        """Every active softphone user with a profile, and their last stored state; a wrap-up
        that was running when the process stopped gets its timer again."""
        async with self.db() as db:
            pairs = await profiles.all_profiles(db)
            last = await _last_changes(db, [user.id for _, user in pairs])
        for profile, user in pairs:
            self._remember(Agent(user.id, user.username, user.display_name, profile,
                                 _status_of(last.get(user.id), profile), user.region_code))
            if self.agents[user.id].status.state is AgentState.WRAP_UP:
                self._start_timer(self.agents[user.id])
        await self._load_pause_time([self.agents[user.id] for _, user in pairs])

    async def _load_pause_time(self, agents: list[Agent]) -> None:
        since = {agent.user_id: agent.status.since for agent in agents}
        async with self.db() as db:
            before = await reports.paused_before(db, since, self.zone)
        for agent in agents:
            agent.paused_before = before.get(agent.user_id, 0.0)
            agent.paused_day = reports.day_start(agent.status.since, self.zone).date()

    def _remember(self, agent: Agent) -> None:
        old = self.agents.get(agent.user_id)
        if old is not None:
            self._by_interface.pop(old.interface, None)
            agent.status, agent.call, agent.timer = old.status, old.call, old.timer
            agent.lock, agent.completed_calls = old.lock, old.completed_calls
            agent.paused_before, agent.paused_day = old.paused_before, old.paused_day
        self.agents[agent.user_id] = agent
        self._by_interface[agent.interface] = agent.user_id

    async def refresh(self, user_id: int) -> Agent:
        """Re-read one user's profile (after an edit, or a desk opened by a new agent)."""
        async with self.db() as db:
            profile = await profiles.get_profile(db, user_id)
            user = await db.get(User, user_id)
            last = await _last_changes(db, [user_id])
        if profile is None or user is None or not user.active:
            raise AgentError("您还没有软电话分机，请联系管理员配置坐席信息", 409)
        known = user_id in self.agents
        self._remember(Agent(user.id, user.username, user.display_name, profile,
                             _status_of(last.get(user_id), profile), user.region_code))
        if not known:
            await self._load_pause_time([self.agents[user_id]])
        return self.agents[user_id]

    async def agent(self, user_id: int) -> Agent:
        return self.agents.get(user_id) or await self.refresh(user_id)

    def by_interface(self, interface: str) -> Agent | None:
        user_id = self._by_interface.get(interface)
        return self.agents.get(user_id) if user_id is not None else None

    def views(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Every agent within `scope` (a supervisor's region; None: the province)."""
        now = self.clock()
        agents = sorted(self.agents.values(), key=lambda a: a.profile.extension)
        return [agent.view(now, self.zone) for agent in agents
                if within(agent.region_code, scope)]

    # AMI ---------------------------------------------------------------------------------------
    def node_for(self, agent: Agent) -> AmiNode:
        if self.nodes is None or not self.nodes.nodes:
            raise AgentError("未配置电话系统（Asterisk），无法操作", 503)
        if agent.profile.node:
            try:
                return self.nodes[agent.profile.node]
            except KeyError:
                raise AgentError(f"分机所在的电话节点 {agent.profile.node} 未配置", 503) from None
        return self.nodes.nodes[0]

    async def ami(self, agent: Agent, fields: Mapping[str, Any], *,
                  tolerate: tuple[str, ...] = ()) -> None:
        """One action; `tolerate`: error messages that mean it is already done."""
        node = self.node_for(agent)
        try:
            await node.action(fields, as_list=False)
        except AmiActionFailed as exc:
            text = str(exc.message.get("Message", ""))
            if any(part in text for part in tolerate):
                return
            raise AgentError(f"电话系统拒绝了操作（{fields['Action']}：{text}）", 502) from exc
        except AmiNotConnected as exc:
            raise AgentError("电话系统未连接，请稍后再试", 503) from exc
        except AmiError as exc:
            raise AgentError(f"电话系统没有响应（{fields['Action']}）", 504) from exc

    async def _join_queues(self, agent: Agent, pause_reason: str) -> None:
        if not agent.profile.queues:
            raise AgentError("您还没有分配队列，请联系管理员", 409)
        for queue in agent.profile.queues:
            fields = {"Action": "QueueAdd", "Queue": queue.queue, "Interface": agent.interface,
                      "Penalty": profiles.queue_penalty(agent.profile, queue, self.queue_config),
                      "Paused": "true" if pause_reason else "false", "MemberName": agent.name}
            if pause_reason:
                fields["Reason"] = pause_reason
            await self.ami(agent, fields, tolerate=("Already there",))

    async def _leave_queues(self, agent: Agent) -> None:
        for queue in agent.profile.queues:
            await self.ami(agent, {"Action": "QueueRemove", "Queue": queue.queue,
                                   "Interface": agent.interface}, tolerate=("Not there",))

    async def _pause(self, agent: Agent, reason: str | None) -> None:
        fields = {"Action": "QueuePause", "Interface": agent.interface,
                  "Paused": "true" if reason else "false"}
        if reason:
            fields["Reason"] = reason
        await self.ami(agent, fields)

    async def rejoin(self, agent: Agent) -> None:
        """QueueAdd again (Asterisk lost its dynamic members): the state stays as it was."""
        async with agent.lock:
            paused = agent.status.state in (AgentState.PAUSED, AgentState.WRAP_UP)
            reason = agent.status.reason or (PauseReason.AFTER_CALL.value if paused else "")
            await self._join_queues(agent, reason if paused else "")

    # state changes -----------------------------------------------------------------------------
    async def _store(self, agent: Agent, new: AgentStatus) -> None:
        async with self.db() as db:
            db.add(AgentStateChange(user_id=agent.user_id, state=new.state, reason=new.reason,
                                    call_uniqueid=new.call_uniqueid, at=new.since))
            await db.commit()
        agent.left_state(new.since, self.zone)
        agent.status = new
        if new.state not in (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP):
            agent.call = None
        self.notifier.state_changed(agent.view(self.clock(), self.zone))

    async def change_state(self, user_id: int, target: AgentState, reason: str = "") -> Agent:
        """What the agent asks on the desk: log in, pause (with a reason), ready, log out."""
        agent = await self.agent(user_id)
        async with agent.lock:
            current = agent.status
            try:
                new = transition(current, target, self.clock(), reason=reason)
            except InvalidTransition as exc:
                raise AgentError(str(exc), 409) from exc
            if current.state is AgentState.LOGGED_OUT:
                await self._join_queues(agent, new.reason)
            elif target is AgentState.LOGGED_OUT:
                await self._leave_queues(agent)
            else:
                await self._pause(agent, new.reason or None)
            self._cancel_timer(agent)
            await self._store(agent, new)
        return agent

    async def end_wrap_up(self, user_id: int, cause: Cause = Cause.AGENT) -> Agent:
        agent = await self.agent(user_id)
        async with agent.lock:
            try:
                new = after_wrap_up(agent.status, self.clock(), cause)
            except InvalidTransition as exc:
                raise AgentError(str(exc), 409) from exc
            await self._pause(agent, new.reason or None)
            if cause is not Cause.TIMER:
                self._cancel_timer(agent)
            await self._store(agent, new)
        return agent

    async def from_asterisk(self, agent: Agent, target: AgentState, call: CurrentCall,
                            *, ended: bool = False, completed: bool = False) -> bool:
        """A state Asterisk reported for the agent's interface; False when it does not apply
        (a stale or repeated event). `ended`: the ringing or the call is over; `completed`:
        the agent talked to this caller and it is over (AgentComplete), so a replay of the
        call's earlier events (a reconnect) cannot ring the agent again."""
        async with agent.lock:
            if call.uniqueid in agent.completed_calls:
                return False  # an event of a call this agent has finished
            if ended and agent.status.call_uniqueid not in ("", call.uniqueid):
                return False  # the end of an earlier call
            if target is agent.status.state and agent.status.call_uniqueid == call.uniqueid:
                return False  # a repeated event
            try:
                new = transition(agent.status, target, self.clock(), cause=Cause.AMI,
                                 call_uniqueid=call.uniqueid)
            except InvalidTransition:
                log.info("agent %s: %s ignored in state %s", agent.username, target,
                         agent.status.state)
                return False
            if completed:
                agent.completed_calls.append(call.uniqueid)
            if target is AgentState.WRAP_UP:
                try:  # not rung again while writing up (queues.conf wrapuptime is shorter)
                    await self._pause(agent, PauseReason.AFTER_CALL.value)
                except AgentError as exc:
                    log.warning("agent %s: wrap-up pause failed: %s", agent.username, exc)
                self._start_timer(agent)
            elif target in (AgentState.RINGING, AgentState.ON_CALL):
                self._cancel_timer(agent)
                if agent.call is None or agent.call.uniqueid != call.uniqueid:
                    agent.call = call
            await self._store(agent, new)
            return True

    # wrap-up timer ---------------------------------------------------------------------------
    def _start_timer(self, agent: Agent) -> None:
        self._cancel_timer(agent)
        agent.timer = asyncio.create_task(self._wrap_up_ends(agent.user_id),
                                          name=f"wrap-up-{agent.user_id}")

    def _cancel_timer(self, agent: Agent) -> None:
        timer, agent.timer = agent.timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _wrap_up_ends(self, user_id: int) -> None:
        await asyncio.sleep(self.wrap_up_seconds)
        try:
            await self.end_wrap_up(user_id, Cause.TIMER)
        except AgentError as exc:
            log.info("wrap-up of user %s not ended by the timer: %s", user_id, exc)
        finally:
            agent = self.agents.get(user_id)
            if agent is not None and agent.timer is asyncio.current_task():
                agent.timer = None

    async def close(self) -> None:
        timers = [a.timer for a in self.agents.values() if a.timer is not None]
        for timer in timers:
            timer.cancel()
        for timer in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer
