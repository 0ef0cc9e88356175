"""The IVR's prompts as data: names, Mandarin text, and how numbers are spoken.

`data/prompts-zh.toml` holds the text of every prompt under a stable name. A prompt called
`menu` is played as the sound `hotline/menu` (`sound_name`), which Asterisk finds at
`<sounds dir>/zh/hotline/menu.wav` for a channel whose language is `zh`. The files are made by
`hotline prompts build` (`hotline.ivr.prompt_build`); operators may replace any of them with a
studio recording of the same name.

What the call flows use:
- `sound_name(name)`: `"menu"` → `"hotline/menu"` (refuses a name the data lacks);
- `greeting_for(line_code)`: the greeting's sounds for a line (96128, 12345-5301, …);
- `say_number_sounds(value)`: the sounds that speak a ticket number digit by digit
  (`"5301-20261125-0007"`) or a quantity as a Mandarin numeral (`12` → 十二, `205` → 二百零五);
- `ticket_status_sound(status)`: the sound that says a `TicketStatus`.

`build(out_dir)` makes the files (`hotline.ivr.prompt_build`: espeak-ng voice `cmn`, then sox to
8 kHz mono 16-bit PCM), leaving alone any file an operator replaced.
"""

from __future__ import annotations

import csv
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PROMPTS", "PromptError", "Prompts", "build",
    "default_prompts", "greeting_for", "say_number_sounds", "sound_name", "ticket_status_sound",
]

DEFAULT_PROMPTS = Path(__file__).with_name("data") / "prompts-zh.toml"
SOUND_PREFIX = "hotline/"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*(?:[-/][a-z0-9_]+)*$")
_TOP_KEYS = frozenset({"prompts", "line-greeting"})
_GREETING_KEYS = frozenset({"template"})
# Every prompt the flows rely on; the data must define them (digits are checked separately).
REQUIRED = frozenset({
    "welcome-96128", "welcome-12345", "notice", "menu", "say-matter", "invalid",
    "transfer-agent", "emergency-transfer-110", "emergency-transfer-119",
    "emergency-transfer-120", "emergency-transfer-122", "ticket-ask-number", "ticket-not-found",
    "ticket-number-is", "ticket-status-is", "out-of-hours", "message-saved", "goodbye",
    "survey-intro", "survey-satisfaction", "survey-solved", "survey-thanks",
    "virtual-hold-offer", "virtual-hold-confirmed",
})
DIGITS = tuple(f"digits/{d}" for d in "0123456789")
UNITS = {10: "digits/10", 100: "digits/100", 1000: "digits/1000", 10000: "digits/10000"}
TWO_BEFORE_UNIT = "digits/liang"  # 两 before 百/千/万: 两百, 两千, 两万


class PromptError(ValueError):
    """The prompt data is unusable, or a name or number cannot be spoken; says what and where."""


@dataclass(frozen=True)
class Prompts:
    """Prompt name → Mandarin text, including one greeting per 12345 line."""

    texts: Mapping[str, str]
    source: str = ""

    @classmethod
    def load(cls, path: Path | None = None, lines_csv: Path | None = None) -> Prompts:
        path = path or DEFAULT_PROMPTS
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
        except OSError as exc:
            raise PromptError(f"{path}: cannot read the prompts: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PromptError(f"{path}: not valid TOML: {exc}") from None
        if lines_csv is None:
            from hotline.db.reference import DATA

            lines_csv = DATA / "lines.csv"
        return cls(_validate(data, str(path), lines_csv), str(path))

    def __contains__(self, name: object) -> bool:
        return name in self.texts

    def text(self, name: str) -> str:
        try:
            return self.texts[name]
        except KeyError:
            raise PromptError(f"no prompt named {name!r} in {self.source}") from None

    def sound(self, name: str) -> str:
        if name not in self.texts:
            raise PromptError(f"no prompt named {name!r} in {self.source}")
        return SOUND_PREFIX + name

    def greeting(self, line_code: str) -> list[str]:
        if line_code == "96128":
            return [self.sound("welcome-96128")]
        own = f"welcome-{line_code}"
        if line_code.startswith("12345") and own in self.texts:
            return [self.sound(own)]
        # A line added after the build (or an unknown code): the generic 12345 greeting.
        return [self.sound("welcome-12345")]


def _validate(data: dict[str, Any], where: str, lines_csv: Path) -> dict[str, str]:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PromptError(f"{where}: unknown table(s) {', '.join(sorted(unknown))} "
                          f"(expected [prompts] and [line-greeting])")
    table = data.get("prompts")
    if not isinstance(table, dict) or not table:
        raise PromptError(f"{where}: a non-empty [prompts] table is required")
    texts: dict[str, str] = {}
    for name, text in table.items():
        key = f"{where}: prompts.{name}"
        if not _NAME.match(name):
            raise PromptError(f"{key}: a name is lower-case letters, digits, '-', '_' and '/'")
        if isinstance(text, dict):
            raise PromptError(f"{key}: unknown table; a prompt is a string (quote names with "
                              f"'/': \"digits/0\" = …)")
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"{key}: the text must be a non-empty string")
        texts[name] = text.strip()
    missing = (REQUIRED | set(DIGITS) | set(UNITS.values()) | {TWO_BEFORE_UNIT}) - set(texts)
    missing |= {f"ticket-status-{s}" for s in _ticket_statuses()} - set(texts)
    if missing:
        raise PromptError(f"{where}: missing prompt(s): {', '.join(sorted(missing))}")
    texts.update(_line_greetings(data.get("line-greeting"), where, lines_csv, texts))
    return texts


def _line_greetings(table: Any, where: str, lines_csv: Path,
                    texts: Mapping[str, str]) -> dict[str, str]:
    if table is None:
        return {}
    if not isinstance(table, dict) or set(table) - _GREETING_KEYS:
        extra = sorted(set(table) - _GREETING_KEYS) if isinstance(table, dict) else []
        raise PromptError(f"{where}: [line-greeting] takes only `template` "
                          f"(unknown: {', '.join(extra) or 'not a table'})")
    template = table.get("template")
    if not isinstance(template, str) or "{region}" not in template:
        raise PromptError(f"{where}: line-greeting.template must be a string with {{region}}")
    try:
        template.format(region="")
    except (KeyError, IndexError, ValueError) as exc:
        raise PromptError(f"{where}: line-greeting.template: only {{region}} may be "
                          f"filled ({exc})") from None
    greetings = {}
    for code, region in _twelve_three_lines(lines_csv).items():
        name = f"welcome-{code}"
        if name in texts:  # a hand-written greeting for this line wins over the template
            continue
        greetings[name] = template.format(region=region).strip()
    return greetings


@functools.cache
def _twelve_three_lines(lines_csv: Path) -> dict[str, str]:
    """12345 line code → spoken region name (short name of the line's region: 昆明, 大理…)."""
    regions_csv = lines_csv.with_name("regions.csv")
    with regions_csv.open(encoding="utf-8", newline="") as file:
        short = {row["code"]: row["short_name"] for row in csv.DictReader(file)}
    with lines_csv.open(encoding="utf-8", newline="") as file:
        return {row["code"]: short.get(row["region_code"], "")
                for row in csv.DictReader(file) if row["service_number"] == "12345"}


def _ticket_statuses() -> list[str]:
    from hotline.db.models import TicketStatus

    return [status.value for status in TicketStatus]


@functools.cache
def default_prompts() -> Prompts:
    """The shipped Mandarin prompts, loaded and validated once per process."""
    return Prompts.load()


def sound_name(name: str) -> str:
    """The sound Asterisk plays for a prompt: `"menu"` → `"hotline/menu"`."""
    return default_prompts().sound(name)


def greeting_for(line_code: str) -> list[str]:
    """The greeting's sounds for a line: 96128, 12345-<prefecture>, or the generic 12345 one."""
    return default_prompts().greeting(line_code)


def ticket_status_sound(status: str) -> str:
    """The sound saying a ticket's status (a `TicketStatus` or its value)."""
    return default_prompts().sound(f"ticket-status-{getattr(status, 'value', status)}")


def say_number_sounds(value: int | str) -> list[str]:
    """The sounds that speak a number.

    An `int` is a quantity (minutes, a queue position) read as a Mandarin numeral: 12 → 十二,
    20 → 二十, 105 → 一百零五, 2000 → 两千, 10010 → 一万零一十. A `str` is an identifier (a ticket
    number such as 5301-20261125-0007, digits typed by the caller) read digit by digit; anything
    but digits in it (dashes, spaces) is skipped.
    """
    if isinstance(value, bool):
        raise PromptError("a number to speak is an int or a string of digits, not a bool")
    if isinstance(value, str):
        digits = [c for c in value if c.isascii() and c.isdigit()]
        if not digits or any(not (c.isdigit() or c in "- ") for c in value):
            raise PromptError(f"{value!r} is not a number to read digit by digit")
        return [SOUND_PREFIX + DIGITS[int(c)] for c in digits]
    if not isinstance(value, int):
        raise PromptError(f"{value!r} is not a number to speak")
    if not 0 <= value < 100_000_000:
        raise PromptError(f"{value} is outside 0..99999999, which the prompts can say")
    return [SOUND_PREFIX + name for name in _numeral(value)]


def _numeral(value: int) -> list[str]:
    if value == 0:
        return [DIGITS[0]]
    high, low = divmod(value, 10000)
    if not high:
        return _below_10000(low, leading=True)
    words = [TWO_BEFORE_UNIT] if high == 2 else _below_10000(high, leading=True)
    words.append(UNITS[10000])
    if low:
        # 一万零五百: a zero is said when the lower group does not fill its thousands.
        if low < 1000:
            words.append(DIGITS[0])
        words += _below_10000(low, leading=False)
    return words


def _below_10000(value: int, *, leading: bool) -> list[str]:
    """1..9999 as a numeral. `leading`: it starts the number (十二, not 一十二; 两千 not 二千)."""
    words: list[str] = []
    pending_zero = False
    for unit in (1000, 100, 10, 1):
        digit = (value // unit) % 10
        if digit == 0:
            pending_zero = bool(words)
            continue
        if pending_zero:
            words.append(DIGITS[0])
            pending_zero = False
        if unit == 1:
            words.append(DIGITS[digit])
        elif unit == 10 and digit == 1 and leading and not words:
            words.append(UNITS[10])  # 十二, not 一十二 (but 一百一十)
        elif digit == 2 and unit >= 100:
            words += [TWO_BEFORE_UNIT, UNITS[unit]]  # 两百, 两千
        else:
            words += [DIGITS[digit], UNITS[unit]]
    return words



async def build(out_dir: Path, only: Iterable[str] | None = None, **options: Any) -> Any:
    """Make the sound files: see `hotline.ivr.prompt_build.build` (returns its `BuildReport`)."""
    from hotline.ivr import prompt_build

    return await prompt_build.build(out_dir, only, **options)
