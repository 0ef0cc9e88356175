"""Group commit for filing tickets: `TicketWriter.create` is `services.create_ticket` for callers
that file many tickets at once (the POST /api/tickets handler).

One writer task takes the requests waiting in its queue (at most `max_batch`) and files them in
ONE transaction: one SELECT for the idempotency keys already taken, one for the regions not seen
yet (a region found once is remembered: the foreign key still guards it), the lines and calls
when given, one counter UPSERT for every (region prefix, day) of the batch
(`numbers.reserve_ticket_numbers`: `last += n RETURNING last`), one multi-row INSERT of the
tickets (RETURNING the stored rows) and one of their `create` events, then the commit. Only
after the commit returns is each caller's future resolved: nothing is reported accepted before
it is on disk. The requests that arrive while a batch commits form the next batch (no timer: a
lone request is written at once, a burst shares commits).

Per-request outcomes stay those of `create_ticket`: a key already taken returns its ticket
(`created=False`; KeyTaken when the caller may not see it), the second request of a key inside
one batch gets the first one's ticket, a region/line/call that does not exist is that request's
WorkflowError. If the batch still meets an IntegrityError or DataError (a key filed meanwhile by
another process, a value too long for its column), it is rolled back and its requests are filed
one by one through `create_ticket`, so one bad request never fails the others. Any other error
(the database gone, a failed commit) fails every request of that batch with it; the next batch
starts afresh.

Used by POST /api/tickets. The desk (agents/filing.py) and the IVR's drafts (ivr/records.py)
file one ticket per call and keep their one-transaction paths.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import (
    Call,
    HotlineLine,
    Region,
    Ticket,
    TicketCall,
    TicketEvent,
    TicketStatus,
)
from hotline.tickets.numbers import format_ticket_number, region_prefix, reserve_ticket_numbers
from hotline.tickets.queries import visible
from hotline.tickets.services import (
    Created,
    KeyTaken,
    NewTicket,
    check_emergency,
    create_note,
    create_ticket,
)
from hotline.tickets.steps import Actor, ActorLike, Options, as_actor
from hotline.tickets.workflow import WorkflowError

log = logging.getLogger(__name__)

Outcome = Created | Exception


@dataclass
class _Request:
    new: NewTicket
    who: Actor
    options: Options
    now: datetime
    future: asyncio.Future[Created]
    values: dict[str, object] = field(default_factory=dict)  # the ticket row, once accepted
    ticket: Ticket | None = None


class WriterClosed(RuntimeError):
    pass


class TicketWriter:
    def __init__(self, db: SessionMaker, *, max_batch: int = 256) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: deque[_Request] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # transactions committed or tried
        self.largest = 0  # most requests in one batch
        self._regions: set[str] = set()  # codes found in `regions` (reference data)

    async def create(self, new: NewTicket, actor: ActorLike = "system", *,
                     options: Options | None = None, now: datetime | None = None) -> Created:
        """File a ticket (as `create_ticket`), sharing the transaction with concurrent calls."""
        if self._closed:
            raise WriterClosed("ticket writer closed")
        check_emergency(new)
        future: asyncio.Future[Created] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(new, as_actor(actor), options or Options(),
                                      now or utcnow(), future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ticket-writer")
        self._wake.set()
        return await future  # a caller that gives up before its batch starts is not filed

    async def close(self) -> None:
        """File what is queued, then stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                outcomes = await self._write(batch)
            except Exception as exc:  # nothing of this batch was committed: all of it failed
                log.warning("ticket batch of %d failed: %r", len(batch), exc)
                outcomes = [exc] * len(batch)
            except BaseException:
                for request in [*batch, *self._pending]:
                    request.future.cancel()
                raise
            for request, outcome in zip(batch, outcomes, strict=True):
                if request.future.done():  # the caller went away; its ticket stands
                    continue
                if isinstance(outcome, Exception):
                    request.future.set_exception(outcome)
                else:
                    request.future.set_result(outcome)

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        while self._pending and len(batch) < self._max_batch:
            request = self._pending.popleft()
            if not request.future.done():
                batch.append(request)
        return batch

    async def _write(self, batch: list[_Request]) -> list[Outcome]:
        async with self._db() as db:
            try:
                outcomes = await _file(db, batch, self._regions)
                await db.commit()
                return outcomes
            except (IntegrityError, DataError) as exc:
                await db.rollback()
                self._regions.clear()  # a region gone since would fail every batch: look again
                log.info("ticket batch of %d: %r; filing one by one", len(batch), exc.orig)
        return [await self._one(request) for request in batch]

    async def _one(self, request: _Request) -> Outcome:
        try:
            async with self._db() as db:
                return await create_ticket(db, request.new, request.who,
                                           options=request.options, now=request.now)
        except Exception as exc:
            return exc


async def _file(db: AsyncSession, batch: list[_Request], regions: set[str]) -> list[Outcome]:
    """Every request's outcome; the accepted ones' rows inserted (not committed)."""
    new = [r.new for r in batch]
    keys = {n.idempotency_key for n in new if n.idempotency_key}
    taken = {t.idempotency_key: t for t in (await db.scalars(
        select(Ticket).where(Ticket.idempotency_key.in_(keys)))).all()} if keys else {}
    if unknown := {n.region_code for n in new} - regions:
        regions.update((await db.scalars(select(Region.code).where(
            Region.code.in_(unknown)))).all())
    line_codes = {n.line_code for n in new if n.line_code}
    lines = dict((await db.execute(select(HotlineLine.code, HotlineLine.id).where(
        HotlineLine.code.in_(line_codes)))).all()) if line_codes else {}
    call_ids = {c for n in new for c in n.call_ids}
    calls = set((await db.scalars(select(Call.id).where(
        Call.id.in_(call_ids)))).all()) if call_ids else set()

    outcomes: list[Outcome | _Request] = []  # a _Request: same ticket as that (earlier) one
    first: dict[str, _Request] = {}
    wanted: Counter[tuple[str, date]] = Counter()
    accepted: list[_Request] = []
    for request in batch:
        outcome = _check(request, taken, first, regions, lines, calls)
        outcomes.append(outcome)
        if outcome is request:
            accepted.append(request)
            wanted[_block(request)] += 1
            if request.new.idempotency_key:
                first[request.new.idempotency_key] = request
    if accepted:
        await _insert(db, accepted, wanted)
    return [_settle(request, outcome) for request, outcome in zip(batch, outcomes, strict=True)]


def _check(request: _Request, taken: dict[str | None, Ticket], first: dict[str, _Request],
           regions: set[str], lines: dict[str, int], calls: set[int]) -> Outcome | _Request:
    """Created/an error when decided before inserting; a _Request when it gets a new ticket
    (itself) or the ticket of an earlier request with the same key."""
    new, key = request.new, request.new.idempotency_key
    if key and key in taken:
        ticket = taken[key]
        return Created(ticket, False) if visible(ticket, request.who) else _key_taken()
    if key and key in first:
        return first[key]
    if new.region_code not in regions:
        return WorkflowError(f"地区代码 {new.region_code} 不存在", field="region_code")
    try:
        region_prefix(new.region_code)
    except ValueError as exc:
        return WorkflowError(str(exc), field="region_code")
    if new.line_code and new.line_code not in lines:
        return WorkflowError(f"热线 {new.line_code} 不存在", field="line_code")
    if missing := sorted(c for c in set(new.call_ids) if c not in calls):
        return WorkflowError(f"来电 {missing[0]} 不存在", field="call_ids")
    request.values = {
        "channel": new.channel, "category": new.category, "topic": new.topic,
        "region_code": new.region_code,
        "line_id": lines[new.line_code] if new.line_code else None,
        "status": TicketStatus.DRAFT, "title": new.title, "content": new.content,
        "citizen_name": new.citizen_name, "contact_number": new.contact_number,
        "department_id": None, "created_by_id": request.who.user_id,
        "idempotency_key": key or None, "created_at": request.now, "updated_at": request.now,
        "due_at": None, "closed_at": None, "version": 1,
        "emergency_service": new.emergency_service,
    }
    return request


def _key_taken() -> KeyTaken:
    return KeyTaken("该提交标识已被使用", field="idempotency_key")


def _block(request: _Request) -> tuple[str, date]:
    """The (prefix, local day) whose counter numbers this request's ticket."""
    return (region_prefix(request.new.region_code),
            request.now.astimezone(request.options.zone).date())


async def _insert(db: AsyncSession, accepted: list[_Request],
                  wanted: Counter[tuple[str, date]]) -> None:
    last = await reserve_ticket_numbers(db, wanted)
    following = {block: last[block] - n + 1 for block, n in wanted.items()}
    for request in accepted:
        block = _block(request)
        request.values["number"] = format_ticket_number(block[0], block[1], following[block])
        following[block] += 1
    rows = [request.values for request in accepted]
    # ORM bulk INSERT … RETURNING: the rows come back as loaded Ticket objects (matched by
    # number: multi-row RETURNING need not keep the order of the VALUES).
    stored = {t.number: t for t in (await db.scalars(insert(Ticket).returning(Ticket),
                                                     rows)).all()}
    for request in accepted:
        request.ticket = ticket = stored[str(request.values["number"])]
        request.values["id"] = ticket.id
    await db.execute(insert(TicketEvent.__table__), [{
        "ticket_id": r.values["id"], "at": r.now, "actor_id": r.who.user_id,
        "actor": r.who.name, "action": "create", "from_status": None,
        "to_status": TicketStatus.DRAFT, "note": create_note(r.new)} for r in accepted])
    links = [{"ticket_id": r.values["id"], "call_id": c}
             for r in accepted for c in sorted(set(r.new.call_ids))]
    if links:
        await db.execute(insert(TicketCall.__table__), links)


def _settle(request: _Request, outcome: Outcome | _Request) -> Outcome:
    if not isinstance(outcome, _Request):
        return outcome
    assert outcome.ticket is not None
    if outcome is request:
        return Created(outcome.ticket, True)
    return Created(outcome.ticket, False) if visible(outcome.ticket, request.who) else \
        _key_taken()
