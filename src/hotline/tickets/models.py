"""Tables of the ticket workflow (registered on Base.metadata by hotline.db.registry).

The history of a ticket is its append-only TicketEvent list (core models); these tables hold
what the workflow needs to query fast: where each ticket was sent (assignments, one per 交办/改派,
with the department's sign, reply and return times: the ranking is computed from them),
extension requests, follow-up surveys, merges, sent escalations, and the dispatch rules."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class DispatchRule(Base):
    """交办规则: in a region, tickets of a topic (业务分类) go to this department. The rule with
    topic "" is the region's default (e.g. the 政府办)."""

    __tablename__ = "dispatch_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    topic: Mapped[str] = mapped_column(String(64), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)

    __table_args__ = (UniqueConstraint("region_code", "topic"),)


class TicketAssignment(Base):
    """One 交办 (or 改派, or reopening) of a ticket to a department, and how it went."""

    __tablename__ = "ticket_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    dispatched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    sign_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)  # reply deadline (extensions move it)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_back_count: Mapped[int] = mapped_column(Integer, default=0)  # 审核退回重办
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # 退单
    return_reason: Mapped[str] = mapped_column(Text, default="")
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)  # made by a dissatisfied 回访


class ExtensionStatus(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class TicketExtension(Base):
    """申请延期: the department asks for more working days; a supervisor decides."""

    __tablename__ = "ticket_extensions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("ticket_assignments.id"))
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[ExtensionStatus] = mapped_column(
        str_enum(ExtensionStatus, "extension_status"), default=ExtensionStatus.PENDING)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SurveySatisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class TicketSurvey(Base):
    """回访 answers (the dialer's survey or an agent's call), one row per follow-up."""

    __tablename__ = "ticket_surveys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    satisfaction: Mapped[SurveySatisfaction] = mapped_column(
        str_enum(SurveySatisfaction, "survey_satisfaction"))
    solved: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")


class TicketMerge(Base):
    """并单: `source` was merged into `target`; the target shows the source's calls and events."""

    __tablename__ = "ticket_merges"

    source_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    target_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))


class TicketEscalation(Base):
    """督办 alerts sent, one per (ticket, kind, deadline): several controllers scanning the same
    deadlines never alert twice, and an extended deadline can alert again."""

    __tablename__ = "ticket_escalations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "nearly" | "overdue"
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("ticket_id", "kind", "due_at"),)
