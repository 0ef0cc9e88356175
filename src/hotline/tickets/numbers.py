"""Readable ticket numbers: `<region prefix>-<local date>-<sequence>`, e.g. `5301-20261125-0001`.

The prefix is the first four digits of the GB/T 2260 code (5301 昆明, 5300 for the provincial
96128). The sequence comes from one row per (prefix, day) in `ticket_counters`, incremented in
the caller's transaction with a single UPSERT … RETURNING: atomic on SQLite and PostgreSQL, so
several controllers never hand out the same number, and a rolled-back ticket gives its number
back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import TicketCounter


def region_prefix(region_code: str) -> str:
    if len(region_code) != 6 or not region_code.isdigit():
        raise ValueError(f"not a GB/T 2260 region code: {region_code!r}")
    return region_code[:4]


def format_ticket_number(prefix: str, day: date, sequence: int) -> str:
    # Four digits as a rule; a busier day simply gets longer numbers (sorting stays per day).
    return f"{prefix}-{day:%Y%m%d}-{sequence:04d}"


async def next_ticket_number(
    session: AsyncSession, region_code: str, now: datetime, zone: ZoneInfo
) -> str:
    prefix = region_prefix(region_code)
    day = now.astimezone(zone).date()
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(TicketCounter)
        .values(prefix=prefix, day=day, last=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.prefix, TicketCounter.day],
            set_={"last": TicketCounter.last + 1},
        )
        .returning(TicketCounter.last)
    )
    sequence = (await session.execute(statement)).scalar_one()
    return format_ticket_number(prefix, day, sequence)


async def reserve_ticket_numbers(
    session: AsyncSession, wanted: Mapping[tuple[str, date], int]
) -> dict[tuple[str, date], int]:
    """Reserve `n` sequences for each (prefix, local day) with ONE UPSERT (`last += n RETURNING
    last`) in the caller's transaction: the block handed out is `last - n + 1 … last`. Rows in
    key order, so two transactions lock the counters in the same order (no deadlock)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(TicketCounter).values(
        [{"prefix": prefix, "day": day, "last": n} for (prefix, day), n in sorted(wanted.items())]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[TicketCounter.prefix, TicketCounter.day],
        set_={"last": TicketCounter.last + statement.excluded.last},
    ).returning(TicketCounter.prefix, TicketCounter.day, TicketCounter.last)
    rows = (await session.execute(statement)).all()
    return {(prefix, day): last for prefix, day, last in rows}
