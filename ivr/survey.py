"""The follow-up survey (回访, FastAGI route `survey?job=<id>&line=…`): the citizen answered the
follow-up dialer's call ([hotline-survey] in the dialplan). Intro, satisfaction (1 satisfied,
2 basically satisfied, 3 dissatisfied), solved (1 yes, 2 no), thanks. A wrong key or no key
gets the question once more; then it stays unanswered.

The answers go back to whoever placed the call: `FlowContext.on_survey(job_id, answers)` (the
follow-up dialer registers it; without one they are logged), always exactly once per session,
also when the citizen hangs up half-way (`completed=False`). They are also set as channel
variables HOTLINE_SURVEY_SATISFACTION / HOTLINE_SURVEY_SOLVED as soon as each is known, so the
dialplan (its HotlineSurveyResult UserEvent) and the CDR see them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from hotline.asterisk import dialplan as dp
from hotline.asterisk.agi_channel import AgiChannel
from hotline.db.models import CallDirection, CallOutcome
from hotline.ivr.context import CallState, FlowContext, play, run_guarded, start_call
from hotline.ivr.menu import KEYS
from hotline.ivr.prompts import sound_name

log = logging.getLogger(__name__)

Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]
SATISFACTION_KEYS: dict[str, Satisfaction] = {
    "1": "satisfied", "2": "basically_satisfied", "3": "dissatisfied"}
SOLVED_KEYS = {"1": True, "2": False}
ANSWER_TIMEOUT_MS = 6000  # wait for a key after the question
TRIES = 2  # the question is asked at most twice
T = TypeVar("T")


@dataclass(frozen=True)
class SurveyAnswers:
    satisfaction: Satisfaction | None = None
    solved: bool | None = None
    completed: bool = False  # both questions answered (the citizen may hang up before)


SurveyHook = Callable[[str, SurveyAnswers], Awaitable[None]]


async def log_survey(job_id: str, answers: SurveyAnswers) -> None:
    log.info("survey job %s: %s", job_id or "-", answers)


async def ask(channel: AgiChannel, question: str, keys: dict[str, T]) -> T | None:
    """Ask; a key outside `keys` or none at all repeats the question once."""
    for attempt in range(TRIES):
        if attempt:
            await play(channel, sound_name("invalid"))
        digit = await play(channel, sound_name(question), KEYS)  # any key: a wrong one repeats
        if digit is None:
            digit = await channel.wait_for_digit(ANSWER_TIMEOUT_MS)
        if digit in keys:
            return keys[digit]
    return None


async def survey_flow(channel: AgiChannel, ctx: FlowContext) -> None:
    job = channel.query.get("job", "")
    state: CallState = await start_call(channel, ctx, CallDirection.OUTBOUND)
    state.outcome = CallOutcome.IVR_ONLY  # the survey ends the call (the dialplan hangs up)
    answers = SurveyAnswers()

    async def body() -> None:
        nonlocal answers
        await play(channel, sound_name("survey-intro"))
        satisfaction = await ask(channel, "survey-satisfaction", SATISFACTION_KEYS)
        answers = SurveyAnswers(satisfaction)
        if satisfaction is not None:
            await channel.set_variable(dp.VAR_SURVEY_SATISFACTION, satisfaction)
        solved = await ask(channel, "survey-solved", SOLVED_KEYS)
        answers = SurveyAnswers(satisfaction, solved,
                                satisfaction is not None and solved is not None)
        if solved is not None:
            await channel.set_variable(dp.VAR_SURVEY_SOLVED, "yes" if solved else "no")
        await play(channel, sound_name("survey-thanks"))

    try:
        await run_guarded(channel, ctx, state, body)
    finally:
        result = answers
        hook = ctx.on_survey or log_survey
        try:
            await hook(job, result)
        except Exception:
            log.exception("survey job %s: the answers' receiver failed", job)
