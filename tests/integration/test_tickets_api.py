"""The ticket JSON API end to end on SQLite and PostgreSQL: other channels (web, SMS, …) with the
emergency classifier, idempotent submission, workflow steps over HTTP (409 on a wrong step),
handler visibility, 督办 list, OpenAPI."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from tickets_support import KUNMING, new_ticket, seed, step

from hotline.db.models import Ticket
from hotline.web.keys import BUS, DB

from conftest import csrf_token, logged_in, login

WATER_CUT = {"channel": "web", "region_code": KUNMING, "category": "投诉", "topic": "供水",
             "title": "小区停水", "content": "我们小区已经停水三天了，一直没人处理。",
             "contact_number": "13800000000"}


async def post(client: Any, url: str, body: Any, token: str) -> Any:
    return await client.post(url, json=body, headers={"X-CSRF-Token": token})


async def expect(response: Any, status: int) -> Any:
    assert response.status == status, (response.status, await response.text())
    assert response.content_type == "application/json"
    return await response.json()


async def ticket_count(client: Any) -> int:
    async with client.app[DB]() as db:
        return await db.scalar(select(func.count()).select_from(Ticket))


async def web_submission_is_filed_once_per_key(client, token):
    body = {**WATER_CUT, "idempotency_key": "web-form-0001"}
    first = await expect(await post(client, "/api/tickets", body, token), 201)
    assert (first["status"], first["channel"], first["created"]) == ("draft", "web", True)
    assert first["number"].startswith("5301-") and first["emergency_service"] is None
    again = await expect(await post(client, "/api/tickets", body, token), 200)
    assert (again["number"], again["created"]) == (first["number"], False)
    assert await ticket_count(client) == 1


async def concurrent_posts_with_one_key_make_one_ticket(client, token):
    body = {**WATER_CUT, "channel": "wechat", "idempotency_key": "wechat-msg-77"}
    responses = await asyncio.gather(*(post(client, "/api/tickets", body, token)
                                       for _ in range(2)))
    bodies = [await r.json() for r in responses]
    assert sorted(r.status for r in responses) == [200, 201], bodies
    assert bodies[0]["number"] == bodies[1]["number"]
    assert await ticket_count(client) == 2


async def an_emergency_text_alerts_supervisors_at_once(client, token):
    alerts = client.app[BUS].subscribe(["alerts"])
    body = {**WATER_CUT, "channel": "sms", "title": "救命",
            "content": "我家楼下着火了，火很大，快来人！"}
    created = await expect(await post(client, "/api/tickets", body, token), 201)
    assert created["emergency_service"] == "119"
    topic, event = await asyncio.wait_for(alerts.get(), 5)
    assert topic == "alerts"
    assert event["type"] == "emergency" and event["channel"] == "sms"
    assert (event["service"], event["number"]) == ("119", created["number"])
    # An ordinary matter raises no alert.
    await expect(await post(client, "/api/tickets", WATER_CUT, token), 201)
    assert alerts._queue.empty()
    alerts.close()


async def bad_submissions_get_clear_errors(client, token):
    before = await ticket_count(client)
    cases = [
        ({**WATER_CUT, "channel": "phone"}, "channel"),  # calls are filed at the desk
        ({**WATER_CUT, "region_code": "110000"}, "region_code"),  # not Yunnan
        ({k: v for k, v in WATER_CUT.items() if k != "title"}, "title"),
        ({**WATER_CUT, "content": ""}, "content"),
        ({**WATER_CUT, "contact_number": "call me"}, "contact_number"),
        ({**WATER_CUT, "idempotency_key": "bad key!"}, "idempotency_key"),
        ({**WATER_CUT, "surprise": 1}, "surprise"),
        ({**WATER_CUT, "region_code": "539900"}, "region_code"),  # well-formed, unknown
    ]
    for body, field in cases:
        error = await expect(await post(client, "/api/tickets", body, token), 400)
        assert error["field"] == field and error["error"], (field, error)
    response = await client.post("/api/tickets", data="not json",
                                 headers={"X-CSRF-Token": token, "Content-Type": "text/plain"})
    assert response.status == 415
    assert await ticket_count(client) == before
    for query, field in (("status=nonsense", "status"), ("limit=5000", "limit")):
        assert (await expect(await client.get(f"/api/tickets?{query}"), 400))["field"] == field


async def test_other_channels(client):
    """Web, SMS, WeChat submissions: once per key (also concurrently), emergencies alerted,
    bad input refused with the field named."""
    token = await logged_in(client, "web-gateway", "agent", region_code=KUNMING)
    await bad_submissions_get_clear_errors(client, token)
    await web_submission_is_filed_once_per_key(client, token)
    await concurrent_posts_with_one_key_make_one_ticket(client, token)
    await an_emergency_text_alerts_supervisors_at_once(client, token)


async def test_steps_over_http_and_what_a_handler_sees(client):
    s = await seed(client.app[DB])
    await steps_over_http_and_refusals(client, s)
    await a_handler_sees_only_their_departments_tickets(client, s)


async def steps_over_http_and_refusals(client, s):
    token = await logged_in(client, "agent1", "agent", region_code=KUNMING)
    number = (await expect(await post(client, "/api/tickets", WATER_CUT, token), 201))["number"]
    url = f"/api/tickets/{number}/actions"
    wrong = await expect(await post(client, url, {"action": "sign"}, token), 403)
    assert "签收" in wrong["error"]
    conflict = await expect(await post(client, url, {"action": "reply", "note": "x"}, token), 403)
    assert conflict["error"]
    accepted = await expect(await post(client, url, {"action": "accept", "version": 1}, token),
                            200)
    assert (accepted["status"], accepted["version"]) == ("accepted", 2)
    stale = await expect(await post(client, url, {"action": "dispatch", "version": 1}, token), 409)
    assert stale["field"] == "version"
    again = await expect(await post(client, url, {"action": "accept"}, token), 409)
    assert "已受理" in again["error"]
    await expect(await post(client, url, {"action": "fly"}, token), 400)
    await expect(await post(client, url, {"action": "reject", "reason": "emergency"}, token), 409)
    dispatched = await expect(await post(client, url, {"action": "dispatch"}, token), 200)
    assert dispatched["department_id"] == s.water.id
    await expect(await post(client, "/api/tickets/5301-20000101-9999/actions",
                            {"action": "accept"}, token), 404)

    detail = await expect(await client.get(f"/api/tickets/{number}"), 200)
    assert [e["action"] for e in detail["events"]] == ["create", "accept", "dispatch"]
    assert detail["assignments"][0]["department_id"] == s.water.id
    assert "merge" in detail["actions"] and "sign" not in detail["actions"]


async def a_handler_sees_only_their_departments_tickets(client, s):
    token = await logged_in(client, "agent2", "agent", region_code=KUNMING)
    numbers = []
    for topic in ("供水", "物业"):  # → 水务局 (rule), 住建局 (the region's default)
        number = (await expect(await post(client, "/api/tickets", {**WATER_CUT, "topic": topic},
                                          token), 201))["number"]
        for action in ("accept", "dispatch"):
            await expect(await post(client, f"/api/tickets/{number}/actions",
                                    {"action": action}, token), 200)
        numbers.append(number)
    water, housing = numbers

    token = await logged_in(client, "water1", "handler", region_code=KUNMING,
                            department_id=s.water.id)
    seen = await expect(await client.get("/api/tickets"), 200)
    assert water in {t["number"] for t in seen} and housing not in {t["number"] for t in seen}
    assert {t["department_id"] for t in seen} == {s.water.id}
    await expect(await client.get(f"/api/tickets/{housing}"), 404)
    await expect(await post(client, f"/api/tickets/{housing}/actions", {"action": "sign"},
                            token), 404)
    signed = await expect(await post(client, f"/api/tickets/{water}/actions",
                                     {"action": "sign"}, token), 200)
    assert signed["status"] == "in_progress"

    portal = await client.get("/portal")
    assert portal.status == 200
    text = await portal.text()
    assert water in text and housing not in text
    assert (await client.get(f"/portal/tickets/{housing}")).status == 404
    assert (await client.get("/tickets")).status == 403  # the hotline's pages are not theirs
    await expect(await client.get("/api/ranking"), 403)


async def test_overdue_list_openapi_and_dispatch_rules(client):
    s = await seed(client.app[DB])
    token = await logged_in(client, "boss", "supervisor")
    number = (await expect(await post(client, "/api/tickets", WATER_CUT, token), 201))["number"]
    await expect(await post(client, f"/api/tickets/{number}/actions", {"action": "accept"},
                            token), 200)
    async with client.app[DB]() as db:  # a deadline already past
        ticket = await db.scalar(select(Ticket).where(Ticket.number == number))
        ticket.due_at = ticket.created_at
        await db.commit()
    late = await expect(await client.get("/api/tickets/overdue"), 200)
    assert [(x["number"], x["kind"]) for x in late] == [(number, "reply")]

    document = await expect(await client.get("/api/openapi.json"), 200)
    for path, method in [("/api/tickets", "post"), ("/api/tickets", "get"),
                         ("/api/tickets/{number}", "get"),
                         ("/api/tickets/{number}/actions", "post"),
                         ("/api/tickets/overdue", "get"), ("/api/ranking", "get")]:
        assert method in document["paths"][path], (path, method)
    body = document["paths"]["/api/tickets"]["post"]["requestBody"]["content"]
    schema = document["components"]["schemas"][
        body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"channel", "region_code", "title", "content"} <= set(schema["required"])

    # Dispatch rules: an admin points 昆明's 物业 at 水务局 (then back); a supervisor may not.
    await expect(await post(client, "/api/dispatch-rules",
                            {"region_code": KUNMING, "topic": "物业",
                             "department_id": s.water.id}, token), 403)
    token = await logged_in(client, "root2", "admin")
    rule = {"region_code": KUNMING, "topic": "物业", "department_id": s.water.id}
    made = await expect(await post(client, "/api/dispatch-rules", rule, token), 200)
    moved = await expect(await post(client, "/api/dispatch-rules",
                                    {**rule, "department_id": s.housing.id}, token), 200)
    assert made["id"] == moved["id"] and moved["department_id"] == s.housing.id
    wrong = await expect(await post(client, "/api/dispatch-rules",
                                    {**rule, "department_id": s.dali_water.id}, token), 400)
    assert wrong["field"] == "department_id"
    rules = await expect(await client.get("/api/dispatch-rules"), 200)
    assert {(r["topic"], r["department_id"]) for r in rules if r["region_code"] == KUNMING} == {
        ("供水", s.water.id), ("", s.housing.id), ("物业", s.housing.id)}


async def test_an_id_out_of_the_databases_range_is_a_400_not_a_500(client):
    """A department id no INTEGER column holds: refused with the field named, on the JSON API
    and on the page's form (the database's overflow error used to answer 500)."""
    await seed(client.app[DB])
    async with client.app[DB]() as db:
        ticket = await db.get(Ticket, await new_ticket(client.app[DB]))
        number = ticket.number
    token = await logged_in(client, "agent1", "agent")
    await expect(await post(client, f"/api/tickets/{number}/actions", {"action": "accept"},
                            token), 200)
    for huge in (2**31, 2**70):
        body = {"action": "dispatch", "department_id": huge}
        error = await expect(await post(client, f"/api/tickets/{number}/actions", body, token),
                             400)
        assert error["field"] == "department_id"
        page = await client.post(f"/tickets/{number}/actions", data={
            "csrf_token": token, "action": "dispatch", "department_id": str(huge)})
        assert page.status == 400 and "department_id" in await page.text()
    async with client.app[DB]() as db:
        assert (await db.get(Ticket, ticket.id)).status.value == "accepted"


async def test_an_idempotency_key_does_not_open_another_regions_ticket(client):
    """The answer to a repeated key is the ticket filed with it, content and phone included;
    keys can be guessed (the IVR's are `ivr-<kind>:<node>:<uniqueid>`), so a key of a ticket
    the submitter may not see is refused (409) instead, and files nothing."""
    key = "ivr-message:pbx1:1700000000.5"
    token = await logged_in(client, "km1", "agent", region_code=KUNMING)
    first = await expect(await post(client, "/api/tickets",
                                    {**WATER_CUT, "idempotency_key": key}, token), 201)
    token = await logged_in(client, "dl1", "agent", region_code="532900")
    body = {**WATER_CUT, "region_code": "532900", "title": "路灯", "idempotency_key": key}
    refused = await expect(await post(client, "/api/tickets", body, token), 409)
    assert refused["field"] == "idempotency_key"
    assert first["number"] not in str(refused) and WATER_CUT["content"] not in str(refused)
    assert await ticket_count(client) == 1
    client.session.cookie_jar.clear()
    assert (await login(client, "km1")).status == 303
    again = await expect(await post(client, "/api/tickets", {**WATER_CUT, "idempotency_key": key},
                                    await csrf_token(client)), 200)
    assert (again["number"], again["created"]) == (first["number"], False)


async def test_a_ticket_out_of_scope_answers_like_one_that_does_not_exist(client):
    """A handler asking for, or acting on, another department's ticket gets the very answer a
    made-up number gets: nothing tells them which numbers exist outside their scope."""
    s = await seed(client.app[DB])
    ticket_id = await new_ticket(client.app[DB], topic="")  # 住建局's by the dispatch rules
    await step(client.app[DB], ticket_id, "accept", s.agent)
    await step(client.app[DB], ticket_id, "dispatch", s.agent)
    async with client.app[DB]() as db:
        ticket = await db.get(Ticket, ticket_id)
        assert ticket.department_id == s.housing.id
        number = ticket.number
    made_up = "5301-20000101-9999"
    token = await logged_in(client, "water1", "handler", region_code=KUNMING,
                            department_id=s.water.id)

    async def answers(ref: str) -> list[tuple[int, str]]:
        got = [await client.get(f"/api/tickets/{ref}"),
               await post(client, f"/api/tickets/{ref}/actions", {"action": "sign"}, token),
               await client.get(f"/portal/tickets/{ref}"),
               await client.post(f"/portal/tickets/{ref}/actions",
                                 data={"csrf_token": token, "action": "sign"})]
        return [(r.status, (await r.text()).replace(ref, "<number>")) for r in got]

    hidden, missing = await answers(number), await answers(made_up)
    assert [status for status, _ in hidden] == [404] * 4
    assert hidden == missing


async def test_merging_into_a_ticket_out_of_scope_answers_like_a_made_up_number(client):
    """并单 names its target by number: one of another region is "does not exist", exactly like
    a number nobody filed, and the ticket is not merged."""
    await seed(client.app[DB])
    source = await new_ticket(client.app[DB])
    async with client.app[DB]() as db:
        number = (await db.get(Ticket, source)).number
        dali = (await db.get(Ticket, await new_ticket(client.app[DB], region="532900"))).number
    token = await logged_in(client, "km2", "agent", region_code=KUNMING)
    url = f"/api/tickets/{number}/actions"
    answers = []
    for into in (dali, "5329-20000101-9999"):
        error = await expect(await post(client, url, {"action": "merge", "into": into}, token),
                             400)
        answers.append({**error, "error": error["error"].replace(into, "<number>")})
    assert answers[0] == answers[1] and answers[0]["field"] == "into"
    async with client.app[DB]() as db:
        assert (await db.get(Ticket, source)).status.value == "draft"
