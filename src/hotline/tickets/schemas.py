"""JSON shapes of the ticket API (pydantic): validated input, documented output (OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotline.db.models import TicketChannel, TicketStatus
from hotline.tickets.models import ExtensionStatus, SurveySatisfaction
from hotline.tickets.workflow import Action


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TicketIn(_In):
    """A matter submitted through a web form, SMS gateway, e-mail, WeChat or the app."""

    channel: Literal["web", "sms", "email", "wechat", "app"]
    region_code: str = Field(pattern=r"^53\d{4}$")
    category: str = Field(default="", max_length=64)
    topic: str = Field(default="", max_length=64)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=5000)
    citizen_name: str = Field(default="", max_length=64)
    contact_number: str = Field(default="", max_length=32, pattern=r"^[0-9+\- ]*$")
    # A retried submission with the same key returns the ticket already filed (200, not 201).
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=64,
                                        pattern=r"^[A-Za-z0-9._:\-]+$")


class ActionIn(_In):
    """One workflow step. Which fields an action needs: see the `action` descriptions."""

    action: Action
    note: str = Field(default="", max_length=5000)
    version: int | None = Field(default=None, ge=1,
                                description="the version you saw: a changed ticket answers 409")
    reason: str | None = Field(default=None, max_length=32, description="reject: policy reason")
    department_id: int | None = Field(default=None, ge=1, le=2**31 - 1,  # an INTEGER id
                                      description="dispatch / redispatch")
    target: str | None = Field(default=None, max_length=16,
                               description="transfer: 96128, 12315, 12331 or 12345-53xx")
    days: int | None = Field(default=None, description="request_extension: working days")
    grant: bool | None = Field(default=None, description="decide_extension")
    satisfaction: SurveySatisfaction | None = Field(default=None, description="follow_up")
    solved: bool | None = Field(default=None, description="follow_up")
    into: str | None = Field(default=None, max_length=32, description="merge: target number")
    category: str | None = Field(default=None, max_length=64, description="accept")
    topic: str | None = Field(default=None, max_length=64, description="accept")

    def params(self) -> dict[str, object]:
        skip = {"action", "note", "version"}
        return {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}


class TicketOut(_Out):
    id: int
    number: str
    channel: TicketChannel
    category: str
    topic: str
    region_code: str
    status: TicketStatus
    title: str
    content: str
    citizen_name: str
    contact_number: str
    department_id: int | None
    due_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    emergency_service: str | None


class TicketCreatedOut(TicketOut):
    created: bool = Field(description="false: the idempotency key found an earlier ticket")


class EventOut(_Out):
    ticket_id: int
    at: datetime
    actor: str
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    note: str


class CallOut(_Out):
    id: int
    caller_number: str
    started_at: datetime
    ended_at: datetime | None


class AssignmentOut(_Out):
    department_id: int
    dispatched_at: datetime
    sign_due_at: datetime
    due_at: datetime
    signed_at: datetime | None
    replied_at: datetime | None
    reply_count: int
    returned_at: datetime | None
    return_reason: str
    reopened: bool


class ExtensionOut(_Out):
    days: int
    reason: str
    status: ExtensionStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None


class SurveyOut(_Out):
    at: datetime
    actor: str
    satisfaction: SurveySatisfaction
    solved: bool
    note: str


class TicketDetailOut(BaseModel):
    ticket: TicketOut
    actions: list[Action]
    events: list[EventOut]
    calls: list[CallOut]
    assignments: list[AssignmentOut]
    extensions: list[ExtensionOut]
    surveys: list[SurveyOut]
    merged_from: list[str]
    merged_into: str | None


class LateOut(BaseModel):
    number: str
    title: str
    status: TicketStatus
    kind: Literal["sign", "reply", "nearly"]
    due_at: datetime
    department: str


class RankOut(BaseModel):
    department_id: int
    name: str
    region_code: str
    assignments: int
    on_time_rate: float | None
    satisfaction_rate: float | None
    first_contact_rate: float | None
    returned_rate: float | None
    score: float | None


class Period(BaseModel):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD (local dates, both included)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    since: date = Field(alias="from")
    until: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.until < self.since:
            raise ValueError("to must not be before from")
        if (self.until - self.since).days > 366:
            raise ValueError("a period is at most one year")
        return self


class DispatchRuleIn(_In):
    region_code: str = Field(pattern=r"^53\d{4}$")
    topic: str = Field(default="", max_length=64)
    department_id: int = Field(ge=1, le=2**31 - 1)  # an INTEGER id


class DispatchRuleOut(_Out):
    id: int
    region_code: str
    topic: str
    department_id: int
