"""督办: deadlines in working days, overdue and nearly-overdue lists, escalation, on-time rate.

Working days come from `chinese_calendar` (public holidays and the adjusted working weekends
the State Council publishes each year). The package only knows the years it was released for
(1.11: 2004-2026): for a later year we fall back to Monday-Friday, log a warning naming the
year, and `WorkCalendar.approximate_years` says which years were guessed, so a deadline that
crosses into an unpublished year is visibly an estimate (the ticket page shows it). Upgrading
the package (`pip install -U chinesecalendar`) once the year's schedule is out fixes it.

A deadline of N working days counts the working days after the day the clock starts (local
time, Asia/Shanghai by default) and ends at local midnight after the Nth: "N个工作日内".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline.bus import Bus
from hotline.db.models import Department, Ticket, TicketStatus
from hotline.tickets.models import TicketAssignment, TicketEscalation

log = logging.getLogger(__name__)

# Statuses in which the department's reply deadline runs (after the reply, review is ours).
RUNNING = frozenset({TicketStatus.ACCEPTED, TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS,
                     TicketStatus.RETURNED})


class WorkCalendar:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.approximate_years: set[int] = set()

    def is_workday(self, day: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self.approximate_years:
                self.approximate_years.add(day.year)
                log.warning("chinese_calendar has no holiday data for %d: working days of that "
                            "year are estimated as Monday-Friday (upgrade chinesecalendar)",
                            day.year)
            return day.weekday() < 5

    @staticmethod
    def knows(year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (local midnight, as UTC) of the `days`-th working day after `start`'s day."""
        if days < 1:
            raise ValueError("days must be at least 1")
        day = start.astimezone(self.zone).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        return end.astimezone(UTC)

    def is_estimate(self, start: datetime, end: datetime) -> bool:
        """Does the span touch a year the calendar does not know?"""
        first, last = start.astimezone(self.zone).year, end.astimezone(self.zone).year
        return any(not self.knows(y) for y in range(first, last + 1))


_calendars: dict[str, WorkCalendar] = {}


def calendar_for(zone: ZoneInfo) -> WorkCalendar:
    return _calendars.setdefault(str(zone), WorkCalendar(zone))


# Lists -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Late:
    ticket: Ticket
    kind: str  # "sign" (签收 overdue) | "reply" (办理 overdue) | "nearly" (nearly overdue)
    due_at: datetime
    department: str


def _current_assignment() -> Select:  # type: ignore[type-arg]
    other = aliased(TicketAssignment)
    latest = (select(func.max(other.id)).where(other.ticket_id == Ticket.id)
              .correlate(Ticket).scalar_subquery())
    return (select(Ticket, TicketAssignment, Department.name).select_from(Ticket)
            .outerjoin(TicketAssignment, TicketAssignment.id == latest)
            .outerjoin(Department, Department.id == Ticket.department_id))


async def late_tickets(db: AsyncSession, now: datetime, nearly: timedelta,
                       scope: Select | None = None) -> list[Late]:
    """Overdue (sign or reply) and nearly-overdue open tickets, most late first. `scope`, when
    given, is a select of visible ticket ids (handlers: their department)."""
    statement = _current_assignment().where(
        Ticket.status.in_(RUNNING), Ticket.due_at.is_not(None),
        or_(Ticket.due_at <= now + nearly,
            and_(Ticket.status == TicketStatus.DISPATCHED, TicketAssignment.sign_due_at <= now)),
    ).order_by(Ticket.due_at)
    if scope is not None:
        statement = statement.where(Ticket.id.in_(scope))
    found: list[Late] = []
    for ticket, assignment, department in (await db.execute(statement)).all():
        name = department or ""
        if ticket.due_at <= now:
            found.append(Late(ticket, "reply", ticket.due_at, name))
        elif (ticket.status == TicketStatus.DISPATCHED and assignment is not None
              and assignment.sign_due_at <= now):
            found.append(Late(ticket, "sign", assignment.sign_due_at, name))
        else:
            found.append(Late(ticket, "nearly", ticket.due_at, name))
    return found


async def escalate(db: AsyncSession, bus: Bus, now: datetime, nearly: timedelta) -> int:
    """Alert supervisors once per (ticket, kind, deadline): publishes on "alerts" and
    "tickets". Returns how many alerts were new. Safe with several controllers (the unique
    row decides who alerts)."""
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    sent: list[Late] = []
    for late in await late_tickets(db, now, nearly):
        kind = "overdue" if late.kind in ("reply", "sign") else "nearly"
        result = await db.execute(insert(TicketEscalation).values(
            ticket_id=late.ticket.id, kind=f"{kind}:{late.kind}"[:16], due_at=late.due_at, at=now,
        ).on_conflict_do_nothing())
        if result.rowcount:
            sent.append(late)
    await db.commit()
    for late in sent:
        event = {"type": "ticket_overdue" if late.kind != "nearly" else "ticket_nearly_overdue",
                 "kind": late.kind, "number": late.ticket.number,
                 "region_code": late.ticket.region_code, "department": late.department,
                 "due_at": late.due_at.isoformat(), "status": str(late.ticket.status)}
        bus.publish("alerts", event)
        bus.publish("tickets", event)
    return len(sent)
