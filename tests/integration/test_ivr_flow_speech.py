"""The caller's statement in the IVR flow: RECORD FILE (the stand-in copies the caller's audio
where Asterisk would write it and answers `200 result=0 (timeout) endpos=<samples>`, the reply
shape of agi-session-normal), the recognizer's verdict, the emergency transfer and the alert;
and the recognizer failing in every way it can → an agent.

Keys: the notice, the menu and "say-matter" each take a key entry ("" = no key), so a caller
with no keys reaches RECORD FILE."""

from __future__ import annotations

from datetime import datetime

from ivr_flow_support import (
    FakeRecognition,
    HangsUpAfterSpeaking,
    ScriptedRecognizer,
    call_row,
    context,
    run_call,
    write_wav,
)
from sqlalchemy import select

from hotline.bus import Bus
from hotline.db.models import CallOutcome, Ticket, TicketCall, TicketStatus
from hotline.ivr.records import CallKey
from hotline.testing.agi_client import Caller

TO_QUEUE = {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_PRIORITY": "0", "HOTLINE_DEST": "queue"}


async def test_a_spoken_emergency_is_transferred_and_alerted(db, tmp_path):
    bus = Bus()
    alerts = bus.subscribe(["alerts"])
    recognizer = ScriptedRecognizer(FakeRecognition("ok", "我家着火了", "119", ("着火",)))
    ctx = context(db, tmp_path, bus=bus, recognizer=recognizer)
    run = await run_call(ctx, Caller(number="13912345678",
                                     recording=write_wav(tmp_path / "words.wav")))
    assert run.escaped == []
    # the recognizer heard the file RECORD FILE wrote, on the folder Asterisk and we share
    assert recognizer.heard == run.result.recorded
    assert str(recognizer.heard[0]).startswith(str(tmp_path / "ivr" / "2026" / "11" / "25"))
    # the transfer variables are set right after the verdict: nothing is played after it
    record = next(i for i, c in enumerate(run.result.commands) if c.startswith("RECORD FILE"))
    assert run.result.commands[record + 1:] == ["SET VARIABLE HOTLINE_EMERGENCY 119",
                                                "SET VARIABLE HOTLINE_DEST emergency"]
    assert run.variables == {"HOTLINE_EMERGENCY": "119", "HOTLINE_DEST": "emergency"}
    topic, alert = await alerts.get()
    call = await call_row(db, run.uniqueid)
    assert topic == "alerts"
    assert {k: v for k, v in alert.items() if k != "at"} == {
        "type": "emergency", "service": "119", "caller": "13912345678", "line": "12345-5301",
        "call_id": call.id, "transcript": "我家着火了", "transferred": True,
        "region_code": "530100"}
    assert datetime.fromisoformat(alert["at"]).tzinfo is not None
    assert (call.emergency_service, call.transcript, call.ivr_choice) == \
        ("119", "我家着火了", "emergency")
    async with db() as session:
        ticket = await session.scalar(select(Ticket).join(TicketCall).where(
            TicketCall.call_id == call.id))
    assert ticket is not None and ticket.emergency_service == "119"
    assert ticket.status == TicketStatus.DRAFT and "我家着火了" in ticket.content
    assert ticket.contact_number == "13912345678" and ticket.region_code == "530100"
    # When the caller's channel hangs up (AMI), the call ends as an emergency.
    from hotline.calls.services import record_call_end

    async with db() as session:
        assert await record_call_end(session, "pbx1", run.uniqueid, CallOutcome.IVR_ONLY)
    assert (await call_row(db, run.uniqueid)).outcome == CallOutcome.EMERGENCY


async def test_words_that_are_no_emergency_go_to_an_agent_with_the_transcript(db, tmp_path):
    recognizer = ScriptedRecognizer(FakeRecognition("ok", "我想问一下社保怎么转移"))
    ctx = context(db, tmp_path, recognizer=recognizer)
    run = await run_call(ctx, Caller(recording=write_wav(tmp_path / "words.wav")))
    assert run.escaped == [] and run.variables == TO_QUEUE
    assert run.played[-1] == "hotline/transfer-agent"
    call = await call_row(db, run.uniqueid)
    assert (call.transcript, call.ivr_choice, call.emergency_service) == \
        ("我想问一下社保怎么转移", "speech", None)


def failing_recognizers():
    return {
        "none": None,  # no recognizer at all
        "unavailable": ScriptedRecognizer(FakeRecognition("unavailable")),  # no model
        "timeout": ScriptedRecognizer(FakeRecognition("timeout")),  # its own deadline
        "busy": ScriptedRecognizer(FakeRecognition("busy")),  # all recognizers in use
        "error": ScriptedRecognizer(FakeRecognition("error")),  # unreadable audio
        "stuck": ScriptedRecognizer(hang=True),  # never answers: the flow's own deadline
        "raises": ScriptedRecognizer(fail=True),
        # an emergency word with a status that is not ok is no verdict
        "not-ok": ScriptedRecognizer(FakeRecognition("timeout", "", "119")),
    }


async def test_a_recognizer_that_cannot_say_sends_the_caller_to_an_agent(db, tmp_path, caplog):
    for name, recognizer in failing_recognizers().items():
        caplog.clear()
        ctx = context(db, tmp_path, recognizer=recognizer, recognize_within=0.3)
        run = await run_call(ctx, Caller(recording=write_wav(tmp_path / "words.wav")))
        assert run.escaped == [], name
        assert run.variables == TO_QUEUE, name
        assert run.played[-1] == "hotline/transfer-agent", name
        call = await call_row(db, run.uniqueid)
        assert call.ivr_choice == "speech" and call.emergency_service is None, name
        assert any("to an agent" in r.getMessage() for r in caplog.records), name  # logged


async def test_a_key_during_the_recording_is_a_menu_choice(db, tmp_path):
    """RECORD FILE ended by a key answers `200 result=<ascii> endpos=…` (the shape of STREAM
    FILE's, agi-session-normal; assumed, not captured for RECORD FILE)."""
    from hotline.testing.agi_client import AgiSession

    class PressesTwo(AgiSession):
        def _record_file(self, args):
            if self._channel_command():
                return self._hangup("200 result=-1 endpos=0")
            return [f"200 result={ord('2')} endpos=4000\n".encode()]

    recognizer = ScriptedRecognizer(FakeRecognition("ok", "不应识别"))
    run = await run_call(context(db, tmp_path, recognizer=recognizer), Caller(),
                         session_class=PressesTwo)
    assert run.escaped == [] and recognizer.heard == []
    assert run.variables == TO_QUEUE
    assert (await call_row(db, run.uniqueid)).category == "求助投诉"


async def test_hash_ends_the_statement_and_keeps_it(db, tmp_path):
    """'#' after speaking: `200 result=35 endpos=…` (a key ending RECORD FILE, the shape of
    STREAM FILE's in agi-session-normal; assumed, not captured) — the words are heard."""
    from hotline.testing.agi_client import AgiSession

    class SpeaksThenHash(AgiSession):
        def _record_file(self, args):
            super()._record_file(args)  # the audio, where Asterisk writes it
            return [f"200 result={ord('#')} endpos=8000\n".encode()]

    recognizer = ScriptedRecognizer(FakeRecognition("ok", "咨询公积金提取"))
    run = await run_call(context(db, tmp_path, recognizer=recognizer),
                         Caller(recording=write_wav(tmp_path / "w.wav")),
                         session_class=SpeaksThenHash)
    assert run.escaped == [] and recognizer.heard == run.result.recorded
    assert run.variables == TO_QUEUE
    assert (await call_row(db, run.uniqueid)).transcript == "咨询公积金提取"


async def test_caller_hangs_up_while_recording(db, tmp_path):
    recognizer = ScriptedRecognizer(FakeRecognition("ok", "着火了", "119"))
    # 0 ANSWER, 1 greeting, 2 notice, 3 menu, 4 say-matter, 5 RECORD FILE
    run = await run_call(context(db, tmp_path, recognizer=recognizer),
                         Caller(recording=write_wav(tmp_path / "w.wav"), hangup_during=5))
    assert run.escaped == [] and recognizer.heard == [] and run.variables == {}
    call = await call_row(db, run.uniqueid)
    assert call.ended_at is not None and call.outcome == CallOutcome.IVR_ONLY


async def test_an_emergency_cut_short_by_a_hang_up_is_still_alerted(db, tmp_path):
    """The caller says 着火了 and the line drops: nobody can be transferred, but the supervisors
    are alerted and the emergency is on record (call and draft ticket)."""
    bus = Bus()
    alerts = bus.subscribe(["alerts"])
    recognizer = ScriptedRecognizer(FakeRecognition("ok", "着火了", "119"))
    ctx = context(db, tmp_path, bus=bus, recognizer=recognizer)
    run = await run_call(ctx, Caller(recording=write_wav(tmp_path / "w.wav")),
                         session_class=HangsUpAfterSpeaking)
    assert run.escaped == [] and run.variables == {}
    assert recognizer.heard == run.result.recorded
    _, alert = await alerts.get()
    assert (alert["service"], alert["transferred"], alert["transcript"]) == ("119", False, "着火了")
    call = await call_row(db, run.uniqueid)
    # closed as the menu call it was (nobody was connected), with the emergency on record
    assert (call.outcome, call.emergency_service) == (CallOutcome.IVR_ONLY, "119")
    async with db() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket.emergency_service == "119" and "未转接" in ticket.title


async def test_the_emergency_writes_are_idempotent(db, tmp_path):
    """The same call's emergency filed twice (a retried AGI) is one ticket."""
    from hotline.ivr.records import DraftTicket, file_draft

    recognizer = ScriptedRecognizer(FakeRecognition("ok", "有人持刀抢劫", "110"))
    ctx = context(db, tmp_path, recognizer=recognizer)
    run = await run_call(ctx, Caller(recording=write_wav(tmp_path / "w.wav")))
    assert run.variables["HOTLINE_EMERGENCY"] == "110"
    async with db() as session:
        again = await file_draft(session, CallKey("pbx1", run.uniqueid),
                                 DraftTicket(kind="emergency", content="x"), ctx.zone)
        tickets = (await session.scalars(select(Ticket))).all()
    assert len(tickets) == 1 and again.id == tickets[0].id
