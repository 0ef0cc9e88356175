"""Migrations up and down on SQLite and PostgreSQL; the models agree with the migrations; the
ticket history is append-only in the database itself; an un-migrated database is refused."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from hotline.db import (
    migrate,
    registry,  # noqa: F401 - every feature's tables
)
from hotline.db.base import Base
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Region, Ticket, TicketChannel, TicketEvent, TicketStatus

TABLES = {"regions", "hotline_lines", "line_dids", "departments", "users", "web_sessions",
          "calls", "tickets", "ticket_calls", "ticket_events", "ticket_counters"}


async def _tables(engine):
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_downgrade_upgrade(empty_db_url):
    engine = create_engine(empty_db_url)
    try:
        assert await migrate.current_revision(engine) is None
        with pytest.raises(migrate.NotMigratedError, match="hotline db upgrade"):
            await migrate.require_head(engine)

        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await _tables(engine) >= TABLES
        await migrate.require_head(engine)

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        assert not (TABLES & await _tables(engine))

        await migrate.upgrade(engine)
        assert await _tables(engine) >= TABLES
    finally:
        await engine.dispose()


async def test_models_match_the_migrations(engine):
    """No difference between the ORM models and the migrated schema (a model changed without
    a migration fails here)."""
    def diff(conn):
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_ticket_events_are_append_only(db):
    async with db() as session:
        ticket = Ticket(number="5301-20261125-0001", channel=TicketChannel.PHONE,
                        region_code="530100", status=TicketStatus.DRAFT)
        session.add(ticket)
        await session.flush()
        session.add(TicketEvent(ticket_id=ticket.id, actor="ivr", action="create",
                                to_status=TicketStatus.DRAFT, note="来电创建"))
        await session.commit()

    for statement in ("UPDATE ticket_events SET note = 'rewritten'", "DELETE FROM ticket_events"):
        async with db() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()

    async with db() as session:
        notes = (await session.scalars(select(TicketEvent.note))).all()
    assert notes == ["来电创建"]


async def test_reference_data_is_loaded_once(db_url):
    """Loading again (every `hotline db upgrade` does) adds nothing and keeps the rows."""
    from hotline.db.reference import load_reference_data

    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as session:
            report = await load_reference_data(session)
            await session.commit()
            count = len((await session.scalars(select(Region))).all())
        assert (report.regions_added, report.lines_added, report.dids_added) == (0, 0, 0)
        assert count == 146
    finally:
        await engine.dispose()
