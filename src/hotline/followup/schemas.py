"""JSON shapes of the follow-up API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hotline.followup.models import JobStatus, Satisfaction


class FollowUpOut(BaseModel):
    id: int
    ticket_id: int
    ticket_number: str
    region_code: str
    title: str
    number: str  # the citizen's number to call
    round: int  # 1, then 2 … when a reopened ticket comes back to 回访
    status: JobStatus
    attempts: int
    next_attempt_at: datetime
    satisfaction: Satisfaction | None
    solved: bool | None
    note: str  # why it is on the manual list (N 次未能完成, 无号码 …), or a refusal of the ticket
    finished_at: datetime | None


ManualFollowUpOut = FollowUpOut


class ManualResultIn(BaseModel):
    """The outcome of a follow-up call made by hand."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reached: bool  # false: not reached either — the ticket is closed without a survey
    satisfaction: Satisfaction | None = None
    solved: bool | None = None
    note: str = Field(default="", max_length=500)
