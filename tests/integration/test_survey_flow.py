"""The follow-up survey (route `survey?job=…`) through the FastAGI server and the Asterisk
stand-in: STREAM FILE interrupted by a key and WAIT FOR DIGIT as in agi-session-normal, a
hang-up as in agi-session-caller-hangup. The answers go to `FlowContext.on_survey` exactly once
and into the channel variables the dialplan reports (HotlineSurveyResult)."""

from __future__ import annotations

from ivr_flow_support import call_row, context, run_call

from hotline.db.models import CallDirection, CallOutcome
from hotline.ivr.survey import SurveyAnswers
from hotline.testing.agi_client import Caller

QUERY = "job=42&line=12345-5301&node=pbx1"


async def survey(db, tmp_path, caller):
    received: list[tuple[str, SurveyAnswers]] = []

    async def on_survey(job_id, answers):
        received.append((job_id, answers))

    run = await run_call(context(db, tmp_path, on_survey=on_survey), caller, route="survey",
                         query=QUERY)
    assert run.escaped == []
    return run, received


ANSWERS = [
    (["1", "1"], "satisfied", True, ("satisfied", "yes")),
    (["2", "2"], "basically_satisfied", False, ("basically_satisfied", "no")),
    # keys during the question, or after it (WAIT FOR DIGIT)
    (["", "3", "", "1"], "dissatisfied", True, ("dissatisfied", "yes")),
]


async def test_answers(db, tmp_path):
    for keys, satisfaction, solved, variables in ANSWERS:
        run, received = await survey(db, tmp_path, Caller(keys=list(keys)))
        assert received == [("42", SurveyAnswers(satisfaction, solved, completed=True))]
        assert run.variables == {"HOTLINE_SURVEY_SATISFACTION": variables[0],
                                 "HOTLINE_SURVEY_SOLVED": variables[1]}
        assert run.played == ["hotline/survey-intro", "hotline/survey-satisfaction",
                              "hotline/survey-solved", "hotline/survey-thanks"]
        call = await call_row(db, run.uniqueid)
        assert call.direction == CallDirection.OUTBOUND
        assert call.outcome == CallOutcome.IVR_ONLY and call.ended_at is not None


async def test_an_invalid_key_repeats_the_question_once(db, tmp_path):
    # satisfaction: 5 (invalid), then 2; solved: nothing twice
    run, received = await survey(db, tmp_path, Caller(keys=["5", "2", "", "", "", ""]))
    assert run.played == ["hotline/survey-intro", "hotline/survey-satisfaction",
                          "hotline/invalid", "hotline/survey-satisfaction",
                          "hotline/survey-solved", "hotline/invalid", "hotline/survey-solved",
                          "hotline/survey-thanks"]
    assert received == [("42", SurveyAnswers("basically_satisfied", None, completed=False))]
    assert run.variables == {"HOTLINE_SURVEY_SATISFACTION": "basically_satisfied"}


async def test_invalid_twice_leaves_the_question_unanswered(db, tmp_path):
    run, received = await survey(db, tmp_path, Caller(keys=["9", "0", "1"]))
    assert received == [("42", SurveyAnswers(None, True, completed=False))]
    assert run.variables == {"HOTLINE_SURVEY_SOLVED": "yes"}


async def test_hang_up_half_way(db, tmp_path):
    # channel commands: 0 intro, 1 satisfaction (key 1), 2 solved
    for during, expected in ((0, SurveyAnswers()), (2, SurveyAnswers("satisfied"))):
        run, received = await survey(db, tmp_path, Caller(keys=["1"], hangup_during=during))
        assert run.result.hung_up_at is not None
        assert received == [("42", expected)]
        call = await call_row(db, run.uniqueid)
        assert call.ended_at is not None and call.outcome == CallOutcome.IVR_ONLY


async def test_a_failing_receiver_does_not_break_the_call(db, tmp_path, caplog):
    async def broken(job_id, answers):
        raise RuntimeError("dialer gone")

    run = await run_call(context(db, tmp_path, on_survey=broken), Caller(keys=["1", "1"]),
                         route="survey", query=QUERY)
    assert run.escaped == []
    assert run.played[-1] == "hotline/survey-thanks"
    assert any("receiver failed" in r.getMessage() for r in caplog.records)


async def test_without_a_receiver_the_answers_are_logged(db, tmp_path, caplog):
    caplog.set_level("INFO", logger="hotline.ivr.survey")
    run = await run_call(context(db, tmp_path), Caller(keys=["3", "2"]), route="survey",
                         query=QUERY)
    assert run.escaped == []
    assert any("survey job 42" in r.getMessage() and "dissatisfied" in r.getMessage()
               for r in caplog.records)
