"""Agents through the real app and the AMI stand-in (hotline.testing.ami_server), on SQLite and
PostgreSQL: login / pause / logout become QueueAdd / QueuePause / QueueRemove as
../shared/asterisk-22/transcripts/ami-actions shows them (the stand-in answers with those
replies and member events); a call's AgentCalled / AgentConnect / AgentComplete (ami-queue-call,
played by the stand-in for the agent's PJSIP interface) move the agent to ringing, on call and
wrap-up and pop the caller's history on the desk; every change is stored with its time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hotline.agents import profiles
from hotline.agents.models import AgentState, AgentStateChange, SkillKind
from hotline.auth.services import create_user
from hotline.calls.services import CallStart, record_call_start
from hotline.db.base import utcnow
from hotline.db.models import (
    Call,
    CallOutcome,
    Role,
    Ticket,
    TicketCall,
    TicketChannel,
    TicketEvent,
    TicketStatus,
    User,
)
from hotline.queue import stats
from hotline.web.app import create_app
from hotline.web.keys import AGENT_DESK, AMI, BUS, DB, QUEUES

from conftest import PASSWORD, hotline_standin, login, standin_settings

CALLER = "13808712345"


@pytest.fixture
async def standin() -> Any:
    async with hotline_standin() as server:
        yield server


@pytest.fixture
async def app_client(aiohttp_client: Any, tmp_path: Any, db_url: str, standin: Any) -> Any:
    settings = standin_settings(tmp_path, db_url, standin.port,
                                HOTLINE_AGENTS_WRAP_UP_SECONDS="1")
    client = await aiohttp_client(create_app(settings))
    await until(lambda: client.app[AMI].nodes[0].state == "connected")
    return client


async def until(predicate: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


async def make_agent(client: Any, username: str, role: str = "agent",
                     region_code: str | None = None, **profile: Any) -> User:
    async with client.app[DB]() as db:
        user = await create_user(db, username=username, display_name=f"{username}坐席",
                                 role=Role(role), password=PASSWORD, region_code=region_code)
        await profiles.save_profile(db, user, **profile)
    return user


async def as_user(client: Any, username: str) -> str:
    client.session.cookie_jar.clear()
    assert (await login(client, username)).status == 303
    response = await client.get("/api/me")
    return (await response.json())["csrf_token"]


async def post(client: Any, path: str, token: str, body: Any) -> Any:
    return await client.post(path, json=body, headers={"X-CSRF-Token": token})


async def history(client: Any, user_id: int) -> list[tuple[AgentState, str]]:
    async with client.app[DB]() as db:
        rows = (await db.scalars(select(AgentStateChange).where(
            AgentStateChange.user_id == user_id).order_by(AgentStateChange.id))).all()
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    return [(r.state, r.reason) for r in rows]


async def next_event(subscription: Any, wanted: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            item = await subscription.get()
            assert item is not None, "subscription closed"
            if item[1]["type"] == wanted:
                return item[1]


async def test_login_pause_ready_logout_drive_the_queues(app_client, standin):
    user = await make_agent(app_client, "wang", extension="8101",
                            queues={"hl-96128": 0, "hl-12345-5301": 2},
                            skills=[profiles.Skill(SkillKind.LANGUAGE, "普通话", 2),
                                    profiles.Skill(SkillKind.LANGUAGE, "方言", 1)])
    token = await as_user(app_client, "wang")

    response = await post(app_client, "/desk/state", token, {"state": "ready"})
    assert response.status == 200, await response.text()
    assert (await response.json())["agent"]["label"] == "空闲"
    added = {a["Queue"]: a for a in standin.actions_named("QueueAdd")}
    assert set(added) == {"hl-96128", "hl-12345-5301"}
    # base penalty + the tier of the rarest skill ([queue.skill_penalties]: 方言 1)
    assert added["hl-96128"]["Penalty"] == "1" and added["hl-12345-5301"]["Penalty"] == "3"
    assert {a["Interface"] for a in added.values()} == {"PJSIP/agent8101"}
    assert all(a["Paused"] == "false" for a in added.values())
    member = standin.state.queues["hl-96128"].members["PJSIP/agent8101"]
    assert member.name == "wang坐席" and not member.paused

    response = await post(app_client, "/desk/state", token, {"state": "paused", "reason": "培训"})
    assert response.status == 200
    pause = standin.actions_named("QueuePause")[-1]
    assert (pause["Interface"], pause["Paused"], pause["Reason"]) == (
        "PJSIP/agent8101", "true", "培训")
    assert all(q.members["PJSIP/agent8101"].paused_reason == "培训"
               for q in standin.state.queues.values())

    assert (await post(app_client, "/desk/state", token, {"state": "ready"})).status == 200
    assert standin.actions_named("QueuePause")[-1]["Paused"] == "false"

    assert (await post(app_client, "/desk/state", token, {"state": "logged_out"})).status == 200
    assert {a["Queue"] for a in standin.actions_named("QueueRemove")} == set(added)
    assert all("PJSIP/agent8101" not in q.members for q in standin.state.queues.values())

    assert await history(app_client, user.id) == [
        (AgentState.READY, ""), (AgentState.PAUSED, "培训"), (AgentState.READY, ""),
        (AgentState.LOGGED_OUT, "")]


async def test_refused_changes_say_why_and_change_nothing(app_client, standin):
    user = await make_agent(app_client, "li", extension="8102", queues={"hl-96128": 0})
    token = await as_user(app_client, "li")
    cases = [
        ({"state": "paused", "reason": "吃饭"}, 409, "暂停原因"),
        ({"state": "on_call"}, 409, "不能从"),
        ({"state": "sleeping"}, 400, "state"),
        ({"state": "ready", "extra": 1}, 400, "extra"),
    ]
    for body, status, words in cases:
        response = await post(app_client, "/desk/state", token, body)
        assert response.status == status, body
        assert words in (await response.json())["error"], body
    response = await post(app_client, "/desk/wrap-up/end", token, {})
    assert response.status == 409 and "话后处理" in (await response.json())["error"]
    response = await app_client.post("/desk/state", data="state=ready",
                                     headers={"X-CSRF-Token": token,
                                              "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
    assert standin.actions == [a for a in standin.actions if a["Action"] in ("Login", "Ping",
                                                                             "QueueStatus",
                                                                             "CoreShowChannels")]
    assert await history(app_client, user.id) == []


async def test_a_user_without_a_profile_or_queues_is_told_so(app_client, standin):
    async with app_client.app[DB]() as db:
        await create_user(db, username="noext", display_name="无分机", role=Role.AGENT,
                          password=PASSWORD)
    token = await as_user(app_client, "noext")
    response = await post(app_client, "/desk/state", token, {"state": "ready"})
    assert response.status == 409 and "分机" in (await response.json())["error"]

    await make_agent(app_client, "noqueue", extension="8109")
    token = await as_user(app_client, "noqueue")
    response = await post(app_client, "/desk/state", token, {"state": "ready"})
    assert response.status == 409 and "队列" in (await response.json())["error"]
    assert not standin.actions_named("QueueAdd")


async def seed_history(client: Any, uniqueid: str) -> tuple[int, str]:
    """The call the IVR wrote (transcript, category), an earlier call and a ticket from the
    same number; returns (call id, the earlier ticket's number)."""
    async with client.app[DB]() as db:
        earlier_id = await record_call_start(db, CallStart(
            "pbx1", "1700000000.1", "1700000000.1", CALLER, line_code="12345-5301",
            started_at=utcnow() - timedelta(days=3)))
        earlier = await db.get(Call, earlier_id)
        earlier.outcome, earlier.category = CallOutcome.ABANDONED, "供水"
        db.add(Ticket(number="5301-20261120-0007", channel=TicketChannel.PHONE, category="投诉",
                      region_code="530100", status=TicketStatus.DISPATCHED,
                      title="小区停水三天", contact_number=CALLER))
        await db.commit()
        call_id = await record_call_start(db, CallStart("pbx1", uniqueid, uniqueid, CALLER,
                                                        line_code="12345-5301",
                                                        region_code="530100"))
        row = await db.get(Call, call_id)
        row.transcript, row.category, row.ivr_choice = "我家又停水了", "求助投诉", "2"
        await db.commit()
        return call_id, "5301-20261120-0007"


async def test_a_call_rings_connects_and_ends_in_wrap_up_with_a_screen_pop(app_client, standin):
    user = await make_agent(app_client, "zhao", extension="8103", queues={"hl-12345-5301": 0})
    token = await as_user(app_client, "zhao")
    assert (await post(app_client, "/desk/state", token, {"state": "ready"})).status == 200
    desk = app_client.app[BUS].subscribe([f"desk:{user.id}"])
    wall = app_client.app[BUS].subscribe(["agents"])

    uniqueid = "1800000000.77"
    call_id, ticket_number = await seed_history(app_client, uniqueid)
    call = standin.queued_call(caller_num=CALLER, queue="hl-12345-5301", line="12345",
                               uniqueid=uniqueid)
    standin.agent_connect(call, interface="PJSIP/agent8103")

    ringing = await next_event(desk, "agent_state")
    assert ringing["agent"]["state"] == "ringing"
    pop = (await next_event(desk, "screen_pop"))["call"]
    assert pop["caller_number"] == CALLER and pop["call_id"] == call_id
    assert pop["line"]["code"] == "12345-5301" and pop["region"]["name"] == "昆明市"
    assert (pop["transcript"], pop["category"], pop["ivr_choice"]) == ("我家又停水了", "求助投诉",
                                                                       "2")
    assert [c["category"] for c in pop["earlier_calls"]] == ["供水"]
    assert pop["earlier_calls"][0]["outcome"] == "放弃"
    assert [t["number"] for t in pop["tickets"]] == [ticket_number]
    assert pop["form"]["region_code"] == "530100" and pop["form"]["content"] == "我家又停水了"
    assert (await next_event(desk, "agent_state"))["agent"]["state"] == "on_call"
    assert (await next_event(desk, "call_connected"))["uniqueid"] == uniqueid
    states = [(await next_event(wall, "agent_state"))["agent"]["state"] for _ in range(2)]
    assert states == ["ringing", "on_call"]

    standin.agent_complete(call)
    assert (await next_event(desk, "agent_state"))["agent"]["state"] == "wrap_up"
    assert (await next_event(desk, "call_ended"))["uniqueid"] == uniqueid
    pause = standin.actions_named("QueuePause")[-1]
    assert (pause["Paused"], pause["Reason"]) == ("true", "话后处理")
    # wrap_up_seconds = 1: the timer ends it and the member is unpaused
    assert (await next_event(desk, "agent_state"))["agent"]["state"] == "ready"
    assert standin.actions_named("QueuePause")[-1]["Paused"] == "false"
    assert await history(app_client, user.id) == [
        (AgentState.READY, ""), (AgentState.RINGING, ""), (AgentState.ON_CALL, ""),
        (AgentState.WRAP_UP, ""), (AgentState.READY, "")]
    async with app_client.app[DB]() as db:
        rows = (await db.scalars(select(AgentStateChange).where(
            AgentStateChange.user_id == user.id))).all()
    assert {r.call_uniqueid for r in rows if r.state in (
        AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)} == {uniqueid}


async def on_a_call(client: Any, standin: Any, username: str, extension: str,
                    uniqueid: str = "1800000001.5",
                    region_code: str | None = None) -> tuple[User, str, Any]:
    user = await make_agent(client, username, extension=extension, queues={"hl-12345-5301": 0},
                            region_code=region_code)
    token = await as_user(client, username)
    assert (await post(client, "/desk/state", token, {"state": "ready"})).status == 200
    call = standin.queued_call(caller_num=CALLER, queue="hl-12345-5301", uniqueid=uniqueid)
    standin.agent_connect(call, interface=f"PJSIP/agent{extension}")
    await until(lambda: client.app[AGENT_DESK].agents[user.id].status.state
                == AgentState.ON_CALL)
    return user, token, call


async def test_the_agent_ends_wrap_up_early(app_client, standin):
    user, token, call = await on_a_call(app_client, standin, "qian", "8104")
    response = await post(app_client, "/desk/wrap-up/end", token, {})
    assert response.status == 409  # still talking
    response = await post(app_client, "/desk/state", token, {"state": "logged_out"})
    assert response.status == 409 and "通话中" in (await response.json())["error"]
    standin.agent_complete(call, reason="caller")
    await until(lambda: app_client.app[AGENT_DESK].agents[user.id].status.state
                == AgentState.WRAP_UP)
    response = await post(app_client, "/desk/wrap-up/end", token, {})
    assert response.status == 200 and (await response.json())["agent"]["state"] == "ready"
    assert app_client.app[AGENT_DESK].agents[user.id].timer is None  # its timer is cancelled
    assert [s for s, _ in await history(app_client, user.id)][-2:] == [
        AgentState.WRAP_UP, AgentState.READY]


async def test_a_ticket_filed_from_the_pop_is_linked_to_the_call_once(app_client, standin):
    call_id, _ = await seed_history(app_client, "1800000002.9")
    _, token, _ = await on_a_call(app_client, standin, "sun", "8105", uniqueid="1800000002.9")
    form = {"title": "停水求助", "content": "我家又停水了", "contact_number": CALLER,
            "region_code": "530100", "category": "求助", "line_code": "12345-5301",
            "call_id": call_id, "accept": True, "idempotency_key": "desk-test-key-0001"}
    first = await post(app_client, "/desk/tickets", token, form)
    assert first.status == 201, await first.text()
    filed = await first.json()
    again = await post(app_client, "/desk/tickets", token, form)  # a retried submission
    assert (await again.json())["number"] == filed["number"]
    async with app_client.app[DB]() as db:
        tickets = (await db.scalars(select(Ticket).where(Ticket.title == "停水求助"))).all()
        assert len(tickets) == 1
        ticket = tickets[0]
        assert ticket.number.startswith("5301-") and ticket.contact_number == CALLER
        assert ticket.status is TicketStatus.ACCEPTED and filed["status"] == "accepted"
        links = (await db.scalars(select(TicketCall.call_id).where(
            TicketCall.ticket_id == ticket.id))).all()
        assert links == [call_id]
        events = (await db.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all()
        assert [(e.action, e.actor) for e in events] == [("create", "sun"), ("accept", "sun")]

    for bad, words in (({**form, "title": " "}, "标题"), ({**form, "region_code": "999999"},
                                                         "地区"),
                       ({**form, "contact_number": "abc"}, "电话"),
                       ({**form, "call_id": 987654}, "来电")):
        bad["idempotency_key"] = None
        response = await post(app_client, "/desk/tickets", token, bad)
        assert response.status in (400, 404), bad
        assert words in (await response.json())["error"]


async def test_a_desk_ticket_links_only_a_call_its_author_may_see(app_client, standin):
    """A ticket's calls open their recordings to its creator (hotline.recordings.services): an
    agent linking a call they never took, or a supervisor one of another region, would then
    play it. Refused like an unknown call; an id no BIGINT holds is a 400, not a 500."""
    taken_id, _ = await seed_history(app_client, "1800000003.1")  # 昆明 (530100)
    _, token, _ = await on_a_call(app_client, standin, "wu", "8107", uniqueid="1800000003.1")
    async with app_client.app[DB]() as db:
        other_id = await record_call_start(db, CallStart(
            "pbx1", "1800000003.2", "1800000003.2", "13900000000", line_code="96128",
            region_code="532900"))  # 大理, taken by nobody here
    form = {"title": "停水求助", "content": "我家又停水了", "contact_number": CALLER,
            "region_code": "530100", "accept": False}

    async def file(call_id: int) -> tuple[int, dict[str, Any]]:
        response = await post(app_client, "/desk/tickets", token, {**form, "call_id": call_id})
        return response.status, await response.json()

    status, body = await file(other_id)
    assert status == 404 and "来电" in body["error"]
    status, body = await file(2**63)
    assert status == 400 and "call_id" in body["error"]
    assert (await file(taken_id))[0] == 201

    await make_agent(app_client, "lead", role="supervisor", region_code="530100",
                     extension="8108")
    token = await as_user(app_client, "lead")
    assert (await file(other_id))[0] == 404
    assert (await file(taken_id))[0] == 201
    async with app_client.app[DB]() as db:
        linked = (await db.scalars(select(TicketCall.call_id))).all()
    assert sorted(linked) == [taken_id, taken_id]


async def test_transfers_send_the_dialplans_actions(app_client, standin):
    _, token, call = await on_a_call(app_client, standin, "zhou", "8106")
    response = await post(app_client, "/desk/transfer", token, {"target": "96128"})
    setvar = standin.actions_named("Setvar")[-1]
    assert (setvar["Channel"], setvar["Variable"], setvar["Value"]) == (
        call.channel, "HOTLINE_QUEUE", "hl-96128")
    redirect = standin.actions_named("Redirect")[-1]
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"], redirect["Priority"]) == (
        call.channel, "hotline-queue", "s", "1")
    # The stand-in has no capture of Redirect (it answers `Invalid/unknown command`): the desk
    # says Asterisk refused, rather than pretending the transfer happened.
    assert response.status == 502 and "Redirect" in (await response.json())["error"]

    await post(app_client, "/desk/transfer", token, {"target": "119"})
    atxfer = standin.actions_named("Atxfer")[-1]
    assert (atxfer["Channel"], atxfer["Exten"], atxfer["Context"]) == (
        call.ids.agent_channel, "119", "hotline-agents")

    for target, status in (("12345-5301", 400), ("999", 400)):
        response = await post(app_client, "/desk/transfer", token, {"target": target})
        assert response.status == status, target
    assert len(standin.actions_named("Redirect")) == 1


async def wallboard_event(ws: Any, wanted: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while not wanted(event := await ws.receive_json()):
            pass
    return event


async def test_the_wallboard_shows_each_queues_estimated_wait_for_a_new_caller(app_client,
                                                                               standin):
    """EWT = ceil(AHT × (waiting + 1) / staffed) (hotline.queue.estimate), with AHT today's
    average talk time of the queue, else `default_handling_seconds` (180)."""
    await on_a_call(app_client, standin, "wu", "8107")  # staffed 1, busy: nobody free
    monitor = app_client.app[QUEUES]
    async with app_client.app[DB]() as db:  # two calls handled today: 250 s and 150 s
        for uniqueid, talk in (("1700000100.1", 250), ("1700000100.2", 150)):
            # ended in the future: joined now, so today even just after midnight
            await stats.record_completed(
                db, stats.CallKey("pbx1", uniqueid, "hl-12345-5301"), 10, talk,
                "PJSIP/agent8107", utcnow() + timedelta(seconds=talk + 10), monitor.zone)
    kunming = monitor.state.queue("pbx1", "hl-12345-5301")
    standin.queued_call(caller_num="13900000001", queue="hl-12345-5301")
    await until(lambda: len(kunming.callers) == 1)
    await make_agent(app_client, "boss", role="supervisor", extension="8900")
    await as_user(app_client, "boss")
    origin = f"http://{app_client.server.host}:{app_client.server.port}"
    ws = await app_client.ws_connect("/ws/wallboard", headers={"Origin": origin})
    snapshot = await wallboard_event(ws, lambda e: e["type"] == "snapshot")
    waits = {q["name"]: q["estimated_wait"] for q in snapshot["queues"]}
    # hl-12345-5301: AHT (250 + 150) / 2 = 200, 1 waiting, 1 staffed: 200 × 2 / 1.
    # hl-96128: nothing handled today (180), nobody waiting, nobody staffed: 180 × 1 / 1.
    assert waits == {"hl-12345-5301": 400, "hl-96128": 180}
    # A second caller waits: the wallboard's live event carries the new estimate, 200 × 3 / 1.
    third = standin.queued_call(caller_num="13900000002", queue="hl-12345-5301")
    changed = await wallboard_event(ws, lambda e: e["type"] == "queue.changed"
                                    and e["change"]["uniqueid"] == third.uniqueid)
    assert (changed["queue"]["waiting"], changed["queue"]["estimated_wait"]) == (2, 600)
    await ws.close()


async def test_listen_whisper_barge_originate_chanspy_for_supervisors_only(app_client, standin):
    agent, _, _ = await on_a_call(app_client, standin, "wu", "8107", region_code="530100")
    await make_agent(app_client, "boss", role="supervisor", extension="8900")
    async with app_client.app[DB]() as db:
        await create_user(db, username="admin1", display_name="管理员", role=Role.ADMIN,
                          password=PASSWORD)
    token = await as_user(app_client, "boss")
    for mode in ("listen", "whisper", "barge"):
        response = await post(app_client, "/wallboard/spy", token,
                              {"agent_id": agent.id, "mode": mode})
        assert response.status == 200, await response.text()
        originate = standin.actions_named("Originate")[-1]
        assert (originate["Channel"], originate["Context"], originate["Exten"]) == (
            "PJSIP/agent8900", "hotline-spy", mode)
        assert originate.getall("Variable") == ["HOTLINE_SPY_TARGET=agent8107"]
    response = await post(app_client, "/wallboard/spy", token, {"agent_id": agent.id,
                                                                "mode": "steal"})
    assert response.status == 400
    sent = len(standin.actions_named("Originate"))
    # A supervisor of Dali neither sees nor hears an agent of Kunming.
    await make_agent(app_client, "dali", role="supervisor", region_code="532900",
                     extension="8901")
    token = await as_user(app_client, "dali")
    response = await post(app_client, "/wallboard/spy", token, {"agent_id": agent.id,
                                                                "mode": "listen"})
    assert response.status == 404 and "管辖范围" in (await response.json())["error"]
    assert "wu" not in [a["username"] for a in app_client.app[AGENT_DESK].views("532900")]
    assert "wu" in [a["username"] for a in app_client.app[AGENT_DESK].views("530100")]
    for username in ("wu", "admin1"):
        token = await as_user(app_client, username)
        response = await post(app_client, "/wallboard/spy", token,
                              {"agent_id": agent.id, "mode": "listen"})
        assert response.status == 403, username
    assert len(standin.actions_named("Originate")) == sent


async def test_an_agent_in_the_queues_is_added_again_after_asterisk_restarts(app_client, standin):
    await make_agent(app_client, "zheng", extension="8108", queues={"hl-96128": 0})
    token = await as_user(app_client, "zheng")
    assert (await post(app_client, "/desk/state", token,
                       {"state": "paused", "reason": "会议"})).status == 200
    standin.restart(new_state=hotline_standin().state)  # dynamic members are gone
    await until(lambda: len(standin.actions_named("QueueAdd")) >= 2, seconds=15)
    again = standin.actions_named("QueueAdd")[-1]
    assert (again["Interface"], again["Paused"], again["Reason"]) == (
        "PJSIP/agent8108", "true", "会议")


async def test_without_asterisk_the_desk_says_so_and_nothing_changes(client):
    """The app with no [[asterisk]] node configured (the `client` fixture)."""
    user = await make_agent(client, "feng", extension="8110", queues={"hl-96128": 0})
    token = await as_user(client, "feng")
    response = await post(client, "/desk/state", token, {"state": "ready"})
    assert response.status == 503 and "电话系统" in (await response.json())["error"]
    assert await history(client, user.id) == []


async def test_the_admin_sets_an_agents_extension_queues_and_skills(client):
    agent = await make_agent(client, "chen", extension="8111")
    async with client.app[DB]() as db:
        await create_user(db, username="root", display_name="管理员", role=Role.ADMIN,
                          password=PASSWORD)
    path = f"/admin/agents/{agent.id}/profile"
    body = {"extension": "8222", "queues": {"hl-96128": 1},
            "skills": [{"kind": "language", "name": "English", "level": 1}]}
    token = await as_user(client, "chen")
    assert (await client.put(path, json=body, headers={"X-CSRF-Token": token})).status == 403
    token = await as_user(client, "root")
    response = await client.put(path, json=body, headers={"X-CSRF-Token": token})
    assert response.status == 200, await response.text()
    assert (await response.json())["extension"] == "8222"
    desk_agent = await client.app[AGENT_DESK].agent(agent.id)
    assert desk_agent.interface == "PJSIP/agent8222"
    assert client.app[AGENT_DESK].by_interface("PJSIP/agent8111") is None
    async with client.app[DB]() as db:
        profile = await profiles.get_profile(db, agent.id)
        assert [(q.queue, q.penalty) for q in profile.queues] == [("hl-96128", 1)]
        assert [(s.kind, s.name) for s in profile.skills] == [(SkillKind.LANGUAGE, "English")]
    for bad, words in (({**body, "extension": "120"}, "分机号"),
                       ({**body, "skills": [{"kind": "mood", "name": "x"}]}, "技能"),
                       ({**body, "queues": {"bad queue": 0}}, "队列")):
        response = await client.put(path, json=bad, headers={"X-CSRF-Token": token})
        assert response.status == 400 and words in (await response.json())["error"], bad
    response = await client.put("/admin/agents/999999/profile", json=body,
                                headers={"X-CSRF-Token": token})
    assert response.status == 404
