"""A user changes their own password: the old one stops working, every session ends."""

import re

from conftest import PASSWORD, add_user, login

NEW = "Brand-New-Secret-77"


async def _form_token(client):
    page = await client.get("/account/password")
    assert page.status == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)


async def _change(client, token, current, new, again=None):
    return await client.post("/account/password", allow_redirects=False, data={
        "csrf_token": token, "current": current, "new": new, "again": again or new})


async def test_change_own_password(client):
    await add_user(client, "li", "agent")
    assert (await login(client, "li")).status == 303
    token = await _form_token(client)

    refused = {
        "wrong current": await _change(client, token, "not-it-at-all", NEW),
        "mismatch": await _change(client, token, PASSWORD, NEW, again=NEW + "x"),
        "too short": await _change(client, token, PASSWORD, "short"),
        "same": await _change(client, token, PASSWORD, PASSWORD),
    }
    for case, response in refused.items():
        assert response.status == 400, case
        assert 'role="alert"' in await response.text(), case

    changed = await _change(client, token, PASSWORD, NEW)
    assert changed.status == 303 and changed.headers["Location"] == "/login?changed=1"
    assert (await client.get("/api/me")).status == 401  # the session ended

    assert (await login(client, "li", PASSWORD)).status == 401
    assert (await login(client, "li", NEW)).status == 303


async def test_password_change_needs_csrf_and_a_session(client):
    await add_user(client, "li", "agent")
    assert (await client.get("/account/password", allow_redirects=False)).status == 302
    assert (await login(client, "li")).status == 303
    response = await _change(client, "forged", PASSWORD, NEW)
    assert response.status == 403
    assert (await login(client, "li", PASSWORD)).status == 303  # unchanged
