"""What every flow shares: the context (database, bus, recognizer, configuration), the call's
identity and state, prompt playing that survives a missing sound, and the guard that turns a
hang-up into a closed call row instead of an exception."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from hotline.asterisk.agi_channel import AgiChannel, AgiCommandError, AgiHangup
from hotline.bus import Bus
from hotline.calls.services import CallStart, record_call_end, record_call_start
from hotline.config import IvrConfig, Settings
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import CallDirection, CallOutcome, HotlineLine, LineDid
from hotline.ivr.hours import BusinessHours
from hotline.ivr.menu import Menu, default_menu
from hotline.ivr.records import CallKey, note_call
from hotline.ivr.statement import Recognizer

if TYPE_CHECKING:
    from hotline.ivr.survey import SurveyHook
    from hotline.ivr.waiting import VirtualHold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineInfo:
    id: int
    code: str
    region_code: str
    queue: str


@dataclass
class FlowContext:
    """What every flow needs; one per FastAGI server (web/app.py builds it from Settings)."""

    db: SessionMaker
    default_node: str = "pbx"
    bus: Bus | None = None
    recognizer: Recognizer | None = None
    ivr: IvrConfig = field(default_factory=IvrConfig)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    recordings_dir: Path = Path("var/recordings/ivr")
    # The flow's own bound on a recognition (the recognizer has its own, [speech] timeout).
    recognize_within: float = 5.0
    menu: Menu = field(default_factory=default_menu)
    on_survey: SurveyHook | None = None  # the follow-up dialer's; None: answers are logged
    # The queue feature's, when it runs (ivr/wiring.py): routing variables for (node, line
    # queue), and virtual hold (waiting.py).
    queue_route: Callable[[str, str], Mapping[str, str]] | None = None
    virtual_hold: VirtualHold | None = None
    now: Callable[[], datetime] = utcnow
    _lines: dict[str, LineInfo] = field(default_factory=dict)
    _dids: dict[str, str] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def from_settings(cls, db: SessionMaker, settings: Settings, **options: Any) -> FlowContext:
        nodes = [node.name for node in settings.asterisk]
        options.setdefault("default_node", nodes[0] if len(nodes) == 1 else "pbx")
        return cls(db, ivr=settings.ivr, zone=settings.zone,
                   recordings_dir=settings.ivr_recordings_dir,
                   recognize_within=settings.speech.timeout + 1.0, **options)

    @cached_property
    def hours(self) -> BusinessHours:
        return BusinessHours.from_config(self.ivr.hours, self.zone, self.ivr.holidays,
                                         self.ivr.closed_dates)

    async def _load_lines(self) -> None:
        async with self.db() as db:
            lines = (await db.scalars(select(HotlineLine))).all()
            dids = (await db.execute(select(LineDid.did, HotlineLine.code).join(
                HotlineLine, LineDid.line_id == HotlineLine.id))).all()
        self._lines = {line.code: LineInfo(line.id, line.code, line.region_code, line.queue)
                       for line in lines}
        self._dids = {did: code for did, code in dids}

    async def line(self, code: str = "", did: str = "") -> LineInfo | None:
        """A line by its code (the AGI query's `line=`), else by the dialled number."""
        if not self._lines:
            await self._load_lines()
        return self._lines.get(code) or self._lines.get(self._dids.get(did, ""))

    async def queue_of(self, line_code: str) -> str | None:
        line = await self.line(line_code)
        return line.queue if line else None

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a write that must finish even if the flow moves on (drained on shutdown)."""
        task = asyncio.ensure_future(_logged(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """After the FastAGI server closed: finish the writes in flight, free the recognizer."""
        await self.drain()
        close = getattr(self.recognizer, "close", None)
        if close is not None:
            close()


async def _logged(coroutine: Coroutine[Any, Any, Any]) -> None:
    try:
        await coroutine
    except Exception:
        log.exception("IVR: a background write failed")


@dataclass(frozen=True)
class CallIdentity(CallKey):
    linkedid: str = ""

    @classmethod
    def of(cls, channel: AgiChannel, default_node: str) -> CallIdentity:
        # The dialplan passes node and linkedid in the AGI URL: no extra round trip.
        query = channel.query
        uniqueid = channel.env.uniqueid
        return cls(query.get("node") or default_node, uniqueid, query.get("linkedid") or uniqueid)


@dataclass
class CallState:
    """One call as the flow knows it."""

    call: CallIdentity
    line: LineInfo | None
    call_id: int | None = None
    emergency: str | None = None
    outcome: CallOutcome | None = None  # set by a flow that ends the call itself (a message)
    # What the menu learned (ivr_choice, category, transcript), not written yet: one write when
    # the flow ends (run_guarded), with the call's end on a hang-up; see `note`.
    notes: dict[str, str] = field(default_factory=dict)
    # Work left when the caller hangs up, run (in the background) once the call row is closed.
    after_hangup: list[Callable[[], Coroutine[Any, Any, Any]]] = field(default_factory=list)


async def play(channel: AgiChannel, sound: str, escape_digits: str = "") -> str | None:
    """Play a prompt; a missing or broken sound file is logged and skipped, never fatal."""
    try:
        digit, _ = await channel.stream_file(sound, escape_digits)
    except AgiCommandError as exc:
        log.warning("prompt %s could not be played: %s", sound, exc)
        return None
    return digit


async def play_all(channel: AgiChannel, sounds: list[str], escape_digits: str = "") -> str | None:
    for sound in sounds:
        digit = await play(channel, sound, escape_digits)
        if digit:
            return digit
    return None


async def safely(what: str, write: Awaitable[Any]) -> Any:
    """A database write the caller must not wait on if it fails: logged, the call goes on."""
    try:
        return await write
    except Exception:
        log.exception("IVR: %s failed; the call goes on", what)
        return None


async def start_call(channel: AgiChannel, ctx: FlowContext,
                     direction: CallDirection = CallDirection.INBOUND) -> CallState:
    call = CallIdentity.of(channel, ctx.default_node)
    env = channel.env
    line = await safely("line lookup", ctx.line(channel.query.get("line", ""),
                                                env.get("dnid") or env.get("extension")))
    state = CallState(call, line)

    async def write_once() -> int:
        async with ctx.db() as db:
            return await record_call_start(db, CallStart(
                node=call.node, uniqueid=call.uniqueid, linkedid=call.linkedid,
                caller_number=env.caller_number, line_code=line.code if line else None,
                line_id=line.id if line else None, direction=direction,
                region_code=channel.query.get("region") or (line.region_code if line else None)))

    async def write() -> int:
        # Once more on a database error: a connection killed under the write (a PostgreSQL
        # restart, pg_terminate_backend; tests/faults) would otherwise lose the call's row.
        # record_call_start is idempotent, so a retry after an unclear commit is safe.
        try:
            return await write_once()
        except DBAPIError:
            log.warning("IVR: recording call %s failed once; retrying", call.uniqueid)
            return await write_once()

    state.call_id = await safely("recording the call", write())
    return state


def note(state: CallState, **fields: str) -> None:
    """Keep what the menu learned for the call row; written once, when the flow ends (whatever
    way it ends: run_guarded flushes it), not one transaction per step. The caller reaches the
    queue when the flow ends, so the row has it before an agent's screen pop reads it."""
    state.notes.update(fields)


async def _write_notes(ctx: FlowContext, state: CallState, notes: dict[str, str]) -> None:
    async with ctx.db() as db:
        await note_call(db, state.call, **notes)


async def end_call(ctx: FlowContext, state: CallState, outcome: CallOutcome) -> None:
    notes, state.notes = state.notes, {}

    async def write() -> None:
        async with ctx.db() as db:
            if notes:  # the same transaction; not tied to `ended_at` (AMI may have closed it)
                await note_call(db, state.call, commit=False, **notes)
            await record_call_end(db, state.call.node, state.call.uniqueid, outcome)

    await safely("closing the call", write())


async def flush_notes(ctx: FlowContext, state: CallState) -> None:
    """Write the notes not written yet. Awaited before the flow returns, i.e. after its last
    AGI command but before Asterisk moves the caller on to Queue(): the row has them before
    an agent's screen pop can read them. Shielded, so a cancelled flow still writes them."""
    if state.notes:
        notes, state.notes = state.notes, {}
        await asyncio.shield(ctx.spawn(safely("storing the menu choice",
                                              _write_notes(ctx, state, notes))))


async def run_guarded(channel: AgiChannel, ctx: FlowContext, state: CallState,
                      body: Callable[[], Awaitable[None]]) -> None:
    """Run a flow's body; a hang-up closes the call row and ends the flow quietly."""
    try:
        await body()
    except AgiHangup:
        log.info("IVR: %s hung up (%s/%s)", channel.env.caller_number, state.call.node,
                 state.call.uniqueid)
        await end_call(ctx, state, state.outcome or CallOutcome.IVR_ONLY)
        for work in state.after_hangup:
            ctx.spawn(work())
        return
    finally:
        await flush_notes(ctx, state)  # any other way out (an error, a cancellation) too
    if state.outcome is not None:
        await end_call(ctx, state, state.outcome)
