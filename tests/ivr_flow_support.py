"""Helpers of the IVR flow tests (tests/integration/test_ivr_flow*.py, test_survey_flow.py): run
a call through the real FastAGI server and the transcript-derived Asterisk stand-in
(hotline.testing.agi_client, ../shared/asterisk-22/transcripts/agi-session-*.jsonl), with
every exception a flow lets out recorded, so a test can say that none escaped."""

from __future__ import annotations

import asyncio
import itertools
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hotline.asterisk.fastagi import FastAgiServer
from hotline.config import Bind
from hotline.db.models import Call
from hotline.ivr.flows import FlowContext, routes
from hotline.testing.agi_client import AgiSession, Caller, SessionResult

# Wednesday 2026-11-25 10:00 in Kunming (02:00 UTC): a working day.
WORKDAY_MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LINE_QUERY = "line=12345-5301&region=530100&node=pbx1"
_ids = itertools.count(1)


@dataclass(frozen=True)
class FakeRecognition:
    status: str
    text: str = ""
    emergency_service: str | None = None
    matched_words: tuple[str, ...] = ()


@dataclass
class ScriptedRecognizer:
    """Answers what it is told; `hang=True` never answers (a stuck recognizer)."""

    result: FakeRecognition | None = None
    hang: bool = False
    fail: bool = False
    heard: list[Path] = field(default_factory=list)

    async def recognize(self, wav_path: str | Path) -> FakeRecognition:
        self.heard.append(Path(wav_path))
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise RuntimeError("the recognizer broke")
        assert self.result is not None
        return self.result


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    """A telephone-format WAV (8 kHz mono 16-bit) of a quiet tone, standing for a caller's words."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        frames += (600 if (i // 10) % 2 else -600).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


def context(db: Any, tmp_path: Path, **options: Any) -> FlowContext:
    options.setdefault("now", lambda: WORKDAY_MORNING)
    return FlowContext(db, default_node="pbx1", recordings_dir=tmp_path / "ivr", **options)


@dataclass
class CallRun:
    result: SessionResult
    escaped: list[BaseException]
    uniqueid: str

    @property
    def played(self) -> list[str]:
        """The sounds played (STREAM FILE, GET DATA), in order."""
        return [c.split(" ")[2] for c in self.result.commands
                if c.startswith(("STREAM FILE", "GET DATA"))]

    @property
    def variables(self) -> dict[str, str]:
        return self.result.variables


async def run_call(ctx: FlowContext, caller: Caller, *, route: str = "ivr",
                   query: str = LINE_QUERY, session_class: type[AgiSession] = AgiSession,
                   ) -> CallRun:
    """One call, start to end: the FastAGI server with the real routes, the stand-in as
    Asterisk. Returns what Asterisk saw and the exceptions that left the flow (none, we hope)."""
    escaped: list[BaseException] = []
    flows = routes(ctx)

    def watched(flow: Any) -> Any:
        async def run(channel: Any) -> None:
            try:
                await flow(channel)
            except BaseException as exc:
                escaped.append(exc)
                raise
        return run

    server = FastAgiServer(Bind("127.0.0.1", 0), {name: watched(f) for name, f in flows.items()})
    await server.start()
    uniqueid = f"1795606851.{next(_ids)}"
    try:
        session = session_class(caller, script=f"{route}?{query}&linkedid={uniqueid}",
                                uniqueid=uniqueid, channel="PJSIP/trunk-00000001",
                                port=server.port)
        result = await session.run(limit=30)
        # The session is over when Asterisk's side saw the socket close; the flow task ends
        # right after (its last writes included).
        await server.close()
        await ctx.drain()
    finally:
        await server.close()
    return CallRun(result, escaped, uniqueid)


async def call_row(db: Any, uniqueid: str) -> Call:
    async with db() as session:
        call = await session.scalar(select(Call).where(Call.uniqueid == uniqueid))
    assert call is not None
    return call


class HangsUpAfterSpeaking(AgiSession):
    """The caller speaks, then hangs up (instead of '#' or silence): the pending RECORD FILE gets
    `200 result=-1` and HANGUP follows (agi-session-caller-hangup). Assumed, not captured: the
    part recorded before the hang-up stays on disk, so the stand-in writes it."""

    def _record_file(self, args):
        super()._record_file(args)  # writes the audio where Asterisk would
        self.hung_up = True
        return self._hangup("200 result=-1 endpos=24000")
