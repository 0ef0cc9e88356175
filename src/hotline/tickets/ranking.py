"""Department ranking (部门排名) for a period, from the assignments (one per 交办/改派/reopen)
and the follow-up surveys. Definitions (a rate is None when nothing was counted):

- on-time rate (按时办结率): of the assignments dispatched in the period and not returned, those
  whose first reply came by the deadline (extensions included); an assignment with no reply yet
  counts only once its deadline has passed (as late).
- satisfaction rate (满意率): of the surveys taken in the period on the department's tickets,
  those answered 满意 or 基本满意.
- first-contact resolution (一次性办结率): of the assignments dispatched in the period that are
  concluded (ticket closed, or a later assignment exists) and were not returned, those solved
  with one reply, never sent back by review, and not reopened after.
- returned rate (退单率): of the assignments dispatched in the period, those the department
  returned (退单).

The score orders the table: the mean of on-time, satisfaction, first-contact resolution and
(1 - returned rate), over the rates that exist.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import Department, Ticket, TicketStatus
from hotline.regions import scope_prefix
from hotline.tickets.models import SurveySatisfaction, TicketAssignment, TicketSurvey


@dataclass
class Counter:
    hits: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.total += 1
        self.hits += hit

    @property
    def rate(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass
class DepartmentRank:
    department_id: int
    name: str
    region_code: str
    assignments: int = 0
    on_time: Counter = field(default_factory=Counter)
    satisfaction: Counter = field(default_factory=Counter)
    first_contact: Counter = field(default_factory=Counter)
    returned: Counter = field(default_factory=Counter)

    @property
    def score(self) -> float | None:
        rates = [self.on_time.rate, self.satisfaction.rate, self.first_contact.rate,
                 None if self.returned.rate is None else 1 - self.returned.rate]
        known = [r for r in rates if r is not None]
        return sum(known) / len(known) if known else None


async def department_ranking(db: AsyncSession, since: datetime, until: datetime, now: datetime,
                             scope: str | None = None) -> list[DepartmentRank]:
    """Every active department in `scope` (a region code; None: the province), best first."""
    departments = select(Department).where(Department.active.is_(True))
    if scope is not None:
        departments = departments.where(Department.region_code.startswith(scope_prefix(scope)))
    ranks = {d.id: DepartmentRank(d.id, d.name, d.region_code)
             for d in (await db.scalars(departments.order_by(Department.id))).all()}

    last_assignment = (select(TicketAssignment.ticket_id,
                              func.max(TicketAssignment.id).label("last_id"))
                       .group_by(TicketAssignment.ticket_id).subquery())
    rows = await db.execute(
        select(TicketAssignment, Ticket.status, last_assignment.c.last_id)
        .join(Ticket, Ticket.id == TicketAssignment.ticket_id)
        .join(last_assignment, last_assignment.c.ticket_id == TicketAssignment.ticket_id)
        .where(TicketAssignment.dispatched_at >= since, TicketAssignment.dispatched_at < until,
               TicketAssignment.department_id.in_(ranks)))
    later_reopened = await _reopened_after(db, since)
    for assignment, status, last_id in rows.all():
        rank = ranks[assignment.department_id]
        rank.assignments += 1
        returned = assignment.returned_at is not None
        rank.returned.add(returned)
        if returned:
            continue
        replied = assignment.first_replied_at
        if replied is not None or assignment.due_at <= now:
            rank.on_time.add(replied is not None and replied <= assignment.due_at)
        is_last = assignment.id == last_id
        if (is_last and status == TicketStatus.CLOSED) or not is_last:
            reopened = assignment.id in later_reopened
            rank.first_contact.add(assignment.reply_count == 1
                                   and assignment.sent_back_count == 0 and not reopened)

    surveys = await db.execute(
        select(TicketSurvey.department_id, TicketSurvey.satisfaction)
        .where(TicketSurvey.at >= since, TicketSurvey.at < until,
               TicketSurvey.department_id.in_(ranks)))
    for department_id, satisfaction in surveys.all():
        ranks[department_id].satisfaction.add(satisfaction != SurveySatisfaction.DISSATISFIED)

    return sorted(ranks.values(), key=lambda r: (r.score is None, -(r.score or 0), r.name))


async def _reopened_after(db: AsyncSession, since: datetime) -> set[int]:
    """Ids of assignments followed by a reopening (a dissatisfied follow-up) of their ticket."""
    reopenings = await db.execute(
        select(TicketAssignment.ticket_id, TicketAssignment.id)
        .where(TicketAssignment.reopened.is_(True), TicketAssignment.dispatched_at >= since))
    by_ticket: dict[int, list[int]] = defaultdict(list)
    for ticket_id, assignment_id in reopenings.all():
        by_ticket[ticket_id].append(assignment_id)
    if not by_ticket:
        return set()
    earlier = await db.execute(
        select(TicketAssignment.ticket_id, TicketAssignment.id)
        .where(TicketAssignment.ticket_id.in_(by_ticket)))
    return {assignment_id for ticket_id, assignment_id in earlier.all()
            if any(assignment_id < reopen for reopen in by_ticket[ticket_id])}


def overall(ranks: list[DepartmentRank]) -> DepartmentRank:
    """The hotline's own figures: every department's counts added up."""
    total = DepartmentRank(0, "合计", "")
    for rank in ranks:
        total.assignments += rank.assignments
        for name in ("on_time", "satisfaction", "first_contact", "returned"):
            mine, theirs = getattr(total, name), getattr(rank, name)
            mine.hits += theirs.hits
            mine.total += theirs.total
    return total
