"""Per queue and local day counters, persisted.

Each call that waits in a queue has one `queue_calls` row keyed (node, uniqueid, queue); the
AMI events update it with conditional writes (an answer never becomes an abandon, a talk time
is set once), and the day's counters are an aggregate over the rows. So a replayed event, a
duplicate after a reconnect or a second controller writing the same event changes nothing.

Definitions (GB/T 33358 wording where it has one):
- offered: calls that joined the queue that day (local day of the join, `time_zone`);
- answered / answered within `service_level_seconds` (HoldTime of AgentConnect);
- abandoned / abandoned within `short_abandon_seconds` (HoldTime of QueueCallerAbandon);
- average wait: over answered and abandoned calls; longest wait: the longest of those;
- average handling time: TalkTime of AgentComplete over the calls that completed;
- service level (15-s answer rate) = answered within 15 s / offered; connect rate =
  answered / offered; abandon rate = abandoned / offered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.queue.models import QueueCall, QueueOutcome

OPEN = (QueueOutcome.WAITING, QueueOutcome.LEFT, QueueOutcome.LOST)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


@dataclass(frozen=True)
class CallKey:
    node: str
    uniqueid: str
    queue: str

    def where(self) -> list[object]:
        return [QueueCall.node == self.node, QueueCall.uniqueid == self.uniqueid,
                QueueCall.queue == self.queue]


async def _ensure(db: AsyncSession, key: CallKey, joined_at: datetime, zone: ZoneInfo,
                  number: str = "") -> None:
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    await db.execute(insert(QueueCall).values(
        node=key.node, uniqueid=key.uniqueid, queue=key.queue, caller_number=number[:32],
        joined_at=joined_at, day=local_day(joined_at, zone), outcome=QueueOutcome.WAITING,
        member="",
    ).on_conflict_do_nothing())


async def record_joined(db: AsyncSession, key: CallKey, number: str, at: datetime,
                        zone: ZoneInfo) -> None:
    await _ensure(db, key, at, zone, number)
    await db.commit()


async def record_answered(db: AsyncSession, key: CallKey, hold: int, member: str,
                          at: datetime, zone: ZoneInfo) -> None:
    await _ensure(db, key, at - timedelta(seconds=hold), zone)
    await db.execute(update(QueueCall).where(*key.where(), QueueCall.outcome.in_(OPEN)).values(
        outcome=QueueOutcome.ANSWERED, wait_seconds=hold, member=member[:128]))
    await db.commit()


async def record_completed(db: AsyncSession, key: CallKey, hold: int, talk: int, member: str,
                           at: datetime, zone: ZoneInfo) -> None:
    """AgentComplete: the talk time, once; also the answer if its AgentConnect was missed."""
    await _ensure(db, key, at - timedelta(seconds=hold + talk), zone)
    await db.execute(update(QueueCall).where(*key.where(), QueueCall.outcome.in_(OPEN)).values(
        outcome=QueueOutcome.ANSWERED, wait_seconds=hold, member=member[:128]))
    await db.execute(update(QueueCall).where(
        *key.where(), QueueCall.outcome == QueueOutcome.ANSWERED,
        QueueCall.talk_seconds.is_(None)).values(talk_seconds=talk, ended_at=at))
    await db.commit()


async def record_abandoned(db: AsyncSession, key: CallKey, hold: int, at: datetime,
                           zone: ZoneInfo) -> None:
    await _ensure(db, key, at - timedelta(seconds=hold), zone)
    await db.execute(update(QueueCall).where(*key.where(), QueueCall.outcome.in_(OPEN)).values(
        outcome=QueueOutcome.ABANDONED, wait_seconds=hold, ended_at=at))
    await db.commit()


async def record_left(db: AsyncSession, key: CallKey, at: datetime) -> None:
    """QueueCallerLeave. Asterisk sends it before AgentConnect and after QueueCallerAbandon,
    so it only marks a still-waiting call `left`; an answer that follows overrides it."""
    joined = await db.scalar(select(QueueCall.joined_at).where(*key.where()))
    if joined is not None:
        wait = max(0, int((at - joined).total_seconds()))
        await db.execute(update(QueueCall).where(
            *key.where(), QueueCall.outcome == QueueOutcome.WAITING).values(
            outcome=QueueOutcome.LEFT, wait_seconds=wait, ended_at=at))
    await db.commit()


async def record_lost(db: AsyncSession, node: str, waiting: set[tuple[str, str]],
                      before: datetime) -> int:
    """After a resync: calls still `waiting` here that Asterisk no longer has in a queue went
    while we were not listening. Their outcome is unknown: `lost` (offered, not answered)."""
    rows = (await db.execute(select(QueueCall.id, QueueCall.uniqueid, QueueCall.queue).where(
        QueueCall.node == node, QueueCall.outcome == QueueOutcome.WAITING,
        QueueCall.joined_at < before))).all()
    gone = [row.id for row in rows if (row.uniqueid, row.queue) not in waiting]
    if gone:
        await db.execute(update(QueueCall).where(
            QueueCall.id.in_(gone), QueueCall.outcome == QueueOutcome.WAITING).values(
            outcome=QueueOutcome.LOST))
    await db.commit()
    return len(gone)


@dataclass(frozen=True)
class DayStats:
    queue: str
    day: date
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0  # within service_level_seconds
    abandoned: int = 0
    abandoned_short: int = 0  # within short_abandon_seconds
    total_wait: int = 0  # over answered + abandoned calls
    longest_wait: int = 0
    total_handling: int = 0
    handled: int = 0  # calls with a talk time

    @staticmethod
    def _ratio(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def average_wait(self) -> float | None:
        return self._ratio(self.total_wait, self.answered + self.abandoned)

    @property
    def average_handling(self) -> float | None:
        return self._ratio(self.total_handling, self.handled)

    @property
    def service_level(self) -> float | None:
        return self._ratio(self.answered_in_time, self.offered)

    @property
    def connect_rate(self) -> float | None:
        return self._ratio(self.answered, self.offered)

    @property
    def abandon_rate(self) -> float | None:
        return self._ratio(self.abandoned, self.offered)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "day": self.day.isoformat(), "average_wait": self.average_wait,
                "average_handling": self.average_handling, "service_level": self.service_level,
                "connect_rate": self.connect_rate, "abandon_rate": self.abandon_rate}


def _count(condition: object) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def day_stats(db: AsyncSession, day: date, *, service_level_seconds: int = 15,
                    short_abandon_seconds: int = 5,
                    queue: str | None = None) -> dict[str, DayStats]:
    """The counters of `day` by queue (every node together)."""
    answered = QueueCall.outcome == QueueOutcome.ANSWERED
    abandoned = QueueCall.outcome == QueueOutcome.ABANDONED
    wait = func.coalesce(QueueCall.wait_seconds, 0)
    finished = or_(answered, abandoned)
    query = select(
        QueueCall.queue, func.count(), _count(answered),
        _count(and_(answered, wait <= service_level_seconds)), _count(abandoned),
        _count(and_(abandoned, wait < short_abandon_seconds)),
        func.coalesce(func.sum(case((finished, wait), else_=0)), 0),
        func.coalesce(func.max(case((finished, wait), else_=0)), 0),
        func.coalesce(func.sum(QueueCall.talk_seconds), 0), func.count(QueueCall.talk_seconds),
    ).where(QueueCall.day == day).group_by(QueueCall.queue)
    if queue is not None:
        query = query.where(QueueCall.queue == queue)
    return {row[0]: DayStats(row[0], day, *(int(v) for v in row[1:]))
            for row in (await db.execute(query)).all()}
