"""Configuration: hotline.toml (or --config) plus HOTLINE_* overrides, validated up front.

Every test passes an explicit file in a temporary folder (or an `environ` dict) so that a
developer's ./hotline.toml or HOTLINE_* variables never leak in.
"""

from __future__ import annotations

import json
import tomllib
from operator import attrgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from hotline.cli import main
from hotline.config import Bind, ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "hotline.example.toml"
SECRET = "Sup3r-Secret-AMI-pw"
ENV_SECRET = "Env-0nly-Secret-pw"
NODE = '[[asterisk]]\nname = "pbx1"\nusername = "hotline"\n'
DIRECTORY = object()  # make_config: create a folder where the file should be


pytestmark = pytest.mark.usefixtures("cli_isolation")


def make_config(tmp_path: Path, text: Any = "") -> Path:
    path = tmp_path / "hotline.toml"
    if text is DIRECTORY:
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str = "", **env: str) -> Settings:
    return load_settings(make_config(tmp_path, text), environ=env)


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["--config", str(path), "config", "check"])
    out, err = capsys.readouterr()
    return status, out, err


# Defaults ---------------------------------------------------------------------------------

def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    base = tmp_path.resolve()
    assert settings.web.bind == Bind("127.0.0.1", 8080)
    assert str(settings.web.bind) == "127.0.0.1:8080"
    assert str(settings.fastagi.bind) == "127.0.0.1:4573"
    assert settings.data_dir == base / "var"
    assert settings.recordings_dir == base / "var" / "recordings"
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database).parent == base / "var"
    assert settings.time_zone == "Asia/Shanghai"
    assert settings.zone == ZoneInfo("Asia/Shanghai")
    assert settings.asterisk == []


def test_without_a_file_paths_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings(environ={})  # the autouse fixture chdir'ed to an empty folder
    assert settings.data_dir == Path.cwd() / "var"


def test_hotline_config_names_the_file(tmp_path: Path) -> None:
    path = make_config(tmp_path, 'web.bind = "127.0.0.1:8181"\n')
    settings = load_settings(environ={"HOTLINE_CONFIG": str(path)})
    assert settings.web.bind == Bind("127.0.0.1", 8181)
    assert settings.data_dir == tmp_path.resolve() / "var"


# The shipped example ------------------------------------------------------------------------

def _example_with_a_node() -> str:
    """The example file, with its documented (commented-out) [[asterisk]] node switched on and
    that node's secret left out: secrets come from the environment."""
    assert EXAMPLE.is_file(), f"{EXAMPLE.name} is missing at the repository root"
    text = EXAMPLE.read_text(encoding="utf-8")
    if tomllib.loads(text).get("asterisk"):
        return text
    lines = text.splitlines()
    assert "# [[asterisk]]" in lines, "the example should document an [[asterisk]] node"
    block = []
    for line in lines[lines.index("# [[asterisk]]"):]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    return "\n".join([text, *(line for line in block if not line.startswith("secret"))]) + "\n"


def test_example_as_shipped_gives_the_documented_defaults() -> None:
    assert EXAMPLE.is_file(), f"{EXAMPLE.name} is missing at the repository root"
    settings = load_settings(EXAMPLE, environ={})
    assert str(settings.web.bind) == "127.0.0.1:8080"
    assert str(settings.fastagi.bind) == "127.0.0.1:4573"
    assert settings.data_dir == REPO / "var"
    assert settings.recordings_dir == REPO / "var" / "recordings"
    assert settings.time_zone == "Asia/Shanghai"


def test_example_node_takes_its_secret_from_the_environment(tmp_path: Path) -> None:
    text = _example_with_a_node()
    names = [node["name"] for node in tomllib.loads(text)["asterisk"]]
    env = {f"HOTLINE_ASTERISK_{name.upper().replace('-', '_')}_SECRET": f"{ENV_SECRET}-{name}"
           for name in names}
    settings = load(tmp_path, text, **env)
    assert [node.name for node in settings.asterisk] == names
    assert [node.secret.get_secret_value() for node in settings.asterisk] == \
        [f"{ENV_SECRET}-{name}" for name in names]
    # ...and without the environment the file alone is refused, naming the secret.
    with pytest.raises(ConfigError, match=r"asterisk\[0\].*\.secret"):
        load(tmp_path, text)


# Environment overrides ---------------------------------------------------------------------

FILE_VALUES = """\
time_zone = "Asia/Shanghai"
[web]
bind = "127.0.0.1:1111"
trusted_origins = ["https://file.example"]
[fastagi]
max_sessions = 10
"""


@pytest.mark.parametrize(("var", "value", "attribute", "expected"), [
    ("HOTLINE_WEB_BIND", "192.0.2.7:9090", "web.bind", Bind("192.0.2.7", 9090)),
    ("HOTLINE_WEB_BIND", "[::1]:9090", "web.bind", Bind("::1", 9090)),
    ("HOTLINE_FASTAGI_BIND", "10.0.0.5:4574", "fastagi.bind", Bind("10.0.0.5", 4574)),
    ("HOTLINE_DATABASE_URL", "postgresql://hotline@db.example/hotline", "database_url",
     "postgresql://hotline@db.example/hotline"),
    ("HOTLINE_TIME_ZONE", "UTC", "zone", ZoneInfo("UTC")),
    ("HOTLINE_FASTAGI_MAX_SESSIONS", "50", "fastagi.max_sessions", 50),
    ("HOTLINE_WEB_TRUSTED_ORIGINS", "https://a.example, https://b.example:8443",
     "web.trusted_origins", ["https://a.example", "https://b.example:8443"]),
    ("HOTLINE_WEB_SECURE_COOKIES", "true", "web.secure_cookies", True),
    ("HOTLINE_LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
    ("HOTLINE_RECORDINGS_DIR", "/srv/recordings", "recordings_dir", Path("/srv/recordings")),
])
def test_environment_overrides_the_file(
    tmp_path: Path, var: str, value: str, attribute: str, expected: Any
) -> None:
    settings = load(tmp_path, FILE_VALUES, **{var: value})
    assert attrgetter(attribute)(settings) == expected


def test_data_dir_override_moves_everything_under_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    settings = load(tmp_path, FILE_VALUES, HOTLINE_DATA_DIR=str(elsewhere))
    assert settings.data_dir == elsewhere
    assert settings.recordings_dir == elsewhere / "recordings"
    assert Path(make_url(settings.database_url).database).parent == elsewhere


def test_node_fields_from_the_environment(tmp_path: Path) -> None:
    text = (NODE + 'secret = "from-the-file"\n'
            '[[asterisk]]\nname = "pbx-2"\nusername = "hotline"\n')
    settings = load(tmp_path, text,
                    HOTLINE_ASTERISK_PBX1_SECRET=ENV_SECRET,
                    HOTLINE_ASTERISK_PBX1_PORT="5039",
                    HOTLINE_ASTERISK_PBX_2_SECRET=SECRET,
                    HOTLINE_ASTERISK_PBX_2_HOST="10.0.0.2")
    first, second = settings.asterisk
    assert (first.name, first.port, first.host) == ("pbx1", 5039, "127.0.0.1")
    assert first.secret.get_secret_value() == ENV_SECRET
    assert (second.name, second.port, second.host) == ("pbx-2", 5038, "10.0.0.2")
    assert second.secret.get_secret_value() == SECRET


def test_test_suite_variables_are_not_settings(tmp_path: Path) -> None:
    settings = load(tmp_path, HOTLINE_TEST_PG_URL="postgresql://x@y/z")
    assert settings.database_url.startswith("sqlite")


# Relative paths ----------------------------------------------------------------------------

def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "hotline.toml").write_text(
        'data_dir = "state"\n[recordings]\ndir = "rec"\n[database]\nurl = "sqlite:///db/h.db"\n',
        encoding="utf-8")
    monkeypatch.chdir(tmp_path / "cwd")
    settings = load_settings(Path("..") / "conf" / "hotline.toml", environ={})
    base = conf.resolve()
    assert settings.data_dir == base / "state"
    assert settings.recordings_dir == base / "rec"
    assert make_url(settings.database_url).database == str(base / "db" / "h.db")


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs"
    text = (f'data_dir = "{target / "state"}"\n[recordings]\ndir = "{target / "rec"}"\n'
            f'[database]\nurl = "sqlite:///{target / "h.db"}"\n')
    settings = load(tmp_path, text)
    assert settings.data_dir == target / "state"
    assert settings.recordings_dir == target / "rec"
    assert make_url(settings.database_url).database == str(target / "h.db")


# Errors: ConfigError naming the key; through the CLI exit status 2 and one line ------------

ERRORS = [
    pytest.param('colour = "blue"\n', {}, "colour", id="unknown-top-level-key"),
    pytest.param('[web]\nport = 8080\n', {}, "web.port", id="unknown-key-in-web"),
    pytest.param("", {"HOTLINE_NOPE": "1"}, "HOTLINE_NOPE", id="unknown-env-var"),
    pytest.param("", {"HOTLINE_WEB_NOPE": "1"}, "HOTLINE_WEB_NOPE", id="unknown-env-var-in-web"),
    pytest.param("", {"HOTLINE_ASTERISK_PBX9_SECRET": "x"}, "HOTLINE_ASTERISK_PBX9_SECRET",
                 id="env-secret-for-unknown-node"),
    pytest.param('web = "127.0.0.1:8080"\n', {}, "web", id="section-not-a-table"),
    pytest.param('[web]\nbind = "localhost"\n', {}, "web.bind", id="bind-without-port"),
    pytest.param('[web]\nbind = "127.0.0.1:70000"\n', {}, "web.bind", id="port-out-of-range"),
    pytest.param("", {"HOTLINE_FASTAGI_BIND": "127.0.0.1:0"}, "fastagi.bind", id="port-zero"),
    pytest.param("[fastagi]\nmax_sessions = -1\n", {}, "fastagi.max_sessions",
                 id="negative-max-sessions"),
    pytest.param("", {"HOTLINE_FASTAGI_MAX_SESSIONS": "many"}, "fastagi.max_sessions",
                 id="max-sessions-not-a-number"),
    pytest.param('time_zone = "Mars/Base"\n', {}, "time_zone", id="unknown-time-zone"),
    pytest.param('time_zone = "Asia"\n', {}, "time_zone", id="time-zone-is-a-folder"),
    pytest.param('[database]\nurl = "mysql://x"\n', {}, "database.url", id="database-scheme"),
    pytest.param('[database]\nurl = "postgres"\n', {}, "database.url", id="database-not-a-url"),
    pytest.param("", {"HOTLINE_DATABASE_URL": "postgresql://u@db:port/x"}, "database.url",
                 id="database-url-bad-port"),
    pytest.param('[database]\nurl = "postgresql+psycopg2://u@db/x"\n', {}, "database.url",
                 id="database-sync-driver"),
    pytest.param('log_level = "LOUD"\n', {}, "log_level", id="log-level"),
    pytest.param(NODE, {}, "asterisk[0](pbx1).secret", id="node-without-secret"),
    pytest.param(NODE + 'secret = ""\n', {}, "asterisk[0](pbx1).secret", id="empty-secret"),
    pytest.param(NODE, {"HOTLINE_ASTERISK_PBX1_SECRET": ""}, "asterisk[0](pbx1).secret",
                 id="empty-secret-from-env"),
    pytest.param('[[asterisk]]\nname = "pbx1"\nsecret = "x"\n', {}, "asterisk[0](pbx1).username",
                 id="node-without-username"),
    pytest.param('[[asterisk]]\nname = "PBX 1"\nusername = "u"\nsecret = "x"\n', {},
                 "asterisk[0](PBX 1).name", id="bad-node-name"),
    pytest.param(NODE + 'secret = "x"\nport = 99999\n', {}, "asterisk[0](pbx1).port",
                 id="node-port-out-of-range"),
    pytest.param(NODE + 'secret = "x"\n' + NODE + 'secret = "y"\n', {}, "asterisk",
                 id="duplicate-node-names"),
    pytest.param("[web\nbind = 1\n", {}, "{path}", id="invalid-toml"),
    pytest.param(b'time_zone = "\xff"\n', {}, "{path}", id="not-utf8"),
    pytest.param(None, {}, "{path}", id="file-not-found"),
    pytest.param(DIRECTORY, {}, "{path}", id="path-is-a-folder"),
]


@pytest.mark.parametrize(("text", "env", "key"), ERRORS)
def test_error_names_the_key(tmp_path: Path, text: Any, env: dict[str, str], key: str) -> None:
    path = make_config(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ=env)
    assert key.format(path=path) in str(raised.value)


@pytest.mark.parametrize(("text", "env", "key"), ERRORS)
def test_cli_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: Any, env: dict[str, str], key: str,
) -> None:
    path = make_config(tmp_path, text)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    status, out, err = check(path, capsys)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert key.format(path=path) in err


def test_duplicate_node_error_names_the_node(tmp_path: Path) -> None:
    text = NODE + 'secret = "x"\n' + NODE + 'secret = "y"\n'
    with pytest.raises(ConfigError, match="pbx1"):
        load(tmp_path, text)


# Secrets never shown -----------------------------------------------------------------------

LEAKY = [
    pytest.param(NODE + f'secret = "{SECRET}"\ncolour = "red"\n', {}, id="unknown-node-key"),
    pytest.param(NODE + f'secret = "{SECRET}"\n' + NODE + f'secret = "{SECRET}"\n', {},
                 id="duplicate-nodes"),
    pytest.param(NODE + f'secret = "{SECRET}"\n[web]\nbind = "nowhere"\n', {}, id="bad-bind"),
    pytest.param(NODE + f'secret = ["{SECRET}"]\n', {}, id="secret-not-a-string"),
    pytest.param(NODE + f'secret = "{SECRET}\n', {}, id="unterminated-secret"),
    pytest.param(NODE, {"HOTLINE_ASTERISK_PBX1_SECRET": SECRET,
                        "HOTLINE_ASTERISK_PBX1_PORT": "not-a-port"}, id="env-secret-bad-port"),
    pytest.param("", {"HOTLINE_ASTERISK_PBX9_SECRET": SECRET}, id="env-secret-unknown-node"),
    pytest.param(f'[database]\nurl = "mysql://hotline:{SECRET}@db/hotline"\n', {},
                 id="password-in-bad-database-url"),
    pytest.param(f'[database]\nurl = "postgresql://hotline:{SECRET}@db:port/hotline"\n', {},
                 id="password-in-unparsable-database-url"),
]


@pytest.mark.parametrize(("text", "env"), LEAKY)
def test_errors_do_not_show_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: str, env: dict[str, str],
) -> None:
    path = make_config(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ=env)
    assert SECRET not in str(raised.value)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    status, out, err = check(path, capsys)
    assert status == 2
    assert SECRET not in out + err


def test_config_check_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_password = "Db-Passw0rd-xyz"
    path = make_config(tmp_path, (
        f'[database]\nurl = "postgresql://hotline:{db_password}@db.example/hotline"\n'
        + NODE + f'secret = "{SECRET}"\n'
        + '[[asterisk]]\nname = "pbx2"\nusername = "hotline"\n'
    ))
    monkeypatch.setenv("HOTLINE_ASTERISK_PBX2_SECRET", ENV_SECRET)
    status, out, err = check(path, capsys)
    assert status == 0, err
    for secret in (SECRET, ENV_SECRET, db_password):
        assert secret not in out
    shown = json.loads(out)
    assert [node["name"] for node in shown["asterisk"]] == ["pbx1", "pbx2"]
    assert "db.example" in shown["database"]["url"]
    assert shown["data_dir"] == str(tmp_path.resolve() / "var")
