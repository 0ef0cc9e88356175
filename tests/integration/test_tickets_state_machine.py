"""Random sequences of workflow steps (hypothesis RuleBasedStateMachine) on SQLite and
PostgreSQL, through the real services and database: a ticket never reaches an invalid state,
a refused step changes nothing, every successful step is kept as one event, and the history
replays to the current status."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from tickets_support import DALI, KUNMING, seed

from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Role, Ticket, TicketChannel, TicketEvent, TicketStatus
from hotline.regions import within
from hotline.tickets import services
from hotline.tickets.services import Actor, NewTicket
from hotline.tickets.workflow import (
    STEPS,
    TERMINAL,
    Action,
    InvalidStep,
    NotAllowed,
    TicketNotFound,
    WorkflowError,
)

S = TicketStatus
# The way a ticket moves on, tried first by `likely_step` most of the time.
FORWARD = [Action.ACCEPT, Action.DISPATCH, Action.SIGN, Action.REPLY, Action.APPROVE,
           Action.FOLLOW_UP, Action.REDISPATCH]
WITH_DEPARTMENT = {S.DISPATCHED, S.IN_PROGRESS, S.REVIEWING, S.FOLLOW_UP}

PARAMS = st.fixed_dictionaries({}, optional={
    "note": st.sampled_from(["", "已核实情况并处理"]),
    "reason": st.sampled_from(["emergency", "secret_or_privacy", "无理由"]),
    "department": st.sampled_from(["water", "housing", "dali", "nonsense"]),
    "target": st.sampled_from(["96128", "12315", "12345-5301", "12345-5329", "110"]),
    "days": st.sampled_from([0, 2, 99]),
    "grant": st.booleans(),
    "satisfaction": st.sampled_from(["satisfied", "basically", "dissatisfied", "meh"]),
    "solved": st.booleans(),
})


def machine_for(db_url: str) -> type[RuleBasedStateMachine]:
    loop = asyncio.new_event_loop()
    engine = create_engine(db_url)
    db = session_maker(engine)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(coro)

    seeded = run(seed(db))
    departments = {"water": seeded.water.id, "housing": seeded.housing.id,
                   "dali": seeded.dali_water.id, "nonsense": 999_999}
    actors = [seeded.agent, seeded.supervisor, seeded.handler, seeded.other_handler,
              Actor("dialer")]
    handlers = {seeded.water.id: seeded.handler, seeded.housing.id: seeded.other_handler}

    class TicketMachine(RuleBasedStateMachine):
        tickets = Bundle("tickets")

        def __init__(self) -> None:
            super().__init__()
            self.status: dict[int, TicketStatus] = {}
            self.events: dict[int, int] = {}
            self.region: dict[int, str] = {}
            self.handler_of: dict[int, Actor | None] = {}

        # Few open tickets at a time, so that histories get long.
        @precondition(lambda self: sum(s not in TERMINAL for s in self.status.values()) < 2)
        @rule(target=tickets, category=st.sampled_from(["咨询", "投诉", "建议"]),
              topic=st.sampled_from(["供水", "物业"]), region=st.sampled_from([KUNMING, DALI]))
        def create(self, category: str, topic: str, region: str) -> int:
            async def go() -> int:
                async with db() as session:
                    created = await services.create_ticket(session, NewTicket(
                        channel=TicketChannel.WEB, region_code=region, category=category,
                        topic=topic, title="测试"), "web")
                return created.ticket.id

            ticket_id = run(go())
            self.status[ticket_id] = S.DRAFT
            self.events[ticket_id] = 1
            self.region[ticket_id] = region
            return ticket_id

        @rule(ticket=tickets, other=tickets, action=st.sampled_from(list(Action)),
              actor=st.sampled_from(actors), params=PARAMS)
        def any_step(self, ticket: int, other: int, action: Action, actor: Actor,
                     params: dict[str, Any]) -> None:
            """Any action by anyone with any parameters: mostly refusals."""
            kwargs = dict(params)
            if "department" in kwargs:
                kwargs["department_id"] = departments[kwargs.pop("department")]
            self.attempt(ticket, other, action, actor, kwargs)

        @rule(ticket=tickets, other=tickets, choice=st.integers(0, 15),
              satisfaction=st.sampled_from(["satisfied", "dissatisfied"]), flag=st.booleans())
        def likely_step(self, ticket: int, other: int, choice: int, satisfaction: str,
                        flag: bool) -> None:
            """An action the status allows, by someone who may take it, with sound input:
            this is how sequences get deep (review, follow-up, reopening)."""
            status = self.status[ticket]
            allowed = [a for a in Action if status in STEPS[a].sources]
            if not allowed:
                return
            forward = [a for a in FORWARD if a in allowed]
            action = forward[0] if forward and choice < 9 else allowed[choice % len(allowed)]
            roles = STEPS[action].roles
            if Role.HANDLER in roles:
                actor = self.handler_of.get(ticket)
                if actor is None:
                    return
            else:
                actor = seeded.supervisor
            kwargs = {"note": "处理说明", "reason": "emergency", "days": 2, "grant": flag,
                      "satisfaction": satisfaction, "solved": flag, "target": "12315"}
            self.attempt(ticket, other, action, actor, kwargs)

        def attempt(self, ticket: int, other: int, action: Action, actor: Actor,
                    kwargs: dict[str, Any]) -> None:
            if action == Action.MERGE:
                kwargs["into"] = other
            before = self.status[ticket]

            async def go() -> Ticket:
                async with db() as session:
                    return await services.act(session, ticket, action, actor, **kwargs)

            try:
                result = run(go())
            except WorkflowError as refusal:
                step = STEPS[action]
                if isinstance(refusal, InvalidStep):
                    assert before not in step.sources
                elif isinstance(refusal, NotAllowed):
                    assert (actor.role is None and not step.system_allowed) or (
                        actor.role is not None and actor.role not in step.roles)
                elif isinstance(refusal, TicketNotFound):  # outside the actor's view
                    assert actor.role == Role.HANDLER or not within(self.region[ticket],
                                                                    actor.region_code)
                return  # the invariants check that nothing changed
            step = STEPS[action]
            assert before in step.sources
            if action == Action.FOLLOW_UP:
                assert result.status in (S.CLOSED, S.DISPATCHED)
            else:
                assert result.status == (step.target or before)
            event(f"{action.value}: {before.value} → {result.status.value}")
            self.status[ticket] = result.status
            self.events[ticket] += 1
            self.handler_of[ticket] = handlers.get(result.department_id)  # type: ignore[arg-type]
            if action == Action.MERGE:
                self.events[int(kwargs["into"])] += 1  # the target's "merge_in"

        @invariant()
        def rows_match_the_model_and_history_replays(self) -> None:
            if not self.status:
                return

            async def go() -> tuple[list[Ticket], list[TicketEvent]]:
                async with db() as session:
                    rows = (await session.scalars(
                        select(Ticket).where(Ticket.id.in_(self.status)))).all()
                    events = (await session.scalars(
                        select(TicketEvent).where(TicketEvent.ticket_id.in_(self.status))
                        .order_by(TicketEvent.id))).all()
                return list(rows), list(events)

            rows, events = run(go())
            assert {t.id: t.status for t in rows} == self.status
            for ticket in rows:
                history = [e for e in events if e.ticket_id == ticket.id]
                assert len(history) == self.events[ticket.id]
                assert history[0].action == "create" and history[0].to_status == S.DRAFT
                replayed = S.DRAFT
                for kept in history[1:]:
                    assert kept.from_status == replayed, (ticket.number, kept.action)
                    replayed = kept.to_status
                assert replayed == ticket.status
                if ticket.status in WITH_DEPARTMENT:
                    assert ticket.department_id is not None
                if ticket.status in (S.CLOSED, S.REJECTED):
                    assert ticket.closed_at is not None
                if ticket.status not in TERMINAL and ticket.status != S.DRAFT:
                    assert ticket.due_at is not None

    def teardown() -> None:
        run(engine.dispose())
        loop.close()

    TicketMachine.dispose = staticmethod(teardown)  # type: ignore[attr-defined]
    return TicketMachine


def test_random_step_sequences_keep_tickets_valid(db_url):
    machine = machine_for(db_url)
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=15, stateful_step_count=30, deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        machine.dispose()  # type: ignore[attr-defined]
