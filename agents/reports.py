"""Time accounting from the stored state changes: how long an agent spent in each state (and
each pause reason) over a period, e.g. today's pause time per reason for the 班长."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
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


def day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Local midnight of `at`'s day in `zone`, as an aware datetime."""
    local = at.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def paused_before(db: AsyncSession, since: dict[int, datetime],
                        zone: ZoneInfo) -> dict[int, float]:
    """For each user: seconds paused today (local day of `since[user]`) before `since[user]`,
    the start of their current state. Two queries for all users together."""
    if not since:
        return {}
    starts = {user: day_start(at, zone) for user, at in since.items()}
    earliest = min(starts.values())
    last_before = (select(func.max(AgentStateChange.id))
                   .where(AgentStateChange.user_id.in_(since),
                          AgentStateChange.at < earliest)
                   .group_by(AgentStateChange.user_id))
    rows = (await db.scalars(select(AgentStateChange).where(
        AgentStateChange.user_id.in_(since),
        or_(AgentStateChange.at >= earliest, AgentStateChange.id.in_(last_before)))
        .order_by(AgentStateChange.at, AgentStateChange.id))).all()
    by_user: dict[int, list[tuple[datetime, AgentState, str]]] = {user: [] for user in since}
    for row in rows:
        by_user[row.user_id].append((row.at, row.state, row.reason))
    return {user: durations(changes, starts[user], since[user])["paused"]
            for user, changes in by_user.items()}
