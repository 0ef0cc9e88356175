"""JSON shapes of the follow-up API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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
