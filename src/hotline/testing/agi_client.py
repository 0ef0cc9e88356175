"""Asterisk's side of FastAGI, for tests, benchmarks and `hotline simulate`.

Everything it sends is taken from the captures of a real Asterisk 22.10.1 (transcripts/
agi-session-*.jsonl): the environment block (its key order, `agi_accountcode: ` empty), the
reply to each command, the 520 usage block, the 511 line after a hang-up, the unprompted
`HANGUP` line after the pending command's `200 result=-1`, and the `HANGUP` Asterisk sends when
the server half-closes a normal session. Only values (ids, numbers, digits) are the test's.

A `Caller` says what the simulated caller does: the keys pressed (consumed in order by STREAM
FILE with escape digits, GET DATA and WAIT FOR DIGIT), the audio file their RECORD FILE
produces (copied where Asterisk would write it), and the channel command during which they hang
up.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hotline.testing.transcripts import load

_NORMAL = "agi-session-normal"
_HANGUP = "agi-session-hangup"


def _asterisk_lines(name: str) -> list[bytes]:
    return [r.data for r in load(name) if r.direction == "recv"]


def _environment_template() -> list[tuple[str, str]]:
    pairs = []
    for line in _asterisk_lines(_NORMAL):
        if line == b"\n":
            break
        key, _, value = line.decode().rstrip("\n").partition(": ")
        pairs.append((key, value))
    return pairs


def _reply_after(name: str, command: bytes, nth: int = 0) -> list[bytes]:
    """The lines Asterisk answered the `nth` (0-based) `command` with in transcript `name`."""
    records = load(name)
    sent = [i for i, r in enumerate(records) if r.direction == "sent" and r.data == command]
    for index in sent[nth:nth + 1]:
        lines = []
        for follower in records[index + 1:]:
            if follower.direction == "sent":
                break
            if follower.direction == "recv":
                lines.append(follower.data)
        return lines
    raise LookupError(f"{command!r} is not in {name}")


UNKNOWN_COMMAND = _reply_after(_NORMAL, b"FOO BAR\n")[0]  # 510 Invalid or unknown command
USAGE_BLOCK = b"".join(_reply_after(_NORMAL, b"STREAM FILE\n"))  # 520-… 520 End of proper usage.
# agi-session-hangup answers ANSWER twice: 200 before the hang-up, 511 after it.
DEAD_CHANNEL = _reply_after(_HANGUP, b"ANSWER\n", nth=1)[0]  # 511 Command Not Permitted …
HANGUP_LINE = b"HANGUP\n"
# Commands that still answer 200 after a hang-up (agi-session-hangup); the rest get 511.
_ALIVE_AFTER_HANGUP = ("GET VARIABLE", "SET VARIABLE", "GET FULL VARIABLE", "VERBOSE", "EXEC")
_VAR = re.compile(r"\$\{([^}]+)\}")


def split_arguments(text: str) -> list[str]:
    """Asterisk's parse_args: white space splits, double quotes group, backslash escapes."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = started = True
        elif char == '"':
            quoted = not quoted
            started = True
        elif char.isspace() and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        args.append("".join(current))
    return args


@dataclass
class Caller:
    number: str = "13800138000"
    keys: list[str] = field(default_factory=list)  # one entry per prompt that waits for keys
    hangup_during: int | None = None  # index of the channel command during which they hang up
    recording: Path | None = None  # what RECORD FILE "records"


@dataclass
class SessionResult:
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hung_up_at: float | None = None  # monotonic time the HANGUP line was sent
    closed_at: float | None = None  # monotonic time the server closed the connection
    recorded: list[Path] = field(default_factory=list)


class AgiSession:
    """One call's FastAGI connection, Asterisk side."""

    def __init__(self, caller: Caller, *, script: str, uniqueid: str, channel: str,
                 extension: str = "12345", context: str = "hotline-ivr",
                 host: str = "127.0.0.1", port: int = 4573) -> None:
        self.caller = caller
        self.script = script
        self.host, self.port = host, port
        self.uniqueid = uniqueid
        self.result = SessionResult()
        self.hung_up = False
        self._channel_commands = 0
        self.variables: dict[str, str] = {"CHANNEL(language)": "zh",
                                          "CALLERID(num)": caller.number, "UNIQUEID": uniqueid}
        self._env = {"agi_network_script": script,
                     "agi_request": f"agi://{host}:{port}/{script}",
                     "agi_channel": channel, "agi_language": "zh", "agi_uniqueid": uniqueid,
                     "agi_callerid": caller.number, "agi_calleridname": caller.number,
                     "agi_dnid": extension, "agi_context": context, "agi_extension": extension}

    def environment(self, classic_args: tuple[str, ...] | None = None) -> bytes:
        """FastAGI's block; with `classic_args`, a process AGI's: no agi_network lines, the
        script as agi_request and the arguments as agi_arg_N (after agi_threadid, fact 2)."""
        pairs = [(key, self._env.get(key, value)) for key, value in _environment_template()]
        if classic_args is not None:
            pairs = [(k, "hotline-agi" if k == "agi_request" else v) for k, v in pairs
                     if not k.startswith("agi_network")]
            pairs += [(f"agi_arg_{i}", arg) for i, arg in enumerate(classic_args, 1)]
        return ("".join(f"{key}: {value}\n" for key, value in pairs) + "\n").encode()

    async def run(self, limit: float = 60.0) -> SessionResult:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self.converse(reader, writer, self.environment(), limit)

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       environment: bytes, limit: float = 60.0) -> SessionResult:
        """Send the environment, then answer commands until the other side closes."""
        try:
            async with asyncio.timeout(limit):
                writer.write(environment)
                while line := await reader.readline():
                    if not line.endswith(b"\n"):
                        break
                    for reply in self.answer(line.decode().rstrip("\n")):
                        writer.write(reply)
                        if reply == HANGUP_LINE:
                            self.result.hung_up_at = time.monotonic()
                    await writer.drain()
                # The server closed (or half-closed): Asterisk says HANGUP once more (fact 5).
                self.result.closed_at = time.monotonic()
                if not writer.is_closing():
                    writer.write(HANGUP_LINE)
        except (ConnectionError, BrokenPipeError):
            self.result.closed_at = self.result.closed_at or time.monotonic()
        finally:
            writer.close()
        return self.result

    # Asterisk's answers ----------------------------------------------------------------------
    def answer(self, command: str) -> list[bytes]:
        self.result.commands.append(command)
        words = command.split(" ", 2)
        verb2 = " ".join(words[:2])
        verb3 = " ".join(command.split(" ", 3)[:3])
        for verb in (verb3, verb2, words[0]):
            method = _HANDLERS.get(verb)
            if method is not None:
                rest = command[len(verb):].strip()
                if self.hung_up and not verb.startswith(_ALIVE_AFTER_HANGUP):
                    return [DEAD_CHANNEL]
                handler: Callable[[list[str]], list[bytes]] = getattr(self, method)
                return handler(split_arguments(rest))
        return [UNKNOWN_COMMAND]

    def _channel_command(self) -> bool:
        """Count a command that runs on the channel; True when the caller hangs up in it."""
        index = self._channel_commands
        self._channel_commands += 1
        if self.caller.hangup_during == index:
            self.hung_up = True
            return True
        return False

    def _next_keys(self) -> str:
        return self.caller.keys.pop(0) if self.caller.keys else ""

    def _hangup(self, line: str) -> list[bytes]:
        return [f"{line}\n".encode(), HANGUP_LINE]

    def _answer_cmd(self, args: list[str]) -> list[bytes]:
        return self._hangup("200 result=-1") if self._channel_command() else [b"200 result=0\n"]

    def _stream_file(self, args: list[str]) -> list[bytes]:
        if not args:
            return [USAGE_BLOCK]
        if self._channel_command():
            return self._hangup("200 result=-1 endpos=16160")
        escape = args[1] if len(args) > 1 else ""
        keys = self._next_keys() if escape else ""
        if keys and keys[0] in escape:
            return [f"200 result={ord(keys[0])} endpos=9760\n".encode()]
        return [b"200 result=0 endpos=16160\n"]

    def _get_data(self, args: list[str]) -> list[bytes]:
        if self._channel_command():
            return self._hangup("200 result=-1")
        keys = self._next_keys().rstrip("#")
        return [f"200 result={keys}\n".encode() if keys else b"200 result= (timeout)\n"]

    def _wait_for_digit(self, args: list[str]) -> list[bytes]:
        if self._channel_command():
            return self._hangup("200 result=-1")
        keys = self._next_keys()
        return [f"200 result={ord(keys[0]) if keys else 0}\n".encode()]

    def _record_file(self, args: list[str]) -> list[bytes]:
        if self._channel_command():
            return self._hangup("200 result=-1 endpos=0")
        path = Path(f"{args[0]}.{args[1]}")
        if self.caller.recording is None:
            return [b"200 result=0 (timeout) endpos=0\n"]
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.caller.recording, path)
        self.result.recorded.append(path)
        samples = max(path.stat().st_size - 44, 0) // 2  # 16-bit mono after a 44-byte header
        return [f"200 result=0 (timeout) endpos={samples}\n".encode()]

    def _set_variable(self, args: list[str]) -> list[bytes]:
        if len(args) != 2:
            return [USAGE_BLOCK]
        self.variables[args[0]] = args[1]
        self.result.variables[args[0]] = args[1]
        return [b"200 result=1\n"]

    def _get_variable(self, args: list[str]) -> list[bytes]:
        value = self.variables.get(args[0]) if args else None
        return [b"200 result=0\n"] if value is None else [f"200 result=1 ({value})\n".encode()]

    def _get_full_variable(self, args: list[str]) -> list[bytes]:
        value = _VAR.sub(lambda m: self.variables.get(m[1], ""), args[0]) if args else ""
        return [f"200 result=1 ({value})\n".encode()]

    def _exec(self, args: list[str]) -> list[bytes]:
        if args and args[0].lower() == "hangup":
            self.hung_up = True
            return self._hangup("200 result=-1")
        if self.hung_up:
            return [b"200 result=0\n"]  # EXEC Playback beep after HANGUP (agi-session-hangup)
        return self._hangup("200 result=-1") if self._channel_command() else [b"200 result=0\n"]

    def _verbose(self, args: list[str]) -> list[bytes]:
        return [b"200 result=1\n"]

    def _result_zero(self, args: list[str]) -> list[bytes]:
        return self._hangup("200 result=-1") if self._channel_command() else [b"200 result=0\n"]

    def _channel_up(self, args: list[str]) -> list[bytes]:
        return self._hangup("200 result=-1") if self._channel_command() else [b"200 result=6\n"]


# Command → the method answering it (methods, so a test can subclass to change one answer).
_HANDLERS = {
    "ANSWER": "_answer_cmd",
    "STREAM FILE": "_stream_file",
    "GET DATA": "_get_data",
    "WAIT FOR DIGIT": "_wait_for_digit",
    "SAY DIGITS": "_result_zero",
    "SAY NUMBER": "_result_zero",
    "CHANNEL STATUS": "_channel_up",
    "SET MUSIC": "_result_zero",
    "RECORD FILE": "_record_file",
    "SET VARIABLE": "_set_variable",
    "GET VARIABLE": "_get_variable",
    "GET FULL VARIABLE": "_get_full_variable",
    "EXEC": "_exec",
    "VERBOSE": "_verbose",
}


async def replay_transcript(name: str, host: str, port: int, limit: float = 10.0) -> list[str]:
    """Play Asterisk's side of transcript `name` byte for byte against a FastAGI server: send
    what Asterisk sent, and expect exactly the bytes the capturing server sent, in order.
    Returns the differences (empty when the server spoke exactly as in the capture)."""
    reader, writer = await asyncio.open_connection(host, port)
    problems: list[str] = []
    try:
        async with asyncio.timeout(limit):
            for record in load(name):
                if record.direction == "recv":
                    writer.write(record.data)
                    await writer.drain()
                elif record.direction == "sent":
                    got = await reader.readline()
                    if got != record.data:
                        problems.append(f"expected {record.data!r}, got {got!r}")
                        break
    except TimeoutError:
        problems.append("the server stopped answering")
    finally:
        writer.close()
    return problems
