"""JSON shapes of the follow-up API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hotline.followup.models import Satisfaction


class ManualFollowUpOut(BaseModel):
    id: int
    ticket_id: int
    ticket_number: str
    region_code: str
    title: str
    number: str  # the citizen's number to call
    round: int
    attempts: int
    note: str  # why it is on the list (在 attempts 次后仍未接通, 无号码 …)
    finished_at: datetime | None


class ManualResultIn(BaseModel):
    """The outcome of a follow-up call made by hand."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reached: bool  # false: not reached either — the ticket is closed without a survey
    satisfaction: Satisfaction | None = None
    solved: bool | None = None
    note: str = Field(default="", max_length=500)
