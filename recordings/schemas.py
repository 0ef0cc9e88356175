"""JSON shapes of the recordings API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from hotline.recordings.models import RecordingStatus


class RecordingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    call_id: int
    status: RecordingStatus
    size: int
    duration_s: float
    sha256: str
    header_only: bool
    finalised_at: datetime
    transcript: str
    transcribed_at: datetime | None
    tickets: list[str] = []  # numbers of the call's tickets
    url: str = ""  # playback (HTTP Range)
