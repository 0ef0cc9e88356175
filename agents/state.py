"""The agent state machine, pure: no IO, no clock (times are passed in).

logged_out ─login─► ready ⇄ paused(reason)
                     │ AgentCalled
                     ▼
                  ringing ─no answer─► ready
                     │ AgentConnect
                     ▼
                  on_call ─AgentComplete─► wrap_up ─(seconds or the agent)─► ready

An agent may log out from any state but a call (ringing / on_call): the call would be lost.
Asterisk is the truth for ringing/on_call/wrap_up: those come from AMI events (`Cause.AMI`) and
are accepted from any logged-in state, because Asterisk rings a member whatever we believed; a
person (`Cause.AGENT`) may only ask for logged_out, ready and paused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from hotline.agents.models import AgentState

STATE_LABELS = {
    AgentState.LOGGED_OUT: "未登录",
    AgentState.READY: "空闲",
    AgentState.PAUSED: "暂停",
    AgentState.RINGING: "振铃",
    AgentState.ON_CALL: "通话中",
    AgentState.WRAP_UP: "话后处理",
}


class PauseReason(enum.StrEnum):
    BREAK = "休息"
    TRAINING = "培训"
    MEETING = "会议"
    AFTER_CALL = "话后处理"


class Cause(enum.StrEnum):
    AGENT = "agent"  # the agent (or a supervisor) asked on the desk
    AMI = "ami"  # Asterisk said so (AgentCalled, AgentConnect, AgentComplete, …)
    TIMER = "timer"  # wrap-up time ran out


class InvalidTransition(ValueError):
    """A state change that is not allowed; the message is for the person who asked (zh-CN)."""


ON_A_CALL = frozenset({AgentState.RINGING, AgentState.ON_CALL})
CALL_STATES = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})

# What a person may ask for, from each state.
_BY_AGENT: dict[AgentState, frozenset[AgentState]] = {
    AgentState.LOGGED_OUT: frozenset({AgentState.READY, AgentState.PAUSED}),
    AgentState.READY: frozenset({AgentState.PAUSED, AgentState.LOGGED_OUT}),
    AgentState.PAUSED: frozenset({AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT}),
    AgentState.RINGING: frozenset(),
    AgentState.ON_CALL: frozenset(),
    AgentState.WRAP_UP: frozenset({AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT}),
}
# What Asterisk's events move an agent to, from each state.
_BY_AMI: dict[AgentState, frozenset[AgentState]] = {
    AgentState.LOGGED_OUT: frozenset(),  # not a member: events for the interface are stale
    AgentState.READY: frozenset({AgentState.RINGING, AgentState.ON_CALL}),
    AgentState.PAUSED: frozenset({AgentState.RINGING, AgentState.ON_CALL}),
    AgentState.RINGING: frozenset({AgentState.ON_CALL, AgentState.READY}),
    AgentState.ON_CALL: frozenset({AgentState.WRAP_UP, AgentState.READY}),
    AgentState.WRAP_UP: frozenset({AgentState.RINGING, AgentState.ON_CALL}),
}
_BY_TIMER: dict[AgentState, frozenset[AgentState]] = {
    AgentState.WRAP_UP: frozenset({AgentState.READY}),
}


@dataclass(frozen=True)
class AgentStatus:
    state: AgentState
    since: datetime
    reason: str = ""  # the pause reason while paused
    call_uniqueid: str = ""  # the caller's channel while ringing / on a call / in wrap-up
    # Paused before the call rang? Then wrap-up ends in that pause, not in ready.
    resume_paused: str = ""

    @property
    def label(self) -> str:
        if self.state is AgentState.PAUSED and self.reason:
            return f"暂停（{self.reason}）"
        return STATE_LABELS[self.state]

    def seconds_in_state(self, now: datetime) -> int:
        return max(0, int((now - self.since).total_seconds()))


def logged_out(since: datetime) -> AgentStatus:
    return AgentStatus(AgentState.LOGGED_OUT, since)


def transition(current: AgentStatus, target: AgentState, at: datetime, *,
               cause: Cause = Cause.AGENT, reason: str = "",
               call_uniqueid: str = "") -> AgentStatus:
    """The status after moving `current` to `target`, or InvalidTransition."""
    allowed = {Cause.AGENT: _BY_AGENT, Cause.AMI: _BY_AMI, Cause.TIMER: _BY_TIMER}[cause]
    if target not in allowed.get(current.state, frozenset()):
        if cause is Cause.AGENT and current.state in ON_A_CALL:
            raise InvalidTransition(f"通话中不能切换为“{STATE_LABELS[target]}”")
        raise InvalidTransition(
            f"不能从“{current.label}”切换为“{STATE_LABELS[target]}”")
    if target is AgentState.PAUSED:
        try:
            reason = PauseReason(reason).value
        except ValueError:
            choices = "、".join(r.value for r in PauseReason)
            raise InvalidTransition(f"请选择暂停原因：{choices}") from None
    else:
        reason = ""
    call_uniqueid = (call_uniqueid or current.call_uniqueid) if target in CALL_STATES else ""
    if current.state is AgentState.PAUSED and target in ON_A_CALL:
        resume = current.reason  # rung while paused (Asterisk knew better): pause again after
    elif target in CALL_STATES:
        resume = current.resume_paused
    else:
        resume = ""
    return replace(current, state=target, since=at, reason=reason, call_uniqueid=call_uniqueid,
                   resume_paused=resume)


def after_wrap_up(current: AgentStatus, at: datetime, cause: Cause) -> AgentStatus:
    """The end of wrap-up: ready, or the pause the agent was in before the call."""
    if current.state is not AgentState.WRAP_UP:
        raise InvalidTransition(f"当前状态是“{current.label}”，没有话后处理可以结束")
    if current.resume_paused and cause is Cause.TIMER:
        return transition(current, AgentState.PAUSED, at, reason=current.resume_paused)
    if cause is Cause.TIMER:
        return transition(current, AgentState.READY, at, cause=Cause.TIMER)
    return transition(current, AgentState.READY, at)
