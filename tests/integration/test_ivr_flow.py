"""The inbound IVR flow (route `ivr`) through the real FastAGI server and the Asterisk stand-in,
whose replies come from ../shared/asterisk-22/transcripts/agi-session-normal.jsonl (STREAM FILE
interrupted by a key `200 result=<ascii> endpos=…`, GET DATA `200 result=<digits>` /
`200 result= (timeout)`, WAIT FOR DIGIT, RECORD FILE `200 result=0 (timeout) endpos=…`) and
agi-session-caller-hangup.jsonl (a hang-up: `200 result=-1`, then `HANGUP`).

The stand-in's keys: one entry per prompt that waits for keys, in order — the notice, the menu,
"say-matter" (all take every key), then GET DATA / WAIT FOR DIGIT."""

from __future__ import annotations

from ivr_flow_support import call_row, context, run_call

from hotline.db.models import CallOutcome, Ticket, TicketChannel, TicketStatus
from hotline.testing.agi_client import Caller

GREETING = "hotline/welcome-12345-5301"
TO_QUEUE = {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_PRIORITY": "0", "HOTLINE_DEST": "queue"}


async def test_key_1_policy_consultation_during_the_menu(db, tmp_path):
    ctx = context(db, tmp_path)
    run = await run_call(ctx, Caller(keys=["", "1"]))
    assert run.escaped == []
    assert run.result.commands[0] == "ANSWER"
    assert run.played == [GREETING, "hotline/notice", "hotline/menu", "hotline/transfer-agent"]
    assert run.variables == TO_QUEUE
    call = await call_row(db, run.uniqueid)
    assert (call.ivr_choice, call.category) == ("policy", "政策咨询")
    assert call.line_id is not None and call.region_code == "530100"
    assert call.ended_at is None  # on its way to an agent: AMI closes it


async def test_key_2_complaint_pressed_during_the_notice(db, tmp_path):
    ctx = context(db, tmp_path)
    run = await run_call(ctx, Caller(keys=["2"]))
    assert run.escaped == []
    assert run.played == [GREETING, "hotline/notice", "hotline/transfer-agent"]
    assert run.variables == TO_QUEUE
    call = await call_row(db, run.uniqueid)
    assert (call.ivr_choice, call.category) == ("complaint", "求助投诉")


async def test_key_0_is_an_agent(db, tmp_path):
    run = await run_call(context(db, tmp_path), Caller(keys=["", "0"]))
    assert run.escaped == [] and run.variables == TO_QUEUE
    call = await call_row(db, run.uniqueid)
    assert (call.ivr_choice, call.category) == ("agent", "")


async def test_no_key_and_no_words_is_an_agent(db, tmp_path):
    ctx = context(db, tmp_path)
    run = await run_call(ctx, Caller())
    assert run.escaped == []
    assert run.played == [GREETING, "hotline/notice", "hotline/menu", "hotline/say-matter",
                          "hotline/transfer-agent"]
    record = next(c for c in run.result.commands if c.startswith("RECORD FILE"))
    # ≤ 8 s, after a beep, silence detection (the s= argument of agi-session-normal), any key
    assert record.endswith('wav "0123456789*#" 8000 BEEP s=2')
    assert str(tmp_path / "ivr" / "2026" / "11" / "25") in record
    assert run.variables == TO_QUEUE
    assert (await call_row(db, run.uniqueid)).ivr_choice == "none"


async def test_an_invalid_key_twice_is_an_agent(db, tmp_path):
    ctx = context(db, tmp_path)
    # 9 during the menu; "invalid", the menu again (no key), WAIT FOR DIGIT → 7: wrong again
    run = await run_call(ctx, Caller(keys=["", "9", "", "7"]))
    assert run.escaped == []
    assert run.played == [GREETING, "hotline/notice", "hotline/menu", "hotline/invalid",
                          "hotline/menu", "hotline/transfer-agent"]
    assert any(c.startswith("WAIT FOR DIGIT 5000") for c in run.result.commands)
    assert run.variables == TO_QUEUE
    assert (await call_row(db, run.uniqueid)).ivr_choice == "invalid"


async def test_an_invalid_key_then_a_valid_one(db, tmp_path):
    run = await run_call(context(db, tmp_path), Caller(keys=["*", "2"]))
    assert run.escaped == []
    assert run.played == [GREETING, "hotline/notice", "hotline/invalid", "hotline/menu",
                          "hotline/transfer-agent"]
    call = await call_row(db, run.uniqueid)
    assert (call.ivr_choice, call.category) == ("complaint", "求助投诉")


async def _ticket(db, number: str, status: TicketStatus) -> None:
    async with db() as session:
        session.add(Ticket(number=number, channel=TicketChannel.PHONE, region_code="530100",
                           status=status, content="路灯不亮"))
        await session.commit()


async def test_key_3_says_the_status_of_a_ticket(db, tmp_path):
    await _ticket(db, "5301-20261125-0007", TicketStatus.DISPATCHED)
    ctx = context(db, tmp_path)
    # the caller keys the number without its dashes, '#' ends it
    run = await run_call(ctx, Caller(keys=["", "3", "5301202611250007#"]))
    assert run.escaped == []
    digits = [f"hotline/digits/{d}" for d in "5301202611250007"]
    assert run.played == [GREETING, "hotline/notice", "hotline/menu", "hotline/ticket-ask-number",
                          "hotline/ticket-number-is", *digits, "hotline/ticket-status-is",
                          "hotline/ticket-status-dispatched", "hotline/transfer-agent"]
    assert "GET DATA hotline/ticket-ask-number 6000 24" in run.result.commands
    assert run.variables == TO_QUEUE  # then an agent, should the caller stay on the line
    assert (await call_row(db, run.uniqueid)).ivr_choice == "progress"


async def test_key_3_with_stars_for_dashes_or_a_wrong_number(db, tmp_path):
    await _ticket(db, "5301-20261125-0007", TicketStatus.CLOSED)
    for keyed in ("5301*20261125*7", "53012026112500071"):
        run = await run_call(context(db, tmp_path), Caller(keys=["3", keyed]))
        assert run.escaped == []
        if "*" in keyed:  # '*' stands for a dash, the sequence's leading zeros may be left out
            assert "hotline/ticket-status-closed" in run.played
        else:
            assert "hotline/ticket-not-found" in run.played
            assert not any(p.startswith("hotline/ticket-status-") for p in run.played)
        assert run.played[-1] == "hotline/transfer-agent" and run.variables == TO_QUEUE


async def test_key_3_ticket_not_found_then_an_agent(db, tmp_path):
    run = await run_call(context(db, tmp_path), Caller(keys=["", "3", "5301202611259999"]))
    assert run.escaped == []
    assert run.played[-3:] == ["hotline/ticket-ask-number", "hotline/ticket-not-found",
                               "hotline/transfer-agent"]
    assert run.variables == TO_QUEUE


async def test_caller_hangs_up_mid_flow(db, tmp_path):
    """Channel commands: 0 ANSWER, 1 the greeting, 2 the notice, 3 the menu, 4 "say-matter".
    As agi-session-caller-hangup: `200 result=-1`, then HANGUP. No exception leaves the flow,
    the call row is closed as ivr_only, no variable was set."""
    for during in (0, 1, 2, 4):
        run = await run_call(context(db, tmp_path), Caller(hangup_during=during))
        assert run.escaped == [], during
        assert run.result.hung_up_at is not None
        assert run.variables == {}
        call = await call_row(db, run.uniqueid)
        assert call.ended_at is not None and call.outcome == CallOutcome.IVR_ONLY, during


async def test_caller_hangs_up_while_hearing_a_ticket_status(db, tmp_path):
    await _ticket(db, "5301-20261125-0007", TicketStatus.IN_PROGRESS)
    # 0 ANSWER, 1 greeting, 2 notice (3 pressed), 3 GET DATA, 4 ticket-number-is, 5 first digit
    run = await run_call(context(db, tmp_path),
                         Caller(keys=["3", "5301202611250007"], hangup_during=5))
    assert run.escaped == []
    call = await call_row(db, run.uniqueid)
    assert call.outcome == CallOutcome.IVR_ONLY and call.ivr_choice == "progress"


async def test_line_from_the_dialled_number_when_the_query_has_none(db, tmp_path):
    """No `line=` in the AGI URL (a dialplan of its own): the DID (agi_dnid) picks the line."""
    run = await run_call(context(db, tmp_path), Caller(keys=["0"]), query="node=pbx1")
    # the stand-in's agi_dnid is its `extension`, 12345 — no line has that bare DID
    assert run.variables == {"HOTLINE_PRIORITY": "0", "HOTLINE_DEST": "queue"}
    assert run.played[0] == "hotline/welcome-96128"  # the default line's greeting
    from hotline.testing.agi_client import AgiSession

    class Kunming(AgiSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, extension="087112345", **kwargs)

    run = await run_call(context(db, tmp_path), Caller(keys=["0"]), query="node=pbx1",
                         session_class=Kunming)
    assert run.variables == TO_QUEUE and run.played[0] == GREETING
    assert (await call_row(db, run.uniqueid)).region_code == "530100"



async def test_the_app_serves_the_ivr_routes(client):
    """The real app's FastAGI server runs these flows, with the context the follow-up dialer
    finds at app[IVR]."""
    from hotline.testing.agi_client import AgiSession
    from hotline.web.keys import DB, FASTAGI, IVR

    server, ctx = client.app[FASTAGI], client.app[IVR]
    assert {"ivr", "callback", "survey"} <= set(server.routes)
    assert ctx.on_survey is not None  # the follow-up dialer registered its receiver
    session = AgiSession(Caller(keys=["1"]), script="ivr?line=12345-5301&node=pbx1",
                         uniqueid="1795607777.1", channel="PJSIP/trunk-00000009",
                         port=server.port)
    result = await session.run(limit=30)
    assert result.variables == TO_QUEUE
    assert (await call_row(client.app[DB], "1795607777.1")).category == "政策咨询"


async def test_a_withdrawn_caller_goes_back_to_the_queue_without_the_menu(db, tmp_path):
    run = await run_call(context(db, tmp_path), Caller(keys=["1"]),
                         query="line=12345-5301&node=pbx1&withdrawn=vh-7")
    assert run.escaped == [] and run.played == [] and run.variables == TO_QUEUE


async def test_an_answered_callback_gets_the_greeting_then_an_agent(db, tmp_path):
    run = await run_call(context(db, tmp_path), Caller(), route="callback",
                         query="job=17&line=12345-5301&region=530100&node=pbx1")
    assert run.escaped == []
    assert run.played == [GREETING, "hotline/transfer-agent"]
    # the Originate set no HOTLINE_QUEUE: the line's queue (the dialplan sets the priority)
    assert run.variables == {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_DEST": "queue"}
    from hotline.db.models import CallDirection

    assert (await call_row(db, run.uniqueid)).direction == CallDirection.OUTBOUND
