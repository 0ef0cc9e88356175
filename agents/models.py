"""Tables of this feature (registered on Base.metadata by hotline.db.registry).

- `agent_profiles`: a softphone user (agent or supervisor): the extension of their PJSIP
  endpoint (`agent<extension>`, rendered by `hotline asterisk render`) and the Asterisk node it
  registers on.
- `agent_queues`: the queues an agent joins at login (AMI QueueAdd) and their base penalty.
- `agent_skills`: languages/dialects and ticket categories an agent handles, with a level
  (1 = fluent/expert … 3 = basic) that maps to a queue penalty (`hotline.agents.skills`).
- `agent_state_changes`: every state an agent went through, with its time, so pause time and
  handling time can be accounted. Append-only by use (nothing updates a row).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class SkillKind(enum.StrEnum):
    LANGUAGE = "language"  # 普通话, 方言, 少数民族语言, English
    CATEGORY = "category"  # a ticket category the agent knows well


class AgentProfile(Base):
    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Digits only; the PJSIP endpoint is agent<extension>, the queue interface PJSIP/agent<ext>.
    extension: Mapped[str] = mapped_column(String(16), unique=True)
    # The [[asterisk]] node the softphone registers on; "" = the first configured node.
    node: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    queues: Mapped[list[AgentQueue]] = relationship(
        order_by="AgentQueue.queue", cascade="all, delete-orphan", lazy="selectin")
    skills: Mapped[list[AgentSkill]] = relationship(
        order_by=lambda: [AgentSkill.kind, AgentSkill.name], cascade="all, delete-orphan",
        lazy="selectin")

    __table_args__ = (
        CheckConstraint("length(extension) >= 2", name="extension_length"),
    )


class AgentQueue(Base):
    __tablename__ = "agent_queues"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("agent_profiles.user_id", ondelete="CASCADE"), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)  # app_queue name
    penalty: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("penalty >= 0", name="penalty_not_negative"),)


class AgentSkill(Base):
    __tablename__ = "agent_skills"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("agent_profiles.user_id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[SkillKind] = mapped_column(str_enum(SkillKind, "skill_kind"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 3", name="level_range"),)


class AgentStateChange(Base):
    __tablename__ = "agent_state_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[AgentState] = mapped_column(str_enum(AgentState, "agent_state"))
    reason: Mapped[str] = mapped_column(String(32), default="")  # pause reason (休息 …)
    # The caller's uniqueid while ringing / on a call / in wrap-up, else "".
    call_uniqueid: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (Index(None, "user_id", "id"),)
