"""Core tables on both databases: reference data, call identity, ticket numbers, times."""

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from hotline.db.models import (
    Call,
    HotlineLine,
    Region,
    RegionLevel,
    Ticket,
    TicketCall,
    TicketChannel,
)
from hotline.tickets.numbers import next_ticket_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
KUNMING_COUNTIES = {
    "五华区", "盘龙区", "官渡区", "西山区", "东川区", "呈贡区", "晋宁区", "富民县", "宜良县",
    "石林彝族自治县", "嵩明县", "禄劝彝族苗族自治县", "寻甸回族彝族自治县", "安宁市",
}


async def test_regions_and_lines(db):
    async with db() as session:
        prefectures = (await session.scalars(
            select(Region).where(Region.level == RegionLevel.PREFECTURE))).all()
        kunming = (await session.scalars(
            select(Region.name).where(Region.parent_code == "530100"))).all()
        lines = (await session.scalars(select(HotlineLine))).all()
    assert len(prefectures) == 16
    assert all(p.parent_code == "530000" for p in prefectures)
    assert set(kunming) == KUNMING_COUNTIES
    assert {line.code for line in lines} == {"96128"} | {f"12345-{p.code[:4]}" for p in prefectures}
    by_region = {line.region_code: line for line in lines if line.service_number == "12345"}
    assert set(by_region) == {p.code for p in prefectures}


def _call(node="pbx1", uniqueid="1795606950.12", linkedid="1795606950.11", **extra):
    return Call(node=node, uniqueid=uniqueid, linkedid=linkedid, caller_number="13800000000",
                **extra)


@pytest.mark.parametrize("clash", [
    {"linkedid": "other"},  # same uniqueid on the node
    {"uniqueid": "other"},  # same linkedid on the node
])
async def test_a_call_is_stored_once_per_node(db, clash):
    async with db() as session:
        session.add(_call())
        await session.commit()
    async with db() as session:
        session.add(_call(**clash))
        with pytest.raises(IntegrityError):
            await session.commit()
    async with db() as session:
        session.add(_call(node="pbx2"))  # the same ids on another node are another call
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(Call)) == 2


async def test_times_come_back_as_aware_utc(db):
    beijing = datetime(2026, 11, 25, 20, 30, tzinfo=SHANGHAI)
    async with db() as session:
        session.add(_call(started_at=beijing))
        await session.commit()
    async with db() as session:
        stored = await session.scalar(select(Call.started_at))
    assert stored == beijing and stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"):
        async with db() as session:
            session.add(_call(uniqueid="x", linkedid="y", started_at=datetime(2026, 1, 1)))
            await session.commit()


async def test_ticket_numbers_follow_region_and_local_day(db):
    # 23:30 UTC on the 24th is already the 25th in Kunming.
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    async with db() as session:
        first = await next_ticket_number(session, "530102", late, SHANGHAI)
        second = await next_ticket_number(session, "530100", late, SHANGHAI)
        province = await next_ticket_number(session, "530000", late, SHANGHAI)
        next_day = await next_ticket_number(session, "530100", late + timedelta(days=1), SHANGHAI)
        await session.commit()
    assert (first, second) == ("5301-20261125-0001", "5301-20261125-0002")
    assert province == "5300-20261125-0001"
    assert next_day == "5301-20261126-0001"


async def test_a_rolled_back_ticket_gives_its_number_back(db):
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    async with db() as session:
        await next_ticket_number(session, "532300", now, SHANGHAI)
        await session.rollback()
    async with db() as session:
        assert await next_ticket_number(session, "532300", now, SHANGHAI) == "5323-20261125-0001"


async def test_concurrent_tickets_get_distinct_numbers(db):
    """Twenty writers at once (on PostgreSQL, twenty connections): no number twice."""
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

    async def file_ticket(i):
        async with db() as session:
            number = await next_ticket_number(session, "530100", now, SHANGHAI)
            session.add(Ticket(number=number, channel=TicketChannel.WEB, region_code="530100",
                               content=f"第{i}件"))
            await session.commit()
            return number

    numbers = await asyncio.gather(*(file_ticket(i) for i in range(20)))
    assert sorted(numbers) == [f"5301-20261125-{n:04d}" for n in range(1, 21)]


async def test_ticket_links_calls(db):
    async with db() as session:
        call = _call()
        ticket = Ticket(number="5301-20261125-0009", channel=TicketChannel.PHONE,
                        region_code="530100")
        session.add_all([call, ticket])
        await session.flush()
        session.add(TicketCall(ticket_id=ticket.id, call_id=call.id))
        await session.commit()
        ticket_id = ticket.id
    async with db() as session:
        loaded = await session.scalar(
            select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.calls)))
    assert [c.uniqueid for c in loaded.calls] == ["1795606950.12"]
