"""THE DIALER RESTART TEST (issue 6): `hotline serve` runs the follow-up dialer against the AMI
stand-in; it is killed (SIGKILL) right after its first Originate reached the stand-in, before any
survey answer; restarted, it finds the attempt it had written, asks Asterisk (CoreShowChannels:
no such channel), counts it lost and dials attempt 2 with a new ChannelId; the survey then runs
over FastAGI as Asterisk would run it ([hotline-survey] → AGI survey?job=…, keys 1 and 1) and the
job finishes with the answers on the ticket. The stand-in's record of Originates shows every
attempt once: two Originates, two distinct ChannelIds. The stand-in answers as
../shared/asterisk-22/transcripts/ami-actions.jsonl shows (queued, OriginateResponse Success);
the FastAGI session's lines are those of agi-session-normal.jsonl (hotline.testing.agi_client).
"""

import asyncio
import os
import sys
from datetime import UTC, datetime

from sqlalchemy import select

from hotline.db.engine import create_engine, session_maker
from hotline.db.models import HotlineLine, Ticket, TicketChannel, TicketStatus
from hotline.followup import services
from hotline.followup.dialer import attempts_of
from hotline.followup.models import AttemptStatus, FollowUpJob, JobStatus
from hotline.testing.agi_client import AgiSession, Caller
from hotline.testing.ami_server import CAPTURE_CONTEXTS, AmiStandin

from pg import free_port

SURVEY_CONTEXTS = CAPTURE_CONTEXTS | {"hotline-survey", "hotline-outbound"}
LIMIT = 60


def _config(tmp_path, db_url, ami_port, agi_port):
    path = tmp_path / "hotline.toml"
    path.write_text(
        f'data_dir = "var"\n[database]\nurl = "{db_url}"\n'
        f'[web]\nbind = "127.0.0.1:{free_port()}"\n[fastagi]\nbind = "127.0.0.1:{agi_port}"\n'
        '[followup]\nhours = "00:00-24:00"\nretry_spacing_minutes = 0\npoll_seconds = 0.2\n'
        'result_grace_seconds = 30\n'
        f'[[asterisk]]\nname = "pbx1"\nhost = "127.0.0.1"\nport = {ami_port}\n'
        'username = "hotline"\n')
    return path


async def _serve(config):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_ASTERISK_PBX1_SECRET"] = "hotline-secret"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "--config", str(config), "serve",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env)


async def _seed(db):
    async with db() as session:
        line = await session.scalar(select(HotlineLine).where(HotlineLine.code == "96128"))
        ticket = Ticket(number="5300-20261125-0001", channel=TicketChannel.PHONE,
                        region_code="530000", line_id=line.id, status=TicketStatus.FOLLOW_UP,
                        title="路灯不亮", contact_number="13800138000")
        session.add(ticket)
        await session.flush()
        job = await services.create_job(session, ticket, now=datetime.now(UTC))
        await session.commit()
        return ticket.id, job.id


async def _until_done(db, job_id):
    async with asyncio.timeout(LIMIT):
        while True:
            async with db() as session:
                job = await session.get(FollowUpJob, job_id)
                if job.status == JobStatus.DONE:
                    return job
            await asyncio.sleep(0.1)


async def test_a_killed_dialer_resumes_and_never_dials_an_attempt_twice(tmp_path, db_url):
    engine = create_engine(db_url)
    db = session_maker(engine)
    ticket_id, job_id = await _seed(db)
    agi_port = free_port()
    processes = []
    try:
        async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin:
            config = _config(tmp_path, db_url, standin.port, agi_port)
            first = await _serve(config)
            processes.append(first)
            async with asyncio.timeout(LIMIT):
                sent = await standin.wait_for_action("Originate", 1)
            first.kill()  # SIGKILL: no shutdown, in the middle of the job
            await first.wait()
            [attempt] = await attempts_of(db, job_id)
            assert attempt.channel_id == sent["ChannelId"] == f"hotline-fu-{job_id}-1"
            assert attempt.status in (AttemptStatus.SENDING, AttemptStatus.ANSWERED)

            second = await _serve(config)
            processes.append(second)
            async with asyncio.timeout(LIMIT):
                again = await standin.wait_for_action("Originate", 2)
            channel_id = again["ChannelId"]
            assert channel_id == f"hotline-fu-{job_id}-2"
            # Asterisk runs [hotline-survey] on the answered channel: the FastAGI survey
            session = AgiSession(
                Caller(number="13800138000", keys=["1", "1"]),
                script=f"survey?node=pbx1&linkedid={channel_id}&job={job_id}&line=96128",
                uniqueid=channel_id, channel="Local/13800138000@hotline-outbound-00000001;1",
                extension="s", context="hotline-survey", port=agi_port)
            await session.run(limit=LIMIT)
            job = await _until_done(db, job_id)
            second.terminate()
            async with asyncio.timeout(LIMIT):
                await second.wait()
            originates = standin.actions_named("Originate")
        assert [o["ChannelId"] for o in originates] == [f"hotline-fu-{job_id}-1",
                                                       f"hotline-fu-{job_id}-2"]
        assert (job.satisfaction, job.solved, job.attempts) == ("satisfied", True, 2)
        assert [(a.number, a.status) for a in await attempts_of(db, job_id)] == [
            (1, AttemptStatus.LOST), (2, AttemptStatus.COMPLETED)]
        async with db() as session:
            assert (await session.get(Ticket, ticket_id)).status == TicketStatus.CLOSED
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await engine.dispose()
