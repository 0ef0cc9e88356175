"""The follow-up (回访) dialer: a background task of the app (cleanup context).

Each pass (every `[followup] poll_seconds`, or at once when woken):
1. attempts left in flight by an earlier process (status `sending` or `answered` and not ours)
   are resolved by asking their Asterisk node for the ChannelId (CoreShowChannels): a live
   channel is adopted (its Hangup and its survey answers end it as usual); a missing one is
   counted as failed (`lost`). Never re-sent.
2. within calling hours, due jobs are claimed up to `max_concurrent` calls at once; each
   attempt is written (services.start_attempt, committed) and only then originated: async
   Originate, `Channel: Local/<number>@hotline-outbound`, `Context: hotline-survey`, `Exten: s`,
   `ChannelId` from (job, attempt), variables HOTLINE_JOB, HOTLINE_LINE, HOTLINE_CALLERID
   (dialplans/README.md, "Originates and redirects").
3. OriginateResponse Success (fact 8: Reason 4, answered) → the survey runs over FastAGI and
   its answers arrive in `on_survey` (hotline.ivr.survey); a Failure, or an AMI error saying the
   action was refused, → the next attempt after `retry_spacing_minutes`; after the last one →
   the manual list, and an alert to supervisors on the bus. A survey call that hangs up
   without answers counts as failed once `result_grace_seconds` have passed since its Hangup
   (`Uniqueid` = our ChannelId), or once Asterisk no longer has the channel (after an AMI
   reconnect the resync's CoreShowChannels, and every `check_every` seconds CoreShowChannels:
   a Hangup lost with the connection must not hold a call slot for ever).
   An Originate whose answer never came (timeout, lost connection) stays `sending` and is
   resolved as in 1.

The clock is injected (tests step it through calling hours and retry spacing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hotline.asterisk import dialplan as dp
from hotline.asterisk.ami import (
    AmiActionFailed,
    AmiError,
    AmiNode,
    AmiNodes,
    NodeEvent,
    NodeState,
)
from hotline.bus import Bus
from hotline.db.base import utcnow
from hotline.db.engine import SessionMaker
from hotline.db.models import HotlineLine
from hotline.followup import services
from hotline.followup.models import AttemptStatus, FollowUpAttempt, JobStatus
from hotline.followup.services import Attempt, Policy

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
RING_TIMEOUT_MS = 40_000
MAX_REMEMBERED_HANGUPS = 1000
CHECK_CALL_EVERY = 600.0


class Dialer:
    def __init__(self, db: SessionMaker, nodes: AmiNodes, policy: Policy, *,
                 poll_seconds: float = 5.0, result_grace: float = 10.0,
                 clock: Clock = utcnow, ticket_options: Any = None,
                 bus: Bus | None = None, check_every: float = CHECK_CALL_EVERY) -> None:
        self.db, self.nodes, self.policy, self.bus = db, nodes, policy, bus
        self.check_every = check_every  # seconds between asking whether a survey call is up
        self.ticket_options = ticket_options  # hotline.tickets.services.Options ([tickets])
        self.poll_seconds, self.result_grace, self.clock = poll_seconds, result_grace, clock
        self._wake = asyncio.Event()
        self._calls: dict[str, asyncio.Task[None]] = {}  # channel id → its attempt's task
        self._hung_up: dict[str, asyncio.Event] = {}  # channel id → set on its Hangup
        self._surveys: dict[str, str] = {}  # channel id → node, of the calls in their survey
        self._answers: dict[int, asyncio.Event] = {}  # job id → set when answers are stored
        self._reports: set[asyncio.Task[None]] = set()

    # events from outside -----------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def on_ami_event(self, event: NodeEvent) -> None:
        if event.name == "resynced":
            # After a reconnect: a survey call the node no longer has ended while we were
            # not listening (its Hangup is lost).
            live = {m.get("Uniqueid") for m in event.lists.get("CoreShowChannels", [])
                    if m.get("Event") == "CoreShowChannel"}
            for channel_id, node in list(self._surveys.items()):
                if node == event.node and channel_id not in live:
                    self._hung_up.setdefault(channel_id, asyncio.Event()).set()
        elif event.name == "Hangup":
            uniqueid = event.get("Uniqueid")
            if uniqueid.startswith(services.CHANNEL_PREFIX):
                # remembered even before its attempt waits for it (the Hangup of a short call
                # can overtake the OriginateResponse's processing); bounded
                self._hung_up.setdefault(uniqueid, asyncio.Event()).set()
                while len(self._hung_up) > MAX_REMEMBERED_HANGUPS:
                    self._hung_up.pop(next(iter(self._hung_up)))
        elif event.name == "UserEvent" and event.get("UserEvent") == dp.EVENT_SURVEY_RESULT:
            # The dialplan's own report of the answers (h of [hotline-survey]): they reach
            # the dialer even when the survey's FastAGI ran on another controller. The first
            # report of a job's answers wins; a later one finds the job no longer dialing.
            answers = survey_result(event)
            if answers is not None:
                task = asyncio.ensure_future(self._guard(self.on_survey(*answers)))
                self._reports.add(task)
                task.add_done_callback(self._reports.discard)

    async def on_survey(self, job: str, answers: Any) -> None:
        """hotline.ivr.survey's receiver: `answers` has satisfaction, solved, completed."""
        if not job.isdigit():
            log.warning("survey answers for job %r: not a follow-up job id", job)
            return
        async with self.db() as db:
            applied = await services.record_survey(
                db, int(job), answers.satisfaction, answers.solved, answers.completed,
                self.policy, self.clock(), self.ticket_options)
        waiting = self._answers.get(int(job))
        if applied is not None and waiting is not None:
            waiting.set()
        if applied == JobStatus.MANUAL:
            await self._alert_manual(int(job))
        self.wake()

    # the loop ------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("follow-up dialer: a pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def tick(self) -> int:
        """One pass; returns how many attempts it started."""
        await self._resolve_orphans()
        now = self.clock()
        if not self.policy.calling_hours(now):
            return 0
        node = self._node()
        if node is None:
            return 0
        async with self.db() as db:
            jobs = await services.due_jobs(db, now, self.policy.max_concurrent - len(self._calls))
            started = 0
            for job in jobs:
                attempt = await services.start_attempt(db, job.id, node.name, now)
                if attempt is not None:
                    self._spawn_call(attempt.channel_id, self._call(node, attempt))
                    started += 1
        return started

    def _node(self) -> AmiNode | None:
        return next((n for n in self.nodes.nodes if n.state == NodeState.CONNECTED), None)

    def _spawn_call(self, channel_id: str, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(self._guard(coroutine))
        self._calls[channel_id] = task
        task.add_done_callback(lambda _: self._calls.pop(channel_id, None))

    @staticmethod
    async def _guard(coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("follow-up dialer: an attempt failed")

    # one attempt ---------------------------------------------------------------------------------
    async def _call(self, node: AmiNode, attempt: Attempt) -> None:
        line, caller_id = await self._line(attempt.line_id)
        variables = {dp.VAR_JOB: str(attempt.job_id), dp.VAR_LINE: line,
                     dp.VAR_CALLERID: caller_id}
        try:
            result = await node.originate(
                dp.outbound_channel(attempt.phone), channel_id=attempt.channel_id,
                context=dp.CTX_SURVEY, exten=dp.START_EXTEN, priority=1,
                timeout_ms=RING_TIMEOUT_MS, variables=variables)
        except AmiActionFailed as exc:  # refused at once: nothing was dialed
            await self._failed(attempt, f"Originate refused: {exc}")
            return
        except ValueError as exc:  # not a number we can dial
            await self._failed(attempt, str(exc))
            return
        except AmiError as exc:  # sent or not: unknown, resolved by asking Asterisk
            log.warning("follow-up %s: %s; the attempt is resolved later", attempt.channel_id,
                        exc)
            return
        if not result.success:
            await self._failed(attempt, f"未接通 (OriginateResponse {result.reason or '-'})")
            return
        async with self.db() as db:
            await services.attempt_answered(db, attempt.id, self.clock())
        await self._await_survey(attempt)

    async def _await_survey(self, attempt: Attempt) -> None:
        """Until the answers are stored, or the call hung up and the grace is over. Answers
        that came before this waits are in the database already: `_failed` then changes
        nothing (it only fails an attempt still in flight)."""
        answers = self._answers[attempt.job_id] = asyncio.Event()
        hung_up = self._hung_up.setdefault(attempt.channel_id, asyncio.Event())
        self._surveys[attempt.channel_id] = attempt.node
        try:
            while not (answers.is_set() or hung_up.is_set()):
                await _first_of(answers, hung_up, within=self.check_every)
                if not (answers.is_set() or hung_up.is_set()):
                    # a Hangup lost with an AMI outage: ask whether the call is still up
                    live = await self._live_channels(attempt.node)
                    if live is not None and attempt.channel_id not in live:
                        hung_up.set()
            if not answers.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.result_grace):
                        await answers.wait()
            if not answers.is_set():
                await self._failed(attempt, "通话结束，未收到回访答案")
        finally:
            if self._answers.get(attempt.job_id) is answers:
                self._answers.pop(attempt.job_id)
            self._hung_up.pop(attempt.channel_id, None)
            self._surveys.pop(attempt.channel_id, None)

    async def _failed(self, attempt: Attempt, reason: str,
                      status: AttemptStatus = AttemptStatus.FAILED) -> None:
        async with self.db() as db:
            job = await services.attempt_failed(db, attempt.id, self.policy, self.clock(),
                                                reason, status)
        if job is not None and job.status == JobStatus.MANUAL:
            await self._alert_manual(job.id)
        self.wake()

    async def _alert_manual(self, job_id: int) -> None:
        """Supervisors hear at once of a job that went to the manual list."""
        if self.bus is None:
            return
        async with self.db() as db:
            job = await db.get(services.FollowUpJob, job_id)
            if job is None:
                return
            number = await services.ticket_number(db, job.ticket_id)
        self.bus.publish("alerts", {
            "type": "followup_manual", "job_id": job.id, "ticket_id": job.ticket_id,
            "number": number, "attempts": job.attempts,
            "message": f"工单 {number} 回访 {job.attempts} 次未能完成，已转人工回访"})

    async def _line(self, line_id: int | None) -> tuple[str, str]:
        if line_id is None:
            return "", ""
        async with self.db() as db:
            line = await db.get(HotlineLine, line_id)
        return (line.code, line.service_number) if line else ("", "")

    # after a restart -----------------------------------------------------------------------------
    async def _resolve_orphans(self) -> None:
        async with self.db() as db:
            orphans = [a for a in await services.in_flight(db) if a.channel_id not in self._calls]
        by_node: dict[str, list[FollowUpAttempt]] = {}
        for attempt in orphans:
            by_node.setdefault(attempt.node, []).append(attempt)
        for name, attempts in by_node.items():
            live = await self._live_channels(name)
            if live is None:
                continue  # cannot ask now: the attempts wait, never re-sent
            for row in attempts:
                attempt = await self._attempt_of(row)
                if row.channel_id in live:
                    log.info("follow-up %s: still up on %s, adopted", row.channel_id, name)
                    self._spawn_call(row.channel_id, self._adopt(attempt, row.status))
                else:
                    await self._failed(attempt, "重启后查无此通话", AttemptStatus.LOST)

    async def _live_channels(self, node_name: str) -> set[str] | None:
        try:
            node = self.nodes[node_name]
        except KeyError:
            return set()  # the node is gone from the configuration: nothing can be live there
        if node.state != NodeState.CONNECTED:
            return None
        try:
            listing = await node.action({"Action": "CoreShowChannels"}, as_list=True)
        except AmiError as exc:
            log.warning("follow-up dialer: CoreShowChannels on %s failed: %s", node_name, exc)
            return None
        return {m.get("Uniqueid") for m in listing if m.get("Event") == "CoreShowChannel"}

    async def _attempt_of(self, row: FollowUpAttempt) -> Attempt:
        async with self.db() as db:
            job = await db.get(services.FollowUpJob, row.job_id)
        assert job is not None
        return Attempt(row.id, row.job_id, row.number, row.channel_id, row.node, job.number,
                       job.line_id, job.ticket_id)

    async def _adopt(self, attempt: Attempt, status: AttemptStatus) -> None:
        if status == AttemptStatus.SENDING:
            async with self.db() as db:
                await services.attempt_answered(db, attempt.id, self.clock())
        await self._await_survey(attempt)

    async def close(self) -> None:
        tasks = [*self._calls.values(), *self._reports]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class SurveyReport:
    satisfaction: str | None
    solved: bool | None
    completed: bool


SATISFACTIONS = {"satisfied", "basically_satisfied", "dissatisfied"}


def survey_result(event: NodeEvent) -> tuple[str, SurveyReport] | None:
    """(job, answers) of a HotlineSurveyResult UserEvent (dialplans/README.md: headers Job,
    Satisfaction, Solved = yes | no, empty when unanswered). Its AMI form is assumed, not
    captured: UserEvent's own headers as the dialplan passes them."""
    job = event.get("Job").strip()
    if not job.isdigit():
        return None
    satisfaction = event.get("Satisfaction").strip() or None
    if satisfaction not in SATISFACTIONS:
        satisfaction = None
    solved = {"yes": True, "no": False}.get(event.get("Solved").strip())
    return job, SurveyReport(satisfaction, solved, satisfaction is not None and solved is not None)


async def _first_of(*events: asyncio.Event, within: float) -> None:
    """Until one of `events` is set, or `within` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def attempts_of(db: SessionMaker, job_id: int) -> list[FollowUpAttempt]:
    async with db() as session:
        return list(await session.scalars(select(FollowUpAttempt).where(
            FollowUpAttempt.job_id == job_id).order_by(FollowUpAttempt.number)))
