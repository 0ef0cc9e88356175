"""Tables of this feature (registered on Base.metadata by hotline.db.registry).

A recording belongs to one call (the call's linkedid names the file, `paths.py`); it reaches
tickets through the call (`ticket_calls`), so every ticket of the call sees it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, BigId, UtcDateTime, str_enum, utcnow


class RecordingStatus(enum.StrEnum):
    FINALISED = "finalised"  # size, duration and hash known
    MISSING = "missing"  # the call ended but no file was found at its path
    PURGED = "purged"  # deleted by the retention job (the row stays, for the audit trail)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), unique=True)
    # Relative to the recordings root: yyyy/mm/dd/<node>-<linkedid>.wav (paths.py).
    path: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[RecordingStatus] = mapped_column(
        str_enum(RecordingStatus, "recording_status"), default=RecordingStatus.FINALISED)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    # 44 bytes, a WAV header and no audio: MixMonitor `b` and nobody was ever bridged.
    header_only: Mapped[bool] = mapped_column(Boolean, default=False)
    finalised_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transcript: Mapped[str] = mapped_column(Text, default="")
    transcribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transcribe_error: Mapped[str] = mapped_column(String(255), default="")


class PlaybackAudit(Base):
    """Every request to play a recording, granted or refused (append-only by convention)."""

    __tablename__ = "playback_audits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    allowed: Mapped[bool] = mapped_column(Boolean)
    byte_range: Mapped[str] = mapped_column(String(64), default="")  # the Range header asked
    remote: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index(None, "recording_id", "at"),)
