"""Schema migrations (alembic) driven from our own code: `hotline db upgrade|downgrade|current`,
and the start-up check that refuses a database that is not at the head revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


class NotMigratedError(RuntimeError):
    """The database is not at the schema this code expects."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def _run(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, "upgrade", revision)


async def upgrade_with_reference_data(engine: AsyncEngine) -> object:
    """Schema to head, then the shipped reference data (regions, lines): what `hotline db
    upgrade`, the tests and the benchmarks all need. Idempotent; returns the load report."""
    from hotline.db.engine import session_maker
    from hotline.db.reference import load_reference_data

    await upgrade(engine)
    async with session_maker(engine)() as db:
        report = await load_reference_data(db)
        await db.commit()
    return report


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, "downgrade", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def require_head(engine: AsyncEngine) -> None:
    """Raise NotMigratedError unless the database is at the code's head revision."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at revision {current}"
        raise NotMigratedError(
            f"the database {state}, this version of hotline needs revision {head}: "
            "run `hotline db upgrade` (or `hotline run`, which migrates first)"
        )
