"""The ticket workflow on SQLite and PostgreSQL: every step, its refusals, its rows and events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from tickets_support import DALI, KUNMING, NOW, new_ticket, seed, step

from hotline.db.models import Call, Ticket, TicketChannel, TicketEvent, TicketStatus
from hotline.tickets import services
from hotline.tickets.deadlines import calendar_for
from hotline.tickets.models import TicketAssignment, TicketExtension, TicketSurvey
from hotline.tickets.queries import ticket_detail
from hotline.tickets.services import NewTicket, Options
from hotline.tickets.workflow import (
    InvalidStep,
    NotAllowed,
    StaleTicket,
    TicketNotFound,
    WorkflowError,
)

S = TicketStatus


async def events_of(db, ticket_id):
    async with db() as session:
        return list((await session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))).all())


async def assignments_of(db, ticket_id):
    async with db() as session:
        return list((await session.scalars(select(TicketAssignment).where(
            TicketAssignment.ticket_id == ticket_id).order_by(TicketAssignment.id))).all())


async def test_the_whole_way_from_call_to_closure(db):
    s = await seed(db)
    tid = await new_ticket(db)
    ticket = await step(db, tid, "accept", s.agent)
    calendar = calendar_for(Options().zone)
    assert ticket.status == S.ACCEPTED
    assert ticket.due_at == calendar.add_working_days(NOW, 5)  # 投诉: 5 working days
    ticket = await step(db, tid, "dispatch", s.agent)  # by the rule for 供水
    assert (ticket.status, ticket.department_id) == (S.DISPATCHED, s.water.id)
    ticket = await step(db, tid, "sign", s.handler, now=NOW + timedelta(hours=3))
    assert ticket.status == S.IN_PROGRESS
    await step(db, tid, "request_extension", s.handler, days=3, note="需协调施工单位")
    ticket = await step(db, tid, "decide_extension", s.supervisor, grant=True)
    assert ticket.due_at == calendar.add_working_days(calendar.add_working_days(NOW, 5), 3)
    await step(db, tid, "reply", s.handler, note="已恢复供水")
    await step(db, tid, "send_back", s.agent, note="答复未说明原因")
    await step(db, tid, "reply", s.handler, note="管道爆裂，已修复并恢复供水")
    ticket = await step(db, tid, "approve", s.agent)
    assert ticket.status == S.FOLLOW_UP
    async with db() as session:
        ticket = await services.record_follow_up_result(session, tid, "satisfied", True,
                                                        now=NOW + timedelta(days=2))
    assert ticket.status == S.CLOSED and ticket.closed_at is not None

    events = await events_of(db, tid)
    assert [e.action for e in events] == [
        "create", "accept", "dispatch", "sign", "request_extension", "decide_extension",
        "reply", "send_back", "reply", "approve", "follow_up"]
    assert events[-1].actor == "dialer" and "满意" in events[-1].note
    assert [(e.from_status, e.to_status) for e in events[3:5]] == [
        (S.DISPATCHED, S.IN_PROGRESS), (S.IN_PROGRESS, S.IN_PROGRESS)]
    [assignment] = await assignments_of(db, tid)
    assert assignment.signed_at == NOW + timedelta(hours=3)
    assert (assignment.reply_count, assignment.sent_back_count) == (2, 1)
    assert assignment.due_at == ticket.due_at
    async with db() as session:
        extension = await session.scalar(select(TicketExtension))
        survey = await session.scalar(select(TicketSurvey))
    assert (extension.status, extension.days) == ("granted", 3)
    assert (survey.satisfaction, survey.solved, survey.department_id) == \
        ("satisfied", True, s.water.id)


async def test_reject_with_a_policy_reason_or_answer_at_once(db):
    s = await seed(db)
    tid = await new_ticket(db)
    with pytest.raises(WorkflowError) as refused:
        await step(db, tid, "reject", s.agent, reason="不想办")
    assert refused.value.field == "reason"
    ticket = await step(db, tid, "reject", s.agent, reason="legal_process")
    assert ticket.status == S.REJECTED
    assert "仲裁" in (await events_of(db, tid))[-1].note
    with pytest.raises(InvalidStep, match="不予受理"):
        await step(db, tid, "accept", s.agent)

    # 直接答复: a consultation answered at once is closed (办结).
    tid = await new_ticket(db, category="咨询")
    with pytest.raises(WorkflowError, match="答复内容"):
        await step(db, tid, "answer", s.agent)
    ticket = await step(db, tid, "answer", s.agent, note="社保卡补办请携带身份证到任一网点")
    assert ticket.status == S.CLOSED and ticket.closed_at == NOW


async def test_transfer_targets(db):
    s = await seed(db)
    own, other, industry, province = [await new_ticket(db) for _ in range(4)]
    for tid in (own, other, industry, province):
        await step(db, tid, "accept", s.agent)
    with pytest.raises(WorkflowError) as refused:
        await step(db, own, "transfer", s.agent, target="12345-5301")  # its own line
    assert refused.value.field == "target"
    assert (await step(db, other, "transfer", s.agent, target="12345-5329")).status == \
        S.TRANSFERRED
    assert (await step(db, industry, "transfer", s.agent, target="12315")).status == \
        S.TRANSFERRED
    assert (await step(db, province, "transfer", s.agent, target="96128")).status == \
        S.TRANSFERRED
    assert "大理" in (await events_of(db, other))[-1].note
    provincial = await new_ticket(db, region="530000")  # a 96128 matter
    await step(db, provincial, "accept", s.supervisor)
    with pytest.raises(WorkflowError):
        await step(db, provincial, "transfer", s.supervisor, target="96128")
    assert (await step(db, provincial, "transfer", s.supervisor, target="12345-5301")).status \
        == S.TRANSFERRED


async def test_dispatch_rules_and_region(db):
    s = await seed(db)
    default = await new_ticket(db, topic="物业")  # no 物业 rule: the region's default
    assert (await step(db, default, "accept", s.agent)).status == S.ACCEPTED
    assert (await step(db, default, "dispatch", s.agent)).department_id == s.housing.id
    dali = await new_ticket(db, region=DALI, topic="噪音")  # 大理 has no default rule
    await step(db, dali, "accept", s.supervisor)
    with pytest.raises(WorkflowError) as refused:
        await step(db, dali, "dispatch", s.supervisor)
    assert refused.value.field == "department_id"
    with pytest.raises(WorkflowError, match="本地区"):
        await step(db, dali, "dispatch", s.supervisor, department_id=s.water.id)
    ticket = await step(db, dali, "dispatch", s.supervisor, department_id=s.dali_water.id)
    assert ticket.department_id == s.dali_water.id


async def test_roles_departments_and_return_then_redispatch(db):
    s = await seed(db)
    tid = await new_ticket(db)
    await step(db, tid, "accept", s.agent)
    with pytest.raises(TicketNotFound):  # not (yet) with the handler's department
        await step(db, tid, "dispatch", s.handler)
    await step(db, tid, "dispatch", s.agent)
    with pytest.raises(NotAllowed):  # now visible to the handler, but 审核 is the hotline's
        await step(db, tid, "approve", s.handler)
    with pytest.raises(TicketNotFound):  # another department does not even see it
        await step(db, tid, "sign", s.other_handler)
    with pytest.raises(NotAllowed):
        await step(db, tid, "sign", s.agent)
    with pytest.raises(WorkflowError, match="退单理由"):
        await step(db, tid, "return", s.handler)
    ticket = await step(db, tid, "return", s.handler, note="不属于本单位职责，应由住建局办理")
    assert (ticket.status, ticket.department_id) == (S.RETURNED, None)
    with pytest.raises(TicketNotFound):  # gone from the returning department
        await step(db, tid, "sign", s.handler)
    with pytest.raises(NotAllowed):  # 改派 is a supervisor's
        await step(db, tid, "redispatch", s.agent, department_id=s.housing.id)
    ticket = await step(db, tid, "redispatch", s.supervisor, department_id=s.housing.id)
    assert (ticket.status, ticket.department_id) == (S.DISPATCHED, s.housing.id)
    first, second = await assignments_of(db, tid)
    assert first.returned_at == NOW and "住建局" in first.return_reason
    assert second.department_id == s.housing.id and second.returned_at is None


@pytest.mark.parametrize("reopen", [True, False])
async def test_dissatisfied_follow_up_reopens_per_configuration(db, reopen):
    s = await seed(db)
    tid = await new_ticket(db)
    for action, actor, extra in [("accept", s.agent, {}), ("dispatch", s.agent, {}),
                                 ("sign", s.handler, {}), ("reply", s.handler, {"note": "已处理"}),
                                 ("approve", s.agent, {})]:
        await step(db, tid, action, actor, **extra)
    later = NOW + timedelta(days=10)
    async with db() as session:
        ticket = await services.record_follow_up_result(
            session, tid, "dissatisfied", False, options=Options(reopen_on_dissatisfied=reopen),
            now=later)
    if reopen:
        assert (ticket.status, ticket.department_id) == (S.DISPATCHED, s.water.id)
        assert ticket.due_at == calendar_for(Options().zone).add_working_days(later, 5)
        assignments = await assignments_of(db, tid)
        assert [a.reopened for a in assignments] == [False, True]
        await step(db, tid, "sign", s.handler, now=later)  # the department works it again
    else:
        assert ticket.status == S.CLOSED


async def test_merge_keeps_calls_and_events_of_both(db):
    s = await seed(db)
    async with db() as session:
        calls = [Call(node="pbx", uniqueid=f"1.{i}", linkedid=f"1.{i}", caller_number="138")
                 for i in range(2)]
        session.add_all(calls)
        await session.commit()
        tickets = []
        for i, call in enumerate(calls):
            created = await services.create_ticket(session, NewTicket(
                channel=TicketChannel.PHONE, region_code=KUNMING, category="投诉",
                title=f"同一小区停水 {i}", call_ids=[call.id]), s.agent, now=NOW)
            tickets.append(created.ticket)
    source, target = tickets
    await step(db, target.id, "accept", s.agent)
    with pytest.raises(WorkflowError):
        await step(db, source.id, "merge", s.agent, into=source.number)
    merged = await step(db, source.id, "merge", s.agent, into=target.number)
    assert merged.status == S.MERGED
    with pytest.raises(WorkflowError):  # a merged ticket is no merge target
        await step(db, target.id, "merge", s.agent, into=source.number)
    async with db() as session:
        detail = await ticket_detail(session, target.number, s.agent)
    assert {c.id for c in detail.calls} == {calls[0].id, calls[1].id}
    assert [t.number for t in detail.merged_from] == [source.number]
    actions = {(e.ticket_id, e.action) for e in detail.events}
    assert {(source.id, "create"), (source.id, "merge"), (target.id, "create"),
            (target.id, "accept"), (target.id, "merge_in")} == actions


async def test_stale_version_and_concurrent_steps_are_refused(db):
    s = await seed(db)
    tid = await new_ticket(db)
    with pytest.raises(StaleTicket):
        await step(db, tid, "accept", s.agent, expected_version=7)
    ticket = await step(db, tid, "accept", s.agent, expected_version=1)
    assert ticket.version == 2

    # Two steps at once on one ticket: one wins, the other is refused, one event is kept.
    tid = await new_ticket(db)
    results = await asyncio.gather(step(db, tid, "accept", s.agent),
                                   step(db, tid, "reject", s.agent, reason="emergency"),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], InvalidStep | StaleTicket), results
    assert len(await events_of(db, tid)) == 2  # create + the winner


async def test_create_is_idempotent_by_key_even_concurrently(db):
    await seed(db)
    first = await new_ticket(db, key="web-form-42")
    assert await new_ticket(db, key="web-form-42") == first
    ids = await asyncio.gather(*(new_ticket(db, key="web-form-43") for _ in range(2)))
    assert ids[0] == ids[1]
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 2
        assert await session.scalar(select(func.count()).select_from(TicketEvent)) == 2


async def test_follow_up_hook_runs_in_the_same_transaction(db):
    s = await seed(db)
    tid = await new_ticket(db)
    seen = []

    async def hook(session, ticket):
        seen.append((ticket.id, ticket.status))

    remove = services.on_follow_up(hook)
    try:
        for action, actor, extra in [("accept", s.agent, {}), ("dispatch", s.agent, {}),
                                     ("sign", s.handler, {}),
                                     ("reply", s.handler, {"note": "已处理"})]:
            await step(db, tid, action, actor, **extra)
        assert seen == []
        await step(db, tid, "approve", s.agent)
    finally:
        remove()
    assert seen == [(tid, S.FOLLOW_UP)]
    async with db() as session:
        assert [t.id for t in await services.tickets_awaiting_follow_up(session)] == [tid]
