"""Outside business hours: the caller leaves a message → a draft ticket and a callback task, the
call ends with outcome `message` (HOTLINE_DEST=hangup). Through the FastAGI stand-in
(RECORD FILE as in agi-session-normal; the hang-up as in agi-session-caller-hangup)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ivr_flow_support import HangsUpAfterSpeaking, call_row, context, run_call, write_wav
from sqlalchemy import select

from hotline.config import IvrConfig
from hotline.db.models import (
    CallbackKind,
    CallbackStatus,
    CallbackTask,
    CallOutcome,
    Ticket,
    TicketCall,
    TicketChannel,
    TicketEvent,
    TicketStatus,
)
from hotline.testing.agi_client import Caller

OFFICE = IvrConfig(hours=["mon-fri 08:30-17:30"])
SATURDAY = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 11:00 in Kunming


def closed(db, tmp_path, **options):
    return context(db, tmp_path, ivr=OFFICE, now=lambda: SATURDAY, **options)


async def test_a_message_out_of_hours_becomes_a_ticket_and_a_callback(db, tmp_path):
    run = await run_call(closed(db, tmp_path),
                         Caller(number="13800138000", recording=write_wav(tmp_path / "m.wav", 3)))
    assert run.escaped == []
    assert run.played == ["hotline/welcome-12345-5301", "hotline/out-of-hours",
                          "hotline/message-saved"]
    record = next(c for c in run.result.commands if c.startswith("RECORD FILE"))
    assert record.endswith('wav "#" 60000 BEEP s=5')  # '#' ends the message
    assert run.variables == {"HOTLINE_DEST": "hangup"}
    wav = run.result.recorded[0]
    assert wav.name.endswith("-message.wav") and "2026/11/28" in str(wav)
    call = await call_row(db, run.uniqueid)
    assert call.outcome == CallOutcome.MESSAGE and call.ended_at is not None
    assert call.ivr_choice == "message"
    async with db() as session:
        ticket = await session.scalar(select(Ticket))
        links = (await session.scalars(select(TicketCall))).all()
        task = await session.scalar(select(CallbackTask))
        events = (await session.scalars(select(TicketEvent))).all()
    assert ticket.channel == TicketChannel.PHONE and ticket.status == TicketStatus.DRAFT
    assert ticket.content == f"留言录音: {wav}"
    assert ticket.number.startswith("5301-20261128-")  # the local day, the line's region
    assert ticket.contact_number == "13800138000" and ticket.line_id == call.line_id
    assert [(link.ticket_id, link.call_id) for link in links] == [(ticket.id, call.id)]
    assert (task.kind, task.status, task.number, task.queue) == \
        (CallbackKind.MESSAGE, CallbackStatus.PENDING, "13800138000", "hl-12345-5301")
    assert (task.call_id, task.ticket_id) == (call.id, ticket.id)
    # due when the line opens again: Monday 08:30 in Kunming
    assert task.due_at.astimezone(UTC) == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert [(e.action, e.actor, e.to_status) for e in events] == \
        [("create", "ivr", TicketStatus.DRAFT)]


async def test_no_message_left_files_nothing(db, tmp_path):
    run = await run_call(closed(db, tmp_path), Caller())
    assert run.escaped == []
    assert run.played[-1] == "hotline/goodbye" and run.variables == {"HOTLINE_DEST": "hangup"}
    async with db() as session:
        assert (await session.scalars(select(Ticket))).all() == []
        assert (await session.scalars(select(CallbackTask))).all() == []
    assert (await call_row(db, run.uniqueid)).outcome == CallOutcome.IVR_ONLY


async def test_hanging_up_ends_the_message_and_it_is_still_filed(db, tmp_path):
    run = await run_call(closed(db, tmp_path), Caller(recording=write_wav(tmp_path / "m.wav", 3)),
                         session_class=HangsUpAfterSpeaking)
    assert run.escaped == []
    assert run.result.hung_up_at is not None
    call = await call_row(db, run.uniqueid)
    assert call.outcome == CallOutcome.MESSAGE
    async with db() as session:
        ticket = await session.scalar(select(Ticket))
        task = await session.scalar(select(CallbackTask))
    assert ticket is not None and task is not None and task.ticket_id == ticket.id


async def test_in_hours_on_a_weekday_there_is_no_message(db, tmp_path):
    monday = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Kunming
    run = await run_call(context(db, tmp_path, ivr=OFFICE, now=lambda: monday),
                         Caller(keys=["0"]))
    assert "hotline/out-of-hours" not in run.played
    assert run.variables["HOTLINE_DEST"] == "queue"


async def test_closed_on_a_statutory_holiday(db, tmp_path):
    """National Day 2026-10-01 is a Thursday: open hours, but the holiday closes the line."""
    national_day = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    ivr = IvrConfig(hours=["mon-fri 08:30-17:30"], holidays="closed")
    run = await run_call(context(db, tmp_path, ivr=ivr, now=lambda: national_day), Caller())
    assert run.played[1] == "hotline/out-of-hours"


async def test_two_calls_of_one_second_on_a_long_named_node_get_two_tickets(db):
    """The draft's idempotency key names the node and the uniqueid; with a long node name and
    a uniqueid prefixed by Asterisk's systemname it is longer than the column. Cut to fit, the
    keys of two calls of the same second were equal: the second call's ticket was never filed
    (the first one was handed back). Retrying a call still finds its own ticket."""
    from hotline.calls.services import CallStart, record_call_start
    from hotline.db.models import Ticket, TicketCall
    from hotline.ivr.records import CallKey, DraftTicket, file_draft

    node = "kunming-primary-pbx-node-0000001"  # 32 characters, as the configuration allows
    calls = [CallKey(node, f"yunnan-kunming-pbx01-1764090000.1234{n}") for n in (1, 2)]
    async with db() as session:
        ids = [await record_call_start(session, CallStart(c.node, c.uniqueid, c.uniqueid,
                                                          "13800000000", line_code="96128"))
               for c in calls]
    draft = DraftTicket(kind="emergency", content="着火了", title="紧急求助")
    zone = ZoneInfo("Asia/Shanghai")
    async with db() as session:
        tickets = [await file_draft(session, c, draft, zone) for c in calls]
        again = await file_draft(session, calls[0], draft, zone)
    assert tickets[0].id != tickets[1].id and again.id == tickets[0].id
    async with db() as session:
        rows = await session.execute(select(TicketCall.ticket_id, TicketCall.call_id))
        links = {ticket_id: call_id for ticket_id, call_id in rows}
        assert links == {tickets[0].id: ids[0], tickets[1].id: ids[1]}
        keys = (await session.scalars(select(Ticket.idempotency_key))).all()
    assert all(len(k) <= 64 for k in keys)
