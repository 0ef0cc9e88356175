"""Configuration: `hotline.toml` (or `--config`), then `HOTLINE_*` environment overrides.

Everything is validated before anything starts. A bad file, an unknown key, a bad value or a
missing secret raises `ConfigError` whose message names the key; the CLI prints it and exits 2.

Environment overrides map to keys by name: `HOTLINE_DATA_DIR` → `data_dir`,
`HOTLINE_WEB_BIND` → `web.bind`, `HOTLINE_ASTERISK_PBX1_SECRET` → the `secret` of the
`[[asterisk]]` node named `pbx1` (so secrets can stay out of the file). `HOTLINE_CONFIG` names the
file. Relative paths are relative to the config file's folder, or to the working directory when
there is no file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotline.queue.settings import QueueConfig
from hotline.tickets.settings import TicketsConfig

DEFAULT_CONFIG_FILE = "hotline.toml"
ENV_PREFIX = "HOTLINE_"
# Variables with our prefix that are not settings.
ENV_NOT_SETTINGS = {"HOTLINE_CONFIG"}
ENV_NOT_SETTINGS_PREFIXES = ("HOTLINE_TEST_",)


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class Bind:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_BIND_RE = re.compile(
    r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9.\-]+)):(?P<port>\d{1,5})$"
)


def parse_bind(value: Any) -> Bind:
    if isinstance(value, Bind):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string such as 127.0.0.1:8080")
    match = _BIND_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return Bind(match["v6"] or match["host"], port)


BindAddress = Annotated[Any, AfterValidator(parse_bind), PlainSerializer(str, return_type=str)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


_ASYNC_DRIVERS = {"sqlite": ("", "aiosqlite"), "postgresql": ("", "asyncpg"),
                  "postgres": ("", "asyncpg")}


class DatabaseConfig(_Section):
    # Empty means the embedded default: SQLite file `hotline.db` in data_dir (WAL mode).
    url: str = ""
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=500)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url:
            return url
        # Parsed here so a malformed URL stops the start, not the first query. The messages
        # never repeat the URL: it may hold a password.
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError("not a URL such as sqlite:///FILE or postgresql://HOST/DB") from None
        backend, _, driver = parsed.drivername.partition("+")
        if driver not in _ASYNC_DRIVERS.get(backend, ()):
            raise ValueError("must be a sqlite:/// or postgresql:// URL "
                             "(drivers: sqlite+aiosqlite, postgresql+asyncpg)")
        return url


class RecordingsConfig(_Section):
    # Empty means data_dir/recordings.
    dir: str = ""
    # Recordings older than this are purged, except those of a ticket not yet closed.
    retention_days: int = Field(default=180, ge=1, le=36500)
    # Speech-to-text of finished recordings (hotline.recordings.transcribe): at most this many
    # at once (each runs vosk in a thread); 0 turns the job off.
    transcribe_concurrency: int = Field(default=1, ge=0, le=16)


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-((?:[01]\d|2[0-3]):[0-5]\d|24:00)$")


class FollowUpConfig(_Section):
    """The follow-up (回访) dialer (hotline.followup)."""

    # Off on all but one controller when several share a database: one dialer per deployment.
    enabled: bool = True
    # Local calling hours (time_zone), "HH:MM-HH:MM"; "24:00" is the end of the day.
    hours: str = Field(default="09:00-20:00")
    max_concurrent: int = Field(default=5, ge=1, le=500)
    # Further attempts after the first one; unreachable after them → the manual list.
    retries: int = Field(default=3, ge=0, le=20)
    retry_spacing_minutes: float = Field(default=30.0, ge=0, le=7 * 24 * 60)
    # How often the dialer looks for due jobs (it is also woken when a job is created).
    poll_seconds: float = Field(default=5.0, gt=0, le=600)
    # After the survey call hangs up, how long its answers may still take to arrive.
    result_grace_seconds: float = Field(default=10.0, gt=0, le=600)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value)
        if not match:
            raise ValueError("must be HH:MM-HH:MM, e.g. 09:00-20:00")
        if match[3] != "24:00" and match[3] <= f"{match[1]}:{match[2]}":
            raise ValueError("the end must be after the start")
        return value


class SpeechConfig(_Section):
    # Folder of an unpacked vosk model (vosk-model-small-cn-0.22, …; ivr/README.md). Empty: no
    # speech recognition (callers who speak go to an agent).
    model: str = ""
    # Language of the model: picks the emergency vocabulary ivr/data/speech-<language>.toml.
    language: str = Field(default="zh", pattern=r"^[a-z]{2,3}$")
    # Rate the model was trained at (telephone audio, 8 kHz, is resampled to it).
    sample_rate: int = Field(default=16000, ge=8000, le=48000)
    timeout: float = Field(default=3.0, gt=0, le=60)  # seconds per recognition
    max_concurrent: int = Field(default=2, ge=1, le=64)  # beyond it: "busy", caller to an agent


class PromptsConfig(_Section):
    # Asterisk sound folder the prompts are built into (zh/hotline/…). Empty: data_dir/sounds.
    dir: str = ""


class WebConfig(_Section):
    bind: BindAddress = Field(default_factory=lambda: parse_bind("127.0.0.1:8080"))
    # Set true when users reach the web app over HTTPS (a TLS proxy in front).
    secure_cookies: bool = False
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Origins (scheme://host:port) besides the app's own that may post forms and open websockets.
    trusted_origins: list[str] = Field(default_factory=list)

    @field_validator("trusted_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class FastAgiConfig(_Section):
    bind: BindAddress = Field(default_factory=lambda: parse_bind("127.0.0.1:4573"))
    max_sessions: int = Field(default=2000, ge=1, le=100_000)
    # Overload shedding (DESIGN.md §5): past either bound, new calls take the shortest path to
    # the queue (no speech, no menu) until both are back under half. 0 turns a signal off.
    shed_loop_lag_ms: float = Field(default=100, ge=0, le=60_000)  # the controller's loop lag
    shed_round_trip_ms: float = Field(default=200, ge=0, le=60_000)  # Asterisk's AGI replies


class IvrConfig(_Section):
    """The voice menu (ivr/): business hours and the caller's recordings."""

    # Local opening hours, e.g. ["mon-fri 08:30-17:30", "sat 09:00-12:00"]; default 7×24.
    hours: list[str] = Field(default_factory=lambda: ["mon-sun 00:00-24:00"])
    # "closed": statutory public holidays (chinese_calendar) close the hotline; "open": ignored.
    holidays: Literal["open", "closed"] = "open"
    closed_dates: list[date] = Field(default_factory=list)  # local closures, e.g. 2026-12-31
    record_max_seconds: int = Field(default=8, ge=2, le=30)  # the caller's short statement
    silence_seconds: int = Field(default=2, ge=1, le=10)  # RECORD FILE s=: stop after silence
    message_max_seconds: int = Field(default=60, ge=10, le=300)  # out-of-hours message
    menu_timeout_seconds: int = Field(default=5, ge=1, le=30)  # wait for a key after the menu
    # Where RECORD FILE writes statements and messages: a folder on the Asterisk host that the
    # controller reads too (shared storage). Empty: <recordings dir>/ivr.
    statement_dir: str = ""

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, hours: list[str]) -> list[str]:
        from hotline.ivr.hours import parse_hours

        parse_hours(hours)
        return hours

    @field_validator("statement_dir")
    @classmethod
    def _absolute(cls, folder: str) -> str:
        if folder and not Path(folder).is_absolute():
            raise ValueError("must be an absolute path (the folder Asterisk writes to)")
        return folder


_NODE_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"


class AgentsConfig(_Section):
    """Agent desk and wallboard (hotline.agents)."""

    # After a call the agent stays in 话后处理 (paused in the queues) this long, then is ready.
    wrap_up_seconds: int = Field(default=15, ge=0, le=3600)
    # Websockets: events queued per client before a slow one is cut off (close code 4008),
    # how long one send may wait for a client that does not read, heartbeat interval.
    ws_queue_size: int = Field(default=256, ge=4, le=100_000)
    ws_send_timeout: float = Field(default=5.0, gt=0, le=120)
    ws_heartbeat: float = Field(default=20.0, gt=0, le=600)


class AsteriskNodeConfig(_Section):
    name: str = Field(pattern=_NODE_NAME)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret: SecretStr
    # plain: Login with Secret; md5: Challenge, then Login with the MD5 key (the secret never
    # crosses the wire; use it when AMI is not on loopback).
    auth: Literal["plain", "md5"] = "plain"

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, secret: SecretStr) -> SecretStr:
        if not secret.get_secret_value():
            raise ValueError("must not be empty")
        return secret


class Settings(_Section):
    time_zone: str = "Asia/Shanghai"
    data_dir: Path = Path("var")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    recordings: RecordingsConfig = Field(default_factory=RecordingsConfig)
    speech: SpeechConfig = Field(default_factory=SpeechConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    followup: FollowUpConfig = Field(default_factory=FollowUpConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    fastagi: FastAgiConfig = Field(default_factory=FastAgiConfig)
    asterisk: list[AsteriskNodeConfig] = Field(default_factory=list)
    tickets: TicketsConfig = Field(default_factory=TicketsConfig)
    ivr: IvrConfig = Field(default_factory=IvrConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        # A folder of the zone database ("Asia") raises IsADirectoryError, a long name OSError.
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @field_validator("asterisk")
    @classmethod
    def _unique_node_names(cls, nodes: list[AsteriskNodeConfig]) -> list[AsteriskNodeConfig]:
        names = [node.name for node in nodes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"node name {duplicated[0]!r} is used twice")
        return nodes

    # Resolved values (computed once the base folder is known) -----------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'hotline.db'}"

    @property
    def recordings_dir(self) -> Path:
        return Path(self.recordings.dir) if self.recordings.dir else self.data_dir / "recordings"

    @property
    def sounds_dir(self) -> Path:
        return Path(self.prompts.dir) if self.prompts.dir else self.data_dir / "sounds"

    @property
    def ivr_recordings_dir(self) -> Path:
        return Path(self.ivr.statement_dir) if self.ivr.statement_dir \
            else self.recordings_dir / "ivr"


# Loading -----------------------------------------------------------------------------------

def _format_location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            parts[-1] += f"[{item}]" + (f"({name})" if name else "")
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _env_overrides(environ: dict[str, str], data: dict[str, Any]) -> None:
    """Apply HOTLINE_* variables onto the raw data; unknown ones are errors."""
    sections = {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    scalars = {name for name in Settings.model_fields
               if name not in sections and name != "asterisk"}
    nodes = data.get("asterisk") if isinstance(data.get("asterisk"), list) else []
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or var in ENV_NOT_SETTINGS:
            continue
        if var.startswith(ENV_NOT_SETTINGS_PREFIXES):
            continue
        value = environ[var]
        key = var[len(ENV_PREFIX):].lower()
        if key in scalars:
            data[key] = value
            continue
        section = next((s for s in sections if key.startswith(s + "_")), None)
        if section is not None:
            field = key[len(section) + 1:]
            if field in sections[section].model_fields:
                data.setdefault(section, {})
                if not isinstance(data[section], dict):
                    raise ConfigError(f"{section}: must be a table")
                data[section][field] = value
                continue
        if key.startswith("asterisk_"):
            rest = key[len("asterisk_"):]
            for node in nodes:
                name = str(node.get("name", "")).replace("-", "_") if isinstance(node, dict) else ""
                field = rest[len(name) + 1:] if name and rest.startswith(name + "_") else ""
                if field in AsteriskNodeConfig.model_fields and field != "name":
                    node[field] = value
                    break
            else:
                raise ConfigError(
                    f"{var}: no [[asterisk]] node with that name and field in the configuration"
                )
            continue
        raise ConfigError(f"{var}: unknown setting")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the file (if any), apply the environment, validate, resolve relative paths."""
    environ = dict(os.environ if environ is None else environ)
    explicit = path or environ.get("HOTLINE_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start})") from exc
        except OSError as exc:
            raise ConfigError(f"{file}: cannot be read: {exc.strerror}") from exc
        base = file.resolve().parent
    elif explicit:
        raise ConfigError(f"{file}: configuration file not found")
    else:
        base = Path.cwd()
    _env_overrides(environ, data)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = _format_location(error["loc"], data) or "configuration"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "missing (required)"
        raise ConfigError(f"{where}: {message}") from None
    return _resolve_paths(settings, base)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    data_dir = settings.data_dir if settings.data_dir.is_absolute() else base / settings.data_dir
    recordings = settings.recordings.dir
    if recordings and not Path(recordings).is_absolute():
        recordings = str(base / recordings)
    speech, prompts = settings.speech, settings.prompts
    if speech.model and not Path(speech.model).is_absolute():
        speech = speech.model_copy(update={"model": str(base / speech.model)})
    if prompts.dir and not Path(prompts.dir).is_absolute():
        prompts = prompts.model_copy(update={"dir": str(base / prompts.dir)})
    database = settings.database
    if database.url.startswith("sqlite") and ":memory:" not in database.url:
        database = database.model_copy(update={"url": _absolute_sqlite_url(database.url, base)})
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "recordings": settings.recordings.model_copy(update={"dir": recordings}),
            "database": database,
            "speech": speech,
            "prompts": prompts,
        }
    )


def _absolute_sqlite_url(url: str, base: Path) -> str:
    scheme, sep, file = url.partition(":///")
    if not sep or not file or file.startswith("/"):
        return url
    return f"{scheme}:///{base / file}"
