"""`hotline-agi`, the process-per-call entry point (pyst2 reads the environment), runs the same
flows as FastAGI (without speech). Asterisk's side is the stand-in of hotline.testing (replies
and environment from ../shared/asterisk-22/transcripts/agi-session-normal.jsonl; a process AGI
gets the same block without the agi_network lines and with the arguments as agi_arg_N)."""

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import select

from hotline.db.models import Call
from hotline.testing.agi_client import AgiSession, Caller


async def _run_classic(db_url, tmp_path, caller, args):
    executable = Path(sys.executable).with_name("hotline-agi")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    config = tmp_path / "hotline.toml"
    config.write_text(f'data_dir = "var"\n[database]\nurl = "{db_url}"\n')
    env["HOTLINE_CONFIG"] = str(config)
    process = await asyncio.create_subprocess_exec(
        str(executable), *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    session = AgiSession(caller, script="hotline-agi", uniqueid="1795607000.3",
                         channel="PJSIP/trunk-00000009")
    result = await session.converse(process.stdout, process.stdin,
                                    session.environment(classic_args=tuple(args)), limit=30)
    async with asyncio.timeout(30):
        code = await process.wait()
    return result, code, (await process.stderr.read()).decode()


async def test_classic_agi_runs_the_ivr_flow(db_url, db, tmp_path):
    """The full `ivr` flow (greeting, notice, menu), without speech: a caller who presses
    nothing goes to the line's queue."""
    args = ["ivr", "line=12345-5301&node=pbx1&linkedid=1795607000.2"]
    result, code, stderr = await _run_classic(db_url, tmp_path, Caller(), args)
    assert code == 0, stderr
    assert result.commands[0] == "ANSWER"
    played = [c.split()[2] for c in result.commands if c.startswith("STREAM FILE")]
    assert played[:2] == ["hotline/welcome-12345-5301", "hotline/notice"], result.commands
    assert "hotline/menu" in played
    assert result.variables == {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_PRIORITY": "0",
                                "HOTLINE_DEST": "queue"}
    async with db() as session:
        call = await session.scalar(select(Call))
    assert (call.node, call.uniqueid, call.linkedid) == ("pbx1", "1795607000.3", "1795607000.2")
    assert "ENV LINE" not in stderr  # pyst2's environment dump is kept out of Asterisk's log


async def test_classic_agi_caller_hangup(db_url, db, tmp_path):
    args = ["ivr", "line=12345-5301&node=pbx1"]
    result, code, stderr = await _run_classic(db_url, tmp_path, Caller(hangup_during=0), args)
    assert code == 0, stderr
    # `200 result=-1` then `HANGUP` (agi-session-caller-hangup). On a pipe the HANGUP line can
    # come after the flow has seen result=-1; it then asks CHANNEL STATUS, gets 511 and stops.
    assert result.commands in (["ANSWER"], ["ANSWER", "CHANNEL STATUS"])
    async with db() as session:
        call = await session.scalar(select(Call))
    assert call.ended_at is not None and call.outcome.value == "ivr_only", (result, stderr)
