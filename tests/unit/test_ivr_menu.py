"""The voice menu as data (ivr/data/menu.toml, ivr/menu.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.ivr.menu import Menu, MenuError, default_menu
from hotline.ivr.prompts import default_prompts


def test_the_shipped_menu() -> None:
    menu = default_menu()
    assert menu.digits == "1230"
    assert (menu.route("1").choice, menu.route("1").category) == ("policy", "政策咨询")
    assert (menu.route("2").choice, menu.route("2").category) == ("complaint", "求助投诉")
    assert menu.route("3").action == "progress"
    assert menu.route("0").choice == "agent" and menu.agent.choice == "agent"
    assert menu.route("9") is None and menu.route(None) is None
    # the menu prompt names every key the data has (its text is in prompts-zh.toml)
    text = default_prompts().text("menu")
    for spoken in ("按一", "按二", "按三", "按零"):
        assert spoken in text


@pytest.mark.parametrize(("text", "where"), [
    ('[[option]]\ndigit = "12"\n', "option[0].digit"),
    ('[[option]]\ndigit = "1"\nchoice = "a"\n[[option]]\ndigit = "1"\n', "option[1].digit"),
    ('[[option]]\ndigit = "1"\n', "option[0].choice"),
    ('[[option]]\ndigit = "1"\nchoice = "a"\naction = "dance"\n', "option[0].action"),
    ('[[option]]\ndigit = "1"\nchoice = "a"\npriority = -1\n', "option[0].priority"),
    ('[[option]]\ndigit = "1"\nchoice = "a"\nmax_penalty = "low"\n', "option[0].max_penalty"),
    ('[[option]]\ndigit = "1"\ncolour = "red"\n', "option[0]: unknown key"),
    ('[agent]\nchoice = ""\n', "agent.choice"),
    ('[extra]\n', "unknown table"),
    ('not toml', "cannot read"),
])
def test_bad_menus_are_refused_with_the_place(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "menu.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MenuError, match=where.replace("[", r"\[").replace("]", r"\]")):
        Menu.load(path)


def test_a_skill_bound(tmp_path: Path) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[option]]\ndigit = "2"\nchoice = "complaint"\nmax_penalty = 1\n'
                    'priority = 5\n', encoding="utf-8")
    route = Menu.load(path).route("2")
    assert (route.priority, route.max_penalty, route.action) == (5, 1, "agent")
