"""Tables of this feature (registered on Base.metadata by hotline.db.registry).

A job is one round of follow-up (回访) of one ticket: a ticket that enters 回访 again (a
dissatisfied follow-up reopened it) gets a new round. Each attempt is its own row, written
BEFORE its Originate is sent and keyed (job, number): its ChannelId is derived from that key, so
an attempt can never be dialed twice, even by a restarted or a second controller."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class JobStatus(enum.StrEnum):
    PENDING = "pending"  # waits for next_attempt_at (and calling hours)
    DIALING = "dialing"  # an attempt is in flight
    DONE = "done"  # the survey's answers are on the ticket
    MANUAL = "manual"  # unreachable after the retries: a person calls (manual list)
    CANCELLED = "cancelled"  # the ticket left 回访 before the citizen was reached


class AttemptStatus(enum.StrEnum):
    SENDING = "sending"  # recorded, Originate being sent (after a crash: ask Asterisk)
    ANSWERED = "answered"  # OriginateResponse Success: the survey runs
    COMPLETED = "completed"  # the survey's answers arrived
    FAILED = "failed"  # not answered, busy, refused, hung up before the end of the survey
    LOST = "lost"  # fate unknown (crash, lost connection) and no such channel: failed


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


IN_FLIGHT = (AttemptStatus.SENDING, AttemptStatus.ANSWERED)


class FollowUpJob(Base):
    __tablename__ = "followup_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    round: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[JobStatus] = mapped_column(
        str_enum(JobStatus, "followup_status"), default=JobStatus.PENDING, index=True)
    number: Mapped[str] = mapped_column(String(32))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("hotline_lines.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    last_channel_id: Mapped[str | None] = mapped_column(String(64))
    satisfaction: Mapped[Satisfaction | None] = mapped_column(
        str_enum(Satisfaction, "followup_satisfaction"))
    solved: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("ticket_id", "round"),)


class FollowUpAttempt(Base):
    __tablename__ = "followup_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("followup_jobs.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … within the job
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)
    node: Mapped[str] = mapped_column(String(32))
    status: Mapped[AttemptStatus] = mapped_column(
        str_enum(AttemptStatus, "followup_attempt_status"), default=AttemptStatus.SENDING,
        index=True)
    reason: Mapped[str] = mapped_column(String(128), default="")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("job_id", "number"),)
