"""Property: whatever calls, answers, abandons, pauses, drops, reconnects, late resyncs and
duplicates happen, the live state equals the truth whenever it is in sync.

The truth is the AMI stand-in's `AsteriskState`; its events are the stand-in's own (cut from
ami-queue-call, ami-abandon, ami-actions-live, ami-actions), taken here without a socket, and its
QueueStatus reply (ami-actions / ami-actions-live) is the resync's snapshot. A drop loses the
events until the reconnect; events after the reconnect arrive before the resync's result, some
of them (a "late" resync) after the moment the snapshot was taken, as a real AmiNode can see.
"""

import contextlib
import itertools
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.asterisk.ami import NodeEvent
from hotline.asterisk.ami_codec import AmiMessage
from hotline.queue.state import QueueState
from hotline.testing import ami_actions
from hotline.testing.ami_scripts import Rewriter
from hotline.testing.ami_server import AmiStandin

QUEUE = "hotline-12345"
AS_IS = Rewriter({})
AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


class Recorder(AmiStandin):
    """The stand-in without a socket: what it would send, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[AmiMessage] = []

    def emit(self, message: AmiMessage | None) -> None:
        if message is not None:
            self.sent.append(message)


class ListSession:
    """Stands in for a client connection: keeps the replies to one action."""

    def __init__(self) -> None:
        self.replies: list[AmiMessage] = []

    def reply(self, template, action, values=None, rewrite=AS_IS):
        self.replies.append(rewrite(template, {**(values or {}), "ActionID": action.action_id}))


def act(server, handler, **fields):
    session = ListSession()
    handler(server, session, AmiMessage([(k, str(v)) for k, v in fields.items()]))
    return session.replies


def snapshot(server, seq=0):
    """The resync as AmiNode hands it over; `seq`: the last event received before it."""
    replies = act(server, ami_actions.queue_status, Action="QueueStatus", ActionID="resync")
    return NodeEvent("pbx1", "resynced", {}, at=AT, seq=seq, lists={
        "QueueStatus": [dict(m.fields) for m in replies if m is not None]})


def agrees(state, truth):
    live, real = state.queue("pbx1", QUEUE), truth.queues[QUEUE]
    members = {i: (m.paused, m.paused_reason, m.in_call, m.calls_taken, m.penalty)
               for i, m in live.members.items()}
    same = ([c.uniqueid for c in live.callers] == [c.uniqueid for c in real.waiting]
            and members == {i: (m.paused, m.paused_reason, m.in_call, m.calls_taken, m.penalty)
                            for i, m in real.members.items()})
    return same and (live.completed, live.abandoned) == (real.completed, real.abandoned)


CALL_OPS = st.one_of(
    st.tuples(st.just("call")), st.tuples(st.just("connect"), st.integers(0, 5)),
    st.tuples(st.just("complete"), st.integers(0, 5)),
    st.tuples(st.just("abandon"), st.integers(0, 5)),
    st.tuples(st.just("pause"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("login"), st.integers(1, 3)), st.tuples(st.just("logout"), st.integers(0, 3)),
)
# An outage: ops whose events are lost, ops after the reconnect but before the QueueStatus is
# answered, ops after that answer but before the resync is handed over.
OUTAGE = st.tuples(st.just("outage"), st.lists(CALL_OPS, max_size=4),
                   st.lists(CALL_OPS, max_size=4), st.lists(CALL_OPS, max_size=4))
OPS = st.lists(st.one_of(CALL_OPS, OUTAGE, st.tuples(st.just("duplicate"))), max_size=30)


def run(server, op, talking, numbers):
    """Perform a call/agent op on the stand-in; the events it sent."""
    server.sent.clear()
    truth = server.state
    waiting = truth.queues[QUEUE].waiting
    members = sorted(truth.queues[QUEUE].members)
    match op:
        case ("call",):
            server.queued_call()
        case ("connect", i) if waiting:
            with contextlib.suppress(LookupError):  # nobody free
                talking.append(server.agent_connect(waiting[i % len(waiting)]))
        case ("complete", i) if talking:
            server.agent_complete(talking.pop(i % len(talking)))
        case ("abandon", i) if waiting:
            server.abandon(waiting[i % len(waiting)])
        case ("pause", m, paused) if members:
            act(server, ami_actions.queue_pause, Action="QueuePause", ActionID="p",
                Queue=QUEUE, Interface=members[m % len(members)], Paused=str(paused).lower(),
                Reason="休息")
        case ("login", n):  # QueueAdd (ami-actions): QueueMemberAdded
            act(server, ami_actions.queue_add, Action="QueueAdd", ActionID="a", Queue=QUEUE,
                Interface=f"PJSIP/agent900{n}", MemberName=f"坐席{n}", Penalty=n)
        case ("logout", m) if members:  # QueueRemove (ami-actions): QueueMemberRemoved
            interface = members[m % len(members)]
            if not truth.queues[QUEUE].members[interface].in_call:
                act(server, ami_actions.queue_remove, Action="QueueRemove", ActionID="r",
                    Queue=QUEUE, Interface=interface)
    return [NodeEvent("pbx1", m.name or "", dict(m.fields), at=AT, seq=next(numbers))
            for m in server.sent]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_random_calls_drops_and_resyncs_end_equal_to_the_truth(ops):
    server, state = Recorder(), QueueState()
    state.apply(snapshot(server))
    talking, last, numbers = [], [], itertools.count(1)
    for op in ops:
        if op[0] == "duplicate":  # the previous events again
            for event in last:
                state.apply(event)
        elif op[0] == "outage":
            _, lost, before, after = op
            state.apply(NodeEvent("pbx1", "disconnected", {}, at=AT))
            for inner in lost:
                run(server, inner, talking, numbers)
            numbers = itertools.count(1)  # a new connection
            last = [e for inner in before for e in run(server, inner, talking, numbers)]
            taken = snapshot(server, seq=len(last))
            last += [e for inner in after for e in run(server, inner, talking, numbers)]
            for event in last:
                state.apply(event)
            state.apply(taken)
        else:
            last = run(server, op, talking, numbers)
            for event in last:
                state.apply(event)
        assert agrees(state, server.state), op
