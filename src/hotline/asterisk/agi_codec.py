"""Sans-IO codec for the server side of (Fast)AGI: feed the bytes Asterisk sends, get events;
encode commands to bytes. No sockets, no asyncio, bounded buffers.

What Asterisk 22.10.1 really sends (../shared/asterisk-22/transcripts/agi-session-*.jsonl,
README facts 2-5):
- an environment block of `agi_key: value` lines (LF only), `agi_accountcode: ` may be empty,
  `agi_arg_N` after `agi_threadid`, ended by an empty line;
- one reply line per command: `200 result=N`, `200 result=1 (data)`, `200 result= (timeout)`,
  `200 result=50 endpos=9760`, `200 result=0 (timeout) endpos=0`, `510 Invalid or unknown
  command`, `511 Command Not Permitted on a dead channel or intercept routine`;
- a multi-line usage block for bad syntax: `520-Invalid command syntax.  Proper usage
  follows:` … `520 End of proper usage.`;
- an unprompted `HANGUP` line when the caller hangs up (after the pending command's
  `200 result=-1`), and again when the server half-closes; it can come before a reply, between
  replies, or twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

ENVIRONMENT_LIMIT = 16 * 1024  # bytes of environment block
LINE_LIMIT = 16 * 1024  # bytes of one reply line (long variable values, usage text)
USAGE_LIMIT = 64  # lines of one 520 usage block


class AgiProtocolError(Exception):
    """The peer broke the protocol; the session cannot go on."""


# Events ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Environment:
    """The `agi_*` block. `script` is agi_network_script without its query string."""

    variables: dict[str, str]
    args: tuple[str, ...] = ()

    def get(self, key: str, default: str = "") -> str:
        return self.variables.get(key if key.startswith("agi_") else f"agi_{key}", default)

    @property
    def script(self) -> str:
        return self.get("network_script").partition("?")[0].strip("/")

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.get("network_script").partition("?")[2]))

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def caller_number(self) -> str:
        number = self.get("callerid")
        return "" if number == "unknown" else number


@dataclass(frozen=True, slots=True)
class Reply:
    """A final reply to the pending command."""

    code: int
    result: str | None = None  # 200: the text after `result=` (may be empty: GET DATA timeout)
    data: str | None = None  # 200: the text in parentheses
    endpos: int | None = None  # 200: STREAM FILE / RECORD FILE position
    text: str = ""  # 5xx: the message; 520: the usage lines joined by LF

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def int_result(self) -> int:
        try:
            return int(self.result or "")
        except ValueError:
            return 0


@dataclass(frozen=True, slots=True)
class Provisional:
    """`100 …`: the command runs, its final reply follows."""

    text: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """The unprompted `HANGUP` line."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    """EOF at a clean boundary."""


Event = Environment | Reply | Provisional | Hangup | ProtocolError | Closed

_REPLY_200 = re.compile(
    r"^200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?\d+))?\s*$"
)
_ENV_LINE = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$")
_ENV_BLOCK = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$", re.MULTILINE)
# Replies repeat (`200 result=0`, `200 result=1`…): parsed once, shared (Reply is frozen).
_REPLY_CACHE: dict[bytes, Reply | Provisional] = {}
_CACHED_LINE = 64  # bytes: longer lines carry call data (variable values) and are not kept
_CACHE_SIZE = 512


def _environment(env: dict[str, str]) -> Environment:
    args = tuple(env[k] for k in sorted(
        (k for k in env if k.startswith("agi_arg_") and k[8:].isdigit()),
        key=lambda k: int(k[8:])))
    return Environment(env, args)


def parse_reply_line(line: str) -> Reply | Provisional:
    """One complete (non-usage-block) reply line."""
    if line.startswith("200"):
        match = _REPLY_200.match(line)
        if match is None:
            raise AgiProtocolError(f"malformed 200 reply: {line[:80]!r}")
        endpos = match["endpos"]
        return Reply(200, match["result"], match["data"], int(endpos) if endpos else None)
    code, _, text = line.partition(" ")
    if not (len(code) == 3 and code.isdigit()):
        raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")
    if code == "100":
        return Provisional(text)
    return Reply(int(code), text=text)


@dataclass
class AgiServerCodec:
    """The FastAGI server's view of one session. Feed bytes in, get events out."""

    environment_limit: int = ENVIRONMENT_LIMIT
    line_limit: int = LINE_LIMIT
    _buffer: bytearray = field(default_factory=bytearray)
    _env: dict[str, str] | None = field(default_factory=dict)  # None once the block is done
    _env_bytes: int = 0
    _usage: list[str] | None = None
    failed: bool = False
    hung_up: bool = False

    @property
    def environment_done(self) -> bool:
        return self._env is None

    @classmethod
    def after_environment(cls) -> AgiServerCodec:
        """A codec for replies only (the environment was read by someone else: classic AGI)."""
        codec = cls()
        codec._env = None
        return codec

    def feed(self, data: bytes) -> list[Event]:
        """Only an incomplete last line is kept between calls, and never more than the limit."""
        if self.failed:
            return []
        if self._buffer:
            data = bytes(self._buffer) + data
            self._buffer.clear()
        events: list[Event] = []
        start = 0
        if self._env is not None and not self._env_bytes:
            start = self._whole_environment(data, events)
        while (end := data.find(b"\n", start)) >= 0:
            event = self._line(data[start:end])
            start = end + 1
            if event is not None:
                events.append(event)
                if isinstance(event, ProtocolError):
                    self.failed = True
                    return events
        limit = self.environment_limit if self._env is not None else self.line_limit
        if len(data) - start > limit:
            self.failed = True
            events.append(ProtocolError(f"line longer than {limit} bytes"))
        else:
            self._buffer += data[start:]
        return events

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def eof(self) -> list[Event]:
        if self.failed:
            return []
        self.failed = True
        if self._buffer or self._usage is not None:
            return [ProtocolError("connection closed in the middle of a line")]
        if self._env is not None:
            return [ProtocolError("connection closed before the end of the AGI environment")]
        return [Closed()]

    def _whole_environment(self, data: bytes, events: list[Event]) -> int:
        """Fast path: a whole, well-formed environment block at the start of `data` (how
        Asterisk sends it) is parsed with one regex call. Returns where the block ended (0 when
        it is incomplete or anything looks unusual: the line-by-line path then decides)."""
        end = data.find(b"\n\n")
        if end <= 0 or end + 2 > self.environment_limit or b"\r" in data[:end]:
            return 0
        text = data[:end].decode("utf-8", "replace")
        pairs = _ENV_BLOCK.findall(text)
        if len(pairs) != text.count("\n") + 1:
            return 0
        env = dict(pairs)
        self._env, self._env_bytes = None, end + 2
        events.append(_environment(env))
        return end + 2

    def _line(self, raw: bytes) -> Event | None:
        if len(raw) > self.line_limit:
            return ProtocolError(f"line longer than {self.line_limit} bytes")
        cached = _REPLY_CACHE.get(raw)
        if cached is not None and self._env is None and self._usage is None:
            return cached
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if self._env is not None:
            return self._environment_line(text, len(raw) + 1)
        if self._usage is not None:
            return self._usage_line(text)
        if text == "HANGUP":
            self.hung_up = True
            return Hangup()
        if text.startswith("520-"):
            self._usage = [text[4:]]
            return None
        if not text:
            return None  # tolerate a stray empty line between replies
        try:
            reply = parse_reply_line(text)
        except AgiProtocolError as exc:
            return ProtocolError(str(exc))
        if len(raw) <= _CACHED_LINE:
            if len(_REPLY_CACHE) >= _CACHE_SIZE:
                _REPLY_CACHE.clear()  # crude, but bounded and it keeps the common lines coming
            _REPLY_CACHE[raw] = reply  # frozen, so safe to share between sessions
        return reply

    def _environment_line(self, text: str, size: int) -> Event | None:
        assert self._env is not None
        self._env_bytes += size
        if self._env_bytes > self.environment_limit:
            return ProtocolError(f"AGI environment larger than {self.environment_limit} bytes")
        if text == "":
            if not self._env:
                return ProtocolError("empty AGI environment")
            env, self._env = self._env, None
            return _environment(env)
        match = _ENV_LINE.match(text)
        if match is None:
            return ProtocolError(f"not an AGI environment line: {text[:80]!r}")
        self._env[match[1]] = match[2]
        return None

    def _usage_line(self, text: str) -> Event | None:
        assert self._usage is not None
        if text.startswith("520 "):
            usage, self._usage = self._usage, None
            return Reply(520, text="\n".join(usage))
        if len(self._usage) >= USAGE_LIMIT:
            return ProtocolError(f"520 usage block longer than {USAGE_LIMIT} lines")
        self._usage.append(text)
        return None


# Commands ----------------------------------------------------------------------------------

class Quoted(str):
    """An argument always sent in double quotes (escape digits, VERBOSE text…), as Asterisk's
    own examples and pyst2 do."""

    __slots__ = ()


_PLAIN = re.compile(r'^[^\s"\\]+$')


def quote_argument(argument: str) -> str:
    """res_agi's parse_args splits on white space; double quotes group and a backslash escapes
    the next character. Newlines cannot be sent at all (they end the command)."""
    if "\n" in argument or "\r" in argument:
        raise ValueError("an AGI argument cannot contain a line break")
    if not isinstance(argument, Quoted) and _PLAIN.match(argument):
        return argument
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def encode_command(verb: str, arguments: Iterable[str | int] = ()) -> bytes:
    """`verb` is the command words (`"GET VARIABLE"`), sent as they are. Flows send the same
    short commands over and over (prompts, queue variables): those are encoded once."""
    arguments = tuple(arguments)
    key = (verb, arguments, tuple(map(type, arguments)))  # Quoted("x") == "x", encoded apart
    encoded = _ENCODED.get(key)
    if encoded is not None:
        return encoded
    if "\n" in verb or "\r" in verb:
        raise ValueError("an AGI command cannot contain a line break")
    parts = [verb]
    for argument in arguments:
        parts.append(quote_argument(argument if isinstance(argument, str) else str(argument)))
    encoded = (" ".join(parts) + "\n").encode()
    if len(encoded) <= _CACHED_LINE:
        if len(_ENCODED) >= _CACHE_SIZE:
            _ENCODED.clear()
        _ENCODED[key] = encoded
    return encoded


_ENCODED: dict[tuple[object, ...], bytes] = {}
