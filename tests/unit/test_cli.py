"""The `hotline` command on an embedded SQLite database in a temporary folder (no server needed).

`main([...])` runs each command with asyncio.run, so these tests are plain functions.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from hotline.auth.services import LoginRefused, authenticate
from hotline.cli import main
from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.migrate import head_revision

from pg import free_port

PASSWORD_LINE = re.compile(r"^user (\S+): password (\S+)$")


pytestmark = pytest.mark.usefixtures("cli_isolation")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration with its own data dir and free ports, so nothing collides."""
    path = tmp_path / "hotline.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "var"}"\n'
        f'[web]\nbind = "127.0.0.1:{free_port()}"\n'
        f'[fastagi]\nbind = "127.0.0.1:{free_port()}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def hotline(config: Path, capsys: pytest.CaptureFixture[str]):
    """Run `hotline --config <tmp> ARGS…`; returns (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def migrated(hotline) -> None:
    status, _, err = hotline("db", "upgrade")
    assert status == 0, err


def password_of(out: str, username: str) -> str:
    match = PASSWORD_LINE.match(out.strip())
    assert match and match[1] == username, out
    return match[2]


def logs_in(config: Path, username: str, password: str) -> bool:
    async def attempt() -> bool:
        engine = create_engine(load_settings(config, environ={}).database_url)
        try:
            async with session_maker(engine)() as db:
                await authenticate(db, username, password)
                return True
        except LoginRefused:
            return False
        finally:
            await engine.dispose()

    return asyncio.run(attempt())


# hotline db ---------------------------------------------------------------------------------

def test_db_upgrade_then_current_reports_the_head(hotline, tmp_path: Path) -> None:
    head = head_revision()
    status, out, _ = hotline("db", "current")
    assert status == 0
    assert f": at {head}" not in out  # a fresh file has no schema yet

    status, out, err = hotline("db", "upgrade")
    assert status == 0, err
    assert head in out

    status, out, err = hotline("db", "current")
    assert status == 0, err
    assert f": at {head}" in out
    assert list((tmp_path / "var").glob("*.db")), "the SQLite file belongs in data_dir"


# hotline user -------------------------------------------------------------------------------

@pytest.mark.usefixtures("migrated")
def test_user_create_prints_a_generated_password_that_logs_in(hotline, config: Path) -> None:
    status, out, err = hotline("user", "create", "alice", "--role", "agent")
    assert status == 0, err
    password = password_of(out, "alice")
    assert len(password) >= 10
    assert logs_in(config, "alice", password)

    status, out, err = hotline("user", "create", "bob", "--role", "agent")
    assert status == 0, err
    assert password_of(out, "bob") != password


@pytest.mark.usefixtures("migrated")
def test_creating_the_same_user_twice_fails_clearly(hotline, config: Path) -> None:
    status, out, _ = hotline("user", "create", "alice", "--role", "agent")
    assert status == 0
    first = password_of(out, "alice")

    status, out, err = hotline("user", "create", "alice", "--role", "supervisor")
    assert status == 1
    assert out == ""
    message = err.splitlines()[-1]  # INFO log lines may come before it
    assert message.startswith("hotline: ") and "username" in message and "alice" in message
    assert logs_in(config, "alice", first)  # the existing account is untouched


@pytest.mark.usefixtures("migrated")
def test_reset_password_replaces_the_old_one(hotline, config: Path) -> None:
    _, out, _ = hotline("user", "create", "alice", "--role", "agent")
    old = password_of(out, "alice")

    status, out, err = hotline("user", "reset-password", "alice")
    assert status == 0, err
    new = password_of(out, "alice")
    assert new != old
    assert logs_in(config, "alice", new)
    assert not logs_in(config, "alice", old)


@pytest.mark.usefixtures("migrated")
def test_reset_password_of_an_unknown_user_fails(hotline) -> None:
    status, out, err = hotline("user", "reset-password", "nobody")
    assert status == 1
    assert out == ""
    assert "nobody" in err


# A database that was never migrated ----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("user", "create", "alice", "--role", "agent"),
    ("user", "reset-password", "alice"),
])
def test_user_commands_refuse_an_unmigrated_database(hotline, args: tuple[str, ...]) -> None:
    status, out, err = hotline(*args)
    assert status == 1
    assert out == ""
    assert "hotline db upgrade" in err
