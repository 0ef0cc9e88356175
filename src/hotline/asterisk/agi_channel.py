"""The channel object a call flow talks to: one typed async method per AGI command.

Hang-up handling, as Asterisk 22 does it (../shared/asterisk-22/transcripts/
agi-session-hangup.jsonl, agi-session-caller-hangup.jsonl): the pending command gets
`200 result=-1`, then `HANGUP` arrives unprompted; after that channel commands get 511 while
GET/SET VARIABLE, VERBOSE and EXEC still answer 200. Every way a flow can learn of the hang-up
raises the one exception `AgiHangup`; after `HANGUP` channel commands raise it without a round
trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hotline.asterisk.agi_codec import Environment, Quoted, Reply, encode_command


class AgiError(Exception):
    """Base of everything a flow may see from the channel."""


class AgiHangup(AgiError):
    """The caller hung up (or Asterisk went away): stop talking to the channel."""


class AgiProtocolFailure(AgiError):
    """The peer broke the protocol or did not answer in time; the session is closed."""


class AgiCommandError(AgiError):
    """Asterisk refused the command (510 unknown, 520 usage)."""

    def __init__(self, command: str, reply: Reply) -> None:
        detail = reply.text.splitlines()[0] if reply.text else f"result={reply.result}"
        super().__init__(f"{command}: {reply.code} {detail}")
        self.reply = reply


class AgiChannel:
    def __init__(self, env: Environment, transport: asyncio.WriteTransport,
                 command_timeout: float) -> None:
        self.env = env
        self.command_timeout = command_timeout
        self.hung_up = False
        self.closed = False
        # Set by the server when the session started while it was overloaded (DESIGN.md §5):
        # the flow should take the shortest path to the queue (no speech, no menu).
        self.shedding = False
        # Told how long Asterisk took to answer a command that does not touch the channel.
        self.on_round_trip: Callable[[float], None] | None = None
        self._transport = transport
        self._pending: asyncio.Future[Reply] | None = None
        self._loop = asyncio.get_running_loop()
        # One deadline timer per channel, not one per command (see `_arm`).
        self._deadline = 0.0
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def script(self) -> str:
        return self.env.script

    @property
    def query(self) -> dict[str, str]:
        return self.env.query

    # the session's side ------------------------------------------------------------------------
    def _reply(self, reply: Reply) -> bool:
        if self._pending is None or self._pending.done():
            return False
        self._pending.set_result(reply)
        return True

    def _hangup_seen(self) -> None:
        self.hung_up = True

    def _connection_lost(self) -> None:
        self._disarm()
        self.closed = True
        self.hung_up = True
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(AgiHangup("the AGI connection closed"))

    def _fail(self, reason: str) -> None:
        self._disarm()
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(AgiProtocolFailure(reason))

    # commands ----------------------------------------------------------------------------------
    async def command(self, verb: str, *args: str | int, reply_within: float | None = None,
                      on_channel: bool = True) -> Reply:
        """Send one command and wait for its final reply. `on_channel`: the command needs a live
        channel (refused with 511 after a hang-up) — False for variables, VERBOSE and EXEC."""
        if self._pending is not None:
            raise RuntimeError("one AGI command at a time on a channel")
        if self.closed or (on_channel and self.hung_up):
            raise AgiHangup(f"{verb}: the caller has hung up")
        payload = encode_command(verb, args)
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._pending = future
        self._transport.write(payload)
        limit = self.command_timeout if reply_within is None else reply_within
        sent = self._arm(limit)
        try:
            reply = await future
        except TimeoutError:
            self._transport.close()
            raise AgiProtocolFailure(f"{verb}: no reply within {limit:g} s") from None
        finally:
            self._pending = None
        if self.on_round_trip is not None and not on_channel and verb != "EXEC":
            self.on_round_trip(self._loop.time() - sent)
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup(f"{verb}: the channel is gone (511)")
        if reply.code in (510, 520):
            raise AgiCommandError(verb, reply)
        if reply.code != 200:
            raise AgiProtocolFailure(f"{verb}: unexpected reply {reply.code} {reply.text}")
        if reply.result == "-1":
            await self._after_minus_one(verb, reply, on_channel)
        return reply

    def _arm(self, limit: float) -> float:
        """Every wait for a reply is bounded: the pending command's deadline is `limit` from
        now. One timer per channel serves every command (the mechanism asyncio.timeout uses,
        without a Timeout object, a timer and a task cancellation per command: FastAGI
        sessions are 10-30 quick commands). The timer fires at the earliest deadline it was
        armed for; if the pending command's deadline is later, it re-arms for it."""
        now = self._loop.time()
        self._deadline = deadline = now + limit
        if self._watchdog is None or self._watchdog.when() > deadline:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = self._loop.call_at(deadline, self._expire)
        return now

    def _expire(self) -> None:
        fired, self._watchdog = self._watchdog, None
        future = self._pending
        if future is None or future.done() or fired is None:
            return
        if self._deadline <= fired.when():
            future.set_exception(TimeoutError())
        else:
            self._watchdog = self._loop.call_at(self._deadline, self._expire)

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def _after_minus_one(self, verb: str, reply: Reply, on_channel: bool) -> None:
        """`result=-1` is what a hang-up gives the pending command (agi-session-caller-hangup:
        `200 result=-1 endpos=16160`, then `HANGUP`), and what EXEC of an application that ends
        the call gives (`EXEC Hangup ""`). res_agi's source also answers a missing sound file
        with -1 (not in the captures), so ask the channel before calling it a hang-up."""
        if verb == "EXEC" or self.hung_up:
            self.hung_up = True
            raise AgiHangup(f"{verb}: the caller hung up (result=-1)")
        if on_channel:
            await self.command("CHANNEL STATUS")  # 511 on a dead channel → AgiHangup
            raise AgiCommandError(verb, reply)

    def _wait(self, milliseconds: int) -> float:
        """A reply deadline for a command that itself waits `milliseconds`."""
        return self.command_timeout + max(milliseconds, 0) / 1000

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        """End the call: `EXEC Hangup ""` → `200 result=-1`, then `HANGUP`
        (agi-session-hangup); raises AgiHangup like any other way the call ends."""
        await self.exec("Hangup", "")

    async def channel_status(self) -> int:
        """6 = up (see `CHANNEL STATUS` in agi-session-normal)."""
        return (await self.command("CHANNEL STATUS")).int_result

    async def stream_file(self, name: str, escape_digits: str = "",
                          offset: int | None = None) -> tuple[str | None, int | None]:
        """Play a sound; returns (the digit that interrupted it or None, end position)."""
        args: list[str | int] = [name, Quoted(escape_digits)]
        if offset is not None:
            args.append(offset)
        reply = await self.command("STREAM FILE", *args, reply_within=self.command_timeout * 5)
        code = reply.int_result
        return (chr(code) if code > 0 else None), reply.endpos

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """Digits typed after the prompt ('' when none came: `200 result= (timeout)`)."""
        reply = await self.command("GET DATA", prompt, timeout_ms, max_digits,
                                   reply_within=self._wait(timeout_ms * max(max_digits, 1)) * 2)
        return reply.result or ""

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        code = (await self.command("WAIT FOR DIGIT", timeout_ms,
                                   reply_within=self._wait(timeout_ms))).int_result
        return chr(code) if code > 0 else None

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        code = (await self.command("SAY DIGITS", digits, Quoted(escape_digits))).int_result
        return chr(code) if code > 0 else None

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        code = (await self.command("SAY NUMBER", number, Quoted(escape_digits))).int_result
        return chr(code) if code > 0 else None

    async def record_file(self, path: str, fmt: str = "wav", escape_digits: str = "#",
                          timeout_ms: int = 8000, *, beep: bool = False,
                          silence_s: int | None = None) -> tuple[str | None, int | None]:
        """Record to `path`.`fmt` (a path on the Asterisk host). Returns (the digit that ended
        it or None — also on `(timeout)` / `(hangup)` — and the end position)."""
        args: list[str | int] = [path, fmt, Quoted(escape_digits), timeout_ms]
        if beep:
            args.append("BEEP")
        if silence_s is not None:
            args.append(f"s={silence_s}")
        reply = await self.command("RECORD FILE", *args, reply_within=self._wait(timeout_ms))
        code = reply.int_result
        return (chr(code) if code > 0 and reply.data not in ("timeout", "hangup") else None,
                reply.endpos)

    async def set_variable(self, name: str, value: Any) -> None:
        await self.command("SET VARIABLE", name, str(value), on_channel=False)

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name, on_channel=False)
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        reply = await self.command("GET FULL VARIABLE", Quoted(expression), on_channel=False)
        return reply.data if reply.result == "1" else None

    async def exec(self, application: str, data: str = "") -> int:
        return (await self.command("EXEC", application, data, on_channel=False,
                                   reply_within=self.command_timeout * 5)).int_result

    async def set_music(self, on: bool, music_class: str | None = None) -> None:
        args: list[str | int] = ["on" if on else "off"]
        if music_class:
            args.append(music_class)
        await self.command("SET MUSIC", *args)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", Quoted(message), level, on_channel=False)
