"""Calling hours are local (Asia/Shanghai), start inclusive, end exclusive; "24:00" is the end of
the day. The ChannelId of an attempt depends on (job, attempt) only."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hotline.config import FollowUpConfig
from hotline.followup.services import Policy, channel_id_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("hours, local, inside", [
    ("09:00-20:00", "08:59:59", False),
    ("09:00-20:00", "09:00:00", True),
    ("09:00-20:00", "19:59:59", True),
    ("09:00-20:00", "20:00:00", False),
    ("00:00-24:00", "00:00:00", True),
    ("00:00-24:00", "23:59:59", True),
    ("08:30-12:00", "12:30:00", False),
])
def test_calling_hours(hours, local, inside):
    policy = Policy.of(FollowUpConfig(hours=hours), SHANGHAI)
    moment = datetime.fromisoformat(f"2026-11-25T{local}").replace(tzinfo=SHANGHAI)
    assert policy.calling_hours(moment.astimezone(UTC)) is inside


def test_the_policy_reads_the_configuration():
    policy = Policy.of(FollowUpConfig(retries=2, retry_spacing_minutes=45, max_concurrent=7),
                       SHANGHAI)
    assert (policy.max_attempts, policy.spacing, policy.max_concurrent) == (
        3, timedelta(minutes=45), 7)


@pytest.mark.parametrize("hours", ["9:00-20:00", "20:00-09:00", "09:00-09:00", "09:00-24:30"])
def test_bad_hours_are_refused(hours):
    with pytest.raises(ValidationError):
        FollowUpConfig(hours=hours)


def test_channel_ids_are_deterministic_and_distinct():
    assert channel_id_for(12, 1) == channel_id_for(12, 1) == "hotline-fu-12-1"
    ids = {channel_id_for(job, attempt) for job in (1, 12, 121) for attempt in (1, 2, 11)}
    assert len(ids) == 9
