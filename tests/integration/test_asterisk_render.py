"""`hotline asterisk render` on a migrated database (SQLite and PostgreSQL): the files, their
modes, softphone passwords that are strong, stable across renders and never printed, and
renders that change nothing when the database did not change."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asterisk.config
import pytest
from sqlalchemy import select, update

from hotline.asterisk.dialplan import extension_for, interface_for
from hotline.asterisk.render import (
    AGENT_EXTENSIONS_FILE,
    AGENTS_FILE,
    CONF_FILES,
    LINES_FILE,
    PASSWORD_LENGTH,
    QUEUES_FILE,
    SECRETS_FILE,
    load_softphone_secrets,
    render_defaults,
    render_from_database,
)
from hotline.auth.services import create_user
from hotline.cli import main
from hotline.db.models import HotlineLine, Role, User

from conftest import PASSWORD, REPO

_TEMPLATE_HEADER = re.compile(r"^\[([^\]]+)\]\([^)]*\)\s*$")


class _Pyst2(asterisk.config.Config):  # type: ignore[misc]
    """pyst2's parser on the given lines (its own load() opens the file)."""

    def __init__(self, name: str, lines: list[str]) -> None:
        self._given = lines
        super().__init__(name)

    def load(self) -> None:
        self.raw_lines = self._given


def parse(path: Path) -> asterisk.config.Config:
    """pyst2's parser; template headers ([name](tpl), which pyst2 does not know) as [name].
    (tests/unit/test_dialplan_lint.py lints the same files in full.)"""
    lines = [_TEMPLATE_HEADER.sub(r"[\1]", line) + "\n"
             for line in path.read_text(encoding="utf-8").splitlines()]
    return _Pyst2(str(path), lines)


def sections(path: Path) -> list[str]:
    return [c.name for c in parse(path).categories]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def add_staff(db: Any) -> dict[str, User]:
    users = {}
    async with db() as session:
        for username, role, name in [
            ("agent-a", Role.AGENT, "王芳"),
            ("agent-b", Role.AGENT, "李强"),
            ("boss", Role.SUPERVISOR, "赵班长"),
            ("root2", Role.ADMIN, "管理员"),
        ]:
            users[username] = await create_user(session, username=username, display_name=name,
                                                role=role, password=PASSWORD)
    return users


async def set_active(db: Any, user: User, active: bool) -> None:
    async with db() as session:
        await session.execute(update(User).where(User.id == user.id).values(active=active))
        await session.commit()


async def render(db: Any, out: Path) -> Any:
    async with db() as session:
        return await render_from_database(session, out)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "asterisk"


async def test_render_writes_endpoints_queues_and_lines(
    db: Any, out: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    users = await add_staff(db)
    result = await render(db, out)

    assert sorted(result.written) == sorted([*CONF_FILES, SECRETS_FILE])
    assert (result.queues, result.lines, result.softphones, result.new_secrets) == (17, 17, 3, 3)
    assert mode(out) == 0o750
    for name in CONF_FILES:
        assert mode(out / name) == 0o640, name
        assert parse(out / name)  # pyst2 reads every file
    assert mode(out / SECRETS_FILE) == 0o600

    # Agents and supervisors get a softphone, the administrator none; extension 8000 + id.
    phones = [users["agent-a"], users["agent-b"], users["boss"]]
    endpoints = [f"agent{extension_for(u.id)}" for u in phones]
    assert sections(out / AGENTS_FILE) == [e for e in endpoints for _ in range(3)]
    agents_text = (out / AGENTS_FILE).read_text(encoding="utf-8")
    assert f"[{endpoints[2]}](hotline-supervisor)" in agents_text
    assert f"[{endpoints[0]}](hotline-agent)" in agents_text
    assert f'callerid = "王芳" <{extension_for(users["agent-a"].id)}>' in agents_text
    assert interface_for(extension_for(users["boss"].id)) == f"PJSIP/{endpoints[2]}"
    hints = (out / AGENT_EXTENSIONS_FILE).read_text(encoding="utf-8")
    for user, endpoint in zip(phones, endpoints, strict=True):
        assert f"exten => {extension_for(user.id)},hint,PJSIP/{endpoint}" in hints

    # Strong, distinct passwords: the same in the secrets file and in pjsip's auth sections.
    secrets_ = load_softphone_secrets(out)
    assert sorted(secrets_) == sorted(endpoints)
    passwords = [str(secrets_[e]["password"]) for e in endpoints]
    assert len(set(passwords)) == 3
    # 24 characters of 55 (letters and digits that cannot be confused): about 138 bits
    assert all(re.fullmatch(rf"[A-Za-z2-9]{{{PASSWORD_LENGTH}}}", p) for p in passwords)
    for endpoint, password in zip(endpoints, passwords, strict=True):
        assert f"username = {endpoint}\npassword = {password}\n" in agents_text
    # ... and never in a log or in what the command says.
    logged = caplog.text + result.summary()
    assert not any(p in logged for p in passwords)

    # Queues and DIDs from the hotline_lines table: the same as the shipped rendering of
    # lines.csv, which the database was loaded from.
    defaults = tmp_path / "defaults"
    render_defaults(defaults)
    for name in (QUEUES_FILE, LINES_FILE):
        assert (out / name).read_bytes() == (defaults / name).read_bytes()
        assert (out / name).read_bytes() == (REPO / "asterisk-conf" / "hotline-rendered" /
                                             name).read_bytes()
    assert len(sections(out / QUEUES_FILE)) == 17


async def test_renders_are_idempotent_and_passwords_stable(db: Any, out: Path) -> None:
    users = await add_staff(db)
    await render(db, out)
    before = snapshot(out)

    again = await render(db, out)
    assert again.written == [] and again.new_secrets == 0
    assert snapshot(out) == before
    assert sorted(os.listdir(out)) == sorted([*CONF_FILES, SECRETS_FILE])  # no temporary files

    # A mode loosened by hand is put back even when the content is unchanged.
    (out / AGENTS_FILE).chmod(0o644)
    (out / SECRETS_FILE).chmod(0o644)
    await render(db, out)
    assert mode(out / AGENTS_FILE) == 0o640 and mode(out / SECRETS_FILE) == 0o600

    # A user who stops being an active agent loses the endpoint and its password; the others
    # keep theirs; coming back means a new password.
    old = load_softphone_secrets(out)
    gone = f"agent{extension_for(users['agent-b'].id)}"
    await set_active(db, users["agent-b"], False)
    result = await render(db, out)
    assert sorted(result.written) == sorted([SECRETS_FILE, AGENTS_FILE, AGENT_EXTENSIONS_FILE])
    now = load_softphone_secrets(out)
    assert gone not in now and gone not in (out / AGENTS_FILE).read_text(encoding="utf-8")
    assert {k: v for k, v in old.items() if k != gone} == now

    await set_active(db, users["agent-b"], True)
    result = await render(db, out)
    assert result.new_secrets == 1
    assert load_softphone_secrets(out)[gone]["password"] != old[gone]["password"]


async def test_inactive_line_keeps_its_queue_but_not_its_dids(db: Any, out: Path) -> None:
    async with db() as session:
        line = await session.scalar(select(HotlineLine).where(HotlineLine.code == "12345-5301"))
        line.active = False
        await session.commit()
    result = await render(db, out)
    assert (result.queues, result.lines) == (17, 16)
    assert "hl-12345-5301" in sections(out / QUEUES_FILE)
    lines = (out / LINES_FILE).read_text(encoding="utf-8")
    assert "exten => 087112345," not in lines and "exten => 087412345," in lines


# The command --------------------------------------------------------------------------------------

@pytest.fixture
def hotline(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """`hotline --config <tmp> ARGS…` on the test database; returns (status, stdout, stderr)."""
    for var in list(os.environ):
        if var.startswith("HOTLINE_") and not var.startswith("HOTLINE_TEST_"):
            monkeypatch.delenv(var)
    config = tmp_path / "hotline.toml"
    config.write_text(f'data_dir = "{tmp_path / "var"}"\n[database]\nurl = "{db_url}"\n',
                      encoding="utf-8")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["--config", str(config), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_command_renders_into_data_dir_by_default(
    db: Any, tmp_path: Path, hotline: Any
) -> None:
    await add_staff(db)
    # main() runs its own event loop: run it in a thread, away from this test's loop.
    status, stdout, stderr = await asyncio.to_thread(hotline, "asterisk", "render")
    assert status == 0, stderr
    out = tmp_path / "var" / "asterisk"
    assert "17 queues, 17 lines, 3 softphones (3 new passwords)" in stdout
    passwords = [str(e["password"]) for e in load_softphone_secrets(out).values()]
    assert len(passwords) == 3
    assert not any(p in stdout + stderr for p in passwords)

    status, stdout, _ = await asyncio.to_thread(hotline, "asterisk", "render", "--out",
                                                str(tmp_path / "elsewhere"))
    assert status == 0 and (tmp_path / "elsewhere" / AGENTS_FILE).is_file()
    status, stdout, _ = await asyncio.to_thread(hotline, "asterisk", "render")
    assert status == 0 and "nothing changed" in stdout

    status, stdout, _ = await asyncio.to_thread(
        hotline, "asterisk", "render", "--defaults", "--out", str(tmp_path / "defaults"))
    assert status == 0 and "0 softphones" in stdout
    assert not (tmp_path / "defaults" / SECRETS_FILE).exists()


def test_command_refuses_an_unmigrated_database(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for var in list(os.environ):
        if var.startswith("HOTLINE_") and not var.startswith("HOTLINE_TEST_"):
            monkeypatch.delenv(var)
    config = tmp_path / "hotline.toml"
    config.write_text(f'[database]\nurl = "{empty_db_url}"\n', encoding="utf-8")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        status = main(["--config", str(config), "asterisk", "render", "--out",
                       str(tmp_path / "out")])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert status == 1
    assert "hotline db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_secrets_file_is_json_with_one_entry_per_endpoint(tmp_path: Path) -> None:
    """The format the agents issue reads to hand credentials to a softphone."""
    from hotline.asterisk.render import SoftphoneSpec, lines_from_csv, write_rendering

    write_rendering(tmp_path, lines_from_csv(), [SoftphoneSpec(5, "x5", "X", Role.AGENT)])
    data = json.loads((tmp_path / SECRETS_FILE).read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert list(data["endpoints"]) == ["agent8005"]
    assert set(data["endpoints"]["agent8005"]) == {"user_id", "username", "password"}
