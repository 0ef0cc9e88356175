"""Virtual hold end to end through the AMI stand-in and the real AmiNodes.

The stand-in plays an answered Originate into its IVR context as a queued call whose uniqueid is
the Originate's ChannelId (ami-queue-call's events; ami-actions fact 8: `Originate successfully
queued`, then OriginateResponse). Here its IVR context is our `hotline-callback`, so the
callback joins the captures' queue `hotline-12345` the way the dialplan's hotline-callback →
hotline-queue would (the priority itself is Asterisk's business: assumed, not captured).
"""

import asyncio
import contextlib
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from queue_transcripts import START
from sqlalchemy import select

from hotline.asterisk.ami import AmiNodes
from hotline.asterisk.dialplan import CTX_CALLBACK, CTX_OUTBOUND
from hotline.bus import Bus
from hotline.config import AsteriskNodeConfig
from hotline.db.models import CallbackKind, CallbackStatus, CallbackTask
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.models import AttemptOutcome, CallbackAttempt, VirtualHold
from hotline.queue.settings import QueueConfig
from hotline.queue.state import Caller, LiveQueue, Member
from hotline.queue.virtual_hold import VirtualHoldDialer, VirtualHoldService, estimated_wait
from hotline.testing.ami_server import CAPTURE_CONTEXTS, AmiStandin

ZONE = ZoneInfo("Asia/Shanghai")
QUEUE = "hotline-12345"
CONFIG = QueueConfig(virtual_hold_offer_seconds=0)  # offer whatever the estimate


async def until(predicate, seconds=10.0):
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state owned by the code under test
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def live(db, contexts=(CTX_CALLBACK, CTX_OUTBOUND), **node_options):
    async with AmiStandin(contexts=CAPTURE_CONTEXTS | set(contexts),
                          ivr_context=CTX_CALLBACK) as standin:
        config = AsteriskNodeConfig(name="pbx1", host="127.0.0.1", port=standin.port,
                                    username="hotline", secret=SecretStr("hotline-secret"))
        nodes = AmiNodes([config], backoff=(0.05, 0.2), **node_options)
        monitor = QueueMonitor(db, Bus(), CONFIG, ZONE)
        nodes.subscribe(monitor)
        nodes.start()
        try:
            await until(lambda: monitor.state.node("pbx1").synced_at is not None)
            yield standin, nodes, monitor
        finally:
            await nodes.close()
            await monitor.drain()


async def task_row(db, task_id):
    async with db() as session:
        task = await session.get(CallbackTask, task_id)
        attempts = (await session.scalars(select(CallbackAttempt).where(
            CallbackAttempt.task_id == task_id).order_by(CallbackAttempt.attempt))).all()
    return task, attempts


def waiting(monitor):
    return [c.uniqueid for c in monitor.state.queue("pbx1", QUEUE).callers]


async def test_place_kept_then_called_back_once_into_the_queue(db):
    async with live(db) as (standin, nodes, monitor):
        ahead = standin.queued_call(caller_num="13800000001")
        await until(lambda: waiting(monitor) == [ahead.uniqueid])
        service = VirtualHoldService(db, monitor, CONFIG)
        offer = await service.offer("pbx1", QUEUE)
        # 1 waiting, 2 members logged in and free: ceil(180 s × 2 / 2)
        assert (offer.position, offer.ahead, offer.estimated_wait) == (
            2, (ahead.uniqueid,), 180)
        task_id = await service.accept(offer, "1795600000.7", "1795600000.7", "13900000000")
        assert await service.accept(offer, "1795600000.7", "1795600000.7",
                                    "13900000000") == task_id  # asked twice: one task

        dialer = VirtualHoldDialer(db, nodes, monitor, CONFIG)
        await dialer.tick()  # the caller ahead still waits: not yet
        assert standin.actions_named("Originate") == []

        standin.agent_connect(ahead)
        await until(lambda: waiting(monitor) == [])
        await dialer.tick()  # the place has come
        sent = await asyncio.wait_for(standin.wait_for_action("Originate"), 10)
        assert (sent["Channel"], sent["Context"], sent["Exten"], sent["ChannelId"]) == (
            f"Local/13900000000@{CTX_OUTBOUND}", CTX_CALLBACK, "s", f"vh-{task_id}-1")
        assert {"HOTLINE_JOB=" + str(task_id), "HOTLINE_PRIORITY=50",
                f"HOTLINE_QUEUE={QUEUE}"} <= set(sent.getall("Variable"))
        # the citizen answers and is back in the queue, under the ChannelId
        await until(lambda: waiting(monitor) == [f"vh-{task_id}-1"])
        await until(lambda: not dialer._inflight)
        task, attempts = await task_row(db, task_id)
        assert (task.kind, task.status, task.attempts) == (
            CallbackKind.VIRTUAL_HOLD, CallbackStatus.DONE, 1)
        assert [(a.channel_id, a.outcome) for a in attempts] == [
            (f"vh-{task_id}-1", AttemptOutcome.ANSWERED)]
        assert "第1次回拨" in task.note and "已接通" in task.note

        restarted = VirtualHoldDialer(db, nodes, monitor, CONFIG)
        await restarted.tick()
        assert len(standin.actions_named("Originate")) == 1


async def test_a_dialer_restarted_mid_originate_does_not_send_it_again(db):
    # no Ping while the stand-in is half-open: the connection stays, as in a slow answer
    async with live(db, ping_interval=60) as (standin, nodes, monitor):
        service = VirtualHoldService(db, monitor, CONFIG)
        offer = await service.offer("pbx1", QUEUE)
        assert offer.estimated_wait == 0 and offer.ahead == ()  # members free, nobody waits
        task_id = await service.accept(offer, "1795600000.8", "1795600000.8", "13900000001")
        first = VirtualHoldDialer(db, nodes, monitor, CONFIG)
        standin.stop_reading()  # the Originate is received, not answered yet …
        await first.tick()
        await asyncio.wait_for(standin.wait_for_action("Originate"), 10)
        await first.close()  # … and the dialer goes away (a restart)
        task, attempts = await task_row(db, task_id)
        assert task.status == CallbackStatus.DIALING
        assert [a.outcome for a in attempts] == [AttemptOutcome.SENT]

        second = VirtualHoldDialer(db, nodes, monitor, CONFIG)
        await second.tick()  # no trace yet, ring time not over: it waits, sends nothing
        assert len(standin.actions_named("Originate")) == 1
        standin.resume_reading()  # Asterisk answers after all: the callback joins the queue
        await until(lambda: waiting(monitor) == [f"vh-{task_id}-1"])
        await second.tick()
        task, attempts = await task_row(db, task_id)
        assert task.status == CallbackStatus.DONE
        assert [a.outcome for a in attempts] == [AttemptOutcome.ANSWERED]
        assert len(standin.actions_named("Originate")) == 1
        async with db() as session:
            hold = await session.get(VirtualHold, task_id)
        assert (hold.node, hold.uniqueid, hold.queue, hold.position) == (
            "pbx1", "1795600000.8", QUEUE, 1)


def test_estimated_wait_formula():
    queue = LiveQueue(QUEUE)
    assert estimated_wait(None, 100) == 100  # unknown queue: one handling time
    queue.members = {"a": Member("a", status=1), "b": Member("b", status=1)}
    assert estimated_wait(queue, 100) == 0  # free member, nobody waiting
    queue.callers = [Caller(str(i), "", "", "", START) for i in range(3)]
    assert estimated_wait(queue, 100) == 200  # 4th in line, 2 staffed: 100 × 4 / 2
    queue.members["b"].paused = True
    assert estimated_wait(queue, 100) == 400  # 1 staffed


async def test_unanswered_callbacks_are_retried_then_left_to_people(db):
    """Without a hotline-outbound context the stand-in answers an async Originate of a Local
    channel with OriginateResponse Failure, Reason 0 (ami-actions, fact 8)."""
    config = QueueConfig(virtual_hold_offer_seconds=0, virtual_hold_attempts=2)
    async with live(db, contexts=(CTX_CALLBACK,)) as (standin, nodes, monitor):
        service = VirtualHoldService(db, monitor, config)
        task_id = await service.accept(await service.offer("pbx1", QUEUE), "1795600000.9",
                                       "1795600000.9", "13900000002")
        dialer = VirtualHoldDialer(db, nodes, monitor, config)
        await dialer.tick()
        await until(lambda: len(standin.actions_named("Originate")) == 1 and not dialer._inflight)
        task, attempts = await task_row(db, task_id)
        assert (task.status, [a.outcome for a in attempts]) == (
            CallbackStatus.PENDING, [AttemptOutcome.FAILED])
        await dialer.tick()  # the retry is not due yet
        assert len(standin.actions_named("Originate")) == 1
        async with db() as session:  # the retry delay has passed
            (await session.get(CallbackTask, task_id)).due_at = task.created_at
            await session.commit()
        await dialer.tick()
        await until(lambda: len(standin.actions_named("Originate")) == 2 and not dialer._inflight)
        task, attempts = await task_row(db, task_id)
    assert [a.get("ChannelId") for a in standin.actions_named("Originate")] == [
        f"vh-{task_id}-1", f"vh-{task_id}-2"]
    assert (task.status, task.attempts) == (CallbackStatus.FAILED, 2)
    assert [(a.outcome, a.reason) for a in attempts] == [
        (AttemptOutcome.FAILED, "reason 0"), (AttemptOutcome.FAILED, "reason 0")]
    assert "第2次回拨：未接通" in task.note and "转人工回拨" in task.note
