"""Joining the queue with the queue feature's knowledge (ivr/waiting.py): its routing variables
(overflow, queue timeout) and the virtual-hold offer (按1保留排队位置) when the estimated wait is
long. The queue feature is stood in for by fakes with its interface (hotline.queue.routing
`Route.variables()`, hotline.queue.virtual_hold.VirtualHoldService `offer`/`accept`); the app
wiring is checked in test_ivr_flow.py. STREAM FILE and WAIT FOR DIGIT as in agi-session-normal."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr_flow_support import call_row, context, run_call

from hotline.db.models import CallOutcome
from hotline.testing.agi_client import Caller


@dataclass(frozen=True)
class Offer:
    node: str
    queue: str
    estimated_wait: int


@dataclass
class FakeVirtualHold:
    wait: int | None
    offers: list[tuple[str, str]] = field(default_factory=list)
    accepted: list[tuple[Offer, str, str, str]] = field(default_factory=list)

    async def offer(self, node, queue):
        self.offers.append((node, queue))
        return None if self.wait is None else Offer(node, queue, self.wait)

    async def accept(self, offer, uniqueid, linkedid, number):
        self.accepted.append((offer, uniqueid, linkedid, number))
        return 77


OFFER = ["hotline/queue-wait-before", "hotline/digits/5", "hotline/queue-wait-after",
         "hotline/virtual-hold-offer"]


async def test_the_queue_feature_routes_the_caller(db, tmp_path):
    seen = []

    def route(node, queue):  # a 12345 line with nobody logged in: to 96128 at once
        seen.append((node, queue))
        return {"HOTLINE_QUEUE": "hl-96128", "HOTLINE_PRIORITY": "0"}

    run = await run_call(context(db, tmp_path, queue_route=route), Caller(keys=["2"]))
    assert run.escaped == [] and seen == [("pbx1", "hl-12345-5301")]
    assert run.variables == {"HOTLINE_QUEUE": "hl-96128", "HOTLINE_PRIORITY": "0",
                             "HOTLINE_DEST": "queue"}

    def broken(node, queue):
        raise KeyError(queue)

    run = await run_call(context(db, tmp_path, queue_route=broken), Caller(keys=["2"]))
    assert run.escaped == [] and run.variables["HOTLINE_QUEUE"] == "hl-12345-5301"


async def test_a_long_wait_offers_virtual_hold_and_1_keeps_the_place(db, tmp_path):
    hold = FakeVirtualHold(wait=290)  # → "5 minutes"
    run = await run_call(context(db, tmp_path, virtual_hold=hold),
                         Caller(number="13800001234", keys=["0", "", "", "", "1"]))  # 1: offer
    assert run.escaped == []
    assert run.played[-len(OFFER) - 1:] == [*OFFER, "hotline/virtual-hold-confirmed"]
    assert hold.offers == [("pbx1", "hl-12345-5301")]
    [(offer, uniqueid, linkedid, number)] = hold.accepted
    assert (offer.queue, offer.estimated_wait) == ("hl-12345-5301", 290)
    assert (uniqueid, linkedid, number) == (run.uniqueid, run.uniqueid, "13800001234")
    assert run.variables["HOTLINE_DEST"] == "hangup"  # the last word: the call ends here
    call = await call_row(db, run.uniqueid)
    assert call.outcome == CallOutcome.IVR_ONLY and call.ended_at is not None


async def test_declining_or_a_short_wait_joins_the_queue(db, tmp_path):
    hold = FakeVirtualHold(wait=290)
    run = await run_call(context(db, tmp_path, virtual_hold=hold),
                         Caller(keys=["0", "", "", "", "", "2"]))  # 2 after it
    assert run.played[-len(OFFER) - 2:] == ["hotline/notice", *OFFER, "hotline/transfer-agent"]
    assert run.variables["HOTLINE_DEST"] == "queue" and hold.accepted == []
    short = FakeVirtualHold(wait=None)
    run = await run_call(context(db, tmp_path, virtual_hold=short), Caller(keys=["0"]))
    assert run.played[-1] == "hotline/transfer-agent" and short.offers
    assert "hotline/virtual-hold-offer" not in run.played
    assert (await call_row(db, run.uniqueid)).ended_at is None  # on its way to an agent


async def test_a_caller_without_a_number_to_call_back_is_not_offered_virtual_hold(
        db, tmp_path):
    """Kept by a callback, a caller whose number cannot be dialled would hang up and never be
    called. Asterisk's agi_callerid for a withheld or missing caller ID ("unknown" here, or
    empty) is assumed, not captured: the transcripts only show a real number."""
    for number in ("unknown", "", "anonymous", "+8613800001234", "１３８００００１２３４"):
        hold = FakeVirtualHold(wait=290)
        run = await run_call(context(db, tmp_path, virtual_hold=hold),
                             Caller(number=number, keys=["0"]))
        assert run.escaped == [], number
        assert hold.offers == [] and hold.accepted == [], number
        assert "hotline/virtual-hold-offer" not in run.played, number
        assert run.played[-1] == "hotline/transfer-agent", number
        assert run.variables["HOTLINE_DEST"] == "queue", number


async def test_a_menu_route_with_a_skill_bound_and_a_priority(db, tmp_path):
    from hotline.ivr.menu import Menu

    path = tmp_path / "menu.toml"
    path.write_text('[[option]]\ndigit = "2"\nchoice = "complaint"\ncategory = "求助投诉"\n'
                    'priority = 5\nmax_penalty = 1\n', encoding="utf-8")
    run = await run_call(context(db, tmp_path, menu=Menu.load(path)), Caller(keys=["2"]))
    assert run.variables == {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_PRIORITY": "5",
                             "HOTLINE_MAX_PENALTY": "1", "HOTLINE_DEST": "queue"}


def _live_queue(monitor, members=1, waiting=1):
    """The queue state the queue feature keeps from AMI (hotline.queue.state), set directly:
    `members` agents all busy, `waiting` callers ahead."""
    from datetime import UTC, datetime

    from hotline.queue.state import Caller as Waiting
    from hotline.queue.state import DeviceStatus, Member

    queue = monitor.state.node("pbx1").queue("hl-12345-5301")
    for i in range(members):
        interface = f"PJSIP/agent800{i}"
        queue.members[interface] = Member(interface, status=DeviceStatus.INUSE)
    queue.callers = [Waiting(f"1795600000.{i}", f"PJSIP/trunk-{i}", "13900000000", "",
                             datetime.now(UTC)) for i in range(waiting)]
    return queue


async def test_with_the_real_queue_services(db, tmp_path):
    """The queue feature's own QueueMonitor state, route_call and VirtualHoldService, plugged
    as the app does (ivr.wiring.plug_queue): one busy agent, one caller ahead → an estimated
    6 minutes (180 s default handling × 2 / 1) → offer; 1 keeps the place."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from hotline.bus import Bus
    from hotline.db.models import CallbackKind, CallbackTask
    from hotline.ivr.wiring import plug_queue
    from hotline.queue.ami_events import QueueMonitor
    from hotline.queue.models import VirtualHold as KeptPlace
    from hotline.queue.settings import QueueConfig
    from hotline.queue.virtual_hold import VirtualHoldService

    config = QueueConfig(virtual_hold_offer_seconds=120)
    monitor = QueueMonitor(db, Bus(), config, ZoneInfo("Asia/Shanghai"))
    ctx = context(db, tmp_path)
    plug_queue(ctx, monitor, VirtualHoldService(db, monitor, config), config)
    # a node without live state: neither overflow nor an offer (no guessing)
    run = await run_call(ctx, Caller(keys=["0"]))
    assert run.variables == {"HOTLINE_QUEUE": "hl-12345-5301", "HOTLINE_PRIORITY": "0",
                             "HOTLINE_DEST": "queue"}
    assert "hotline/virtual-hold-offer" not in run.played
    _live_queue(monitor)
    run = await run_call(ctx, Caller(number="13800001234", keys=["0", "", "", "", "", "1"]))
    assert run.escaped == []
    assert run.played[-5:] == ["hotline/queue-wait-before", "hotline/digits/6",
                               "hotline/queue-wait-after", "hotline/virtual-hold-offer",
                               "hotline/virtual-hold-confirmed"]
    # route_call: a 12345 queue with members → the line's queue with its overflow timeout
    assert run.variables == {"HOTLINE_QUEUE": "hl-12345-5301",
                             "HOTLINE_QUEUE_TIMEOUT": str(config.overflow_after_seconds),
                             "HOTLINE_PRIORITY": "0", "HOTLINE_DEST": "hangup"}
    async with db() as session:
        task = await session.scalar(select(CallbackTask).where(
            CallbackTask.kind == CallbackKind.VIRTUAL_HOLD))
        place = await session.scalar(select(KeptPlace))
    assert task.number == "13800001234" and task.queue == "hl-12345-5301"
    assert (place.uniqueid, place.position) == (run.uniqueid, 2)
    call = await call_row(db, run.uniqueid)
    assert task.call_id == call.id and call.outcome == CallOutcome.IVR_ONLY
