"""Business hours (ivr/hours.py) and their configuration ([ivr] hours, holidays)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.config import ConfigError, load_settings
from hotline.ivr.hours import BusinessHours, parse_span, statutory_holiday

KUNMING = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=KUNMING)


def test_default_is_7x24() -> None:
    hours = BusinessHours.always(KUNMING)
    for moment in (local(2026, 11, 28, 0, 0), local(2026, 11, 29, 23, 59),
                   local(2026, 10, 1, 12, 0), local(2026, 11, 25, 17, 30)):
        assert hours.is_open(moment)


def test_office_hours_on_weekdays() -> None:
    hours = BusinessHours.from_config(["mon-fri 08:30-17:30", "sat 09:00-12:00"], KUNMING)
    assert hours.is_open(local(2026, 11, 25, 8, 30))  # Wednesday, opening minute
    assert not hours.is_open(local(2026, 11, 25, 8, 29))
    assert not hours.is_open(local(2026, 11, 25, 17, 30))  # the end is exclusive
    assert hours.is_open(local(2026, 11, 28, 11, 59))  # Saturday morning
    assert not hours.is_open(local(2026, 11, 28, 12, 0))
    assert not hours.is_open(local(2026, 11, 29, 10, 0))  # Sunday
    # a moment given in UTC is judged in local time: 01:00 UTC is 09:00 in Kunming
    assert hours.is_open(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))  # 18:00 local


def test_a_span_past_midnight_and_a_wrapping_day_range() -> None:
    night = BusinessHours.from_config(["fri-mon 20:00-08:00"], KUNMING)
    assert night.is_open(local(2026, 11, 27, 23, 0))  # Friday night
    assert night.is_open(local(2026, 11, 28, 7, 59))  # Saturday morning: Friday's shift
    assert night.is_open(local(2026, 12, 1, 7, 0))  # Tuesday morning: Monday's shift
    assert not night.is_open(local(2026, 12, 1, 21, 0))  # Tuesday night
    assert not night.is_open(local(2026, 11, 26, 7, 0))  # Thursday morning
    assert parse_span("sun-mon 00:00-24:00").days == frozenset({6, 0})


def test_statutory_holidays_close_when_configured() -> None:
    office = ["mon-fri 08:30-17:30"]
    national_day = local(2026, 10, 1, 10, 0)  # a Thursday
    assert BusinessHours.from_config(office, KUNMING).is_open(national_day)
    closed = BusinessHours.from_config(office, KUNMING, holidays="closed")
    assert not closed.is_open(national_day)
    assert closed.is_open(local(2026, 11, 25, 10, 0))  # an ordinary Wednesday
    # a weekend is not a statutory holiday: 7×24 stays open on Saturdays
    always_but_holidays = BusinessHours.from_config(["mon-sun 00:00-24:00"], KUNMING, "closed")
    assert always_but_holidays.is_open(local(2026, 11, 28, 3, 0))
    assert not always_but_holidays.is_open(local(2026, 10, 2, 3, 0))


def test_a_night_shift_belongs_to_the_day_it_starts() -> None:
    hours = BusinessHours.from_config(["mon-sun 20:00-08:00"], KUNMING, "closed")
    assert hours.is_open(local(2026, 9, 30, 23, 0))  # the evening before National Day
    assert not hours.is_open(local(2026, 10, 1, 23, 0))  # National Day's own evening
    assert not hours.is_open(local(2026, 10, 2, 7, 0))  # … and the morning after it


def test_a_year_the_calendar_does_not_know_is_open(caplog: pytest.LogCaptureFixture) -> None:
    statutory_holiday.cache_clear()
    hours = BusinessHours.from_config(["mon-sun 00:00-24:00"], KUNMING, "closed")
    assert hours.is_open(local(2099, 10, 1, 10, 0))
    assert any("does not cover 2099" in r.getMessage() for r in caplog.records)


def test_closed_dates() -> None:
    hours = BusinessHours.from_config(["mon-sun 00:00-24:00"], KUNMING,
                                      closed_dates=[date(2026, 12, 31)])
    assert not hours.is_open(local(2026, 12, 31, 10, 0))
    assert hours.is_open(local(2027, 1, 1, 10, 0))


@pytest.mark.parametrize("entry", ["mon-fri", "monday 08:00-12:00", "mon-fri 8:00-25:00",
                                   "mon-fri 08:60-09:00", "mon 09:00-09:00", "xyz 08:00-12:00",
                                   "mon-fri 24:00-08:00", ""])
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_span(entry)


def test_configuration(tmp_path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text('[ivr]\nhours = ["mon-fri 08:30-17:30"]\nholidays = "closed"\n'
                    'closed_dates = [2026-12-31]\n', encoding="utf-8")
    settings = load_settings(path, environ={})
    assert settings.ivr.hours == ["mon-fri 08:30-17:30"] and settings.ivr.holidays == "closed"
    assert settings.ivr.closed_dates == [date(2026, 12, 31)]
    assert settings.ivr.record_max_seconds == 8
    assert settings.ivr_recordings_dir == settings.recordings_dir / "ivr"
    for text, key in (('[ivr]\nhours = ["weekdays 9-5"]\n', "ivr.hours"),
                      ('[ivr]\nhours = []\n', "ivr.hours"),
                      ('[ivr]\nholidays = "sometimes"\n', "ivr.holidays"),
                      ('[ivr]\nstatement_dir = "relative/ivr"\n', "ivr.statement_dir")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(path, environ={})


def test_next_opening() -> None:
    office = BusinessHours.from_config(["mon-fri 08:30-17:30"], KUNMING, "closed")
    assert office.next_open(local(2026, 11, 25, 10, 0, 30)) == local(2026, 11, 25, 10, 1)
    assert office.next_open(local(2026, 11, 25, 10, 1)) == local(2026, 11, 25, 10, 1)
    assert office.next_open(local(2026, 11, 27, 18, 0)) == local(2026, 11, 30, 8, 30)
    # the National Day holidays (1-7 October 2026) are skipped
    assert office.next_open(local(2026, 9, 30, 20, 0)) == local(2026, 10, 8, 8, 30)
    never = BusinessHours.from_config(["mon-sun 00:00-24:00"], KUNMING,
                                      closed_dates=[date(2026, 12, d) for d in range(1, 32)])
    assert never.next_open(local(2026, 12, 1, 0, 0), within_days=7) is None
