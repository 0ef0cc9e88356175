"""Shared set-up of the ticket tests: departments of 昆明 and 大理, dispatch rules, actors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hotline.db.models import Department, Role, TicketChannel
from hotline.tickets import services
from hotline.tickets.models import DispatchRule
from hotline.tickets.services import Actor, NewTicket

KUNMING = "530100"
DALI = "532900"
# A Wednesday in an ordinary week (no holiday near): deadlines are plain weekdays.
NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


@dataclass
class Seed:
    water: Department  # 昆明市水务局 (rule: 供水)
    housing: Department  # 昆明市住房和城乡建设局 (the region's default rule)
    dali_water: Department
    agent: Actor
    supervisor: Actor
    handler: Actor  # of 昆明市水务局
    other_handler: Actor  # of 昆明市住建局


async def seed(db_factory: Any) -> Seed:
    async with db_factory() as db:
        water = Department(name="昆明市水务局", region_code=KUNMING)
        housing = Department(name="昆明市住房和城乡建设局", region_code=KUNMING)
        dali_water = Department(name="大理州水务局", region_code=DALI)
        db.add_all([water, housing, dali_water])
        await db.flush()
        db.add_all([DispatchRule(region_code=KUNMING, topic="供水", department_id=water.id),
                    DispatchRule(region_code=KUNMING, topic="", department_id=housing.id),
                    DispatchRule(region_code=DALI, topic="供水", department_id=dali_water.id)])
        await db.commit()
    return Seed(
        water, housing, dali_water,
        agent=Actor("agent1", None, Role.AGENT, None, KUNMING),
        supervisor=Actor("boss", None, Role.SUPERVISOR, None, None),
        handler=Actor("water1", None, Role.HANDLER, water.id, KUNMING),
        other_handler=Actor("house1", None, Role.HANDLER, housing.id, KUNMING),
    )


async def new_ticket(db_factory: Any, *, category: str = "投诉", topic: str = "供水",
                     region: str = KUNMING, key: str | None = None, now: datetime = NOW) -> int:
    async with db_factory() as db:
        created = await services.create_ticket(db, NewTicket(
            channel=TicketChannel.PHONE, region_code=region, category=category, topic=topic,
            title="停水三天", content="小区停水三天无人处理", contact_number="13800000000",
            idempotency_key=key), "agent1", now=now)
        return created.ticket.id


async def step(db_factory: Any, ticket_id: int, action: str, actor: Actor, **kwargs: Any) -> Any:
    async with db_factory() as db:
        return await services.act(db, ticket_id, action, actor, now=kwargs.pop("now", NOW),
                                  **kwargs)
