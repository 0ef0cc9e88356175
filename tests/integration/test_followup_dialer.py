"""The follow-up (回访) dialer in-process, against the AMI stand-in (Originate answered as in
../shared/asterisk-22/transcripts/ami-actions.jsonl: `Originate successfully queued`, then an
OriginateResponse Success with Reason 4 and the originated channel's Hangup; or, into a context
the dialplan lacks, OriginateResponse Failure with Reason 0). Whether an originated channel is
still up after a restart is asked with CoreShowChannels (ami-actions-live); the stand-in lists
only its queue calls, so an attempt of a crashed process is found gone — "assumed, not captured":
that a live originated Local channel shows in CoreShowChannels under its ChannelId as Uniqueid.

A clock is injected: calling hours and retry spacing are stepped, never waited for."""

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from hotline.asterisk.ami import AmiNodes, NodeState
from hotline.bus import Bus
from hotline.config import AsteriskNodeConfig, FollowUpConfig
from hotline.db.models import HotlineLine, Ticket, TicketChannel, TicketStatus
from hotline.followup import services
from hotline.followup.dialer import Dialer, attempts_of
from hotline.followup.models import AttemptStatus, FollowUpJob, JobStatus
from hotline.followup.services import Policy
from hotline.ivr.survey import SurveyAnswers
from hotline.testing.ami_server import CAPTURE_CONTEXTS, AmiStandin
from hotline.tickets.models import TicketSurvey

from conftest import logged_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2026, 11, 25, 21, 30, tzinfo=SHANGHAI)  # after calling hours
MORNING = datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)
SURVEY_CONTEXTS = CAPTURE_CONTEXTS | {"hotline-survey", "hotline-outbound"}


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now.astimezone(UTC)


async def follow_up_ticket(db, n=1, number="13800138000"):
    async with db() as session:
        line = await session.scalar(select(HotlineLine).where(HotlineLine.code == "96128"))
        ticket = Ticket(number=f"5300-20261125-{n:04d}", channel=TicketChannel.PHONE,
                        region_code="530000", line_id=line.id, status=TicketStatus.FOLLOW_UP,
                        title="路灯不亮", contact_number=number)
        session.add(ticket)
        await session.flush()
        job = await services.create_job(session, ticket, now=MORNING - timedelta(hours=12))
        await session.commit()
        return ticket.id, job.id


async def eventually(probe):
    """The first truthy value of `probe()` (polled; the test fails after 10 s)."""
    async with asyncio.timeout(10):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.02)


class Rig:
    """A dialer on `db`, its AMI node connected to a stand-in."""

    def __init__(self, db, standin, clock, **config):
        self.db, self.standin, self.clock = db, standin, clock
        node = AsteriskNodeConfig(name="pbx1", port=standin.port, username="hotline",
                                  secret=SecretStr("hotline-secret"))
        self.nodes = AmiNodes([node], backoff=(0.05, 0.2))
        grace = config.pop("grace", 30.0)
        policy = Policy.of(FollowUpConfig(**{"retries": 2, **config}), SHANGHAI)
        self.bus = Bus()
        self.alerts = self.bus.subscribe(["alerts"])
        self.dialer = Dialer(db, self.nodes, policy, result_grace=grace, clock=clock,
                             bus=self.bus)
        self.nodes.subscribe(self.dialer.on_ami_event)

    async def __aenter__(self):
        self.nodes.start()
        async def connected():
            return self.nodes.nodes[0].state == NodeState.CONNECTED

        await eventually(connected)
        return self

    async def __aexit__(self, *exc):
        await self.dialer.close()
        await self.nodes.close()

    async def job(self, job_id):
        async with self.db() as session:
            return await session.get(FollowUpJob, job_id)

    async def until_job(self, job_id, *statuses):
        async def settled():
            job = await self.job(job_id)
            return job if job.status in statuses else None

        return await eventually(settled)

    async def until_attempt(self, job_id, number, *statuses):
        async def settled():
            rows = await attempts_of(self.db, job_id)
            if len(rows) >= number and rows[number - 1].status in statuses:
                return rows[number - 1]
            return None

        return await eventually(settled)

    def originates(self):
        return self.standin.actions_named("Originate")


async def test_calls_within_hours_and_the_answers_go_onto_the_ticket(db):
    ticket_id, job_id = await follow_up_ticket(db)
    clock = Clock(EVENING)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, Rig(db, standin, clock) as rig:
        assert await rig.dialer.tick() == 0
        assert rig.originates() == []
        clock.now = MORNING
        assert await rig.dialer.tick() == 1
        await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
        [sent] = rig.originates()
        assert sent["ChannelId"] == f"hotline-fu-{job_id}-1"
        assert (sent["Channel"], sent["Context"], sent["Exten"]) == (
            "Local/13800138000@hotline-outbound", "hotline-survey", "s")
        assert set(sent.getall("Variable")) == {
            f"HOTLINE_JOB={job_id}", "HOTLINE_LINE=96128", "HOTLINE_CALLERID=96128"}

        await rig.dialer.on_survey(str(job_id), SurveyAnswers("basically_satisfied", True, True))
        job = await rig.until_job(job_id, JobStatus.DONE)
        assert (job.satisfaction, job.solved, job.note) == ("basically_satisfied", True, "")
        [attempt] = await attempts_of(db, job_id)
        assert attempt.status == AttemptStatus.COMPLETED
        assert await rig.dialer.tick() == 0
    async with db() as session:
        ticket = await session.get(Ticket, ticket_id)
        survey = await session.scalar(select(TicketSurvey).where(
            TicketSurvey.ticket_id == ticket_id))
    assert ticket.status == TicketStatus.CLOSED  # 办结
    assert (survey.satisfaction, survey.solved) == ("basically", True)
    assert len(rig.originates()) == 1


async def test_unreachable_after_the_retries_goes_to_the_manual_list(db):
    """Each Originate fails (OriginateResponse Failure); a failed attempt is not followed by
    another before the spacing; after 1 + retries attempts the job is on the manual list."""
    _, job_id = await follow_up_ticket(db)
    clock = Clock(MORNING)
    unroutable = SURVEY_CONTEXTS - {"hotline-outbound"}  # the Local channel's context is missing
    async with AmiStandin(contexts=unroutable) as standin, Rig(db, standin, clock) as rig:
        for number in (1, 2, 3):
            assert await rig.dialer.tick() == 1
            attempt = await rig.until_attempt(job_id, number, AttemptStatus.FAILED)
            assert attempt.reason == "未接通 (OriginateResponse 0)"
            clock.now += timedelta(minutes=10)
            assert await rig.dialer.tick() == 0  # not before the spacing
            clock.now += timedelta(minutes=20)
        job = await rig.until_job(job_id, JobStatus.MANUAL)
        assert await rig.dialer.tick() == 0
        async with asyncio.timeout(10):
            topic, alert = await rig.alerts.get()
        assert (topic, alert["type"], alert["job_id"]) == ("alerts", "followup_manual", job_id)
        assert alert["message"] == "工单 5300-20261125-0001 回访 3 次未能完成，已转人工回访"
        assert rig.alerts._queue.empty()  # one alert, not one per attempt
    assert job.attempts == 3 and "3 次未能完成回访" in job.note
    ids = [o["ChannelId"] for o in rig.originates()]
    assert ids == [f"hotline-fu-{job_id}-{n}" for n in (1, 2, 3)]


async def test_a_hangup_without_answers_and_an_unfinished_survey_are_retried(db):
    _, job_id = await follow_up_ticket(db)
    clock = Clock(MORNING)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, \
            Rig(db, standin, clock, grace=0.05) as rig:
        assert await rig.dialer.tick() == 1
        # the stand-in hangs the answered channel up at once: no answers within the grace
        first = await rig.until_attempt(job_id, 1, AttemptStatus.FAILED)
        assert first.reason == "通话结束，未收到回访答案"
        job = await rig.job(job_id)
        assert job.status == JobStatus.PENDING
        assert job.next_attempt_at == clock() + timedelta(minutes=30)

    clock.now += timedelta(minutes=30)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, Rig(db, standin, clock) as rig:
        assert await rig.dialer.tick() == 1
        await rig.until_attempt(job_id, 2, AttemptStatus.ANSWERED)
        await rig.dialer.on_survey(str(job_id), SurveyAnswers("satisfied", None, False))
        second = await rig.until_attempt(job_id, 2, AttemptStatus.FAILED)
        assert second.reason == "回访问卷未答完"
        assert (await rig.job(job_id)).status == JobStatus.PENDING


async def test_at_most_max_concurrent_calls_at_once(db):
    jobs = [(await follow_up_ticket(db, n, f"1380013800{n}"))[1] for n in range(3)]
    clock = Clock(MORNING)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, \
            Rig(db, standin, clock, max_concurrent=2) as rig:
        assert await rig.dialer.tick() == 2
        for job_id in jobs[:2]:
            await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
        assert await rig.dialer.tick() == 0
        await rig.dialer.on_survey(str(jobs[0]), SurveyAnswers("satisfied", True, True))
        await rig.until_job(jobs[0], JobStatus.DONE)

        async def one_call_left():
            return len(rig.dialer._calls) == 1

        await eventually(one_call_left)
        assert await rig.dialer.tick() == 1
        async with asyncio.timeout(10):
            third = await standin.wait_for_action("Originate", 3)
    assert third["ChannelId"] == f"hotline-fu-{jobs[2]}-1" and len(rig.originates()) == 3


async def test_an_attempt_recorded_but_never_answered_for_is_never_sent_again(db):
    """A crash right after the attempt was written (before or after its Originate went out):
    the next dialer asks Asterisk, finds no such channel, counts it lost, and dials a new
    attempt with a new ChannelId; the lost one's ChannelId is never sent."""
    _, job_id = await follow_up_ticket(db)
    clock = Clock(MORNING)
    async with db() as session:
        await services.start_attempt(session, job_id, "pbx1", clock())
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, Rig(db, standin, clock) as rig:
        assert await rig.dialer.tick() == 0  # resolved (lost); the retry waits for the spacing
        first = await rig.until_attempt(job_id, 1, AttemptStatus.LOST)
        assert first.reason == "重启后查无此通话"
        assert standin.actions_named("CoreShowChannels")
        clock.now += timedelta(minutes=30)
        assert await rig.dialer.tick() == 1
        await rig.until_attempt(job_id, 2, AttemptStatus.ANSWERED)
    assert [o["ChannelId"] for o in rig.originates()] == [f"hotline-fu-{job_id}-2"]


async def test_a_ticket_that_left_follow_up_cancels_its_job(db):
    ticket_id, job_id = await follow_up_ticket(db)
    async with db() as session:
        (await session.get(Ticket, ticket_id)).status = TicketStatus.CLOSED
        await session.commit()
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, \
            Rig(db, standin, Clock(MORNING)) as rig:
        assert await rig.dialer.tick() == 0
        assert (await rig.job(job_id)).status == JobStatus.CANCELLED
    assert rig.originates() == []


async def test_the_manual_list_for_supervisors(client):
    from hotline.web.keys import DB

    db = client.app[DB]
    _, job_id = await follow_up_ticket(db, number="")  # no number: straight to the list
    await logged_in(client, "boss", "supervisor")
    rows = await (await client.get("/api/followups/manual")).json()
    assert [(r["id"], r["ticket_number"], r["note"]) for r in rows] == [
        (job_id, "5300-20261125-0001", "工单没有联系电话")]
    page = await client.get("/followups/manual")
    assert page.status == 200 and "5300-20261125-0001" in await page.text()
    assert 'href="/followups/manual"' in await (await client.get("/")).text()
    await logged_in(client, "kunming", "supervisor", region_code="530100")
    assert await (await client.get("/api/followups/manual")).json() == []
    await logged_in(client, "a1", "agent")
    assert (await client.get("/api/followups/manual")).status == 403


async def test_the_dialplans_survey_report_also_finishes_the_job(db):
    """[hotline-survey]'s `h` extension sends UserEvent HotlineSurveyResult (dialplans/README.md;
    its AMI form is assumed, not captured): the answers count even if the survey's FastAGI ran
    on another controller; a second report of the same job changes nothing."""
    from hotline.asterisk.ami_codec import AmiMessage

    ticket_id, job_id = await follow_up_ticket(db)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, \
            Rig(db, standin, Clock(MORNING)) as rig:
        assert await rig.dialer.tick() == 1
        attempt = await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
        report = AmiMessage([
            ("Event", "UserEvent"), ("Privilege", "user,all"),
            ("Channel", "Local/13800138000@hotline-outbound-00000001;1"),
            ("Uniqueid", attempt.channel_id), ("Linkedid", attempt.channel_id),
            ("UserEvent", "HotlineSurveyResult"), ("Job", str(job_id)),
            ("Satisfaction", "dissatisfied"), ("Solved", "no")])
        standin.emit(report)
        job = await rig.until_job(job_id, JobStatus.DONE)
        standin.emit(report)
        await rig.dialer.tick()
    assert (job.satisfaction, job.solved) == ("dissatisfied", False)
    async with db() as session:
        surveys = (await session.execute(select(
            TicketSurvey.satisfaction, TicketSurvey.solved, TicketSurvey.actor).where(
            TicketSurvey.ticket_id == ticket_id))).all()
    assert [tuple(s) for s in surveys] == [("dissatisfied", False, "dialer")] and job.note == ""
    assert len(rig.originates()) == 1


async def test_a_ticket_entering_follow_up_gets_a_job(client):
    """The app registers the tickets service's follow-up hook: 审核通过 (approve) creates the
    job in the same transaction."""
    from hotline.db.models import User
    from hotline.tickets import services as tickets
    from hotline.web.keys import DB

    db = client.app[DB]
    await logged_in(client, "boss", "supervisor")
    async with db() as session:
        boss = await session.scalar(select(User).where(User.username == "boss"))
        ticket = Ticket(number="5300-20261125-0009", channel=TicketChannel.PHONE,
                        region_code="530000", status=TicketStatus.REVIEWING,
                        contact_number="138-0013-8000")
        session.add(ticket)
        await session.commit()
        await tickets.enter_follow_up(session, ticket.id, tickets.Actor.of(boss))
        jobs = (await session.scalars(select(FollowUpJob))).all()
    assert [(j.ticket_id, j.round, j.status, j.number) for j in jobs] == [
        (ticket.id, 1, JobStatus.PENDING, "13800138000")]


async def test_recording_a_manual_follow_up(client):
    from hotline.web.keys import DB

    db = client.app[DB]
    reached_ticket, reached_job = await follow_up_ticket(db, 1, number="")
    lost_ticket, lost_job = await follow_up_ticket(db, 2, number="")
    token = await logged_in(client, "a1", "agent")
    headers = {"X-CSRF-Token": token}

    def post(job_id, body):
        return client.post(f"/api/followups/{job_id}/result", json=body, headers=headers)

    bad = await post(reached_job, {"reached": True, "satisfaction": "satisfied"})
    assert bad.status == 400 and "solved" in (await bad.json())["error"]
    assert (await post(reached_job, {"reached": True, "satisfaction": "satisfied",
                                     "solved": True, "note": "市民表示满意"})).status == 204
    assert (await post(reached_job, {"reached": False})).status == 409
    assert (await post(lost_job, {"reached": False})).status == 204
    assert (await post(999999, {"reached": False})).status == 404
    listed = await (await client.get("/api/followups", params={"ticket_id": reached_ticket})).json()
    assert [(j["id"], j["status"], j["satisfaction"]) for j in listed] == [
        (reached_job, "done", "satisfied")]
    done = await (await client.get("/api/followups", params={"status": "cancelled"})).json()
    assert [j["id"] for j in done] == [lost_job]
    assert (await client.get("/api/followups", params={"status": "x"})).status == 400
    async with db() as session:
        for ticket_id, job_id, status in ((reached_ticket, reached_job, JobStatus.DONE),
                                          (lost_ticket, lost_job, JobStatus.CANCELLED)):
            assert (await session.get(Ticket, ticket_id)).status == TicketStatus.CLOSED
            assert (await session.get(FollowUpJob, job_id)).status == status
        survey = await session.scalar(select(TicketSurvey).where(
            TicketSurvey.ticket_id == reached_ticket))
    assert (survey.satisfaction, survey.solved, survey.actor) == ("satisfied", True, "a1")


async def test_a_manual_result_for_a_job_outside_ones_region_is_not_found(client):
    """An agent of 大理 answers for a follow-up of a province ticket they may not see: 404 as
    for a job that does not exist, whatever that job's state (no "this follow-up is done"),
    and nothing changes."""
    from hotline.web.keys import DB

    db = client.app[DB]
    manual_ticket, manual_job = await follow_up_ticket(db, 1, number="")
    _, done_job = await follow_up_ticket(db, 2, number="")
    async with db() as session:
        (await session.get(FollowUpJob, done_job)).status = JobStatus.DONE
        await session.commit()
    token = await logged_in(client, "dali1", "agent", region_code="532900")
    for job_id in (manual_job, done_job):
        response = await client.post(f"/api/followups/{job_id}/result", json={"reached": False},
                                     headers={"X-CSRF-Token": token})
        assert response.status == 404, await response.text()
        assert (await response.json())["error"] == "no such follow-up job"
    async with db() as session:
        assert (await session.get(FollowUpJob, manual_job)).status == JobStatus.MANUAL
        assert (await session.get(Ticket, manual_ticket)).status == TicketStatus.FOLLOW_UP


async def test_a_late_report_of_an_ended_attempt_does_not_settle_the_next(db):
    """The FastAGI survey and the dialplan's HotlineSurveyResult both report an unfinished
    survey; the second report, for a job no longer dialing, is ignored and must not count as
    the answers of the next attempt (which then ends on its hang-up as usual)."""
    from hotline.asterisk.ami_codec import AmiMessage

    _, job_id = await follow_up_ticket(db)
    clock = Clock(MORNING)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, Rig(db, standin, clock) as rig:
        assert await rig.dialer.tick() == 1
        first = await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
        await rig.dialer.on_survey(str(job_id), SurveyAnswers(None, None, False))
        await rig.until_attempt(job_id, 1, AttemptStatus.FAILED)
        seen = asyncio.Event()  # subscribed after the dialer: it has had the event first
        rig.nodes.subscribe(lambda event: event.name == "UserEvent" and seen.set())
        standin.emit(AmiMessage([
            ("Event", "UserEvent"), ("Privilege", "user,all"), ("Uniqueid", first.channel_id),
            ("UserEvent", "HotlineSurveyResult"), ("Job", str(job_id)), ("Satisfaction", ""),
            ("Solved", "")]))

        async def reported():
            return seen.is_set() and not rig.dialer._reports

        await eventually(reported)
        rig.dialer.result_grace = 0.05
        clock.now += timedelta(minutes=30)
        assert await rig.dialer.tick() == 1
        second = await rig.until_attempt(job_id, 2, AttemptStatus.FAILED)
    assert second.reason == "通话结束，未收到回访答案"


async def test_an_attempt_still_up_after_a_restart_is_adopted_not_redialed(db):
    """The attempt's channel is still live (CoreShowChannels lists its ChannelId as Uniqueid,
    as ami-actions-live shows a live call's channels): the restarted dialer waits for that
    call's survey instead of dialing again."""
    _, job_id = await follow_up_ticket(db)
    clock = Clock(MORNING)
    async with db() as session:
        attempt = await services.start_attempt(session, job_id, "pbx1", clock())
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, Rig(db, standin, clock) as rig:
        standin.queued_call(uniqueid=attempt.channel_id)  # a live channel with that id
        assert await rig.dialer.tick() == 0
        adopted = await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
        assert adopted.channel_id == attempt.channel_id
        assert (await rig.job(job_id)).status == JobStatus.DIALING
        await rig.dialer.on_survey(str(job_id), SurveyAnswers("satisfied", False, True))
        job = await rig.until_job(job_id, JobStatus.DONE)
        assert await rig.dialer.tick() == 0
    assert (job.attempts, job.satisfaction, job.solved) == (1, "satisfied", False)
    assert rig.originates() == []


@pytest.mark.parametrize("found_by", ["resync", "periodic check"])
async def test_a_hangup_lost_with_the_ami_connection_still_ends_the_attempt(db, found_by):
    """The survey call's Hangup never reaches the dialer (it is not listening, as during an AMI
    outage): the resync after a reconnect, or the periodic CoreShowChannels, shows the channel
    gone, and the attempt ends as a hang-up without answers instead of holding its slot."""
    _, job_id = await follow_up_ticket(db)
    async with AmiStandin(contexts=SURVEY_CONTEXTS) as standin, \
            Rig(db, standin, Clock(MORNING)) as rig:
        node = rig.nodes.nodes[0]
        node.subscribers.remove(rig.dialer.on_ami_event)  # deaf: the Hangup is missed
        rig.dialer.result_grace = 0.05
        if found_by == "periodic check":
            rig.dialer.check_every = 0.05
        assert await rig.dialer.tick() == 1
        if found_by == "resync":
            await rig.until_attempt(job_id, 1, AttemptStatus.ANSWERED)
            node.subscribers.append(rig.dialer.on_ami_event)
            standin.drop()  # the node reconnects and resyncs
        failed = await rig.until_attempt(job_id, 1, AttemptStatus.FAILED)
        if found_by == "resync":
            assert node.connections == 2
    assert failed.reason == "通话结束，未收到回访答案"
