"""Prompts as data (hotline.ivr.prompts): the shipped TOML, its validation, greetings per line and
numbers spoken in Mandarin."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.asterisk.dialplan import HOTLINE_SOUNDS
from hotline.db.models import TicketStatus
from hotline.ivr import prompts
from hotline.ivr.prompts import (
    PromptError,
    Prompts,
    default_prompts,
    greeting_for,
    say_number_sounds,
    sound_name,
    ticket_status_sound,
)

SHIPPED = prompts.DEFAULT_PROMPTS.read_text(encoding="utf-8")


def spoken(sounds: list[str]) -> str:
    """The Mandarin the sounds say, from the shipped text."""
    texts = default_prompts().texts
    return "".join(texts[s.removeprefix("hotline/")] for s in sounds)


@pytest.mark.parametrize(("value", "mandarin"), [
    (0, "零"), (7, "七"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九"),
    (100, "一百"), (105, "一百零五"), (110, "一百一十"), (200, "两百"), (1012, "一千零一十二"),
    (2000, "两千"), (3050, "三千零五十"), (10000, "一万"), (10010, "一万零一十"),
    (12345, "一万两千三百四十五"), (20000, "两万"), (100000, "十万"), (1000500, "一百万零五百"),
])
def test_quantities_are_read_as_mandarin_numerals(value: int, mandarin: str) -> None:
    assert spoken(say_number_sounds(value)) == mandarin


def test_ticket_numbers_are_read_digit_by_digit() -> None:
    sounds = say_number_sounds("5301-20261125-0007")
    assert sounds[:4] == ["hotline/digits/5", "hotline/digits/3", "hotline/digits/0",
                          "hotline/digits/1"]
    assert spoken(sounds) == "五三零一二零二六一一二五零零零七"
    assert spoken(say_number_sounds("12")) == "一二"  # a string is an identifier, not 十二


@pytest.mark.parametrize("bad", ["", "-", "12a4", "１２", -1, 100_000_000, 1.5, True])
def test_what_cannot_be_spoken_is_refused(bad: object) -> None:
    with pytest.raises(PromptError):
        say_number_sounds(bad)  # type: ignore[arg-type]


def test_greetings_per_line() -> None:
    assert greeting_for("96128") == ["hotline/welcome-96128"]
    assert greeting_for("12345-5301") == ["hotline/welcome-12345-5301"]
    assert "昆明" in default_prompts().text("welcome-12345-5301")
    assert "大理" in default_prompts().text("welcome-12345-5329")
    # A line the shipped data does not know gets the generic 12345 greeting.
    assert greeting_for("12345-9999") == ["hotline/welcome-12345"]


def test_every_ticket_status_and_dialplan_sound_has_a_prompt() -> None:
    for status in TicketStatus:
        assert ticket_status_sound(status) == f"hotline/ticket-status-{status.value}"
    for sound, text in HOTLINE_SOUNDS.items():
        name = sound.removeprefix("hotline/")
        assert sound_name(name) == sound
        assert default_prompts().text(name) == text  # the dialplan's list says the same


def test_unknown_names_are_refused() -> None:
    assert sound_name("menu") == "hotline/menu"
    with pytest.raises(PromptError, match="no prompt named 'menux'"):
        sound_name("menux")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prompts.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace('menu = "政策', 'menu = "  "\nmenu-old = "政策'),
     "prompts.menu: the text must be"),
    (lambda t: t + '\n[voices]\nx = "y"\n', "unknown table"),
    (lambda t: t.replace('goodbye = "感谢您的来电，再见。"\n', ""), "missing prompt.*goodbye"),
    (lambda t: t.replace('"digits/7" = "七"\n', ""), "missing prompt.*digits/7"),
    (lambda t: t.replace("ticket-status-merged", "ticket-status-merge"),
     "missing prompt.*ticket-status-merged"),
    (lambda t: t.replace('template = "您好，欢迎致电{region}', 'template = "您好，欢迎致电'),
     "template must be a string with {region}"),
    (lambda t: t.replace("{region}", "{region}{line}"), "only {region} may be filled"),
    (lambda t: t.replace("\n[line-greeting]\n", '\n[line-greeting]\nvoice = "x"\n'),
     "takes only `template`"),
    (lambda t: t.replace('invalid = "', 'Invalid = "', 1), "prompts.Invalid: a name is"),
    (lambda t: t.replace('invalid = "对不起，您的输入有误。"', "invalid = 3"),
     "prompts.invalid: the text must be"),
    (lambda t: t + "\n[prompts.extra]\n", "prompts.extra: .*a prompt is a string"),
    (lambda t: t.replace("[prompts]", "[prompts]\n[prompts.sub]\nx = 'y'\n[prompts2]"),
     "unknown table"),
    (lambda t: "this is = not toml =", "not valid TOML"),
])
def test_bad_prompt_files_are_refused_with_the_reason(tmp_path: Path, change, message) -> None:
    path = write(tmp_path, change(SHIPPED))
    with pytest.raises(PromptError, match=message):
        Prompts.load(path)


def test_empty_text_and_a_table_as_prompt_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"prompts\.goodbye: the text must be a non-empty"):
        Prompts.load(write(tmp_path, SHIPPED.replace('goodbye = "感谢您的来电，再见。"',
                                                     'goodbye = "   "')))
    with pytest.raises(PromptError, match="a prompt is a string"):
        Prompts.load(write(tmp_path, SHIPPED.replace(
            '"digits/0" = "零"', 'digits = { "0" = "零" }\n"digits/0" = "零"')))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="cannot read the prompts"):
        Prompts.load(tmp_path / "none.toml")


def test_a_hand_written_line_greeting_wins_over_the_template(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED.replace(
        "[prompts]\n", '[prompts]\n"welcome-12345-5301" = "春城昆明一二三四五欢迎您。"\n', 1))
    loaded = Prompts.load(path)
    assert loaded.text("welcome-12345-5301") == "春城昆明一二三四五欢迎您。"
    assert "大理" in loaded.text("welcome-12345-5329")
