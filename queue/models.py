"""Tables of this feature (registered on Base.metadata by hotline.db.registry).

- `queue_calls`: one row per call and queue it waited in, keyed (node, uniqueid, queue): the
  day's counters are computed from these rows (`hotline.queue.stats`), so a replayed AMI event
  or a second controller writing the same event never counts a call twice.
- `virtual_holds`: the place a caller kept in a queue (按1保留排队位置): the CallbackTask it
  belongs to and the callers who were ahead of them; the place comes up when none of them is
  waiting any more and a member is free.
- `callback_attempts`: every Originate of a callback, claimed (inserted) before it is sent, with
  its deterministic ChannelId and its outcome: a restarted dialer finds the attempt and never
  sends it again.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class QueueOutcome(enum.StrEnum):
    WAITING = "waiting"
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # hung up while waiting (QueueCallerAbandon)
    LEFT = "left"  # left without an agent: timeout → overflow, virtual hold, withdrawn
    LOST = "lost"  # gone while we were disconnected: outcome unknown


class QueueCall(Base):
    __tablename__ = "queue_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)  # local day (time_zone) the caller joined
    caller_number: Mapped[str] = mapped_column(String(32), default="")
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[QueueOutcome] = mapped_column(
        str_enum(QueueOutcome, "queue_outcome"), default=QueueOutcome.WAITING)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)  # HoldTime, once it stopped
    talk_seconds: Mapped[int | None] = mapped_column(Integer)  # TalkTime of AgentComplete
    member: Mapped[str] = mapped_column(String(128), default="")  # interface that answered
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("node", "uniqueid", "queue"),
        Index(None, "day", "queue"),
    )


class VirtualHold(Base):
    __tablename__ = "virtual_holds"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("callback_tasks.id", ondelete="CASCADE"), primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64))  # the call that kept its place
    queue: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)  # the place it would have had
    estimated_wait: Mapped[int] = mapped_column(Integer)  # seconds, when offered
    ahead: Mapped[str] = mapped_column(Text, default="")  # uniqueids waiting before it, " "-joined
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("node", "uniqueid"),)


class AttemptOutcome(enum.StrEnum):
    SENT = "sent"  # claimed and sent (or about to be): the answer is not known yet
    ANSWERED = "answered"  # OriginateResponse Success (Reason 4) or the channel is up
    FAILED = "failed"  # OriginateResponse Failure, refused, not reached
    UNKNOWN = "unknown"  # the connection went before the answer and no trace was found


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)  # 1, 2, …
    node: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)  # ChannelId = its uniqueid
    outcome: Mapped[AttemptOutcome] = mapped_column(
        str_enum(AttemptOutcome, "callback_attempt_outcome"), default=AttemptOutcome.SENT)
    reason: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("task_id", "attempt"),)
