"""Virtual hold (按1保留排队位置，稍后回拨) end to end, through the stand-ins and the real app
(`create_app` with one `[[asterisk]]` node, pbx1, at the AMI stand-in; its FastAGI server on a
loopback port; the queue feature's own QueueMonitor, VirtualHoldService and VirtualHoldDialer as
queue/http.py wires them):

1. Two members of hl-12345-5301 talk to callers and two more callers wait (the stand-in plays
   ami-queue-call's QueueCallerJoin … AgentConnect): the estimated wait of a new caller is
   ceil(180 s default handling × 3rd place / 2 staffed) = 270 s, over the 120 s threshold.
2. A new call runs the FastAGI `ivr` route (hotline.testing.agi_client, Asterisk's side as in
   agi-session-normal: STREAM FILE with escape digits answers `200 result=<ascii> …`): 0 at the
   notice (an agent), the wait said in minutes (digits/5), 1 during the offer: the place is kept
   (a CallbackTask kind virtual_hold and its VirtualHold row), HOTLINE_DEST=hangup.
3. The callers ahead are answered on the stand-in (agent_connect), then a member frees
   (agent_complete): the place has come.
4. The app's own dialer (its background task; the test only counts its passes) sends ONE
   Originate: ChannelId vh-<task>-1, Local/<number>@hotline-outbound into hotline-callback, s,
   with HOTLINE_JOB, HOTLINE_QUEUE and HOTLINE_PRIORITY = 50. The stand-in acknowledges it as in
   ami-actions (fact 8: `Originate successfully queued`, then OriginateResponse Success).
5. The citizen answers: the stand-in, whose IVR context is here hotline-callback, puts the
   channel in the queue under the ChannelId (ami-queue-call's events, the OriginateResponse
   among them); the dialplan's [hotline-callback] runs the FastAGI `callback` route with the
   Originate's variables on the channel and `job=<task>` etc. in the URL (dialplans/hotline.conf).
6. The task is DONE (attempt answered) and further passes of the dialer send nothing more.

Assumed, not captured:
- the Originate's `Variable:`s are readable on the answered channel (GET VARIABLE);
- the stand-in queues the answered callback at once, in the queue named by HOTLINE_QUEUE
  (what hotline-callback → hotline-dispatch → hotline-queue does after the AGI); the `callback`
  AGI session is run afterwards here, which changes nothing the test looks at;
- QUEUE_PRIO (the head of the queue) is Asterisk's business: the stand-in appends the callback.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from hotline.asterisk.dialplan import CTX_CALLBACK, CTX_OUTBOUND
from hotline.db.models import (
    Call,
    CallbackKind,
    CallbackStatus,
    CallbackTask,
    CallDirection,
    CallOutcome,
)
from hotline.queue.models import AttemptOutcome, CallbackAttempt, VirtualHold
from hotline.queue.state import MemberState
from hotline.queue.virtual_hold import VirtualHoldDialer
from hotline.testing.agi_client import AgiSession, Caller
from hotline.testing.ami_state import Member
from hotline.web.app import create_app
from hotline.web.keys import AMI, DB, FASTAGI, QUEUES

from conftest import hotline_standin, standin_settings

QUEUE = "hl-12345-5301"
AGENTS = ("PJSIP/agent8001", "PJSIP/agent8002")
CITIZEN = "13900001234"
UNIQUEID = "1800000200.7"  # the new call's channel (its FastAGI session's agi_uniqueid)


async def until(predicate: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state owned by the app under test
            await asyncio.sleep(0.02)


async def eventually(check: Any, seconds: float = 10.0) -> None:
    """Until the coroutine function `check` answers true (database rows the app writes)."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - rows the app writes
            await asyncio.sleep(0.02)


class Passes:
    """Counts the passes of the app's own VirtualHoldDialer (queue/http.py runs `run()`, which
    calls `tick()` on every queue change and every second): wait for one without sleeping."""

    def __init__(self) -> None:
        self.done = 0

    async def more(self, count: int = 2) -> None:
        """`count` more passes end (2: at least one that started after this call)."""
        target = self.done + count
        await until(lambda: self.done >= target)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Passes:
    counter = Passes()
    tick = VirtualHoldDialer.tick

    async def counted(self: VirtualHoldDialer) -> None:
        try:
            await tick(self)
        finally:
            counter.done += 1

    monkeypatch.setattr(VirtualHoldDialer, "tick", counted)
    return counter


async def _db_rows(app: web.Application) -> tuple[list[CallbackTask], list[VirtualHold],
                                                   list[CallbackAttempt]]:
    async with app[DB]() as db:
        return ((await db.scalars(select(CallbackTask).order_by(CallbackTask.id))).all(),
                (await db.scalars(select(VirtualHold))).all(),
                (await db.scalars(select(CallbackAttempt))).all())


async def _call(app: web.Application, uniqueid: str) -> Call:
    async with app[DB]() as db:
        call = await db.scalar(select(Call).where(Call.node == "pbx1", Call.uniqueid == uniqueid))
    assert call is not None, uniqueid
    return call


def played(session: AgiSession) -> list[str]:
    return [c.split(" ")[2] for c in session.result.commands if c.startswith("STREAM FILE")]


async def test_a_kept_place_is_called_back_once_and_rejoins_the_queue(tmp_path, db_url, passes):
    async with hotline_standin(ivr_context=CTX_CALLBACK) as standin:
        truth = standin.state.queues[QUEUE]
        for interface in AGENTS:
            truth.members[interface] = Member(interface, interface.removeprefix("PJSIP/"))
        settings = standin_settings(tmp_path, db_url, standin.port)
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()  # the cleanup contexts: database, FastAGI, AMI, queue, …
        try:
            await _run(app, standin, passes)
        finally:
            await runner.cleanup()


async def _run(app: web.Application, standin: Any, passes: Passes) -> None:
    monitor = app[QUEUES]
    await until(lambda: (node := monitor.state.nodes.get("pbx1")) is not None
                and node.synced_at is not None)

    def live() -> Any:  # the monitor's view of the queue (looked up: a resync replaces it)
        return monitor.state.queue("pbx1", QUEUE)

    assert set(live().members) == set(AGENTS)

    # 1. both members busy, two callers waiting
    busy = [standin.queued_call(caller_num=f"1380000000{i}", queue=QUEUE) for i in (1, 2)]
    for call, interface in zip(busy, AGENTS, strict=True):
        standin.agent_connect(call, interface=interface)
    ahead = [standin.queued_call(caller_num=f"1380000000{i}", queue=QUEUE) for i in (3, 4)]
    await until(lambda: [c.uniqueid for c in live().callers] == [c.uniqueid for c in ahead]
                and all(m.state == MemberState.IN_CALL for m in live().members.values()))

    # 2. a new call over FastAGI: 0 (an agent) at the notice, 1 during the offer
    caller = Caller(number=CITIZEN, keys=["0", "", "", "", "1"])
    ivr = AgiSession(caller, script=f"ivr?node=pbx1&linkedid={UNIQUEID}&line={QUEUE[3:]}"
                     "&region=530100", uniqueid=UNIQUEID, channel="PJSIP/trunk-00000007",
                     port=app[FASTAGI].port)
    await ivr.run(limit=20)
    assert played(ivr)[-5:] == ["hotline/queue-wait-before", "hotline/digits/5",
                                "hotline/queue-wait-after", "hotline/virtual-hold-offer",
                                "hotline/virtual-hold-confirmed"]
    assert ivr.result.variables == {"HOTLINE_QUEUE": QUEUE, "HOTLINE_QUEUE_TIMEOUT": "60",
                                    "HOTLINE_PRIORITY": "0", "HOTLINE_DEST": "hangup"}
    [task], [hold], attempts = await _db_rows(app)
    assert (task.kind, task.status, task.number, task.queue, task.attempts) == (
        CallbackKind.VIRTUAL_HOLD, CallbackStatus.PENDING, CITIZEN, QUEUE, 0)
    assert (hold.task_id, hold.node, hold.uniqueid, hold.position, hold.estimated_wait) == (
        task.id, "pbx1", UNIQUEID, 3, 270)
    assert hold.ahead.split() == [c.uniqueid for c in ahead] and attempts == []
    first = await _call(app, UNIQUEID)
    assert task.call_id == first.id and first.ivr_choice == "agent"

    async def ended() -> bool:  # the IVR call ends there (IVR_ONLY): it never joins the queue
        call = await _call(app, UNIQUEID)
        return call.ended_at is not None and call.outcome == CallOutcome.IVR_ONLY

    await eventually(ended)

    # 3. the callers ahead are answered, one by one, as members free
    await passes.more()
    assert standin.actions_named("Originate") == []  # callers ahead still wait
    standin.agent_complete(busy[0])
    standin.agent_connect(ahead[0], interface=AGENTS[0])
    standin.agent_complete(busy[1])
    standin.agent_connect(ahead[1], interface=AGENTS[1])
    await until(lambda: live().callers == [] and live().available == 0)
    await passes.more()
    assert standin.actions_named("Originate") == []  # nobody ahead, but nobody free either
    standin.agent_complete(ahead[0])  # a member frees: the place has come

    # 4. the app's dialer calls the citizen back, into hotline-callback, ahead of new callers
    async with asyncio.timeout(10):
        sent = await standin.wait_for_action("Originate")
    channel_id = f"vh-{task.id}-1"
    assert (sent["Channel"], sent["Context"], sent["Exten"], sent["ChannelId"]) == (
        f"Local/{CITIZEN}@{CTX_OUTBOUND}", CTX_CALLBACK, "s", channel_id)
    variables = dict(v.split("=", 1) for v in sent.getall("Variable"))
    assert {k: variables.get(k) for k in ("HOTLINE_JOB", "HOTLINE_QUEUE", "HOTLINE_PRIORITY",
                                          "HOTLINE_LINE", "HOTLINE_REGION")} == {
        "HOTLINE_JOB": str(task.id), "HOTLINE_QUEUE": QUEUE, "HOTLINE_PRIORITY": "50",
        "HOTLINE_LINE": "12345-5301", "HOTLINE_REGION": "530100"}

    # 5. the citizen answered: back in the queue under the ChannelId …
    await until(lambda: [c.uniqueid for c in live().callers] == [channel_id])
    assert live().callers[0].number == CITIZEN
    # … after [hotline-callback]'s AGI(agi://…/callback?node=…&linkedid=…&job=…&line=…&region=…)
    answered = standin.state.calls[channel_id]
    callback = AgiSession(
        Caller(number=CITIZEN),
        script=f"callback?node=pbx1&linkedid={channel_id}&job={variables['HOTLINE_JOB']}"
               f"&line={variables['HOTLINE_LINE']}&region={variables['HOTLINE_REGION']}",
        uniqueid=channel_id, channel=answered.ids.caller_channel, extension="s",
        context=CTX_CALLBACK, port=app[FASTAGI].port)
    callback.variables.update(variables)  # what the Originate set on the channel
    await callback.run(limit=20)
    # the queue and priority stay those of the Originate; the flow sends the call to the queue
    assert callback.result.variables == {"HOTLINE_DEST": "queue"}
    assert (callback.variables["HOTLINE_QUEUE"], callback.variables["HOTLINE_PRIORITY"]) == (
        QUEUE, "50")
    assert played(callback)[-1] == "hotline/transfer-agent"
    back = await _call(app, channel_id)
    assert (back.direction, back.caller_number, back.ended_at) == (
        CallDirection.OUTBOUND, CITIZEN, None)

    # 6. done, and only one Originate however often the dialer looks again
    async def done() -> bool:
        return (await _db_rows(app))[0][0].status == CallbackStatus.DONE

    await eventually(done)
    standin.agent_connect(answered, interface=AGENTS[0])  # a queue change: the dialer wakes
    await until(lambda: [m.talking_to for m in live().members.values()].count(channel_id) == 1)
    await passes.more()
    [task], [hold], [attempt] = await _db_rows(app)
    assert (task.status, task.attempts, task.done_at is not None) == (
        CallbackStatus.DONE, 1, True)
    assert (attempt.task_id, attempt.attempt, attempt.channel_id, attempt.outcome) == (
        task.id, 1, channel_id, AttemptOutcome.ANSWERED)
    assert "第1次回拨" in task.note and "已接通" in task.note
    assert [a["ChannelId"] for a in standin.actions_named("Originate")] == [channel_id]
    assert app[AMI].nodes[0].state == "connected"
