"""Shared fixtures. Every database fixture is parametrized: each test that uses one runs on
SQLite and on PostgreSQL (see tests/pg.py for where the PostgreSQL comes from)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hotline.config import Settings, load_settings
from hotline.db.engine import create_engine, session_maker

sys.path.insert(0, str(Path(__file__).parent))
from pg import DEFAULT_SERVER, LocalCluster, PostgresUnavailable, default_server_usable, free_port

REPO = Path(__file__).resolve().parent.parent
RUN_ID = secrets.token_hex(4)
DB_PREFIX = f"hotline_t_{RUN_ID}"
BACKENDS = ["sqlite", "postgresql"]


# PostgreSQL server -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Superuser URL of a running PostgreSQL (asyncpg form, no driver suffix)."""
    explicit = os.environ.get("HOTLINE_TEST_PG_URL")
    if explicit:
        yield explicit
        return
    if os.environ.get("HOTLINE_TEST_PG") != "local" and default_server_usable():
        yield DEFAULT_SERVER
        return
    cluster = LocalCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


async def _admin(server: str, *statements: str) -> None:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_url(server: str, database: str) -> str:
    return make_url(server).set(drivername="postgresql+asyncpg", database=database) \
        .render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    from hotline.db.migrate import upgrade_with_reference_data

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade_with_reference_data(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A migrated database with reference data; each test gets a copy (CREATE … TEMPLATE)."""
    template = f"{DB_PREFIX}_template"
    try:
        asyncio.run(_admin(pg_server, f'CREATE DATABASE "{template}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise PostgresUnavailable(f"cannot use PostgreSQL at {pg_server}: {exc}") from exc
    _migrate(_pg_url(pg_server, template))
    yield template
    asyncio.run(_drop_run_databases(pg_server))


async def _drop_run_databases(server: str) -> None:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                 DB_PREFIX + "%")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


# Per-test databases ----------------------------------------------------------------------------

def _fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, migrated: bool
) -> Iterator[str]:
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "hotline.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server = request.getfixturevalue("pg_server")
    name = f"{DB_PREFIX}_{secrets.token_hex(4)}"
    if migrated:
        template = request.getfixturevalue("pg_template")
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    else:
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    yield _pg_url(server, name)
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with reference data, fresh for this test."""
    yield from _fresh_database(request, tmp_path, migrated=True)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema), fresh for this test."""
    yield from _fresh_database(request, tmp_path, migrated=False)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def db(engine: Any) -> Any:
    """The session factory for `engine` (use: `async with db() as session:`)."""
    return session_maker(engine)


# Settings and the web app ------------------------------------------------------------------

def make_settings(tmp_path: Path, database_url: str, **env: str) -> Settings:
    environ = {
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_DATABASE_URL": database_url,
        "HOTLINE_WEB_BIND": f"127.0.0.1:{free_port()}",
        "HOTLINE_FASTAGI_BIND": f"127.0.0.1:{free_port()}",
        **env,
    }
    config = tmp_path / "hotline.toml"  # empty: defaults + the environment above
    config.touch()
    return load_settings(config, environ=environ)


def standin_settings(tmp_path: Path, database_url: str, ami_port: int, **env: str) -> Settings:
    """Settings with one Asterisk node, `pbx1`, at an AMI stand-in on loopback."""
    config = tmp_path / "hotline-ami.toml"
    config.write_text(f'[[asterisk]]\nname = "pbx1"\nhost = "127.0.0.1"\nport = {ami_port}\n'
                      'username = "hotline"\n', encoding="utf-8")
    return load_settings(config, environ={
        "HOTLINE_DATA_DIR": str(tmp_path / "var"), "HOTLINE_DATABASE_URL": database_url,
        "HOTLINE_WEB_BIND": f"127.0.0.1:{free_port()}",
        "HOTLINE_FASTAGI_BIND": f"127.0.0.1:{free_port()}",
        "HOTLINE_ASTERISK_PBX1_SECRET": "hotline-secret", **env})


def hotline_standin(**options: Any) -> Any:
    """An AMI stand-in whose queues are the hotline's (hl-96128, hl-12345-5301, no members) and
    whose dialplan has the contexts the agents' actions use (dialplans/hotline.conf)."""
    from hotline.asterisk import dialplan
    from hotline.testing.ami_server import CAPTURE_CONTEXTS, AmiStandin
    from hotline.testing.ami_state import AsteriskState, Queue

    queues = {name: Queue(name) for name in ("hl-96128", "hl-12345-5301")}
    return AmiStandin(state=AsteriskState(queues), auth_failure_delay=0.05,
                      contexts=CAPTURE_CONTEXTS | set(dialplan.CONTEXTS), **options)


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Debian Chromium driven by Playwright (async API)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Any:
    """A test client of the real app (cleanup contexts run: database, FastAGI, AMI)."""
    from hotline.web.app import create_app

    return await aiohttp_client(create_app(settings))


PASSWORD = "Correct-Horse-42"


async def add_user(client: Any, username: str, role: str, **fields: Any) -> Any:
    from hotline.auth.services import create_user
    from hotline.db.models import Role
    from hotline.web.keys import DB

    async with client.app[DB]() as db:
        return await create_user(db, username=username, display_name=fields.pop("name", username),
                                 role=Role(role), password=fields.pop("password", PASSWORD),
                                 **fields)


async def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log in through the form like a browser; returns the POST /login response."""
    import re

    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    return await client.post("/login", data={"username": username, "password": password,
                                             "csrf_token": token}, allow_redirects=False)


async def csrf_token(client: Any) -> str:
    response = await client.get("/api/me")
    assert response.status == 200, await response.text()
    return (await response.json())["csrf_token"]


async def logged_in(client: Any, username: str, role: str, **fields: Any) -> str:
    """Create a user and log in as them (alone in the client's cookie jar); the CSRF token."""
    await add_user(client, username, role, **fields)
    client.session.cookie_jar.clear()
    response = await login(client, username)
    assert response.status == 303, await response.text()
    return await csrf_token(client)


@pytest.fixture
def cli_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """For tests of `hotline.cli.main`, which reads os.environ and sets up logging
    (force=True) on the captured stderr: drop the caller's HOTLINE_* settings, work in an empty
    folder, give the root logger back to pytest afterwards."""
    import logging

    for var in list(os.environ):
        if var.startswith("HOTLINE_") and not var.startswith("HOTLINE_TEST_"):
            monkeypatch.delenv(var)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield cwd
    root.handlers[:] = handlers
    root.setLevel(level)
