"""督办: working-day deadlines across China's holidays (checked against chinese_calendar's own
data, never a hand-typed table), the fallback for a year the package does not know, and the
overdue lists and escalations on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlalchemy import select
from tickets_support import NOW, new_ticket, seed, step

from hotline.bus import Bus
from hotline.db.models import Ticket, TicketStatus
from hotline.tickets.deadlines import WorkCalendar, escalate, late_tickets

ZONE = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZONE).astimezone(UTC)


def test_national_day_golden_week_is_skipped():
    start = date(2026, 9, 30)
    assert chinese_calendar.is_workday(start)
    week = [date(2026, 10, 1) + timedelta(days=i) for i in range(7)]
    assert all(chinese_calendar.is_holiday(d) for d in week)  # the package's 2026 data
    expected = chinese_calendar.get_workdays(start + timedelta(days=1), date(2026, 10, 31))
    calendar = WorkCalendar(ZONE)
    for days in (1, 3):
        due = calendar.add_working_days(local(start, 15), days)
        assert due == end_of(expected[days - 1])
        assert due > end_of(week[-1])
    assert calendar.approximate_years == set()


def test_an_adjusted_working_weekend_day_counts():
    # The package lists 2026's weekend days that are working days (调休上班); take one.
    makeup = next(d for d in chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31))
                  if d.weekday() >= 5)
    day_before = makeup - timedelta(days=1)
    due = WorkCalendar(ZONE).add_working_days(local(day_before), 1)
    assert due == end_of(makeup)


def test_spring_festival_five_working_days():
    start = date(2026, 2, 13)
    expected = chinese_calendar.get_workdays(start + timedelta(days=1), date(2026, 3, 31))[4]
    span = [start + timedelta(days=i) for i in range(1, (expected - start).days)]
    holidays = [d for d in span if chinese_calendar.is_holiday(d) and d.weekday() < 5]
    assert holidays  # weekdays off for the festival lie inside the span
    assert WorkCalendar(ZONE).add_working_days(local(start), 5) == end_of(expected)


def test_a_year_the_package_does_not_know_falls_back_to_weekends_and_says_so(caplog):
    unknown = 2027
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(unknown, 1, 4))  # the premise: 1.11 ends with 2026
    calendar = WorkCalendar(ZONE)
    start = local(date(2026, 12, 30))  # Wednesday; the next working days fall in 2027
    with caplog.at_level(logging.WARNING, logger="hotline.tickets.deadlines"):
        due = calendar.add_working_days(start, 5)
    # Thu 2026-12-31 is known (1); then 2027 by weekdays only — Fri 1 (2, really New Year's
    # Day: the estimate does not know), Mon 4 (3), Tue 5 (4), Wed 6 (5).
    assert chinese_calendar.is_workday(date(2026, 12, 31))
    assert due == end_of(date(2027, 1, 6))
    assert calendar.approximate_years == {unknown}
    assert "2027" in caplog.text and "Monday-Friday" in caplog.text
    assert calendar.is_estimate(start, due) and not calendar.is_estimate(start, start)


async def test_overdue_lists_and_escalation_once(db):
    s = await seed(db)
    reply_late, sign_late, nearly, fine = [await new_ticket(db) for _ in range(4)]
    for tid in (reply_late, sign_late, nearly, fine):
        await step(db, tid, "accept", s.agent)
    await step(db, sign_late, "dispatch", s.agent)  # signing due the next working day
    async with db() as session:
        tickets = {t.id: t for t in (await session.scalars(select(Ticket))).all()}
        tickets[reply_late].due_at = NOW - timedelta(hours=1)
        tickets[nearly].due_at = NOW + timedelta(hours=5)
        tickets[fine].due_at = NOW + timedelta(days=5)
        await session.commit()
    later = NOW + timedelta(days=2)  # after sign_late's signing deadline (Thursday's end)
    async with db() as session:
        late = await late_tickets(session, NOW + timedelta(minutes=1), timedelta(hours=24))
        assert [(x.ticket.id, x.kind) for x in late] == [(reply_late, "reply"),
                                                         (nearly, "nearly")]
        late = await late_tickets(session, later, timedelta(hours=1))
        kinds = {x.ticket.id: x.kind for x in late}
        assert kinds == {reply_late: "reply", nearly: "reply", sign_late: "sign"}
        assert next(x for x in late if x.ticket.id == sign_late).department == "昆明市水务局"

    bus = Bus()
    alerts = bus.subscribe(["alerts"])
    async with db() as session:
        assert await escalate(session, bus, later, timedelta(hours=1)) == 3
    async with db() as session:  # a second scan (or another controller) sends nothing again
        assert await escalate(session, bus, later, timedelta(hours=1)) == 0
    sent = [alerts._queue.get_nowait()[1] for _ in range(alerts._queue.qsize())]
    assert sorted((e["type"], e["kind"]) for e in sent) == [
        ("ticket_overdue", "reply"), ("ticket_overdue", "reply"), ("ticket_overdue", "sign")]
    # Signing clears the sign alarm; the closed or answered ticket leaves the list.
    await step(db, sign_late, "sign", s.handler, now=later)
    await step(db, reply_late, "answer", s.agent, note="已电话答复", now=later)
    async with db() as session:
        late = await late_tickets(session, later, timedelta(hours=1))
        assert {x.ticket.id for x in late} == {nearly}
        assert {t.status for t in (await session.scalars(select(Ticket))).all()} >= {
            TicketStatus.IN_PROGRESS, TicketStatus.CLOSED}
