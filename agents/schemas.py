"""Request bodies of the desk's and the wallboard's JSON routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hotline.agents.models import AgentState


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StateIn(_Body):
    state: AgentState
    reason: str = Field(default="", max_length=32)


class TransferIn(_Body):
    target: str = Field(min_length=1, max_length=64)


class TicketIn(_Body):
    title: str = Field(max_length=200)
    content: str = Field(max_length=5000)
    contact_number: str = Field(default="", max_length=32)
    region_code: str = Field(min_length=6, max_length=6)
    category: str = Field(default="", max_length=64)
    citizen_name: str = Field(default="", max_length=64)
    line_code: str = Field(default="", max_length=16)
    call_id: int | None = Field(default=None, le=2**63 - 1)  # a BIGINT id
    accept: bool = True
    idempotency_key: str | None = Field(default=None, max_length=64)


class SpyIn(_Body):
    agent_id: int
    mode: str = Field(max_length=16)


class SkillIn(_Body):
    kind: str = Field(max_length=16)
    name: str = Field(max_length=64)
    level: int = 1


class ProfileIn(_Body):
    extension: str | None = Field(default=None, max_length=16)
    queues: dict[str, int] = Field(default_factory=dict)
    skills: list[SkillIn] = Field(default_factory=list)
    node: str = Field(default="", max_length=32)
