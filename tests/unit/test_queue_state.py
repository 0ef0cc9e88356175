"""Live queue state from the real Asterisk 22 AMI transcripts (../shared/asterisk-22/
transcripts), replayed as AmiNodes hands them over (tests/queue_transcripts.py). Expected values
are read off the transcripts; each assertion cites where."""

from datetime import timedelta

from queue_transcripts import START, node_events

from hotline.asterisk.ami import NodeEvent
from hotline.queue.state import MemberState, QueueState

QUEUE = "hotline-12345"
AGENT1, AGENT2 = "Local/8001@agents-sim/n", "Local/8002@agents-sim/n"


def replay(transcript, until=None, state=None):
    state = state or QueueState()
    for event in node_events(transcript):
        state.apply(event)
        if until and until(event):
            break
    return state


def queue_of(state):
    return state.queue("pbx1", QUEUE)


def test_queue_call_caller_waits_then_is_answered_and_completed():
    # ami-queue-call: QueueCallerJoin Uniqueid 1795606851.0, CallerIDNum 0301234567, Position 1
    joined = queue_of(replay("ami-queue-call", lambda e: e.name == "QueueCallerJoin"))
    assert [(c.uniqueid, c.number) for c in joined.callers] == [("1795606851.0", "0301234567")]
    # AgentCalled Interface Local/8001@agents-sim/n: the member rings for that caller
    ringing = queue_of(replay("ami-queue-call", lambda e: e.name == "AgentCalled"))
    assert ringing.members[AGENT1].state == MemberState.RINGING
    # AgentConnect (HoldTime 0) then QueueMemberStatus InCall 1 Status 2
    talking = queue_of(replay("ami-queue-call", lambda e: e.name == "QueueMemberStatus"))
    assert talking.callers == []
    assert talking.members[AGENT1].state == MemberState.IN_CALL
    assert talking.members[AGENT1].talking_to == "1795606851.0"
    # AgentComplete Reason agent, then QueueMemberStatus CallsTaken 1 LastCall 1795606899 InCall 0
    done = queue_of(replay("ami-queue-call"))
    member = done.members[AGENT1]
    assert (member.state, member.calls_taken, member.last_call) == (
        MemberState.READY, 1, 1795606899)
    assert (done.completed, done.abandoned) == (1, 0)  # no QueueStatus in it: counted from 0


def test_abandon_counts_once_and_matches_asterisks_own_counter():
    # ami-abandon: both members paused (QueueMemberPause Reason abandon-test), then QueueStatus
    # Completed 1 / Abandoned 0 with agent8001 CallsTaken 1.
    events = node_events("ami-abandon")
    state = QueueState()
    first_resync = next(i for i, e in enumerate(events) if e.name == "resynced")
    for event in events[:first_resync + 1]:
        state.apply(event)
    queue = queue_of(state)
    assert (queue.completed, queue.abandoned) == (1, 0)
    assert {m.interface: (m.state, m.paused_reason) for m in queue.members.values()} == {
        AGENT1: (MemberState.PAUSED, "abandon-test"), AGENT2: (MemberState.PAUSED, "abandon-test")}
    assert queue.members[AGENT1].calls_taken == 1
    # QueueCallerJoin 1795606989.10, then QueueCallerAbandon HoldTime 3 and QueueCallerLeave
    abandon_at = next(i for i, e in enumerate(events) if e.name == "QueueCallerAbandon")
    for event in events[first_resync + 1:abandon_at]:
        state.apply(event)
    assert [c.uniqueid for c in queue_of(state).callers] == ["1795606989.10"]
    for event in events[abandon_at:]:
        state.apply(event)
        if event.name == "QueueCallerAbandon":
            state.apply(event)  # a duplicate (replayed after a reconnect) is counted once
    # the final QueueStatus (Abandoned 1, both unpaused) agrees with what the events built
    queue = queue_of(state)
    assert (queue.completed, queue.abandoned, queue.callers) == (1, 1, [])
    assert {m.state for m in queue.members.values()} == {MemberState.READY}


def test_actions_live_caller_from_queue_entry_then_connect_and_caller_hangup():
    events = node_events("ami-actions-live")
    resyncs = [i for i, e in enumerate(events) if e.name == "resynced"]
    state = QueueState()
    for event in events[:resyncs[0] + 1]:
        state.apply(event)
    # QueueStatus at t=1.510: QueueEntry Position 1 Uniqueid 1795607076.16 Wait 1; Completed 1,
    # Abandoned 1; both members paused (wait-test)
    queue = queue_of(state)
    assert [(c.uniqueid, c.number, c.wait(events[resyncs[0]].at)) for c in queue.callers] == [
        ("1795607076.16", "0301234567", 1)]
    assert (queue.completed, queue.abandoned) == (1, 1)
    assert queue.available == 0
    # unpause agent8002 → AgentCalled, QueueCallerLeave, AgentConnect HoldTime 1; the QueueStatus
    # at t=3.736 shows agent8002 InCall 1 Status 2 and nobody waiting
    for event in events[resyncs[0] + 1:resyncs[1] + 1]:
        state.apply(event)
    queue = queue_of(state)
    assert queue.callers == []
    assert queue.members[AGENT2].state == MemberState.IN_CALL
    assert queue.members[AGENT1].state == MemberState.PAUSED
    # Hangup of the caller → AgentComplete Reason caller TalkTime 2, QueueMemberStatus
    # CallsTaken 1 LastCall 1795607079; agent8001 unpaused at the end
    for event in events[resyncs[1] + 1:]:
        state.apply(event)
    queue = queue_of(state)
    assert queue.completed == 2
    assert (queue.members[AGENT2].calls_taken, queue.members[AGENT2].last_call) == (
        1, 1795607079)
    assert {m.state for m in queue.members.values()} == {MemberState.READY}


def test_events_before_the_resync_are_replayed_on_top_of_the_snapshot():
    """After a reconnect the QueueStatus answer may be older than events already received:
    the caller who joined (ami-queue-call) before the snapshot stays."""
    state = QueueState()
    state.apply(NodeEvent("pbx1", "disconnected", {}, at=START))
    join = next(e for e in node_events("ami-queue-call") if e.name == "QueueCallerJoin")
    state.apply(join)
    # a snapshot taken before the join: the queue is empty
    snapshot = [{"Event": "QueueParams", "Queue": QUEUE, "Completed": "4", "Abandoned": "2"}]
    state.apply(NodeEvent("pbx1", "resynced", {}, at=join.at + timedelta(seconds=1),
                          lists={"QueueStatus": snapshot}))
    queue = queue_of(state)
    assert [c.uniqueid for c in queue.callers] == ["1795606851.0"]
    assert (queue.completed, queue.abandoned) == (4, 2)


def test_unknown_and_queueless_events_change_nothing():
    state = QueueState()
    assert state.apply(NodeEvent("pbx1", "Newchannel", {"Uniqueid": "1.1"})) == []
    assert state.apply(NodeEvent("pbx1", "AgentComplete", {"Uniqueid": "1.1"})) == []
    assert state.apply(NodeEvent("pbx1", "QueueCallerLeave", {"Queue": QUEUE,
                                                              "Uniqueid": "1.1"})) == []


def test_a_completion_counts_even_when_its_member_is_gone():
    """ami-queue-call's AgentComplete after the member was removed (QueueMemberRemoved of
    ami-actions' shape: assumed, not captured in the middle of a call)."""
    events = node_events("ami-queue-call")
    complete = next(i for i, e in enumerate(events) if e.name == "AgentComplete")
    state = QueueState()
    for event in events[:complete]:
        state.apply(event)
    state.apply(NodeEvent("pbx1", "QueueMemberRemoved", {"Queue": QUEUE, "Interface": AGENT1}))
    changes = state.apply(events[complete])
    assert [(c.kind, c.fields["TalkTime"]) for c in changes] == [("completed", "33")]
    assert queue_of(state).completed == 1 and AGENT1 not in queue_of(state).members
