"""The ticket pages (zh-CN) on SQLite and PostgreSQL: the hotline's list and detail with action
forms, the department portal's sign / reply / return forms, refusals shown on the page."""

from __future__ import annotations

import re

from tickets_support import new_ticket, seed

from hotline.db.models import Role
from hotline.tickets import services
from hotline.tickets.services import Actor
from hotline.web.keys import DB

from conftest import logged_in


async def form_post(client, url, token, **fields):
    return await client.post(url, data={"csrf_token": token, **fields}, allow_redirects=False)


async def test_agent_pages_and_handler_portal(client):
    db = client.app[DB]
    s = await seed(db)
    tid = await new_ticket(db)
    async with db() as session:
        number = (await services.get_ticket(session, tid)).number

    token = await logged_in(client, "agent1", "agent", region_code="530100")
    home = await (await client.get("/")).text()
    assert 'href="/tickets"' in home
    listing = await (await client.get("/tickets?status=draft")).text()
    assert number in listing and "待受理" in listing
    detail = await (await client.get(f"/tickets/{number}")).text()
    for label in ("受理", "不予受理", "直接答复", "并单"):
        assert f">{label}</button>" in detail
    assert "涉及党群、人大、政协" in detail  # the policy's reasons to choose from

    url = f"/tickets/{number}/actions"
    done = await form_post(client, url, token, action="accept", version="1", category="投诉")
    assert done.status == 303 and done.headers["Location"] == f"/tickets/{number}?done=accept"
    stale = await form_post(client, url, token, action="dispatch", version="1")
    assert stale.status == 409 and "已被他人修改" in await stale.text()
    wrong = await form_post(client, url, token, action="accept")
    assert wrong.status == 409 and "不能执行「受理」" in await wrong.text()
    bad = await form_post(client, url, token, action="request_extension", days="many")
    assert bad.status == 400 and "输入有误" in await bad.text()
    assert (await form_post(client, url, token, action="dispatch")).status == 303
    page = await (await client.get(f"/tickets/{number}?done=dispatch")).text()
    assert "已交办" in page and s.water.name in page

    token = await logged_in(client, "water1", "handler", region_code="530100",
                            department_id=s.water.id)
    home = await (await client.get("/")).text()
    assert 'href="/portal"' in home
    portal = await (await client.get("/portal")).text()
    assert number in portal and f"/portal/tickets/{number}" in portal
    assert "签收时限" in portal  # 待签收: the signing deadline beside the reply deadline
    detail = await (await client.get(f"/portal/tickets/{number}")).text()
    buttons = set(re.findall(r">([^<>]+)</button>", detail)) - {"退出登录"}
    assert buttons == {"签收", "退单"}
    assert "13800000000" in detail  # the department may call the citizen back
    purl = f"/portal/tickets/{number}/actions"
    assert (await form_post(client, purl, token, action="sign")).status == 303
    detail = await (await client.get(f"/portal/tickets/{number}")).text()
    assert set(re.findall(r">([^<>]+)</button>", detail)) - {"退出登录"} == {
        "答复", "申请延期", "退单"}
    asked = await form_post(client, purl, token, action="request_extension", days="2",
                            note="需协调施工单位")
    assert asked.status == 303
    detail = await (await client.get(f"/portal/tickets/{number}")).text()
    assert "待审批" in detail and ">申请延期</button>" not in detail  # one request at a time
    refused = await form_post(client, purl, token, action="reply")
    assert refused.status == 400 and "答复内容" in await refused.text()
    replied = await form_post(client, purl, token, action="reply", note="已恢复供水")
    assert replied.status == 303
    assert (await client.get(f"/tickets/{number}")).status == 403  # hotline pages: staff only

    async with db() as session:
        ticket = await services.get_ticket(session, number)
        assert ticket.status == "reviewing"
        other = await new_ticket(db)
        await services.act(session, other, "accept", Actor("a", None, Role.AGENT))
        await services.act(session, other, "dispatch", Actor("a", None, Role.AGENT),
                           department_id=s.housing.id)
        other_number = (await services.get_ticket(session, other)).number
    assert (await client.get(f"/portal/tickets/{other_number}")).status == 404
    assert (await form_post(client, f"/portal/tickets/{other_number}/actions", token,
                            action="sign")).status == 404


async def test_detail_page_in_every_status(client):
    """The detail page renders, with the forms its status offers, all along a ticket's life."""
    db = client.app[DB]
    s = await seed(db)
    await logged_in(client, "boss", "supervisor")
    tid, spare = await new_ticket(db), await new_ticket(db)
    walk = [("accept", s.supervisor, {}), ("dispatch", s.supervisor, {}),
            ("return", s.handler, {"note": "非本单位"}),
            ("redispatch", s.supervisor, {"department_id": s.housing.id}),
            ("sign", s.other_handler, {}),
            ("request_extension", s.other_handler, {"days": 2, "note": "需协调"}),
            ("reply", s.other_handler, {"note": "已处理"}),
            ("approve", s.supervisor, {}),
            ("follow_up", s.supervisor, {"satisfaction": "dissatisfied", "solved": False}),
            ("merge", s.supervisor, {"into": spare})]
    # What the supervisor is offered after each step (签收, 答复 … are the department's).
    offered = {"accept": "交办", "dispatch": "并单", "return": "改派", "redispatch": "并单",
               "sign": "并单", "request_extension": "延期审批", "reply": "审核通过",
               "approve": "回访", "follow_up": "并单"}
    for action, actor, params in walk:
        async with db() as session:
            ticket = await services.act(session, tid, action, actor, **params)
        page = await client.get(f"/tickets/{ticket.number}")
        assert page.status == 200, (action, await page.text())
        text = await page.text()
        if action in offered:
            assert f">{offered[action]}</button>" in text, (action, ticket.status)
        if action == "sign":
            assert ">延期审批</button>" not in text  # nothing asked yet
    assert "已并单" in text and "本工单已并入" in text
    assert "不满意重办" in text and "延期申请：2 个工作日" in text
    async with db() as session:
        target = await services.get_ticket(session, spare)
    text = await (await client.get(f"/tickets/{target.number}")).text()
    assert ticket.number in text and "（原工单）" in text
    listing = await client.get("/tickets?status=merged&q=" + ticket.number)
    assert ticket.number in await listing.text()
