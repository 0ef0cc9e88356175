"""The `[queue]` section of the configuration (mounted on config.Settings as `queue`).

    [queue]
    service_level_seconds = 15       # "answered within" for the service level (GB/T 33358: 15 s)
    service_level_target = 0.85      # alert when today's 15-s answer rate falls under it
    service_level_min_offered = 10   # ... once the queue has been offered this many calls today
    short_abandon_seconds = 5        # abandons quicker than this are "abandoned within 5 s"
    callback_after_seconds = 5       # an abandon after waiting this long becomes a callback task
    long_wait_alert_seconds = 60     # alert when a caller has waited this long
    default_handling_seconds = 180   # handling time assumed before today has any answered call
    overflow_queue = "hl-96128"      # where 12345 callers overflow to
    overflow_after_seconds = 60      # a 12345 caller waiting longer overflows
    callback_priority = 10           # QUEUE_PRIO of callbacks (new callers have 0)
    virtual_hold_priority = 50       # QUEUE_PRIO of a virtual-hold callback: the head of the queue
    virtual_hold_offer_seconds = 120 # offer 按1保留排队位置 when the estimated wait passes this
    virtual_hold_attempts = 3        # Originates before the task fails (manual list)
    virtual_hold_retry_seconds = 120 # between attempts
    dial_timeout_seconds = 30        # the citizen's phone rings this long (Originate Timeout)
    [queue.skill_penalties]          # skill → queue penalty (QueueAdd Penalty)
    普通话 = 0
    方言 = 1
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Tiers: lower is tried first by app_queue. See hotline.queue.routing for what they mean.
DEFAULT_SKILL_PENALTIES = {"普通话": 0, "方言": 1, "English": 2, "少数民族语言": 3}


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    service_level_seconds: int = Field(default=15, ge=1, le=600)
    service_level_target: float = Field(default=0.85, ge=0, le=1)
    service_level_min_offered: int = Field(default=10, ge=1, le=100_000)
    short_abandon_seconds: int = Field(default=5, ge=0, le=600)
    callback_after_seconds: int = Field(default=5, ge=0, le=3600)
    long_wait_alert_seconds: int = Field(default=60, ge=1, le=3600)
    default_handling_seconds: int = Field(default=180, ge=1, le=7200)
    overflow_queue: str = Field(default="hl-96128", min_length=1, max_length=64)
    overflow_after_seconds: int = Field(default=60, ge=0, le=3600)
    callback_priority: int = Field(default=10, ge=0, le=1000)
    virtual_hold_priority: int = Field(default=50, ge=0, le=1000)
    virtual_hold_offer_seconds: int = Field(default=120, ge=0, le=7200)
    virtual_hold_attempts: int = Field(default=3, ge=1, le=10)
    virtual_hold_retry_seconds: float = Field(default=120.0, ge=1, le=24 * 3600)
    dial_timeout_seconds: int = Field(default=30, ge=5, le=120)
    skill_penalties: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_SKILL_PENALTIES))

    @field_validator("skill_penalties")
    @classmethod
    def _penalties_in_range(cls, penalties: dict[str, int]) -> dict[str, int]:
        for skill, penalty in penalties.items():
            if not skill or len(skill) > 64:
                raise ValueError("a skill name must be 1-64 characters")
            if not 0 <= penalty <= 100:
                raise ValueError(f"{skill}: penalty must be 0-100")
        return penalties
