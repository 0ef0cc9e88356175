"""Business hours of the hotline's agents, from configuration (`[ivr] hours`, `holidays`).

Hours are written the way a duty roster reads: `"mon-fri 08:30-17:30"`, `"sat 09:00-12:00"`,
several entries allowed; the default `"mon-sun 00:00-24:00"` is 7×24 (96128 and 12345 are
staffed around the clock in most prefectures). Times are local (`time_zone`). An entry whose
end is before its start runs past midnight (`"mon-sun 20:00-08:00"`).

`holidays = "closed"` closes the statutory public holidays of the State Council's calendar
(春节, 国庆 …, as the `chinese_calendar` package knows them; weekends are not holidays in that
sense: they follow the day-of-week entries). `closed_dates` adds local closures. A year the
calendar does not cover yet is logged and treated as open: a citizen reaching the queue is
better than one told to leave a message when agents are there.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = ("mon-sun 00:00-24:00",)
_ENTRY = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Span:
    """Open on `days` (0 = Monday) from `start` to `end` minutes after midnight."""

    days: frozenset[int]
    start: int
    end: int

    def covers(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # past midnight: the evening part belongs to the day, the morning part to the day after
        return ((weekday in self.days and minute >= self.start)
                or ((weekday - 1) % 7 in self.days and minute < self.end))


def _minutes(text: str, *, end: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError(f"{text!r} is not a time of day (00:00-24:00)")
    return hours * 60 + minutes


def parse_span(entry: str) -> Span:
    match = _ENTRY.match(entry.strip().lower())
    if not match:
        raise ValueError(f"{entry!r} is not like 'mon-fri 08:30-17:30'")
    names = [match["first"], match["last"] or match["first"]]
    for name in names:
        if name not in DAYS:
            raise ValueError(f"{entry!r}: {name!r} is not a day (mon … sun)")
    first, last = (DAYS.index(name) for name in names)
    days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
    start, stop = _minutes(match["start"], end=False), _minutes(match["end"], end=True)
    if start == stop:
        raise ValueError(f"{entry!r}: the hours are empty")
    return Span(days, start, stop)


def parse_hours(entries: Iterable[str]) -> tuple[Span, ...]:
    spans = tuple(parse_span(entry) for entry in entries)
    if not spans:
        raise ValueError("at least one entry, e.g. 'mon-sun 00:00-24:00'")
    return spans


@functools.lru_cache(maxsize=64)
def statutory_holiday(day: date) -> bool:
    """A public holiday of the official calendar (not an ordinary weekend). Cached per day, so
    a year the calendar lacks is logged once a day, not on every call."""
    import chinese_calendar  # imported when holidays = "closed" only

    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        log.warning("the holiday calendar does not cover %s: taken as a working day", day.year)
        return False
    return bool(holiday and name)


@dataclass(frozen=True)
class BusinessHours:
    spans: tuple[Span, ...]
    zone: ZoneInfo
    closed_on_holidays: bool = False
    closed_dates: frozenset[date] = frozenset()

    @classmethod
    def from_config(cls, hours: Sequence[str], zone: ZoneInfo, holidays: str = "open",
                    closed_dates: Iterable[date] = ()) -> BusinessHours:
        return cls(parse_hours(hours), zone, holidays == "closed", frozenset(closed_dates))

    @classmethod
    def always(cls, zone: ZoneInfo) -> BusinessHours:
        return cls(parse_hours(ALWAYS), zone)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        today, minute = local.date(), local.hour * 60 + local.minute
        for span in self.spans:
            # The morning part of a span past midnight belongs to the roster of the day before.
            roster_day = today
            if span.start > span.end and minute < span.end:
                roster_day = today - timedelta(days=1)
            if span.covers(local.weekday(), minute) and not self._closed_day(roster_day):
                return True
        return False

    def next_open(self, after: datetime, within_days: int = 14) -> datetime | None:
        """The first minute the hotline is open at or after `after` (None: not within
        `within_days`). Spans start on whole minutes, so each minute is tested (a week of
        closures is ~10 000 cheap checks, holidays cached per day)."""
        start = after.astimezone(self.zone).replace(second=0, microsecond=0)
        if start < after:
            start += timedelta(minutes=1)
        for minute in range(within_days * 24 * 60):
            moment = start + timedelta(minutes=minute)
            if self.is_open(moment):
                return moment
        return None

    def _closed_day(self, day: date) -> bool:
        if day in self.closed_dates:
            return True
        return self.closed_on_holidays and statutory_holiday(day)

