"""Core tables. Every table and key is designed for several controllers sharing one PostgreSQL
(DESIGN.md §6): natural keys where Asterisk gives them, (node, id) pairs for Asterisk ids, no
process-local sequences for anything a user reads (ticket numbers come from `ticket_counters`)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class RegionLevel(enum.StrEnum):
    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    HANDLER = "handler"  # 承办单位 (department) handler

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "系统管理员",
    Role.SUPERVISOR: "班长/质检",
    Role.AGENT: "话务员",
    Role.HANDLER: "承办单位",
}


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"  # callbacks and follow-up (回访) calls


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"  # an agent talked to the caller
    ABANDONED = "abandoned"  # hung up while waiting in the queue
    IVR_ONLY = "ivr_only"  # served or hung up in the voice menu
    EMERGENCY = "emergency"  # transferred to 110/119/120/122
    TRANSFERRED = "transferred"  # to another hotline
    MESSAGE = "message"  # left a message outside business hours
    FAILED = "failed"  # outbound call not answered / failed


class TicketChannel(enum.StrEnum):
    PHONE = "phone"
    WEB = "web"
    SMS = "sms"
    EMAIL = "email"
    WECHAT = "wechat"
    APP = "app"


class TicketStatus(enum.StrEnum):
    DRAFT = "draft"  # 草稿 (from a call, not yet filed)
    ACCEPTED = "accepted"  # 受理
    REJECTED = "rejected"  # 不予受理
    DISPATCHED = "dispatched"  # 交办 (to a department)
    TRANSFERRED = "transferred"  # 转办 (to another hotline)
    IN_PROGRESS = "in_progress"  # 承办 (signed for by the department)
    RETURNED = "returned"  # 退单 (department returned it)
    REVIEWING = "reviewing"  # 审核 (department replied, hotline reviews)
    FOLLOW_UP = "follow_up"  # 回访
    CLOSED = "closed"  # 办结
    MERGED = "merged"  # 并单 (merged into another ticket)


# Reference data ---------------------------------------------------------------------------

class Region(Base):
    """GB/T 2260 administrative divisions: Yunnan → prefectures → counties/districts."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    short_name: Mapped[str] = mapped_column(String(32))
    level: Mapped[RegionLevel] = mapped_column(str_enum(RegionLevel, "region_level"))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)

    __table_args__ = (CheckConstraint("length(code) = 6", name="code_six_digits"),)


class HotlineLine(Base):
    """A hotline: 96128 (province) or the 12345 line of one prefecture."""

    __tablename__ = "hotline_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # "96128", "12345-5301"
    service_number: Mapped[str] = mapped_column(String(8))  # what citizens dial
    name: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    queue: Mapped[str] = mapped_column(String(64), unique=True)  # app_queue name
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    dids: Mapped[list[LineDid]] = relationship(
        back_populates="line", order_by="LineDid.did", cascade="all, delete-orphan"
    )


class LineDid(Base):
    """A dialled number (DID) that reaches a line (Asterisk's inbound context maps the same)."""

    __tablename__ = "line_dids"

    did: Mapped[str] = mapped_column(String(32), primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("hotline_lines.id", ondelete="CASCADE"), index=True)

    line: Mapped[HotlineLine] = relationship(back_populates="dids")


class Department(Base):
    """承办单位: a government department or public enterprise that handles tickets in a region."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("region_code", "name"),)


# People -----------------------------------------------------------------------------------

class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    # None: the whole province; else the user sees this region (and the regions under it).
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint(
            "role <> 'handler' OR department_id IS NOT NULL", name="handler_has_department"
        ),
    )


class WebSession(Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored, so a database
    leak does not hand out sessions. Kept in the database so any controller can serve it."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    user: Mapped[User] = relationship(lazy="joined")


# Calls and tickets --------------------------------------------------------------------------

class Call(Base):
    """One call as Asterisk saw it. `uniqueid` is the caller's channel, `linkedid` the whole call
    (the recording is named by it); both are unique per Asterisk node, so a replayed AMI event or
    a retried write finds the existing row instead of adding one."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    node: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[CallDirection] = mapped_column(
        str_enum(CallDirection, "call_direction"), default=CallDirection.INBOUND
    )
    line_id: Mapped[int | None] = mapped_column(ForeignKey("hotline_lines.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    caller_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[CallOutcome | None] = mapped_column(str_enum(CallOutcome, "call_outcome"))
    # What the voice menu learned (ivr/): the key pressed, the caller's words as recognised,
    # the category they point to, and the emergency service the call went to (110/119/120/122).
    ivr_choice: Mapped[str] = mapped_column(String(16), default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    emergency_service: Mapped[str | None] = mapped_column(String(3))

    __table_args__ = (
        UniqueConstraint("node", "uniqueid"),
        UniqueConstraint("node", "linkedid"),
    )


class Ticket(Base):
    """工单. `number` is what citizens and departments quote: region-yyyymmdd-sequence."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[TicketChannel] = mapped_column(str_enum(TicketChannel, "ticket_channel"))
    category: Mapped[str] = mapped_column(String(64), default="")
    # 业务分类 (e.g. 供水): picks the department by the dispatch rules (tickets/models.py).
    topic: Mapped[str] = mapped_column(String(64), default="", server_default="")
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("hotline_lines.id"))
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, "ticket_status"), default=TicketStatus.DRAFT, index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    citizen_name: Mapped[str] = mapped_column(String(64), default="")
    contact_number: Mapped[str] = mapped_column(String(32), default="", index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A client-chosen key: a retried submission finds its ticket instead of filing a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Set when the matter was an emergency handed to 110/119/120/122 (voice or text).
    emergency_service: Mapped[str | None] = mapped_column(String(3))

    calls: Mapped[list[Call]] = relationship(secondary="ticket_calls", order_by="Call.started_at")
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", viewonly=True
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own API


class TicketCall(Base):
    __tablename__ = "ticket_calls"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), primary_key=True, index=True)


class TicketEvent(Base):
    """Append-only history of a ticket: the database itself refuses UPDATE and DELETE
    (triggers in the first migration)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))  # username, or "ivr"/"system"/"web"
    action: Mapped[str] = mapped_column(String(32))  # create, accept, dispatch, reply, ...
    from_status: Mapped[TicketStatus | None] = mapped_column(
        str_enum(TicketStatus, "from_status"))
    to_status: Mapped[TicketStatus | None] = mapped_column(str_enum(TicketStatus, "to_status"))
    note: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="events")

    __table_args__ = (Index(None, "ticket_id", "id"),)


class TicketCounter(Base):
    """Per region prefix and local day, the last ticket sequence handed out."""

    __tablename__ = "ticket_counters"

    prefix: Mapped[str] = mapped_column(String(4), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


# Callbacks ----------------------------------------------------------------------------------

class CallbackKind(enum.StrEnum):
    ABANDONED = "abandoned"  # hung up after waiting ≥ 5 s in the queue
    MESSAGE = "message"  # left a message outside business hours
    VIRTUAL_HOLD = "virtual_hold"  # kept their place in the queue (按1保留排队位置)


class CallbackStatus(enum.StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"  # the citizen was reached
    FAILED = "failed"  # unreachable after the retries: manual list
    CANCELLED = "cancelled"


class CallbackTask(Base):
    """A call the hotline owes a citizen. Agents and supervisors see the open ones; the dialer
    (queue/ virtual hold, followup/) works them. One per (kind, call): a replayed event or a
    retried write finds the existing task."""

    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[CallbackKind] = mapped_column(str_enum(CallbackKind, "callback_kind"))
    status: Mapped[CallbackStatus] = mapped_column(
        str_enum(CallbackStatus, "callback_status"), default=CallbackStatus.PENDING, index=True
    )
    number: Mapped[str] = mapped_column(String(32))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("hotline_lines.id"))
    queue: Mapped[str] = mapped_column(String(64), default="")
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("kind", "call_id"),)
