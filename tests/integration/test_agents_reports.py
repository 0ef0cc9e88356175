"""Pause time accounted from the stored state changes (agent_state_changes), on SQLite and
PostgreSQL: the state the period began in counts from the period's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline.agents.models import AgentState, AgentStateChange
from hotline.agents.reports import time_in_states
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
