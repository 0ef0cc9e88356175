"""Group commit of tickets (hotline.tickets.writer) on SQLite and PostgreSQL: concurrent creates
share transactions and still each get a distinct number and one `create` event; a repeated key
returns the existing ticket without failing the others; a failed commit fails every request of
its batch (none reported accepted) and the next batch works; a key filed by someone else between
the batch's check and its INSERT (IntegrityError) falls back to one-by-one filing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tickets_support import DALI, KUNMING, NOW

from hotline.db.models import Role, Ticket, TicketChannel, TicketEvent
from hotline.tickets import services
from hotline.tickets.services import Actor, KeyTaken, NewTicket
from hotline.tickets.workflow import WorkflowError
from hotline.tickets.writer import TicketWriter, WriterClosed

DAY = "20261118"  # NOW's local day (Asia/Shanghai)


def new(i: int, *, region: str = KUNMING, key: str | None = None, **fields: Any) -> NewTicket:
    return NewTicket(TicketChannel.WEB, region, category="咨询", title=f"工单 {i}",
                     content="内容", contact_number="13800000000", idempotency_key=key,
                     **fields)


async def create_all(writer: TicketWriter, requests: list[NewTicket],
                     actor: Any = "web") -> list[Any]:
    """Every request submitted in the same moment (they queue before the writer runs)."""
    return await asyncio.gather(*(writer.create(r, actor, now=NOW) for r in requests),
                                return_exceptions=True)


async def rows(db: Any) -> tuple[list[Ticket], list[TicketEvent]]:
    async with db() as session:
        tickets = list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())
        events = list((await session.scalars(select(TicketEvent))).all())
    return tickets, events


async def test_concurrent_creates_share_commits_with_distinct_numbers(db: Any) -> None:
    async with db() as session:  # the one-transaction path first: both use the same counter
        await services.create_ticket(session, new(0, key="before"), "web", now=NOW)
    writer = TicketWriter(db, max_batch=16)
    results = await create_all(writer, [new(i, region=DALI if i % 3 == 0 else KUNMING,
                                            key=f"k-{i}" if i % 2 else None)
                                        for i in range(1, 41)])
    await writer.close()

    assert all(r.created for r in results), results
    assert 1 < writer.largest <= 16 and writer.batches < 40  # shared transactions
    tickets, events = await rows(db)
    assert len(tickets) == 41
    numbers = [r.ticket.number for r in results]
    assert sorted(numbers) == sorted(t.number for t in tickets[1:])
    assert sorted(n for n in numbers if n.startswith("5301")) == \
        [f"5301-{DAY}-{s:04d}" for s in range(2, 29)]
    assert sorted(n for n in numbers if n.startswith("5329")) == \
        [f"5329-{DAY}-{s:04d}" for s in range(1, 14)]
    assert sorted(e.ticket_id for e in events) == [t.id for t in tickets]
    assert {(e.action, e.actor, e.note) for e in events[1:]} == {("create", "web", "web 渠道登记")}
    by_id = {t.id: t for t in tickets}
    for result in results:  # what the caller got is what was stored
        stored = by_id[result.ticket.id]
        assert (stored.number, stored.title, stored.region_code, stored.idempotency_key) == \
            (result.ticket.number, result.ticket.title, result.ticket.region_code,
             result.ticket.idempotency_key)
    with pytest.raises(WriterClosed):
        await writer.create(new(99), now=NOW)


async def test_repeated_keys_and_bad_requests_fail_only_themselves(db: Any) -> None:
    async with db() as session:
        first = (await services.create_ticket(session, new(0, key="dup-old"), now=NOW)).ticket
    writer = TicketWriter(db)
    handler = Actor("water1", None, Role.HANDLER, 12345, KUNMING)  # sees its department's only
    results = await create_all(writer, [
        new(1, key="dup-old"), new(2, key="dup-new"), new(3, key="dup-new"), new(4),
        new(5, region="999999"), new(6, call_ids=[987654]), new(7, line_code="nope"),
        new(8, key="dup-old", topic="供水"), new(9)])
    with pytest.raises(KeyTaken):  # a key is no way into a ticket one may not see
        await writer.create(new(10, key="dup-old"), handler, now=NOW)
    await writer.close()

    old_1, new_2, new_3, plain_4, region_5, call_6, line_7, old_8, plain_9 = results
    assert (old_1.ticket.id, old_1.created) == (first.id, False)
    assert (old_8.ticket.id, old_8.created) == (first.id, False)
    assert new_2.created and not new_3.created and new_2.ticket.id == new_3.ticket.id
    assert plain_4.created and plain_9.created
    for refused, field in ((region_5, "region_code"), (call_6, "call_ids"),
                           (line_7, "line_code")):
        assert isinstance(refused, WorkflowError) and refused.field == field, refused
    tickets, events = await rows(db)
    assert [t.idempotency_key for t in tickets] == ["dup-old", "dup-new", None, None]
    assert [t.id for t in tickets] == [first.id, new_2.ticket.id, plain_4.ticket.id,
                                       plain_9.ticket.id]
    assert sorted(e.ticket_id for e in events) == [t.id for t in tickets]
    assert len({t.number for t in tickets}) == 4


class FailingCommit(AsyncSession):
    fail = True

    async def commit(self) -> None:
        if FailingCommit.fail:
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        await super().commit()


async def test_a_failed_commit_fails_its_whole_batch_and_the_next_batch_works(
        engine: Any, db: Any) -> None:
    FailingCommit.fail = True
    writer = TicketWriter(async_sessionmaker(engine, class_=FailingCommit,
                                             expire_on_commit=False))
    results = await create_all(writer, [new(i, key=f"f-{i}") for i in range(6)])
    assert all(isinstance(r, OperationalError) for r in results), results
    assert await rows(db) == ([], [])  # nothing accepted, nothing stored

    FailingCommit.fail = False
    again = await create_all(writer, [new(i, key=f"f-{i}") for i in range(3)])
    await writer.close()
    assert all(r.created for r in again), again
    # The failed batch's counter UPSERT was rolled back with it: numbering goes on from 1.
    assert sorted(r.ticket.number for r in again) == [f"5301-{DAY}-{s:04d}" for s in (1, 2, 3)]
    tickets, events = await rows(db)
    assert len(tickets) == 3 and len(events) == 3


class RacingKeyCheck(AsyncSession):
    """After the batch has looked up its keys, another writer files one of them and commits
    (a second controller, a client retrying against another process)."""

    other: Any = None

    async def scalars(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = await super().scalars(statement, *args, **kwargs)
        if RacingKeyCheck.other is not None and "idempotency_key IN" in str(statement):
            other, RacingKeyCheck.other = RacingKeyCheck.other, None
            async with other() as session:
                await services.create_ticket(session, new(0, key="race"), now=NOW)
        return result


async def test_a_key_filed_meanwhile_falls_back_to_one_by_one(engine: Any, db: Any) -> None:
    RacingKeyCheck.other = db
    writer = TicketWriter(async_sessionmaker(engine, class_=RacingKeyCheck,
                                             expire_on_commit=False))
    results = await create_all(writer, [new(1, key="calm"), new(2, key="race"), new(3)])
    await writer.close()
    assert RacingKeyCheck.other is None  # the race did happen
    calm, race, plain = results
    assert calm.created and plain.created and not race.created
    tickets, events = await rows(db)
    assert [t.idempotency_key for t in tickets] == ["race", "calm", None]
    assert race.ticket.id == tickets[0].id
    assert sorted(e.ticket_id for e in events) == [t.id for t in tickets]
