"""`hotline asterisk render`: the parts of the Asterisk configuration that come from the database.

Writes into one folder (default `<data_dir>/asterisk`; on the PBX `/etc/asterisk/hotline-rendered`,
which `asterisk-conf/` includes):

- `hotline-agents.conf` (pjsip.conf): an endpoint, auth and aor for each active agent and
  supervisor, from the templates of asterisk-conf/pjsip.conf, named by the extension of their
  agent profile (`agent_profiles.extension`; 8000 + user id for a user without one);
- `hotline-agent-extensions.conf` (extensions.conf): their extensions and hints;
- `hotline-queues.conf` (queues.conf): one queue per hotline line;
- `hotline-lines.conf` (extensions.conf): the DID → line mapping of [hotline-lines];
- `softphone-secrets.json` (mode 0600): the softphones' SIP passwords. Each endpoint gets a
  strong random password the first time it is rendered and keeps it on later renders; a user
  who is no longer an active agent or supervisor loses it (the next one is new).

Queue members are not rendered: agents join queues when they log in on the desk (AMI QueueAdd),
which AMI can undo; static members it could not. Rendering is deterministic (no timestamps), so
an unchanged database leaves every file as it was. `asterisk-conf/hotline-rendered/` holds the
rendering of lines.csv with no users (`--defaults`), so a fresh Asterisk runs before the first
render. Passwords never reach a log or the terminal.
"""

from __future__ import annotations

import asyncio
import csv
import fcntl
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.models import AgentProfile
from hotline.asterisk.dialplan import (
    CTX_AGENT_EXTENSIONS,
    CTX_CALL,
    CTX_LINES,
    endpoint_for,
    extension_for,
)
from hotline.auth.passwords import generate_password
from hotline.db.models import Role, User
from hotline.db.reference import DATA
from hotline.directory import list_lines

log = logging.getLogger(__name__)

AGENTS_FILE = "hotline-agents.conf"
AGENT_EXTENSIONS_FILE = "hotline-agent-extensions.conf"
QUEUES_FILE = "hotline-queues.conf"
LINES_FILE = "hotline-lines.conf"
SECRETS_FILE = "softphone-secrets.json"
CONF_FILES = (AGENTS_FILE, AGENT_EXTENSIONS_FILE, QUEUES_FILE, LINES_FILE)

CONF_MODE = 0o640  # Asterisk reads them through its group
SECRETS_MODE = 0o600
DIR_MODE = 0o750

# pjsip.conf / queues.conf templates (asterisk-conf/) the rendered sections inherit from.
TEMPLATE_AGENT = "hotline-agent"
TEMPLATE_SUPERVISOR = "hotline-supervisor"
TEMPLATE_AUTH = "hotline-agent-auth"
TEMPLATE_AOR = "hotline-agent-aor"
TEMPLATE_QUEUE_PROVINCE = "hotline-queue-province"
TEMPLATE_QUEUE_PREFECTURE = "hotline-queue-prefecture"
SOFTPHONE_ROLES = (Role.AGENT, Role.SUPERVISOR)
RING_SECONDS = 30  # a softphone dialled by extension

PASSWORD_LENGTH = 24  # from an unambiguous 55-letter alphabet: about 138 bits

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # queue names, line codes
_DID = re.compile(r"^\+?[0-9]{3,32}$")
_REGION = re.compile(r"^[0-9]{6}$")
# What may stand in a quoted SIP display name in pjsip.conf: no quotes, angle brackets,
# backslashes, ';' (Asterisk's comment) or control characters.
_DISPLAY_UNSAFE = re.compile(r"[\"<>\\;\x00-\x1f\x7f]")

HEADER = (
    "; Rendered by `hotline asterisk render` (from the database; with --defaults from\n"
    "; lines.csv). Do not edit: the next render replaces this file. Change the database, or\n"
    "; the templates in asterisk-conf/.\n"
)


class RenderError(Exception):
    """The database holds something that cannot be put into Asterisk's configuration."""


@dataclass(frozen=True)
class LineSpec:
    code: str
    name: str
    region_code: str
    queue: str
    service_number: str
    dids: tuple[str, ...]
    active: bool = True

    @property
    def is_province(self) -> bool:
        return self.region_code.endswith("0000")


@dataclass(frozen=True)
class SoftphoneSpec:
    user_id: int
    username: str
    display_name: str
    role: Role
    # agent_profiles.extension (hotline.agents); a user without a profile keeps the extension
    # every softphone had before profiles existed, 8000 + id (a new profile starts from it).
    profile_extension: str | None = None

    @property
    def extension(self) -> str:
        return self.profile_extension or extension_for(self.user_id)

    @property
    def endpoint(self) -> str:
        return endpoint_for(self.extension)


@dataclass
class RenderResult:
    out_dir: Path
    lines: int
    queues: int
    softphones: int
    written: list[str] = field(default_factory=list)  # files whose content changed
    new_secrets: int = 0

    def summary(self) -> str:
        changed = ", ".join(self.written) if self.written else "nothing changed"
        return (f"{self.out_dir}: {self.queues} queues, {self.lines} lines, "
                f"{self.softphones} softphones ({self.new_secrets} new passwords); {changed}")


# Inputs -------------------------------------------------------------------------------------

def lines_from_csv(path: Path | None = None) -> list[LineSpec]:
    """The lines shipped in src/hotline/data/lines.csv (what `hotline db upgrade` loads)."""
    with (path or DATA / "lines.csv").open(encoding="utf-8", newline="") as file:
        return [
            LineSpec(code=row["code"], name=row["name"], region_code=row["region_code"],
                     queue=row["queue"], service_number=row["service_number"],
                     dids=tuple(sorted(row["dids"].split())))
            for row in csv.DictReader(file)
        ]


async def lines_from_database(db: AsyncSession) -> list[LineSpec]:
    return [
        LineSpec(code=line.code, name=line.name, region_code=line.region_code, queue=line.queue,
                 service_number=line.service_number, dids=tuple(d.did for d in line.dids),
                 active=line.active)
        for line in await list_lines(db)
    ]


async def softphones_from_database(db: AsyncSession) -> list[SoftphoneSpec]:
    rows = await db.execute(
        select(User, AgentProfile.extension)
        .outerjoin(AgentProfile, AgentProfile.user_id == User.id)
        .where(User.active.is_(True), User.role.in_(SOFTPHONE_ROLES))
        .order_by(User.id)
    )
    return [SoftphoneSpec(user_id=u.id, username=u.username, display_name=u.display_name,
                          role=u.role, profile_extension=extension) for u, extension in rows]


def _check_phones(phones: Sequence[SoftphoneSpec]) -> None:
    seen: dict[str, str] = {}
    for phone in phones:
        if not phone.extension.isdigit():
            raise RenderError(f"user {phone.username}: extension {phone.extension!r} is not "
                              "digits")
        if phone.extension in seen:
            raise RenderError(f"extension {phone.extension} belongs to users "
                              f"{seen[phone.extension]} and {phone.username}")
        seen[phone.extension] = phone.username


def _check_lines(lines: Sequence[LineSpec]) -> None:
    seen_dids: dict[str, str] = {}
    seen_queues: set[str] = set()
    for line in lines:
        if not _NAME.match(line.code) or not _NAME.match(line.queue):
            raise RenderError(f"line {line.code!r}: code and queue must be letters, digits, "
                              f"'-' or '_' (queue {line.queue!r})")
        if not _REGION.match(line.region_code):
            raise RenderError(f"line {line.code}: region {line.region_code!r} is not a "
                              "6-digit GB/T 2260 code")
        if line.queue in seen_queues:
            raise RenderError(f"queue {line.queue} belongs to two lines")
        seen_queues.add(line.queue)
        for did in line.dids:
            if not _DID.match(did):
                raise RenderError(f"line {line.code}: DID {did!r} is not a telephone number")
            if did in seen_dids:
                raise RenderError(f"DID {did} belongs to lines {seen_dids[did]} and {line.code}")
            seen_dids[did] = line.code


# Rendering (pure: specs in, text out) --------------------------------------------------------

def _one_line(text: str) -> str:
    """Free text for a ';' comment: one line, no further ';'."""
    return " ".join(text.replace(";", ",").split())


def render_lines(lines: Iterable[LineSpec]) -> str:
    out = [HEADER, "; DID → line: the variables the dialplan and the controller read, then the "
           "call.", f"[{CTX_LINES}]"]
    for line in lines:
        if not line.active:
            out.append(f"; {line.code} ({_one_line(line.name)}) is inactive: its DIDs are not "
                       "answered as this line")
            continue
        for did in line.dids:
            out += [
                f"; {_one_line(line.name)}",
                f"exten => {did},1,Set(__HOTLINE_LINE={line.code})",
                f" same => n,Set(__HOTLINE_REGION={line.region_code})",
                f" same => n,Set(HOTLINE_QUEUE={line.queue})",
                f" same => n,Goto({CTX_CALL},s,1)",
            ]
    return "\n".join(out) + "\n"


def render_queues(lines: Iterable[LineSpec]) -> str:
    out = [HEADER, "; One queue per hotline line; the templates are in queues.conf."]
    for line in lines:
        template = TEMPLATE_QUEUE_PROVINCE if line.is_province else TEMPLATE_QUEUE_PREFECTURE
        out += ["", f"; {line.code}: {_one_line(line.name)} (region {line.region_code})",
                f"[{line.queue}]({template})"]
    return "\n".join(out) + "\n"


def _display_name(phone: SoftphoneSpec) -> str:
    name = _DISPLAY_UNSAFE.sub("", phone.display_name).strip()
    return (name or _DISPLAY_UNSAFE.sub("", phone.username))[:64]


def render_agents(phones: Iterable[SoftphoneSpec], passwords: dict[str, str]) -> str:
    out = [HEADER, "; One endpoint, auth and aor per active agent and supervisor; the templates "
           "are in pjsip.conf."]
    for phone in phones:
        template = TEMPLATE_SUPERVISOR if phone.role is Role.SUPERVISOR else TEMPLATE_AGENT
        name = phone.endpoint
        out += [
            "",
            f"; user {phone.user_id} ({_one_line(phone.username)}), {phone.role.value}",
            f"[{name}]({template})",
            f"auth = {name}",
            f"aors = {name}",
            f'callerid = "{_display_name(phone)}" <{phone.extension}>',
            f"[{name}]({TEMPLATE_AUTH})",
            f"username = {name}",
            f"password = {passwords[name]}",
            f"[{name}]({TEMPLATE_AOR})",
        ]
    return "\n".join(out) + "\n"


def render_agent_extensions(phones: Iterable[SoftphoneSpec]) -> str:
    out = [HEADER, "; Softphones by extension, with a hint for busy-lamp fields.",
           f"[{CTX_AGENT_EXTENSIONS}]"]
    for phone in phones:
        device = f"PJSIP/{phone.endpoint}"
        out += [
            f"exten => {phone.extension},hint,{device}",
            f"exten => {phone.extension},1,Dial({device},{RING_SECONDS})",
            " same => n,Hangup()",
        ]
    return "\n".join(out) + "\n"


# Secrets ------------------------------------------------------------------------------------

def load_softphone_secrets(out_dir: Path) -> dict[str, dict[str, object]]:
    """endpoint → {"user_id", "username", "password"}; for handing credentials to agents."""
    path = out_dir / SECRETS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        endpoints = data["endpoints"]
        if not isinstance(endpoints, dict):
            raise TypeError("endpoints is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise RenderError(f"{path}: not a softphone secrets file ({exc})") from None
    return endpoints


def _passwords(
    phones: Sequence[SoftphoneSpec], known: dict[str, dict[str, object]]
) -> tuple[dict[str, dict[str, object]], int]:
    kept: dict[str, dict[str, object]] = {}
    new = 0
    for phone in phones:
        entry = known.get(phone.endpoint)
        password = entry.get("password") if entry else None
        if (entry is None or entry.get("user_id") != phone.user_id
                or not isinstance(password, str) or len(password) < PASSWORD_LENGTH):
            password = generate_password(PASSWORD_LENGTH)
            new += 1
        kept[phone.endpoint] = {"user_id": phone.user_id, "username": phone.username,
                                "password": password}
    return kept, new


# Files ------------------------------------------------------------------------------------------

def _write_atomic(path: Path, data: bytes, mode: int) -> bool:
    """Replace `path` by `data` (temporary file + rename, so Asterisk never reads half a file);
    False when it already held exactly that. The mode is set whatever the umask."""
    if path.exists() and path.read_bytes() == data:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def write_rendering(
    out_dir: Path, lines: Sequence[LineSpec], phones: Sequence[SoftphoneSpec]
) -> RenderResult:
    _check_lines(lines)
    _check_phones(phones)
    out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # One render at a time per folder: two at once could hand out two passwords for one phone.
    dir_fd = os.open(out_dir, os.O_RDONLY)  # flock on the folder itself: no lock file
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        return _write_locked(out_dir, lines, phones)
    finally:
        os.close(dir_fd)


def _write_locked(
    out_dir: Path, lines: Sequence[LineSpec], phones: Sequence[SoftphoneSpec]
) -> RenderResult:
    secrets_path = out_dir / SECRETS_FILE
    stored, new = _passwords(phones, load_softphone_secrets(out_dir))
    result = RenderResult(out_dir=out_dir, lines=sum(1 for line in lines if line.active),
                          queues=len(lines), softphones=len(phones), new_secrets=new)
    # Secrets first: a crash between the two writes must not leave endpoints whose password
    # is nowhere else.
    if phones or secrets_path.exists():
        text = json.dumps({"version": 1, "endpoints": stored}, ensure_ascii=False, indent=2,
                          sort_keys=True) + "\n"
        if _write_atomic(secrets_path, text.encode(), SECRETS_MODE):
            result.written.append(SECRETS_FILE)
    passwords = {name: str(entry["password"]) for name, entry in stored.items()}
    contents = {
        AGENTS_FILE: render_agents(phones, passwords),
        AGENT_EXTENSIONS_FILE: render_agent_extensions(phones),
        QUEUES_FILE: render_queues(lines),
        LINES_FILE: render_lines(lines),
    }
    for name, text in contents.items():
        if _write_atomic(out_dir / name, text.encode(), CONF_MODE):
            result.written.append(name)
    log.info("asterisk render: %d queues, %d lines, %d softphones (%d new passwords) in %s",
             result.queues, result.lines, result.softphones, new, out_dir)
    return result


async def render_from_database(db: AsyncSession, out_dir: Path) -> RenderResult:
    lines = await lines_from_database(db)
    phones = await softphones_from_database(db)
    # File writes, fsyncs and the folder lock stay off the event loop.
    return await asyncio.to_thread(write_rendering, out_dir, lines, phones)


def render_defaults(out_dir: Path) -> RenderResult:
    """What asterisk-conf/hotline-rendered/ ships: lines.csv, no softphones."""
    return write_rendering(out_dir, lines_from_csv(), [])
