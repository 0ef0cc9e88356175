"""The `[tickets]` configuration section: defaults, the file, the environment, clear errors;
and the workflow options built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, load_settings
from hotline.tickets.services import Options


def settings_from(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=env)


def test_defaults(tmp_path):
    tickets = settings_from(tmp_path, "").tickets
    assert tickets.reopen_on_dissatisfied is True
    assert tickets.deadline_days["咨询"] == 1 and tickets.deadline_days["建议"] == 10
    assert tickets.sign_within_days == 1


def test_file_and_environment(tmp_path):
    settings = settings_from(
        tmp_path, '[tickets]\ndefault_deadline_days = 7\n[tickets.deadline_days]\n"投诉" = 3\n',
        HOTLINE_TICKETS_REOPEN_ON_DISSATISFIED="false")
    options = Options.from_settings(settings)
    assert options.reopen_on_dissatisfied is False
    assert (options.days_for("投诉"), options.days_for("咨询"), options.days_for("其他")) == \
        (3, 1, 7)  # a file's table changes the categories it names
    assert str(options.zone) == "Asia/Shanghai"


@pytest.mark.parametrize(("text", "message"), [
    ("[tickets]\nreopen_on_dissatisfied = \"maybe\"\n", "tickets.reopen_on_dissatisfied"),
    ('[tickets.deadline_days]\n"投诉" = 0\n', "投诉: working days must be 1-90"),
    ("[tickets]\nsign_within = 1\n", "tickets.sign_within: unknown key"),
])
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        settings_from(tmp_path, text)
