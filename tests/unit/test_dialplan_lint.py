"""Lint of the Asterisk 22 configuration: asterisk-conf/, dialplans/ and what
`hotline asterisk render` writes.

- Every .conf file parses with pyst2's `asterisk.config`. pyst2 knows neither `#include` nor
  template headers (`[name](!)`, `[name](template)`), which Asterisk's own parser takes: those
  two kinds of line are checked here and handed to pyst2 as a comment and a plain `[name]`;
  everything else goes through pyst2 unchanged. (pyst2 also takes `exten =>`/`same =>` as
  `name = > value`, which is how its own writer spells them.)
- Every context, extension, label, queue, template and sound that the configuration or the
  controller (hotline.asterisk.dialplan) refers to exists.
- Every application, function and module used is one that Asterisk 22.10.1 lists
  (asterisk-conf/reference-22.10.1/, copies of ../shared/asterisk-22/transcripts/).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asterisk.config
import pytest

from hotline.asterisk import dialplan as dp
from hotline.asterisk.render import (
    CONF_FILES,
    SoftphoneSpec,
    lines_from_csv,
    render_defaults,
    write_rendering,
)
from hotline.db.models import Role

from conftest import REPO

ASTERISK_CONF = REPO / "asterisk-conf"
DIALPLANS = REPO / "dialplans"
SHIPPED_RENDERING = ASTERISK_CONF / "hotline-rendered"
LISTINGS = ASTERISK_CONF / "reference-22.10.1"
SHARED_LISTINGS = REPO.parent / "shared" / "asterisk-22" / "transcripts"
LINES_CSV = REPO / "src" / "hotline" / "data" / "lines.csv"
CODE_FOLDERS = ("src", "ivr", "agents", "queue", "recordings")
TESTING = REPO / "src" / "hotline" / "testing"

# Not in module-show.txt, which comes from a build without SIP. The SIP build of the same
# 22.10.1 (../shared/asterisk-22/conf-sip/, pjsip-show-endpoints.txt, ami-sip-queue-call.txt)
# ran PJSIP endpoints, registrations with digest auth and calls with media through exactly
# these modules' features; res_pjsip_endpoint_identifier_ip (the carrier trunk's `identify`)
# was loaded there but not exercised.
PJSIP_MODULES = {
    "res_pjsip.so", "res_pjsip_session.so", "chan_pjsip.so", "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so", "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so", "res_pjsip_sdp_rtp.so",
}
# Variables set outside the dialplan text: by PJSIP (endpoint set_var on a trunk), by
# app_queue / res_agi / Dial, or Asterisk's own.
EXTERNAL_VARIABLES = {"HOTLINE_TRUNK_AREA"}

_TEMPLATE_HEADER = re.compile(r"^\[([^\]\s]+)\]\(([^)]*)\)\s*(;.*)?$")
_DIRECTIVE = re.compile(r'^#(include|tryinclude)\s+"?([^"]+?)"?\s*(;.*)?$')


# Reading files through pyst2 --------------------------------------------------------------------

class _Pyst2(asterisk.config.Config):  # type: ignore[misc]
    """pyst2's parser on lines we give it (its load() opens the file itself)."""

    def __init__(self, filename: Path, lines: list[str]) -> None:
        self._given = lines
        super().__init__(str(filename))

    def load(self) -> None:
        self.raw_lines = self._given


@dataclass
class ConfFile:
    path: Path
    config: asterisk.config.Config
    includes: list[str] = field(default_factory=list)
    templates: dict[str, tuple[bool, list[str]]] = field(default_factory=dict)  # name → (!, uses)
    categories: list[tuple[str, str | None, list[tuple[str, str, int]]]] = field(
        default_factory=list)  # (name, template use or None, [(key, value, line number)])


def read_conf(path: Path) -> ConfFile:
    raw = path.read_text(encoding="utf-8").splitlines(keepends=True)
    given: list[str] = []
    includes: list[str] = []
    headers: dict[int, tuple[str, str]] = {}
    for number, line in enumerate(raw, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            match = _DIRECTIVE.match(stripped)
            assert match, f"{path}:{number}: unknown directive {stripped!r}"
            includes.append(match[2])
            given.append(";" + stripped + "\n")
            continue
        match = _TEMPLATE_HEADER.match(stripped)
        if match:
            assert re.fullmatch(r"!|!?,?[\w-]+(,[\w-]+)*|!(,[\w-]+)+", match[2]), \
                f"{path}:{number}: bad template options ({match[2]})"
            headers[number] = (match[1], match[2])
            given.append(f"[{match[1]}]\n")
            continue
        given.append(line)
    config = _Pyst2(path, given)  # raises asterisk.config.ParseError
    conf = ConfFile(path, config, includes)
    for category in config.categories:
        name, options = headers.get(category.number, (category.name, ""))
        parts = [p for p in options.split(",") if p]
        is_template = "!" in parts
        uses = [p for p in parts if p != "!"]
        if is_template:
            conf.templates[name] = (True, uses)
        items = [(i.name.strip(), i.value.strip(), i.number) for i in category.items]
        conf.categories.append((name, ",".join(uses) or None if not is_template else "!", items))
    return conf


def conf_files() -> list[Path]:
    return sorted([*ASTERISK_CONF.glob("*.conf"), *SHIPPED_RENDERING.glob("*.conf"),
                   *DIALPLANS.glob("*.conf")])


def category_items(conf: ConfFile, name: str) -> list[tuple[str, str, int]]:
    found = [items for cat, _, items in conf.categories if cat == name]
    assert found, f"{conf.path.name}: no [{name}]"
    return [item for items in found for item in items]


# Asterisk 22.10.1's listings ---------------------------------------------------------------

def _listing(name: str) -> str:
    return (LISTINGS / name).read_text(encoding="utf-8")


def applications() -> set[str]:
    names = set()
    for line in _listing("core-show-applications.txt").splitlines():
        if ":" in line and not line.strip().startswith("-="):
            names.add(line.split(":", 1)[0].strip().lower())
    return names


def functions() -> set[str]:
    lines = _listing("core-show-functions.txt").splitlines()
    return {line.split()[0] for line in lines[2:] if line.strip() and line[0].isalpha()
            and not line.endswith("installed.")}


def modules() -> set[str]:
    lines = _listing("module-show.txt").splitlines()
    return {line.split()[0] for line in lines[1:] if line.strip() and "modules loaded" not in line}


def function_known(name: str, known: set[str]) -> bool:
    # `core show functions` cuts names to 20 characters (CALENDAR_QUERY_RESUL).
    return name in known or (len(name) > 20 and name[:20] in known)


# The dialplan as Asterisk would load it ------------------------------------------------------

@dataclass
class Step:
    priority: str  # "1", "n", "hint"
    label: str | None
    app: str
    data: str
    where: str


@dataclass
class Context:
    name: str
    extensions: dict[str, list[Step]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


def split_top(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split at `separator` outside (), [] and {} (as Asterisk's argument parser does)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0 and maxsplit != 0:
            parts.append(text[start:index])
            start = index + 1
            maxsplit -= 1
    parts.append(text[start:])
    return parts


def balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


_PRIORITY = re.compile(r"^(\d+|n|hint)(?:\(([\w-]+)\))?$")


def _app_call(text: str, where: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z]\w*)(?:\((.*)\))?", text, re.S)
    assert match, f"{where}: not an application call: {text!r}"
    assert balanced(text), f"{where}: unbalanced parentheses (a ';' cut the line?): {text!r}"
    return match[1], match[2] or ""


def load_dialplan(rendered: Path) -> dict[str, Context]:
    """extensions.conf and what it includes, with hotline-rendered/ read from `rendered`."""
    contexts: dict[str, Context] = {}

    def resolve(target: str) -> Path:
        if target.startswith("hotline-dialplans/"):
            return DIALPLANS / target.removeprefix("hotline-dialplans/")
        if target.startswith("hotline-rendered/"):
            return rendered / target.removeprefix("hotline-rendered/")
        raise AssertionError(f"include outside the installed layout: {target}")

    def load(path: Path) -> None:
        conf = read_conf(path)
        for name, _, items in conf.categories:
            if name in ("general", "globals"):
                continue
            context = contexts.setdefault(name, Context(name))
            current: str | None = None
            for key, value, number in items:
                where = f"{path.name}:{number} [{name}]"
                if key == "include":
                    context.includes.append(value)
                    continue
                assert key in ("exten", "same"), f"{where}: unexpected {key!r}"
                if key == "exten":
                    current, priority, rest = value.split(",", 2)
                else:
                    assert current is not None, f"{where}: `same` with no extension"
                    priority, rest = value.split(",", 1)
                match = _PRIORITY.match(priority)
                assert match, f"{where}: bad priority {priority!r}"
                if match[1] == "hint":
                    app, data = "", rest
                else:
                    app, data = _app_call(rest, where)
                context.extensions.setdefault(current, []).append(
                    Step(match[1], match[2], app, data, where))
        for target in conf.includes:
            load(resolve(target))

    load(ASTERISK_CONF / "extensions.conf")
    return contexts


def pattern_regex(pattern: str) -> re.Pattern[str]:
    body = pattern[1:].replace("-", "")
    out, index = "", 0
    while index < len(body):
        char = body[index]
        if char == "[":
            end = body.index("]", index)
            out += "[" + body[index + 1:end] + "]"
            index = end + 1
            continue
        out += {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}.get(
            char.upper() if char in "xzn" else char, re.escape(char))
        index += 1
    return re.compile(out)


def find_extension(contexts: dict[str, Context], context: str, exten: str,
                   seen: frozenset[str] = frozenset()) -> list[Step] | None:
    """The steps Asterisk would run for `exten` in `context` (own extensions, then includes)."""
    ctx = contexts.get(context)
    if ctx is None or context in seen:
        return None
    if exten in ctx.extensions:
        return ctx.extensions[exten]
    for name, steps in ctx.extensions.items():
        if name.startswith("_") and pattern_regex(name).fullmatch(exten):
            return steps
    for included in ctx.includes:
        found = find_extension(contexts, included, exten, seen | {context})
        if found is not None:
            return found
    return None


def steps(contexts: dict[str, Context]) -> Iterator[tuple[Context, str, Step]]:
    for context in contexts.values():
        for exten, chain in context.extensions.items():
            for step in chain:
                yield context, exten, step


def all_apps(step: Step) -> Iterator[tuple[str, str]]:
    """The step's application and those nested in ExecIf(cond?App(x):App(y))."""
    if not step.app:
        return
    yield step.app, step.data
    if step.app.lower() == "execif":
        _, branches = split_top(step.data, "?", 1)
        for branch in split_top(branches, ":"):
            if branch:
                yield _app_call(branch, step.where)


def goto_targets(step: Step) -> list[str]:
    app = step.app.lower()
    if app in ("goto", "gosub"):
        # Gosub(ctx,exten,priority(arg1,…)): the arguments are not part of the target
        return [re.sub(r"\(.*\)$", "", step.data) if app == "gosub" else step.data]
    if app in ("gotoif", "gosubif"):
        _, branches = split_top(step.data, "?", 1)
        return [b for b in split_top(branches, ":") if b]
    return []


# Fixtures ---------------------------------------------------------------------------------------

SOFTPHONES = [
    SoftphoneSpec(1, "admin-agent", "张三", Role.AGENT),
    SoftphoneSpec(7, "lisi", 'Li "Si" <x>; y', Role.SUPERVISOR),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendering with softphones, as on a PBX after `hotline asterisk render`."""
    out = tmp_path_factory.mktemp("rendered")
    write_rendering(out, lines_from_csv(), SOFTPHONES)
    return out


@pytest.fixture(scope="module", params=["shipped", "rendered"])
def contexts(request: pytest.FixtureRequest, rendered: Path) -> dict[str, Context]:
    folder = SHIPPED_RENDERING if request.param == "shipped" else rendered
    return load_dialplan(folder)


@pytest.fixture(scope="module")
def main_dialplan() -> dict[str, Context]:
    return load_dialplan(SHIPPED_RENDERING)


# Parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", conf_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_parses_with_pyst2(path: Path) -> None:
    conf = read_conf(path)
    # hotline-agents.conf of a rendering without softphones is comments only
    assert conf.config.categories or path.name == "hotline-agents.conf", f"{path}: no [section]"


def test_rendered_files_parse_with_pyst2(rendered: Path) -> None:
    for name in CONF_FILES:
        assert read_conf(rendered / name).config.categories


def test_includes_follow_the_installed_layout() -> None:
    """Relative #include paths are relative to /etc/asterisk: hotline-dialplans/ (this repo's
    dialplans/) and hotline-rendered/ (the render output); each target exists here."""
    for path in conf_files():
        for target in read_conf(path).includes:
            folder, _, name = target.partition("/")
            local = {"hotline-dialplans": DIALPLANS, "hotline-rendered": SHIPPED_RENDERING}
            assert folder in local, f"{path.name}: #include {target}"
            assert (local[folder] / name).is_file(), f"{path.name}: #include {target}"


def test_shipped_rendering_is_lines_csv(tmp_path: Path) -> None:
    """asterisk-conf/hotline-rendered/ is `hotline asterisk render --defaults` of today's
    lines.csv (regenerate with that command after changing lines.csv)."""
    render_defaults(tmp_path)
    for name in CONF_FILES:
        assert (SHIPPED_RENDERING / name).read_bytes() == (tmp_path / name).read_bytes(), name
    assert sorted(p.name for p in SHIPPED_RENDERING.glob("*.conf")) == sorted(CONF_FILES)
    assert not (SHIPPED_RENDERING / "softphone-secrets.json").exists()


def test_listings_are_the_shared_originals() -> None:
    copies = sorted(LISTINGS.glob("*.txt"))
    assert len(copies) == 4
    if SHARED_LISTINGS.is_dir():
        for copy in copies:
            original = SHARED_LISTINGS / copy.name
            assert hashlib.sha256(copy.read_bytes()).digest() == \
                hashlib.sha256(original.read_bytes()).digest(), copy.name


# What Asterisk 22 has --------------------------------------------------------------------------

def test_applications_exist_in_asterisk_22(contexts: dict[str, Context]) -> None:
    known = applications()
    assert {"agi", "queue", "mixmonitor", "chanspy", "dial"} <= known
    used = {(app, step.where) for _, _, step in steps(contexts) for app, _ in all_apps(step)}
    unknown = sorted(f"{where}: {app}" for app, where in used if app.lower() not in known)
    assert not unknown, unknown


_FUNCTION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\(")


def test_functions_exist_in_asterisk_22(contexts: dict[str, Context]) -> None:
    known = functions()
    assert {"STRFTIME", "CHANNEL", "CALLERID", "QUEUE_EXISTS", "REGEX"} <= known
    unknown = []
    for _, _, step in steps(contexts):
        for app, data in all_apps(step):
            names = _FUNCTION.findall(data)
            if app.lower() == "set":  # Set(CHANNEL(language)=…): a function written to
                match = re.match(r"([A-Z_][A-Z0-9_]*)\(", data)
                names += [match[1]] if match else []
            unknown += [f"{step.where}: {n}" for n in names if not function_known(n, known)]
    assert not unknown, unknown


def test_modules_exist_in_asterisk_22() -> None:
    known = modules()
    conf = read_conf(ASTERISK_CONF / "modules.conf")
    items = category_items(conf, "modules")
    assert ("autoload", "yes") in [(k, v) for k, v, _ in items]
    loaded = [v for k, v, _ in items if k in ("load", "require", "preload", "preload-require")]
    not_loaded = [v for k, v, _ in items if k == "noload"]
    assert set(loaded) - known <= PJSIP_MODULES, set(loaded) - known - PJSIP_MODULES
    assert set(not_loaded) <= known, set(not_loaded) - known
    assert not set(loaded) & set(not_loaded)
    essential = {"res_agi.so", "app_queue.so", "app_mixmonitor.so", "app_chanspy.so",
                 "res_musiconhold.so", "chan_pjsip.so", "res_pjsip.so", "pbx_config.so"}
    assert essential <= set(loaded)


def test_no_queue_option_removed_in_asterisk_22() -> None:
    conf = read_conf(ASTERISK_CONF / "queues.conf")
    keys = {k for _, _, items in conf.categories for k, _, _ in items}
    assert not keys & {"eventwhencalled", "eventmemberstatus", "monitor-type", "member"}


# References --------------------------------------------------------------------------------------

def test_controller_contexts_and_extensions_exist(contexts: dict[str, Context]) -> None:
    missing = [c for c in dp.CONTEXTS if c not in contexts]
    assert not missing, missing
    for context in (dp.CTX_QUEUE, dp.CTX_CALLBACK, dp.CTX_SURVEY, dp.CTX_CALL):
        assert find_extension(contexts, context, dp.START_EXTEN), context
    for mode in dp.SpyMode:
        assert find_extension(contexts, dp.CTX_SPY, mode.value), mode
    for number in dp.EMERGENCY_NUMBERS:
        assert find_extension(contexts, dp.CTX_EMERGENCY, number), number
        assert find_extension(contexts, dp.CTX_AGENTS, number), number
    # Originate Channel: Local/<number>@hotline-outbound reaches a step for real numbers.
    for number in ("13812345678", "087165432100", "02112345678", "6543210"):
        channel = dp.outbound_channel(number)
        exten, context = channel.removeprefix("Local/").split("@")
        assert find_extension(contexts, context, exten), channel


def test_every_goto_include_and_local_channel_resolves(contexts: dict[str, Context]) -> None:
    problems = []
    for context in contexts.values():
        problems += [f"[{context.name}] include => {i}" for i in context.includes
                     if i not in contexts]
    for context, exten, step in steps(contexts):
        targets = goto_targets(step)
        if step.app.lower() == "dial":
            targets += [f"{ctx},{ext},1" for ext, ctx in
                        re.findall(r"Local/([^@,/&]+)@([\w-]+)", step.data)]
        for target in targets:
            problem = _resolve(contexts, context.name, exten, target)
            if problem:
                problems.append(f"{step.where}: {step.app}({target}): {problem}")
    assert not problems, problems


def _resolve(contexts: dict[str, Context], context: str, exten: str, target: str) -> str | None:
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 1:
        parts = [context, exten, *parts]
    elif len(parts) == 2:
        parts = [context, *parts]
    ctx, ext, priority = parts
    if "${" in ctx:
        return "variable context"
    if ctx not in contexts:
        return f"no context {ctx}"
    if "${" in ext:
        return None  # checked where the variable is set (e.g. the emergency number list)
    chain = find_extension(contexts, ctx, ext)
    if chain is None:
        return f"no extension {ext} in {ctx}"
    if priority.isdigit():
        return None if int(priority) <= len(chain) else f"no priority {priority}"
    labels = {s.label for s in chain}
    return None if priority in labels else f"no label {priority} in {ctx},{ext}"


def test_controller_code_names_only_existing_contexts(main_dialplan: dict[str, Context]) -> None:
    """Context names in the Python (Local/…@ctx, Context: ctx) exist in the dialplan. Not
    hotline.testing: its stand-ins replay the lab Asterisk of the transcripts (hotline-ivr,
    agents-sim), not this dialplan."""
    pattern = re.compile(
        r"@(hotline-[\w-]+)|[Cc]ontext[\"']?\s*[:=]\s*[\"'](hotline-[\w-]+)[\"']")
    found = []
    for folder in CODE_FOLDERS:
        for source in (REPO / folder).rglob("*.py"):
            if TESTING in source.parents:
                continue
            for match in pattern.finditer(source.read_text(encoding="utf-8")):
                name = match[1] or match[2]
                if name not in main_dialplan:
                    found.append(f"{source.relative_to(REPO)}: {name}")
    assert not found, found


def test_dispatch_destinations_and_emergency_numbers(main_dialplan: dict[str, Context]) -> None:
    dispatch = main_dialplan[dp.CTX_DISPATCH].extensions["s"]
    text = " ".join(s.data for s in dispatch)
    for destination in (dp.Destination.EMERGENCY, dp.Destination.HANGUP):
        assert f'"{destination.value}"' in text
    allowed = "^(" + "|".join(dp.EMERGENCY_NUMBERS) + ")$"
    assert f'REGEX("{allowed}" ${{{dp.VAR_EMERGENCY}}})' in text
    dial = [s for s in main_dialplan[dp.CTX_EMERGENCY].extensions["dial"] if s.app == "Dial"]
    assert dial and dial[0].data.startswith("PJSIP/") and "@${HOTLINE_TRUNK}" in dial[0].data
    # the caller's number is presented: nothing in the emergency context changes it
    assert not [s for s in main_dialplan[dp.CTX_EMERGENCY].extensions.values()
                for step in s if "CALLERID" in step.data and step.app == "Set"]


def test_agi_is_followed_by_the_fallback(main_dialplan: dict[str, Context]) -> None:
    routes = set()
    for _, _, step in steps(main_dialplan):
        if step.app != "AGI":
            continue
        match = re.fullmatch(r"agi://\$\{HOTLINE_AGI\}/(\w+)\?.*", step.data)
        assert match, f"{step.where}: {step.data}"
        routes.add(match[1])
    assert routes == set(dp.AGI_ROUTES)
    for context in (dp.CTX_CALL, dp.CTX_CALLBACK, dp.CTX_SURVEY):
        for chain in main_dialplan[context].extensions.values():
            apps = [s.app for s in chain]
            if "AGI" in apps:
                after = chain[apps.index("AGI") + 1]
                assert after.app == "GotoIf" and '"${AGISTATUS}" = "SUCCESS"' in after.data


def test_recording_is_named_by_linkedid(main_dialplan: dict[str, Context]) -> None:
    chain = main_dialplan[dp.CTX_RECORD].extensions["s"]
    path = next(s.data for s in chain if s.data.startswith(f"__{dp.VAR_RECORDING}="))
    assert path == (f"__{dp.VAR_RECORDING}=${{{dp.GLOBAL_RECORDINGS}}}/"
                    f"${{STRFTIME(${{EPOCH}},${{{dp.GLOBAL_TIMEZONE}}},%Y/%m/%d)}}/"
                    f"${{{dp.GLOBAL_NODE}}}-${{CHANNEL(linkedid)}}.wav")
    mix = next(s for s in chain if s.app == "MixMonitor")
    assert mix.data == f"${{{dp.VAR_RECORDING}}},b"
    for context in (dp.CTX_CALL, dp.CTX_CALLBACK):
        apps = [s.data for s in main_dialplan[context].extensions["s"] if s.app == "Gosub"]
        assert f"{dp.CTX_RECORD},s,1" in apps


def test_spy_options(main_dialplan: dict[str, Context]) -> None:
    spy = main_dialplan[dp.CTX_SPY].extensions
    options = {mode: next(s.data for s in spy[mode.value] if s.app == "Set").split("=", 1)[1]
               for mode in dp.SpyMode}
    assert all("q" in o for o in options.values())
    assert "w" in options[dp.SpyMode.WHISPER] and "B" not in options[dp.SpyMode.WHISPER]
    assert "B" in options[dp.SpyMode.BARGE] and "w" not in options[dp.SpyMode.BARGE]
    assert not set("wB") & set(options[dp.SpyMode.LISTEN])
    chanspy = next(s for s in spy["spy"] if s.app == "ChanSpy")
    assert chanspy.data.startswith("PJSIP/${HOTLINE_SPY_TARGET}-,")
    assert f'"^{dp.ENDPOINT_PREFIX}[0-9]+$"' in " ".join(s.data for s in spy["spy"])


def test_variables_are_defined_somewhere(main_dialplan: dict[str, Context]) -> None:
    conf = read_conf(ASTERISK_CONF / "extensions.conf")
    globals_ = {k for k, _, _ in category_items(conf, "globals")}
    calls = [call for _, _, s in steps(main_dialplan) for call in all_apps(s)]
    used = {m for _, data in calls for m in re.findall(r"\$\{(HOTLINE_[A-Z_]+)\}", data)}
    assigned = {m[1] for app, data in calls if app.lower() == "set"
                and (m := re.match(r"_{0,2}(HOTLINE_[A-Z_]+)=", data))}
    undefined = used - globals_ - assigned - set(dp.CONTROLLER_VARIABLES) - EXTERNAL_VARIABLES
    assert not undefined, undefined
    unused = set(dp.CONTROLLER_VARIABLES) - used
    assert not unused, unused
    for name in (dp.GLOBAL_NODE, dp.GLOBAL_AGI, dp.GLOBAL_RECORDINGS, dp.GLOBAL_TIMEZONE):
        assert name in globals_


def test_user_events_are_the_documented_ones(main_dialplan: dict[str, Context]) -> None:
    sent = {s.data.split(",", 1)[0] for _, _, s in steps(main_dialplan) if s.app == "UserEvent"}
    assert sent == set(dp.USER_EVENTS)


# Sounds ------------------------------------------------------------------------------------------

_SOUND_APPS = {"playback", "background", "controlplayback"}
_QUEUE_SOUND_KEYS = {"announce", "periodic-announce"}


def referenced_sounds(contexts: dict[str, Context]) -> set[str]:
    sounds = set()
    for _, _, step in steps(contexts):
        for app, data in all_apps(step):
            if app.lower() in _SOUND_APPS:
                sounds.update(data.split(",")[0].split("&"))
    queues = read_conf(ASTERISK_CONF / "queues.conf")
    for _, _, items in queues.categories:
        for key, value, _ in items:
            if key in _QUEUE_SOUND_KEYS or key.startswith("queue-"):
                sounds.update(value.split(","))
    return sounds


def test_every_sound_is_stock_or_ours(main_dialplan: dict[str, Context]) -> None:
    sounds = referenced_sounds(main_dialplan)
    assert sounds
    assert sounds <= dp.STOCK_SOUNDS | set(dp.HOTLINE_SOUNDS), \
        sounds - dp.STOCK_SOUNDS - set(dp.HOTLINE_SOUNDS)
    assert set(dp.HOTLINE_SOUNDS) <= sounds, "HOTLINE_SOUNDS lists a sound nothing plays"
    assert all(name.startswith("hotline/") for name in dp.HOTLINE_SOUNDS)


# Queues, templates, manager ------------------------------------------------------------------

def _queue_sections(path: Path) -> dict[str, str | None]:
    return {name: use for name, use, _ in read_conf(path).categories}


def test_every_line_has_its_queue(rendered: Path) -> None:
    with LINES_CSV.open(encoding="utf-8", newline="") as file:
        queues = {row["queue"] for row in csv.DictReader(file)}
    assert len(queues) == 17
    templates = read_conf(ASTERISK_CONF / "queues.conf").templates
    for folder in (SHIPPED_RENDERING, rendered):
        sections = _queue_sections(folder / "hotline-queues.conf")
        assert set(sections) == queues
        assert {use for use in sections.values()} <= set(templates)
    globals_ = dict((k, v) for k, v, _ in category_items(
        read_conf(ASTERISK_CONF / "extensions.conf"), "globals"))
    assert globals_["HOTLINE_DEFAULT_QUEUE"] in queues
    assert globals_["HOTLINE_DEFAULT_DID"] in {
        d for line in lines_from_csv() for d in line.dids}
    queue_conf = read_conf(ASTERISK_CONF / "queues.conf")
    assert ("servicelevel", "15") in [(k, v) for k, v, _ in category_items(
        queue_conf, "hotline-queue")]


def test_every_did_reaches_its_line(main_dialplan: dict[str, Context]) -> None:
    for line in lines_from_csv():
        for did in line.dids:
            chain = find_extension(main_dialplan, dp.CTX_INBOUND, did)
            assert chain, did
            data = [s.data for s in chain]
            assert f"__{dp.VAR_LINE}={line.code}" in data
            assert f"__{dp.VAR_REGION}={line.region_code}" in data
            assert f"{dp.VAR_QUEUE}={line.queue}" in data
    # other forms of a DID, and numbers no line has, still reach a line
    for number in ("+8687112345", "12345", "0871999999", "s"):
        assert find_extension(main_dialplan, dp.CTX_INBOUND, number), number


def test_pjsip_templates_and_contexts(rendered: Path, main_dialplan: dict[str, Context]) -> None:
    pjsip = read_conf(ASTERISK_CONF / "pjsip.conf")
    agents = read_conf(rendered / "hotline-agents.conf")
    for name, use, _ in agents.categories:
        assert use and set(use.split(",")) <= set(pjsip.templates), name
        assert dp.extension_of_endpoint(name) is not None
    endpoints = [name for name, use, _ in agents.categories
                 if use in ("hotline-agent", "hotline-supervisor")]
    assert endpoints == [p.endpoint for p in SOFTPHONES]
    contexts = [v for _, _, items in pjsip.categories for k, v, _ in items if k == "context"]
    assert contexts and set(contexts) <= set(main_dialplan)
    for phone in SOFTPHONES:
        assert find_extension(load_dialplan(rendered), dp.CTX_AGENTS, phone.extension)
    # display names cannot break out of the quoted callerid
    callerids = [v for _, _, items in agents.categories for k, v, _ in items if k == "callerid"]
    assert callerids == ['"张三" <8001>', '"Li Si x y" <8007>']


def test_manager_user_has_no_system_or_command_rights() -> None:
    conf = read_conf(ASTERISK_CONF / "manager.conf")
    general = dict((k, v) for k, v, _ in category_items(conf, "general"))
    assert general["enabled"] == "yes" and general["bindaddr"] == "127.0.0.1"
    assert general["port"] == "5038"
    user = category_items(conf, "hotline")
    values = dict((k, v) for k, v, _ in user if not k.startswith("eventfilter"))
    for key in ("read", "write"):
        classes = set(values[key].split(","))
        assert not classes & {"system", "command", "all", "config"}, (key, classes)
    assert {"call", "agent", "originate"} <= set(values["write"].split(","))
    assert values["secret"] == "CHANGE-ME"  # the operator sets it (README)
    acl = [(k, v) for k, v, _ in user if k in ("deny", "permit")]
    assert acl == [("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.255")]
    filters = [k for k, _, _ in user if k.startswith("eventfilter")]
    assert filters and all(re.fullmatch(r"eventfilter\(action\(exclude\),name\(\w+\)\)", f)
                           for f in filters)
    assert "eventfilter(action(exclude),name(VarSet))" in filters
