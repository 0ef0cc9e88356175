"""The administrator's agents page (/admin/agents, hotline.agents.admin) on SQLite and
PostgreSQL: it lists agents and supervisors with their extension, language skills and queues;
a form per agent saves them through the same service as PUT /admin/agents/{id}/profile; bad
input is refused with a Chinese message on the page and changes nothing; only administrators
may see or post it, and the form needs the session's CSRF token."""

from __future__ import annotations

import html
import re
from typing import Any

from hotline.agents import profiles
from hotline.agents.models import SkillKind
from hotline.db.models import User
from hotline.web.keys import AGENT_DESK, DB

from conftest import add_user, logged_in

PAGE = "/admin/agents"


async def make_agent(client: Any, username: str, role: str = "agent", **profile: Any) -> int:
    user = await add_user(client, username, role, name=f"{username}坐席")
    if profile:
        async with client.app[DB]() as db:
            await profiles.save_profile(db, user, **profile)
    return user.id


async def stored(client: Any, user_id: int) -> tuple[str, list[tuple[str, int]],
                                                     list[tuple[str, str, int]]] | None:
    async with client.app[DB]() as db:
        profile = await profiles.get_profile(db, user_id)
        if profile is None:
            return None
        await db.refresh(profile, ["queues", "skills"])
        return (profile.extension, [(q.queue, q.penalty) for q in profile.queues],
                [(s.kind.value, s.name, s.level) for s in profile.skills])


def row(page: str, user_id: int) -> str:
    found = re.search(rf'<tr data-user="{user_id}">(.*?)</tr>', page, re.S)
    assert found, f"no row for user {user_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def alert(page: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert found, "no error shown"
    return html.unescape(found.group(1))


def form(token: str, **fields: Any) -> list[tuple[str, str]]:
    """The page's form fields; `queues` = {name: penalty}, `languages` = {index: level}."""
    data = [("csrf_token", token), ("extension", fields.get("extension", "")),
            ("node", fields.get("node", ""))]
    for index, level in fields.get("languages", {}).items():
        data.append((f"language_{index}", str(level)))
    for name, penalty in fields.get("queues", {}).items():
        data += [("queue", name), (f"penalty:{name}", str(penalty))]
    return data


async def test_the_admin_sees_the_agents_and_saves_a_form(client):
    li = await make_agent(client, "li", extension="8301", queues={"hl-96128": 2},
                          skills=[profiles.Skill(SkillKind.LANGUAGE, "方言", 1),
                                  profiles.Skill(SkillKind.CATEGORY, "供水", 2)])
    boss = await make_agent(client, "zhou", role="supervisor")  # no profile yet
    other = await add_user(client, "auditor", "admin")
    token = await logged_in(client, "root", "admin")

    admin = await client.get("/admin")
    assert 'href="/admin/agents"' in await admin.text()
    response = await client.get(PAGE)
    assert response.status == 200
    page = await response.text()
    assert "坐席管理" in page
    assert "8301" in row(page, li) and "方言（熟练）" in row(page, li)
    assert "hl-96128（2）" in row(page, li)
    assert "班长" in row(page, boss) and "未配置" in row(page, boss)
    assert f'data-user="{other.id}"' not in page  # only agents and supervisors
    for index, language in enumerate(profiles.LANGUAGES):
        assert f'<label>{language}\n        <select name="language_{index}">' in page
    assert 'value="hl-12345-5301"' in page  # every line's queue can be chosen

    # 普通话 (index 0) fluent, English (index 3) good, two queues; the category skill stays.
    response = await client.post(f"{PAGE}/{li}", allow_redirects=False, data=form(
        token, extension="8302", languages={0: 1, 3: 2},
        queues={"hl-96128": 0, "hl-12345-5301": 5}))
    assert response.status == 303, await response.text()
    assert response.headers["Location"].startswith(f"{PAGE}?saved={li}")
    assert await stored(client, li) == (
        "8302", [("hl-12345-5301", 5), ("hl-96128", 0)],
        [("category", "供水", 2), ("language", "English", 2), ("language", "普通话", 1)])
    # The desk sees the new extension at once (as after the JSON route).
    assert (await client.app[AGENT_DESK].agent(li)).interface == "PJSIP/agent8302"
    page = await (await client.get(response.headers["Location"])).text()
    assert "已保存" in page and "English（良好）" in row(page, li)

    # A supervisor without a profile gets one; an empty extension takes the default 8000 + id.
    response = await client.post(f"{PAGE}/{boss}", allow_redirects=False,
                                 data=form(token, queues={"hl-96128": 0}))
    assert response.status == 303, await response.text()
    assert await stored(client, boss) == (str(8000 + boss), [("hl-96128", 0)], [])

    # A disabled account is listed as such and can still be set up.
    async with client.app[DB]() as db:
        (await db.get(User, li)).active = False
        await db.commit()
    assert "（停用）" in row(await (await client.get(PAGE)).text(), li)
    response = await client.post(f"{PAGE}/{li}", allow_redirects=False,
                                 data=form(token, extension="8303"))
    assert response.status == 303, await response.text()
    assert (await stored(client, li))[0] == "8303"


async def test_a_taken_extension_or_a_bad_field_is_shown_in_chinese_and_changes_nothing(client):
    wang = await make_agent(client, "wang", extension="8401", queues={"hl-96128": 0})
    zhang = await make_agent(client, "zhang", extension="8402", queues={"hl-96128": 1},
                             skills=[profiles.Skill(SkillKind.LANGUAGE, "方言", 2)])
    token = await logged_in(client, "root", "admin")
    before = await stored(client, zhang)

    response = await client.post(f"{PAGE}/{zhang}", data=form(
        token, extension="8401", languages={3: 1}, queues={"hl-12345-5301": 0}))
    assert response.status == 400
    page = await response.text()
    assert alert(page) == "分机号 8401 已被使用"
    assert "8402" in row(page, zhang)  # the list shows what is stored
    # What the administrator typed is shown back in the form, to be corrected.
    section = page[page.index(f'id="agent-{zhang}"'):]
    assert 'value="8401"' in section
    assert re.search(r'name="language_3">.*?<option value="1" selected>', section, re.S)
    assert re.search(r'value="hl-12345-5301" checked', section)
    assert await stored(client, zhang) == before
    assert (await stored(client, wang))[0] == "8401"

    for fields, words in (({"extension": "120"}, "分机号须为3至8位数字"),
                          ({"extension": "8402", "queues": {"hl-96128": "x"}}, "惩罚值"),
                          ({"extension": "8402", "queues": {"hl-96128": 101}}, "0到100"),
                          ({"extension": "8402", "languages": {1: 7}}, "等级须为1、2或3"),
                          ({"extension": "8402", "queues": {"bad queue": 0}}, "队列名无效"),
                          ({"extension": "8402", "node": "pbx9"}, "Asterisk 节点")):
        response = await client.post(f"{PAGE}/{zhang}", data=form(token, **fields))
        assert response.status == 400, fields
        assert words in alert(await response.text()), fields
        assert await stored(client, zhang) == before, fields

    for missing in ("999999", "99999999999999999999999", "１２"):
        response = await client.post(f"{PAGE}/{missing}", data=form(token, extension="8499"))
        assert response.status == 404 and "没有这个话务员或班长" in alert(await response.text())
        response = await client.put(f"/admin/agents/{missing}/profile", json={},
                                    headers={"X-CSRF-Token": token})
        assert response.status == 404, missing


async def test_only_an_admin_may_see_or_post_and_the_form_needs_the_csrf_token(client):
    agent = await make_agent(client, "sun", extension="8501", queues={"hl-96128": 0})
    before = await stored(client, agent)
    for username, role in (("sun2", "agent"), ("lead", "supervisor")):
        token = await logged_in(client, username, role)
        assert (await client.get(PAGE, allow_redirects=False)).status == 403, role
        response = await client.post(f"{PAGE}/{agent}", allow_redirects=False,
                                     data=form(token, extension="8599"))
        assert response.status == 403, role
    token = await logged_in(client, "root", "admin")
    data = form(token, extension="8599")
    for sent in ([d for d in data if d[0] != "csrf_token"],
                 [("csrf_token", token[::-1]), *data[1:]]):
        response = await client.post(f"{PAGE}/{agent}", data=sent, allow_redirects=False)
        assert response.status == 403
    assert await stored(client, agent) == before
    # With the session's token the same form is saved.
    response = await client.post(f"{PAGE}/{agent}", data=data, allow_redirects=False)
    assert response.status == 303
    assert (await stored(client, agent))[0] == "8599"
