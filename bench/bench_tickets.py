"""Benchmark 5 (issue 7): tickets created per second with their event rows, SQLite (WAL) and
PostgreSQL (127.0.0.1:5432 as `postgres` without a password, as tests/pg.py finds it; skipped
with a note when absent).

- ours: `hotline.tickets.writer.TicketWriter.create` — what POST /api/tickets calls: group
  commit, the requests that arrive together filed in one transaction (idempotency keys, regions,
  one counter UPSERT, multi-row INSERTs of the tickets and their `create` events, commit), each
  caller answered after the commit.
- baseline: `hotline.tickets.services.create_ticket` — one session and one commit per ticket
  (idempotency-key lookup, region check, the day's number, the ticket and its event; ORM), as
  the API filed them before and the desk still does.
- floor of one transaction per ticket: the same rows with SQLAlchemy Core (counter upsert,
  INSERT … RETURNING, event INSERT), no ORM, no checks.

Every caller has an idempotency key, every ticket a distinct one. Printed ratio: ÷ baseline in
tickets/s; latency is per ticket, from the call to its answer.

    python bench/bench_tickets.py --tickets 3000 --concurrency 8 32 64
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import header, percentile, table
from sqlalchemy import insert

from hotline.db import registry  # noqa: F401 - every feature's tables mapped
from hotline.db.engine import create_engine, session_maker
from hotline.db.migrate import upgrade_with_reference_data
from hotline.db.models import Ticket, TicketChannel, TicketEvent, TicketStatus
from hotline.tickets.numbers import next_ticket_number
from hotline.tickets.services import NewTicket, create_ticket
from hotline.tickets.writer import TicketWriter

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ZONE = ZoneInfo("Asia/Shanghai")


def new_ticket(i: int) -> NewTicket:
    return NewTicket(TicketChannel.PHONE, "530100", category="咨询", title=f"基准 {i}",
                     content="测试", contact_number="13800138000",
                     idempotency_key=f"bench-{secrets.token_hex(8)}")


def grouped(writer: TicketWriter) -> Callable[..., Awaitable[None]]:
    async def make(db, i: int) -> None:  # type: ignore[no-untyped-def]
        created = await writer.create(new_ticket(i))
        assert created.created

    return make


async def one_by_one(db, i: int) -> None:  # type: ignore[no-untyped-def]
    async with db() as session:
        created = await create_ticket(session, new_ticket(i))
    assert created.created


async def core(db, i: int) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        number = await next_ticket_number(session, "530100", now, ZONE)
        ticket_id = (await session.execute(insert(Ticket).values(
            number=number, channel=TicketChannel.PHONE, category="咨询", region_code="530100",
            status=TicketStatus.DRAFT, title=f"基准 {i}", content="测试",
            contact_number="13800138000", created_at=now, updated_at=now,
        ).returning(Ticket.id))).scalar_one()
        await session.execute(insert(TicketEvent).values(
            ticket_id=ticket_id, at=now, actor="system", action="create",
            to_status=TicketStatus.DRAFT, note="phone 渠道登记"))


async def run(db, make: Callable[..., Awaitable[None]], tickets: int,  # type: ignore[no-untyped-def]
              concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(tickets))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await make(db, i)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tickets / (time.perf_counter() - began), latencies


async def database(url: str) -> None:
    engine = create_engine(url, pool_size=20)
    try:
        await upgrade_with_reference_data(engine)
    finally:
        await engine.dispose()


async def bench(name: str, url: str, args: argparse.Namespace) -> list[list[object]]:
    await database(url)
    engine = create_engine(url, pool_size=max(max(args.concurrency), 5))
    db = session_maker(engine)
    writer = TicketWriter(db)
    rows: list[list[object]] = []
    try:
        await run(db, one_by_one, 50, 4)  # warm-up
        await run(db, grouped(writer), 200, 16)
        for concurrency in args.concurrency:
            measured = []
            for label, make, count in (
                    ("TicketWriter (group commit)", grouped(writer), args.tickets),
                    ("create_ticket (commit each)", one_by_one, args.baseline_tickets),
                    ("Core floor (commit each)", core, args.baseline_tickets)):
                batches = writer.batches
                rate, latencies = await run(db, make, count, concurrency)
                per_batch = (f"{count / (writer.batches - batches):.1f}"
                             if make is not one_by_one and make is not core else "1")
                measured.append([name, label, concurrency, count, per_batch, rate,
                                 1000 * percentile(latencies, 50),
                                 1000 * percentile(latencies, 99)])
            base = measured[1][5]
            for row in measured:
                row.append(f"{row[5] / base:.2f}x")  # type: ignore[operator]
            rows += measured
    finally:
        await writer.close()
        await engine.dispose()
    return rows


async def pg_url() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_SERVER, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    name = f"hotline_bench_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_SERVER, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    header("Tickets: created per second with their event rows")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows += await bench("SQLite (WAL)", f"sqlite+aiosqlite:///{folder}/bench.db", args)
    url = await pg_url()
    if url is None:
        print("PostgreSQL: none on 127.0.0.1:5432 for `postgres` without a password; skipped")
    else:
        try:
            rows += await bench("PostgreSQL", url, args)
        finally:
            await drop_pg(url)
    print(table(["database", "path", "concurrent", "tickets", "per commit", "tickets/s",
                 "p50 ms", "p99 ms", "÷ create_ticket"], rows))
    print("targets: ≥ 2,000/s on SQLite, ≥ 3,000/s on PostgreSQL, p99 < 20 ms")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=3000,
                        help="tickets per row of the group-commit path")
    parser.add_argument("--baseline-tickets", type=int, default=300,
                        help="tickets per row of the commit-each paths (slower)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64],
                        help="callers filing at the same time (one row each)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
