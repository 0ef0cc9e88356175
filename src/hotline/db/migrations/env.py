"""Alembic environment. Async engines; batch mode so SQLite can alter tables.

Used two ways: by `hotline db …` (hotline.db.migrate), which passes an open connection in
`config.attributes["connection"]`, and by the plain `alembic` command with `-x url=…`
or the HOTLINE configuration.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from hotline.db import registry  # noqa: F401 - registers every table on Base.metadata
from hotline.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    from hotline.config import load_settings
    from hotline.db.engine import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or load_settings().database_url
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(run_with)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `hotline db upgrade`")

connection = config.attributes.get("connection")
if connection is None:
    asyncio.run(run_standalone())
else:
    run_with(connection)
