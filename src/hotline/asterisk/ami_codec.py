"""Sans-IO codec for the Asterisk Manager Interface (AMI): bytes in, events out, and back.

No sockets, no asyncio: the AMI stand-in server (`hotline.testing.ami_server`), the tests and the
benchmarks wrap it. What it accepts is what a real Asterisk 22.10.1 sends, as captured in
`asterisk-22/transcripts/ami-*.jsonl` (shipped as `hotline.testing.transcripts`):

- The server greets with one line, `Asterisk Call Manager/11.0.0` + CRLF (README fact 1); the
  parser in client role reports it as `Banner`.
- Every line ends in CRLF and a message ends with an empty line. Not one bare LF or CR occurs in
  any capture, in either direction, so CRLF is the only line break: a lone LF or CR inside a line
  is kept in the value as data. (A peer that sends LF-only lines never completes a message; the
  size bound below turns that into a `ProtocolError` instead of a hang.)
- A line is `Key: value`. Keys repeat (`Variable:` twice in the `Status` reply of
  ami-actions-live; `Output:` once per line of a `Command` reply in Asterisk 22), so a message is
  an ordered list of pairs, never a dict. Values may be empty (`AccountCode: `) and may contain
  `: ` themselves (`RequestType: Action: NoSuchAction` in ami-actions), so a line is split at its
  first colon. Apart from the banner, no capture has a line without a colon; older Asterisks sent
  raw `Command` output that way, so such a line is kept as a pair with the empty key "" rather than
  rejected.
- Asterisk writes caller names and variables as raw bytes: values are decoded as UTF-8, falling
  back to latin-1 (which never fails) line by line.

Errors are events, never exceptions: `feed` and `eof` do not raise. The buffer never holds more
than `max_message_bytes`, checked while each feed is consumed (a large feed is taken in slices),
so one message, including its closing empty line, may be at most that long. A longer one is
reported once as `ProtocolError` and skipped: the parser resynchronises at the next empty line,
which is exactly where the over-long message ends (a message cannot contain an empty line).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

CRLF = b"\r\n"
MESSAGE_END = b"\r\n\r\n"
DEFAULT_MAX_MESSAGE_BYTES = 65536

MessageKind = Literal["response", "event", "action", "unknown"]
_KINDS: dict[str, MessageKind] = {"response": "response", "event": "event", "action": "action"}

FieldValue = str | int | bool
Fields = Mapping[str, FieldValue] | Iterable[tuple[str, FieldValue]]


class AmiMessage:
    """One AMI message: its (key, value) pairs in wire order, repeated keys kept.

    Lookups by key ignore case, as Asterisk does; the first occurrence wins for `get`.
    """

    __slots__ = ("_index", "fields")

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        self.fields: tuple[tuple[str, str], ...] = tuple(fields)
        self._index: dict[str, str] | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        index = self._index
        if index is None:
            index = self._index = {}
            for k, v in reversed(self.fields):
                index[k.lower()] = v
        return index.get(key.lower(), default)

    def getall(self, key: str) -> list[str]:
        wanted = key.lower()
        return [v for k, v in self.fields if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AmiMessage) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return f"AmiMessage({list(self.fields)!r})"

    @property
    def kind(self) -> MessageKind:
        # The first of Response/Event/Action decides: an OriginateResponse *event* also carries
        # a `Response:` line, after its `Event:` line (ami-queue-call).
        for key, _ in self.fields:
            kind = _KINDS.get(key.lower())
            if kind is not None:
                return kind
        return "unknown"

    @property
    def name(self) -> str | None:
        """The value of the Event, Response or Action line that gives the message its kind."""
        for key, value in self.fields:
            if key.lower() in _KINDS:
                return value
        return None

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def to_bytes(self) -> bytes:
        return encode_message(self.fields)


@dataclass(frozen=True, slots=True)
class Banner:
    """The greeting line, e.g. text `Asterisk Call Manager/11.0.0`, version `11.0.0`."""

    version: str
    text: str


@dataclass(frozen=True, slots=True)
class Message:
    message: AmiMessage


@dataclass(frozen=True, slots=True)
class ProtocolError:
    reason: str


AmiEvent = Banner | Message | ProtocolError


class AmiParser:
    """Incremental AMI parser. role="client" reads what Asterisk sends (banner first);
    role="server" reads what clients send (actions, no banner)."""

    def __init__(
        self,
        role: Literal["client", "server"] = "client",
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        if max_message_bytes < len(MESSAGE_END) + 1:
            raise ValueError("max_message_bytes is too small to hold any message")
        self.role = role
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._awaiting_banner = role == "client"
        self._skipping = False  # inside an over-long message, looking for its end
        self._closed = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished message (never more than max_message_bytes)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[AmiEvent]:
        events: list[AmiEvent] = []
        if not data:
            return events
        if self._closed:
            events.append(ProtocolError("data after EOF"))
            return events
        taken, size = 0, len(data)
        while taken < size:
            # Never append more than fits: the bound holds inside a feed, not just after it.
            room = self.max_message_bytes - len(self._buffer)
            piece = data if taken == 0 and size <= room else data[taken : taken + room]
            taken += len(piece)
            self._consume(piece, events)
        return events

    def eof(self) -> list[AmiEvent]:
        if self._closed:
            return []
        self._closed = True
        leftover = bytes(self._buffer).strip(b"\r\n")
        self._buffer.clear()
        if self._skipping:
            return [ProtocolError("EOF inside an over-long message")]
        if leftover:
            where = "the banner" if self._awaiting_banner else "a message"
            return [ProtocolError(f"EOF in the middle of {where} ({len(leftover)} bytes)")]
        return []

    # -- internals ---------------------------------------------------------------------------

    def _consume(self, piece: bytes, events: list[AmiEvent]) -> None:
        buffer = self._buffer
        scan_from = max(0, len(buffer) - 3)  # an end marker may straddle the previous piece
        buffer += piece
        if self._skipping:
            end = buffer.find(MESSAGE_END, scan_from)
            if end < 0:
                del buffer[:-3]  # keep only what could start the end marker
                return
            del buffer[: end + len(MESSAGE_END)]
            self._skipping = False
            scan_from = 0
        if self._awaiting_banner:
            if not self._take_banner(events):
                return
            scan_from = 0  # the banner's removal shifted the buffer
        end = buffer.rfind(MESSAGE_END, scan_from)
        if end >= 0:
            complete = bytes(buffer[:end])
            del buffer[: end + len(MESSAGE_END)]
            events.extend(Message(m) for m in _messages_from(complete) if m is not None)
        if len(buffer) >= self.max_message_bytes:
            events.append(ProtocolError(f"message longer than {self.max_message_bytes} bytes"))
            self._skipping = True
            del buffer[:-3]

    def _take_banner(self, events: list[AmiEvent]) -> bool:
        """Handle the greeting line; False while it is still incomplete."""
        buffer = self._buffer
        end = buffer.find(CRLF)
        if end < 0:
            if len(buffer) >= self.max_message_bytes:
                self._awaiting_banner = False  # the check in _consume reports and skips it
                return True
            return False
        self._awaiting_banner = False
        line = _decode(bytes(buffer[:end]))
        if not line or ":" in line:  # not a greeting: parse it as the start of a message
            events.append(ProtocolError(f"expected the AMI banner, got {line[:80]!r}"))
            return True
        del buffer[: end + len(CRLF)]
        events.append(Banner(version=line.rpartition("/")[2], text=line))
        return True


def parse_block(block: bytes) -> AmiMessage | None:
    """One message's lines (without the closing empty line) → AmiMessage; None if empty."""
    try:
        lines = block.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        lines = [_decode(line) for line in block.split(CRLF)]
    return _message_from_lines(lines)


def _messages_from(complete: bytes) -> list[AmiMessage | None]:
    """Every message of a run of complete ones; one decode for the run in the common case."""
    try:
        text = complete.decode("utf-8")
    except UnicodeDecodeError:
        return [parse_block(block) for block in complete.split(MESSAGE_END)]
    return [_message_from_lines(block.split("\r\n")) for block in text.split("\r\n\r\n")]


def _message_from_lines(lines: list[str]) -> AmiMessage | None:
    fields: list[tuple[str, str]] = []
    append = fields.append
    for line in lines:
        key, sep, value = line.partition(": ")
        if sep and ":" not in key:  # the hot path: `Key: value`
            append((key, value))
            continue
        key, colon, value = line.partition(":")
        if colon:  # `Key:` (empty value) or `Key:value`
            append((key, value[1:] if value[:1] == " " else value))
        elif line:  # a line without a colon: raw text
            append(("", line))
        # else: an empty line left by a stray CRLF between two messages
    return AmiMessage(fields) if fields else None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# -- encoding --------------------------------------------------------------------------------


def _text(value: FieldValue) -> str:
    if isinstance(value, bool):  # Asterisk's ast_true reads the words, as in the captures
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _pairs(fields: Fields) -> Iterable[tuple[str, FieldValue]]:
    return fields.items() if isinstance(fields, Mapping) else fields


def encode_message(fields: Fields) -> bytes:
    """`Key: value` lines, CRLF, and the closing empty line. A CR or LF in a key or a value
    would let a caller name or a variable inject headers or whole actions: ValueError."""
    out = []
    for key, raw_value in _pairs(fields):
        value = _text(raw_value)
        if "\r" in value or "\n" in value:
            raise ValueError(f"CR or LF in the value of {key!r}")
        if key == "":  # raw text line (see parse_block)
            if not value or ":" in value:
                raise ValueError("a raw line must be non-empty and have no colon")
            out.append(f"{value}\r\n")
            continue
        if "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"invalid AMI key {key!r}")
        out.append(f"{key}: {value}\r\n")
    if not out:
        raise ValueError("an AMI message needs at least one field")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


def encode_action(name: str, fields: Fields = (), action_id: str | None = None) -> bytes:
    """`Action: name`, then `ActionID` if given, then the fields (repeated keys allowed:
    `[("Variable", "a=1"), ("Variable", "b=2")]`)."""
    head: list[tuple[str, FieldValue]] = [("Action", name)]
    if action_id is not None:
        head.append(("ActionID", action_id))
    rest = list(_pairs(fields))
    if any(key.lower() == "action" for key, _ in rest):
        raise ValueError("Action is given by `name`, not in fields")
    if action_id is not None and any(key.lower() == "actionid" for key, _ in rest):
        raise ValueError("ActionID given twice")
    return encode_message(head + rest)
