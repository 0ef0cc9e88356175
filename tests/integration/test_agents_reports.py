"""Pause time accounted from the stored state changes (agent_state_changes), on SQLite and
PostgreSQL: the state the period began in counts from the period's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.agents.models import AgentProfile, AgentState, AgentStateChange
from hotline.agents.reports import paused_before, time_in_states
from hotline.agents.services import Agent
from hotline.agents.state import AgentStatus
from hotline.db.models import Role, User

DAY = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


async def test_todays_pause_time_per_reason(db):
    async with db() as session:
        user = User(username="a1", display_name="a1", role=Role.AGENT, password_hash="!")
        session.add(user)
        await session.commit()
        for minutes, state, reason in ((-30, AgentState.PAUSED, "培训"), (10, AgentState.READY, ""),
                                       (20, AgentState.PAUSED, "休息"),
                                       (35, AgentState.LOGGED_OUT, "")):
            session.add(AgentStateChange(user_id=user.id, state=state, reason=reason,
                                         at=DAY + timedelta(minutes=minutes)))
        await session.commit()
        totals = await time_in_states(session, user.id, DAY, DAY + timedelta(hours=1))
    assert totals["paused:培训"] == 10 * 60 and totals["paused:休息"] == 15 * 60
    assert totals["paused"] == 25 * 60 and totals["ready"] == 10 * 60
    assert totals["logged_out"] == 25 * 60


async def test_pause_time_before_the_current_state_counts_from_local_midnight(db):
    """The wallboard's 今日暂停 starts from these figures (desk load / a new agent)."""
    zone = ZoneInfo("Asia/Shanghai")
    midnight = datetime(2026, 11, 25, 0, 0, tzinfo=zone)
    async with db() as session:
        users = [User(username=f"u{i}", display_name="u", role=Role.AGENT, password_hash="!")
                 for i in range(2)]
        session.add_all(users)
        await session.commit()
        first, second = users
        for minutes, state, reason in ((-20, AgentState.PAUSED, "休息"),  # since yesterday
                                       (15, AgentState.READY, ""),
                                       (30, AgentState.PAUSED, "会议"),
                                       (40, AgentState.ON_CALL, "")):
            session.add(AgentStateChange(user_id=first.id, state=state, reason=reason,
                                         at=midnight + timedelta(minutes=minutes)))
        await session.commit()
        before = await paused_before(session, {
            first.id: midnight + timedelta(minutes=40),
            second.id: midnight + timedelta(minutes=5)}, zone)
    assert before == {first.id: 25 * 60, second.id: 0}


def test_an_agent_adds_up_todays_pauses_and_starts_again_at_midnight():
    zone = ZoneInfo("Asia/Shanghai")
    t0 = datetime(2026, 11, 25, 23, 50, tzinfo=zone)
    agent = Agent(1, "a", "a", AgentProfile(user_id=1, extension="8001"),
                  AgentStatus(AgentState.PAUSED, t0, "休息"))
    assert agent.paused_today(t0 + timedelta(minutes=5), zone) == 300
    agent.left_state(t0 + timedelta(minutes=5), zone)
    agent.status = AgentStatus(AgentState.READY, t0 + timedelta(minutes=5))
    assert agent.paused_today(t0 + timedelta(minutes=9), zone) == 300
    agent.left_state(t0 + timedelta(minutes=9), zone)
    agent.status = AgentStatus(AgentState.PAUSED, t0 + timedelta(minutes=9), "培训")
    # across midnight: the new day counts from 00:00
    assert agent.paused_today(t0 + timedelta(minutes=15), zone) == 300
