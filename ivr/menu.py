"""The one-level voice menu as data (`data/menu.toml`): which key does what, where it queues.

`Menu.load()` validates the file once; a bad file is a `MenuError` naming the key, raised when
the FastAGI server starts, not in the middle of a call.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DEFAULT_MENU = Path(__file__).with_name("data") / "menu.toml"
KEYS = "0123456789*#"  # every key ends a prompt: an unknown one counts as invalid input
Action = Literal["agent", "progress"]


class MenuError(ValueError):
    """The menu data is unusable; the message says where."""


@dataclass(frozen=True)
class Route:
    """Where a choice sends the caller."""

    choice: str  # stored as calls.ivr_choice
    action: Action = "agent"
    category: str = ""
    priority: int = 0
    max_penalty: int | None = None


@dataclass(frozen=True)
class Menu:
    options: dict[str, Route]
    agent: Route

    @property
    def digits(self) -> str:
        return "".join(self.options)

    def route(self, digit: str | None) -> Route | None:
        """The route of a key; None for a key the menu does not have."""
        return self.options.get(digit) if digit else None

    @classmethod
    def load(cls, path: Path | None = None) -> Menu:
        path = path or DEFAULT_MENU
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise MenuError(f"{path}: cannot read the menu: {exc}") from None
        unknown = set(data) - {"agent", "option"}
        if unknown:
            raise MenuError(f"{path}: unknown table(s): {', '.join(sorted(unknown))}")
        agent = _route(data.get("agent", {}), f"{path}: agent", default_choice="agent")
        options: dict[str, Route] = {}
        for index, item in enumerate(data.get("option", [])):
            where = f"{path}: option[{index}]"
            if not isinstance(item, dict):
                raise MenuError(f"{where}: must be a table")
            digit = item.get("digit")
            if not isinstance(digit, str) or len(digit) != 1 or digit not in KEYS:
                raise MenuError(f"{where}.digit: one of {KEYS}")
            if digit in options:
                raise MenuError(f"{where}.digit: {digit} is used twice")
            options[digit] = _route({k: v for k, v in item.items() if k != "digit"}, where)
        return cls(options, agent)


def _route(item: Any, where: str, default_choice: str | None = None) -> Route:
    if not isinstance(item, dict):
        raise MenuError(f"{where}: must be a table")
    unknown = set(item) - {"choice", "action", "category", "priority", "max_penalty"}
    if unknown:
        raise MenuError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    choice = item.get("choice", default_choice)
    if not isinstance(choice, str) or not 0 < len(choice) <= 16:
        raise MenuError(f"{where}.choice: a name of 1-16 characters")
    action = item.get("action", "agent")
    if action not in ("agent", "progress"):
        raise MenuError(f"{where}.action: 'agent' or 'progress'")
    category = item.get("category", "")
    if not isinstance(category, str) or len(category) > 64:
        raise MenuError(f"{where}.category: text of at most 64 characters")
    priority = item.get("priority", 0)
    penalty = item.get("max_penalty")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 1000:
        raise MenuError(f"{where}.priority: an integer 0-1000")
    if penalty is not None and (not isinstance(penalty, int) or isinstance(penalty, bool)
                                or not 0 <= penalty <= 1000):
        raise MenuError(f"{where}.max_penalty: an integer 0-1000")
    return Route(choice, action, category, priority, penalty)


@functools.cache
def default_menu() -> Menu:
    return Menu.load()
