"""Time accounting from the stored state changes: how long an agent spent in each state (and
each pause reason) over a period, e.g. today's pause time per reason for the 班长."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.models import AgentState, AgentStateChange


def durations(changes: Iterable[tuple[datetime, AgentState, str]], start: datetime,
              end: datetime) -> Counter[str]:
    """Seconds per state within [start, end), from (at, state, reason) in time order; the
    first may lie before `start` (the state the period began in). Keys: the state's value,
    and `paused:<reason>` for each pause reason as well."""
    totals: Counter[str] = Counter()
    ordered = sorted(changes, key=lambda change: change[0])
    for index, (at, state, reason) in enumerate(ordered):
        until = ordered[index + 1][0] if index + 1 < len(ordered) else end
        seconds = (min(until, end) - max(at, start)).total_seconds()
        if seconds <= 0:
            continue
        totals[state.value] += seconds
        if state is AgentState.PAUSED:
            totals[f"paused:{reason}"] += seconds
    return totals


async def time_in_states(db: AsyncSession, user_id: int, start: datetime,
                         end: datetime) -> Counter[str]:
    before = await db.scalar(
        select(AgentStateChange).where(AgentStateChange.user_id == user_id,
                                       AgentStateChange.at < start)
        .order_by(AgentStateChange.at.desc(), AgentStateChange.id.desc()).limit(1))
    during = (await db.scalars(
        select(AgentStateChange).where(AgentStateChange.user_id == user_id,
                                       AgentStateChange.at >= start, AgentStateChange.at < end)
        .order_by(AgentStateChange.at, AgentStateChange.id))).all()
    rows = ([before] if before is not None else []) + list(during)
    return durations(((r.at, r.state, r.reason) for r in rows), start, end)
