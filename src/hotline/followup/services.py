"""Follow-up (回访) jobs: created when a ticket enters 回访, dialed by dialer.py, finished by the
survey's answers (stored on the ticket through hotline.tickets.services) or, after the retries,
put on the manual list.

The rule that keeps an attempt from ever being dialed twice lives here: `start_attempt` writes
the attempt (its number, its ChannelId derived from job id and number, status `sending`) and
commits BEFORE the dialer sends the Originate. An attempt is never sent again: one whose fate
is unknown (a crash, a lost connection) is resolved by asking Asterisk about its ChannelId, or
counted as failed; the next try is a new attempt with a new number and a new ChannelId.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.config import FollowUpConfig
from hotline.db.models import Ticket, TicketStatus
from hotline.followup.models import (
    IN_FLIGHT,
    AttemptStatus,
    FollowUpAttempt,
    FollowUpJob,
    JobStatus,
    Satisfaction,
)

log = logging.getLogger(__name__)
ACTIVE = (JobStatus.PENDING, JobStatus.DIALING)
CHANNEL_PREFIX = "hotline-fu"


def channel_id_for(job_id: int, attempt: int) -> str:
    """The Originate ChannelId of attempt `attempt` of job `job_id` (the ;1 channel's
    Uniqueid): the same pair always gives the same id, a new attempt a new one."""
    return f"{CHANNEL_PREFIX}-{job_id}-{attempt}"


@dataclass(frozen=True)
class Policy:
    """What the dialer needs from `[followup]`, parsed once."""

    start: time
    end: time | None  # None: until midnight (24:00)
    max_concurrent: int
    max_attempts: int
    spacing: timedelta
    zone: ZoneInfo

    @classmethod
    def of(cls, config: FollowUpConfig, zone: ZoneInfo) -> Policy:
        first, last = config.hours.split("-")
        return cls(time.fromisoformat(first),
                   None if last == "24:00" else time.fromisoformat(last),
                   config.max_concurrent, 1 + config.retries,
                   timedelta(minutes=config.retry_spacing_minutes), zone)

    def calling_hours(self, now: datetime) -> bool:
        local = now.astimezone(self.zone).time()
        return self.start <= local and (self.end is None or local < self.end)


# Jobs ----------------------------------------------------------------------------------------

async def create_job(db: AsyncSession, ticket: Ticket, now: datetime | None = None) -> FollowUpJob:
    """The ticket's job for this round of 回访 (an active one is reused). Adds and flushes; the
    caller commits (the tickets service's hook runs inside the step's transaction)."""
    active = await db.scalar(select(FollowUpJob).where(
        FollowUpJob.ticket_id == ticket.id, FollowUpJob.status.in_(ACTIVE)))
    if active is not None:
        return active
    last_round = await db.scalar(select(func.max(FollowUpJob.round)).where(
        FollowUpJob.ticket_id == ticket.id))
    number = "".join(ch for ch in ticket.contact_number if ch.isdigit())
    job = FollowUpJob(ticket_id=ticket.id, round=(last_round or 0) + 1, number=number,
                      line_id=ticket.line_id,
                      status=JobStatus.PENDING if number else JobStatus.MANUAL,
                      note="" if number else "工单没有联系电话")
    if now is not None:
        job.next_attempt_at = job.created_at = now
    db.add(job)
    await db.flush()
    return job


async def due_jobs(db: AsyncSession, now: datetime, limit: int) -> list[FollowUpJob]:
    if limit <= 0:
        return []
    return list(await db.scalars(
        select(FollowUpJob).where(FollowUpJob.status == JobStatus.PENDING,
                                  FollowUpJob.next_attempt_at <= now)
        .order_by(FollowUpJob.next_attempt_at, FollowUpJob.id).limit(limit)))


@dataclass(frozen=True)
class Attempt:
    id: int
    job_id: int
    number: int
    channel_id: str
    node: str
    phone: str
    line_id: int | None
    ticket_id: int


async def start_attempt(db: AsyncSession, job_id: int, node: str,
                        now: datetime) -> Attempt | None:
    """Claim a pending job and record its next attempt (committed), or None when another
    dialer took it or its ticket has left 回访 (the job is then cancelled)."""
    job = await db.get(FollowUpJob, job_id, populate_existing=True)
    if job is None or job.status != JobStatus.PENDING:
        return None
    ticket_status = await db.scalar(select(Ticket.status).where(Ticket.id == job.ticket_id))
    if ticket_status != TicketStatus.FOLLOW_UP:
        job.status, job.finished_at = JobStatus.CANCELLED, now
        job.note = f"工单已不在回访状态（{ticket_status}）"
        await db.commit()
        return None
    number = job.attempts + 1
    channel_id = channel_id_for(job.id, number)
    claimed = await db.execute(
        update(FollowUpJob)
        .where(FollowUpJob.id == job.id, FollowUpJob.status == JobStatus.PENDING,
               FollowUpJob.attempts == job.attempts)
        .values(status=JobStatus.DIALING, attempts=number, last_channel_id=channel_id)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        await db.rollback()
        return None
    attempt = FollowUpAttempt(job_id=job.id, number=number, channel_id=channel_id, node=node,
                              status=AttemptStatus.SENDING, sent_at=now)
    db.add(attempt)
    await db.commit()
    return Attempt(attempt.id, job.id, number, channel_id, node, job.number, job.line_id,
                   job.ticket_id)


async def attempt_answered(db: AsyncSession, attempt_id: int, now: datetime) -> None:
    await db.execute(update(FollowUpAttempt).where(
        FollowUpAttempt.id == attempt_id, FollowUpAttempt.status == AttemptStatus.SENDING,
    ).values(status=AttemptStatus.ANSWERED, answered_at=now))
    await db.commit()


async def attempt_failed(db: AsyncSession, attempt_id: int, policy: Policy, now: datetime,
                         reason: str, status: AttemptStatus = AttemptStatus.FAILED,
                         ) -> FollowUpJob | None:
    """An in-flight attempt did not reach the end of the survey: the job waits for its next
    attempt, or goes to the manual list after the last. Returns the job; None when the
    attempt was settled already."""
    attempt = await db.get(FollowUpAttempt, attempt_id, populate_existing=True)
    if attempt is None or attempt.status not in IN_FLIGHT:
        return None
    attempt.status, attempt.reason, attempt.ended_at = status, reason[:128], now
    job = await db.get(FollowUpJob, attempt.job_id, populate_existing=True)
    assert job is not None
    if job.status == JobStatus.DIALING:
        _after_failure(job, policy, now, reason)
    await db.commit()
    log.info("follow-up job %s attempt %s: %s (%s)", job.id, attempt.number, status, reason)
    return job


def _after_failure(job: FollowUpJob, policy: Policy, now: datetime, reason: str) -> None:
    if job.attempts >= policy.max_attempts:
        job.status, job.finished_at = JobStatus.MANUAL, now
        job.note = f"{job.attempts} 次未能完成回访（最后一次：{reason}），转人工回访"
    else:
        job.status, job.next_attempt_at = JobStatus.PENDING, now + policy.spacing


async def in_flight(db: AsyncSession) -> list[FollowUpAttempt]:
    return list(await db.scalars(select(FollowUpAttempt).where(
        FollowUpAttempt.status.in_(IN_FLIGHT)).order_by(FollowUpAttempt.id)))


# The survey's answers --------------------------------------------------------------------------

TICKET_SATISFACTION = {  # hotline.tickets.services.Satisfaction values
    Satisfaction.SATISFIED: "satisfied",
    Satisfaction.BASICALLY_SATISFIED: "basically",
    Satisfaction.DISSATISFIED: "dissatisfied",
}


async def record_survey(db: AsyncSession, job_id: int, satisfaction: str | None,
                        solved: bool | None, completed: bool, policy: Policy,
                        now: datetime, ticket_options: Any = None) -> JobStatus | None:
    """The survey of the job's in-flight attempt ended. Complete answers finish the job and go
    onto the ticket (one transaction with the ticket's step when the tickets service takes
    them); incomplete ones count as a failed attempt. None when the job was not dialing."""
    job = await db.get(FollowUpJob, job_id, populate_existing=True)
    if job is None or job.status != JobStatus.DIALING:
        log.warning("survey answers for follow-up job %s, which is not dialing: ignored", job_id)
        return None
    attempt = await db.scalar(select(FollowUpAttempt).where(
        FollowUpAttempt.job_id == job_id, FollowUpAttempt.status.in_(IN_FLIGHT)))
    if not completed or satisfaction is None or solved is None:
        if attempt is not None:
            await attempt_failed(db, attempt.id, policy, now, "回访问卷未答完")
        return JobStatus.PENDING if job.attempts < policy.max_attempts else JobStatus.MANUAL
    if attempt is not None:
        attempt.status, attempt.ended_at = AttemptStatus.COMPLETED, now
    job.status, job.finished_at = JobStatus.DONE, now
    job.satisfaction, job.solved = Satisfaction(satisfaction), solved
    await _store_on_ticket(db, job, now, "dialer", ticket_options)
    return JobStatus.DONE


async def _store_on_ticket(db: AsyncSession, job: FollowUpJob, now: datetime, actor: Any,
                           ticket_options: Any) -> None:
    """The tickets service commits the job's changes with the ticket's step. If it refuses
    (the ticket was closed by hand meanwhile, …) the answers stay on the job, with the reason."""
    from hotline.tickets import services as tickets

    assert job.satisfaction is not None and job.solved is not None
    job_id, satisfaction, solved = job.id, job.satisfaction, job.solved
    try:
        await tickets.record_follow_up_result(
            db, job.ticket_id, TICKET_SATISFACTION[satisfaction], solved, actor=actor,
            options=ticket_options)
        await db.commit()
    except Exception as exc:  # the answers must not be lost with the ticket's refusal
        log.warning("follow-up job %s: the ticket did not take the answers: %s", job_id, exc)
        await db.rollback()
        await db.execute(update(FollowUpJob).where(FollowUpJob.id == job_id).values(
            status=JobStatus.DONE, finished_at=now, satisfaction=satisfaction, solved=solved,
            note=f"答案未写入工单：{exc}"[:500]))
        await db.execute(update(FollowUpAttempt).where(
            FollowUpAttempt.job_id == job_id, FollowUpAttempt.status.in_(IN_FLIGHT),
        ).values(status=AttemptStatus.COMPLETED, ended_at=now))
        await db.commit()


async def ticket_number(db: AsyncSession, ticket_id: int) -> str:
    return await db.scalar(select(Ticket.number).where(Ticket.id == ticket_id)) or ""


# Lists -----------------------------------------------------------------------------------------

async def list_jobs(db: AsyncSession, actor: Any, *,
                    status: JobStatus | None = None, ticket_id: int | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Follow-up jobs of the tickets `actor` may see (tickets.queries.visible_ids), oldest
    first."""
    from hotline.tickets.queries import visible_ids
    from hotline.tickets.steps import as_actor

    query = (select(FollowUpJob, Ticket.number, Ticket.region_code, Ticket.title)
             .join(Ticket, Ticket.id == FollowUpJob.ticket_id)
             .where(Ticket.id.in_(visible_ids(as_actor(actor))))
             .order_by(FollowUpJob.finished_at, FollowUpJob.id).limit(limit))
    if status is not None:
        query = query.where(FollowUpJob.status == status)
    if ticket_id is not None:
        query = query.where(FollowUpJob.ticket_id == ticket_id)
    rows = (await db.execute(query)).all()
    return [{"id": job.id, "ticket_id": job.ticket_id, "ticket_number": number,
             "region_code": region, "title": title, "number": job.number, "round": job.round,
             "status": job.status, "attempts": job.attempts, "next_attempt_at":
             job.next_attempt_at, "satisfaction": job.satisfaction, "solved": job.solved,
             "note": job.note, "finished_at": job.finished_at}
            for job, number, region, title in rows]


async def manual_list(db: AsyncSession, actor: Any) -> list[dict[str, Any]]:
    """Jobs a person must call: unreachable after the retries, or without a number."""
    return await list_jobs(db, actor, status=JobStatus.MANUAL)


class ManualResultError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def record_manual_result(db: AsyncSession, job_id: int, actor: Any, *,
                               satisfaction: str | None, solved: bool | None, reached: bool,
                               note: str, now: datetime, ticket_options: Any = None) -> None:
    """A person made the follow-up call of a job on the manual list: the citizen's answers go
    onto the ticket (回访 step), or, not reached either, the ticket is closed without a survey
    (办结, "回访无法接通"). The ticket service's refusals come back as ManualResultError."""
    from hotline.tickets import services as tickets
    from hotline.tickets.queries import visible
    from hotline.tickets.steps import as_actor
    from hotline.tickets.workflow import Action, WorkflowError

    job = await db.get(FollowUpJob, job_id, populate_existing=True)
    ticket = await db.get(Ticket, job.ticket_id) if job is not None else None
    if ticket is None or not visible(ticket, as_actor(actor)):  # nothing said of others' jobs
        raise ManualResultError("no such follow-up job", 404)
    if job.status != JobStatus.MANUAL:
        raise ManualResultError(f"this follow-up is {job.status}, not on the manual list", 409)
    job.finished_at, job.note = now, (note or job.note)[:500]
    try:
        if reached:
            if satisfaction not in set(Satisfaction) or solved is None:
                raise ManualResultError("a citizen reached: give satisfaction and solved")
            job.status = JobStatus.DONE
            job.satisfaction, job.solved = Satisfaction(satisfaction), solved
            await tickets.record_follow_up_result(
                db, job.ticket_id, TICKET_SATISFACTION[job.satisfaction], solved, actor=actor,
                note=note, options=ticket_options)
        else:
            job.status = JobStatus.CANCELLED
            await tickets.act(db, job.ticket_id, Action.CLOSE, actor,
                              note=note or "回访无法接通", options=ticket_options)
        await db.commit()
    except WorkflowError as exc:
        await db.rollback()
        raise ManualResultError(str(exc), exc.status) from None
    except ManualResultError:
        await db.rollback()
        raise
