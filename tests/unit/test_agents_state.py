"""The agent state machine (hotline.agents.state), pure: which changes a person may ask for,
which Asterisk's events make, and the clear refusals of the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.agents.models import AgentState as S
from hotline.agents.state import (
    AgentStatus,
    Cause,
    InvalidTransition,
    after_wrap_up,
    logged_out,
    transition,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_working_day():
    status = logged_out(T0)
    status = transition(status, S.READY, at(1))
    status = transition(status, S.PAUSED, at(60), reason="休息")
    assert (status.state, status.reason, status.label) == (S.PAUSED, "休息", "暂停（休息）")
    assert status.seconds_in_state(at(360)) == 300  # pause time, from the stored times
    status = transition(status, S.READY, at(360))
    status = transition(status, S.RINGING, at(400), cause=Cause.AMI, call_uniqueid="1.5")
    status = transition(status, S.ON_CALL, at(405), cause=Cause.AMI)
    assert status.call_uniqueid == "1.5"
    status = transition(status, S.WRAP_UP, at(500), cause=Cause.AMI)
    status = after_wrap_up(status, at(515), Cause.TIMER)
    assert (status.state, status.call_uniqueid, status.since) == (S.READY, "", at(515))
    assert transition(status, S.LOGGED_OUT, at(600)).state is S.LOGGED_OUT


@pytest.mark.parametrize("start, target, cause, words", [
    (S.LOGGED_OUT, S.ON_CALL, Cause.AGENT, "不能从“未登录”切换为“通话中”"),
    (S.READY, S.WRAP_UP, Cause.AGENT, "不能从“空闲”切换为“话后处理”"),
    (S.ON_CALL, S.LOGGED_OUT, Cause.AGENT, "通话中不能切换为“未登录”"),
    (S.RINGING, S.PAUSED, Cause.AGENT, "通话中不能"),
    (S.LOGGED_OUT, S.RINGING, Cause.AMI, "不能从"),  # an event for an interface not logged in
    (S.READY, S.READY, Cause.TIMER, "不能从"),
])
def test_refused_changes(start, target, cause, words):
    with pytest.raises(InvalidTransition, match=words):
        transition(AgentStatus(start, T0), target, at(1), cause=cause, reason="休息")


@pytest.mark.parametrize("reason", ["", "吃饭", "break"])
def test_a_pause_needs_one_of_the_reasons(reason):
    with pytest.raises(InvalidTransition, match="休息、培训、会议、话后处理"):
        transition(AgentStatus(S.READY, T0), S.PAUSED, at(1), reason=reason)


def test_wrap_up_after_a_call_taken_while_paused_ends_in_that_pause():
    paused = transition(AgentStatus(S.READY, T0), S.PAUSED, at(1), reason="会议")
    ringing = transition(paused, S.RINGING, at(2), cause=Cause.AMI, call_uniqueid="9.1")
    wrap = transition(transition(ringing, S.ON_CALL, at(3), cause=Cause.AMI), S.WRAP_UP, at(9),
                      cause=Cause.AMI)
    assert (after_wrap_up(wrap, at(20), Cause.TIMER).state, after_wrap_up(
        wrap, at(20), Cause.TIMER).reason) == (S.PAUSED, "会议")
    assert after_wrap_up(wrap, at(12), Cause.AGENT).state is S.READY  # the agent chose
    with pytest.raises(InvalidTransition, match="没有话后处理"):
        after_wrap_up(paused, at(5), Cause.AGENT)


def test_time_in_each_state_and_pause_reason_over_a_period():
    from hotline.agents.reports import durations

    changes = [(at(-600), S.READY, ""), (at(60), S.PAUSED, "休息"), (at(360), S.READY, ""),
               (at(400), S.PAUSED, "会议"), (at(1000), S.LOGGED_OUT, "")]
    totals = durations(changes, start=T0, end=at(900))
    assert totals == {"ready": 60 + 40, "paused": 300 + 500, "paused:休息": 300,
                      "paused:会议": 500}
    assert durations([], T0, at(10)) == {}
