"""Department ranking on a small seeded history (SQLite and PostgreSQL): the expected figures
are worked out by hand from the definitions in hotline/tickets/ranking.py; and the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickets_support import NOW, new_ticket, seed, step

from hotline.tickets import services
from hotline.tickets.ranking import department_ranking, overall
from hotline.web.keys import DB

from conftest import logged_in

HOUR = timedelta(hours=1)
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


async def build_history(db):
    """水务局: A on time, one reply, satisfied; B replied after its deadline, sent back once,
    basically satisfied; C returned (退单) and re-dispatched to 住建局, which replied on time
    and met a dissatisfied citizen: reopened to 住建局, not replied yet, not yet due."""
    s = await seed(db)
    a, b, c = [await new_ticket(db, category="咨询") for _ in range(3)]  # 1 working day
    for tid in (a, b, c):
        await step(db, tid, "accept", s.agent)
        await step(db, tid, "dispatch", s.agent)  # 供水 → 水务局
    await step(db, a, "sign", s.handler, now=NOW + HOUR)
    await step(db, a, "reply", s.handler, note="已处理", now=NOW + 2 * HOUR)
    await step(db, b, "sign", s.handler, now=NOW + HOUR)
    await step(db, b, "reply", s.handler, note="已处理", now=NOW + timedelta(days=3))  # late
    await step(db, b, "send_back", s.agent, note="未说明", now=NOW + timedelta(days=3))
    await step(db, b, "reply", s.handler, note="补充说明", now=NOW + timedelta(days=4))
    await step(db, c, "return", s.handler, note="非本单位职责", now=NOW + HOUR)
    await step(db, c, "redispatch", s.supervisor, department_id=s.housing.id, now=NOW + HOUR)
    await step(db, c, "sign", s.other_handler, now=NOW + 2 * HOUR)
    await step(db, c, "reply", s.other_handler, note="已处理", now=NOW + 3 * HOUR)
    for tid, answer in ((a, "satisfied"), (b, "basically"), (c, "dissatisfied")):
        await step(db, tid, "approve", s.agent, now=NOW + timedelta(days=5))
        async with db() as session:
            await services.record_follow_up_result(session, tid, answer, answer != "dissatisfied",
                                                   now=NOW + timedelta(days=5))
    return s


def figures(rank):
    return {name: (getattr(rank, name).hits, getattr(rank, name).total)
            for name in ("on_time", "satisfaction", "first_contact", "returned")}


async def test_ranking_figures(db):
    s = await build_history(db)
    async with db() as session:
        ranks = await department_ranking(session, *PERIOD, now=NOW + timedelta(days=5))
    by_name = {r.name: r for r in ranks}
    water, housing = by_name[s.water.name], by_name[s.housing.name]
    assert water.assignments == 3 and housing.assignments == 2
    assert figures(water) == {"on_time": (1, 2), "satisfaction": (2, 2),
                              "first_contact": (1, 2), "returned": (1, 3)}
    assert figures(housing) == {"on_time": (1, 1), "satisfaction": (0, 1),
                                "first_contact": (0, 1), "returned": (0, 2)}
    assert water.score == (0.5 + 1 + 0.5 + (1 - 1 / 3)) / 4
    assert housing.score == (1 + 0 + 0 + 1) / 4
    assert [r.name for r in ranks[:2]] == [s.water.name, s.housing.name]
    dali = by_name[s.dali_water.name]
    assert dali.assignments == 0 and dali.score is None and ranks[-1] is dali
    assert figures(overall(ranks))["returned"] == (1, 5)

    # Scope: a 大理 supervisor ranks 大理's departments only; another month is empty.
    async with db() as session:
        dali_only = await department_ranking(session, *PERIOD, now=NOW, scope="532900")
        december = await department_ranking(session, PERIOD[1], PERIOD[1] + timedelta(days=31),
                                            now=NOW)
    assert [r.name for r in dali_only] == [s.dali_water.name]
    assert all(r.assignments == 0 for r in december)


async def test_ranking_page_and_api(client):
    s = await build_history(client.app[DB])
    await logged_in(client, "boss2", "supervisor")
    page = await client.get("/ranking?from=2026-11-01&to=2026-11-30")
    assert page.status == 200
    text = await page.text()
    assert s.water.name in text and "按时办结率" in text and "50.0%（1/2）" in text
    assert (await client.get("/ranking?from=2026-11-30&to=2026-11-01")).status == 400
    rows = await (await client.get("/api/ranking?from=2026-11-01&to=2026-11-30")).json()
    water = next(r for r in rows if r["name"] == s.water.name)
    assert (water["on_time_rate"], water["returned_rate"]) == (0.5, 1 / 3)
    bad = await client.get("/api/ranking?from=2026-13-01&to=2026-11-30")
    assert bad.status == 400 and (await bad.json())["field"] == "from"
