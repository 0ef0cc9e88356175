"""The `[tickets]` section of the configuration (mounted on config.Settings as `tickets`).

    [tickets]
    reopen_on_dissatisfied = true        # a dissatisfied 回访 sends the ticket back to the dept
    default_deadline_days = 5            # working days, for a category not listed below
    sign_within_days = 1                 # 签收 within this many working days of 交办
    nearly_overdue_hours = 24            # "nearly overdue" when the deadline is this close
    scan_seconds = 300                   # how often the 督办 job looks for overdue tickets
    [tickets.deadline_days]              # 诉求类型 → working days (added to the defaults)
    "咨询" = 1                           # TOML: non-ASCII keys in quotes
    "投诉" = 5
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_DEADLINE_DAYS = {"咨询": 1, "求助": 5, "投诉": 5, "举报": 5, "建议": 10, "表扬": 3}


class TicketsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    reopen_on_dissatisfied: bool = True
    deadline_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    default_deadline_days: int = Field(default=5, ge=1, le=90)
    sign_within_days: int = Field(default=1, ge=1, le=10)
    nearly_overdue_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    scan_seconds: float = Field(default=300.0, ge=5, le=24 * 3600)

    @field_validator("deadline_days")
    @classmethod
    def _days_in_range(cls, days: dict[str, int]) -> dict[str, int]:
        for category, value in days.items():
            if not category or len(category) > 64:
                raise ValueError("a category name must be 1-64 characters")
            if not 1 <= value <= 90:
                raise ValueError(f"{category}: working days must be 1-90")
        return {**DEFAULT_DEADLINE_DAYS, **days}  # a file names the categories it changes
