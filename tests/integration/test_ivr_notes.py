"""The menu's notes (ivr_choice, category, transcript) are written once, when the flow ends
(ivr/context.py `run_guarded`), never lost: not when AMI closed the call row before the flow saw
the hang-up, not when the flow's body fails. No Asterisk traffic here: the flow body is called
directly with a stand-in channel object (only `env.caller_number` is read on a hang-up)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ivr_flow_support import call_row, context

from hotline.asterisk.agi_channel import AgiHangup
from hotline.calls.services import CallStart, record_call_end, record_call_start
from hotline.db.models import CallOutcome
from hotline.ivr.context import CallIdentity, CallState, note, run_guarded

CHANNEL = SimpleNamespace(env=SimpleNamespace(caller_number="13900000001"))


async def _call(db, ctx, uniqueid: str) -> CallState:
    line = await ctx.line("12345-5301")
    async with db() as session:
        call_id = await record_call_start(session, CallStart(
            node="pbx1", uniqueid=uniqueid, linkedid=uniqueid, caller_number="13900000001",
            line_code="12345-5301", line_id=line.id if line else None))
    return CallState(CallIdentity("pbx1", uniqueid, uniqueid), line, call_id)


async def test_notes_survive_a_row_that_ami_closed_first(db, tmp_path):
    ctx = context(db, tmp_path)
    state = await _call(db, ctx, "1795600001.1")
    async with db() as session:  # AMI's Hangup arrived before the flow's next command failed
        await record_call_end(session, "pbx1", "1795600001.1", CallOutcome.ABANDONED)

    async def body() -> None:
        note(state, ivr_choice="progress")
        raise AgiHangup("GET DATA: the caller has hung up")

    await run_guarded(CHANNEL, ctx, state, body)
    row = await call_row(db, "1795600001.1")
    assert row.ivr_choice == "progress"
    assert row.outcome == CallOutcome.ABANDONED  # the first end recorded wins


async def test_notes_are_written_when_the_body_fails(db, tmp_path):
    ctx = context(db, tmp_path)
    state = await _call(db, ctx, "1795600002.1")

    async def body() -> None:
        note(state, ivr_choice="complaint", category="求助投诉")
        raise RuntimeError("a bug in a flow")

    with pytest.raises(RuntimeError):
        await run_guarded(CHANNEL, ctx, state, body)
    row = await call_row(db, "1795600002.1")
    assert (row.ivr_choice, row.category) == ("complaint", "求助投诉")
    assert row.ended_at is None


async def test_the_call_row_reuses_the_cached_line_and_is_idempotent(db, tmp_path):
    ctx = context(db, tmp_path)
    first = await _call(db, ctx, "1795600003.1")
    again = await _call(db, ctx, "1795600003.1")  # a retried AGI: the same row
    assert first.call_id == again.call_id
    row = await call_row(db, "1795600003.1")
    assert row.id == first.call_id and first.line is not None
    assert (row.line_id, row.region_code) == (first.line.id, "530100")
