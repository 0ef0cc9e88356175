"""Routing: overflow of 12345 callers to 96128, callback priorities, skill tiers. The live
state is built from the QueueStatus shape of ../shared/asterisk-22/transcripts/ami-actions-live
(QueueParams, QueueMember with Location/Name/Status/Paused)."""

from datetime import timedelta

from queue_transcripts import START

from hotline.asterisk.ami import NodeEvent
from hotline.queue.routing import Entry, member_penalty, overdue_callers, route_call
from hotline.queue.settings import QueueConfig
from hotline.queue.state import QueueState

CONFIG = QueueConfig()
KUNMING = "hl-12345-5301"


def state_with(queues):
    """queues: name → list of member interfaces; plus one caller waiting 70 s in each."""
    listed = []
    for name, members in queues.items():
        listed.append({"Event": "QueueParams", "Queue": name})
        listed += [{"Event": "QueueMember", "Queue": name, "Location": m, "Name": m,
                    "Status": "1", "Paused": "0"} for m in members]
        listed.append({"Event": "QueueEntry", "Queue": name, "Position": "1",
                       "Uniqueid": f"{name}.1", "CallerIDNum": "13800000000", "Wait": "70"})
    state = QueueState()
    state.apply(NodeEvent("pbx1", "resynced", {}, at=START, lists={"QueueStatus": listed}))
    return state


def test_a_12345_caller_with_agents_logged_in_stays_with_an_overflow_timeout():
    route = route_call(state_with({KUNMING: ["PJSIP/agent8001"]}), "pbx1", KUNMING, CONFIG)
    assert (route.queue, route.timeout, route.overflowed) == (KUNMING, 60, False)
    assert route.variables() == {"HOTLINE_QUEUE": KUNMING, "HOTLINE_PRIORITY": "0",
                                 "HOTLINE_QUEUE_TIMEOUT": "60"}


def test_a_12345_caller_with_nobody_logged_in_goes_to_96128():
    for state in (state_with({KUNMING: []}), QueueState()):
        route = route_call(state, "pbx1", KUNMING, CONFIG)
        assert (route.queue, route.overflowed) == ("hl-96128", True)


def test_96128_never_overflows_and_callbacks_come_first():
    state = state_with({"hl-96128": []})
    assert route_call(state, "pbx1", "hl-96128", CONFIG).variables() == {
        "HOTLINE_QUEUE": "hl-96128", "HOTLINE_PRIORITY": "0"}
    assert route_call(state, "pbx1", "hl-96128", CONFIG, Entry.CALLBACK).priority == 10
    assert route_call(state, "pbx1", "hl-96128", CONFIG, Entry.VIRTUAL_HOLD).priority == 50


def test_callers_past_the_overflow_time_are_listed_for_12345_only():
    state = state_with({KUNMING: ["PJSIP/agent8001"], "hl-96128": ["PJSIP/agent8002"]})
    overdue = overdue_callers(state, START, CONFIG)
    assert [(queue, caller.uniqueid) for _, queue, caller in overdue] == [
        (KUNMING, f"{KUNMING}.1")]
    assert overdue_callers(state, START - timedelta(seconds=20), CONFIG) == []


def test_member_penalty_is_the_tier_of_the_rarest_skill():
    assert member_penalty(["普通话"], CONFIG) == 0
    assert member_penalty(["普通话", "方言"], CONFIG) == 1
    assert member_penalty(["普通话", "English", "方言"], CONFIG) == 2
    assert member_penalty([], CONFIG) == 0
    assert member_penalty(["少数民族语言"], QueueConfig(skill_penalties={"少数民族语言": 7})) == 7
