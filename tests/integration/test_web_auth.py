"""Security of the web app, end to end through the real aiohttp app on SQLite and PostgreSQL:
login (CSRF, lock-out, no user enumeration, open redirects), sessions, roles, CSRF and Origin
checks on unsafe requests, the fail-closed route policy, and the security headers."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp.web_urldispatcher import StaticResource
from sqlalchemy import select, update

from hotline import directory
from hotline.auth.policy import PUBLIC, access_of
from hotline.db.base import utcnow
from hotline.db.models import Role, User, WebSession
from hotline.web.keys import DB

from conftest import PASSWORD, add_user, csrf_token, logged_in, login

SESSION_COOKIE = "hotline_session"
LOGIN_CSRF_COOKIE = "hotline_login_csrf"
EVIL = "https://evil.example"
WRONG_PASSWORD = "Wrong-Horse-43"


# Helpers ------------------------------------------------------------------------------------

def set_cookies(response: Any) -> dict[str, dict[str, str]]:
    """The Set-Cookie headers of a response: name -> {"value": …, lower-cased attributes…}."""
    cookies: dict[str, dict[str, str]] = {}
    for header in response.headers.getall("Set-Cookie", []):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        cookie = {"value": value.strip('"')}
        for attribute in attributes:
            key, _, attr_value = attribute.partition("=")
            cookie[key.strip().lower()] = attr_value.strip()
        cookies[name.strip()] = cookie
    return cookies


def hidden_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name!r} in the page"
    return found.group(1)


async def login_page(client: Any, query: str = "") -> tuple[str, str]:
    """GET /login like a browser: (csrf token of the form, value of the hidden `next` field)."""
    page = await client.get("/login" + query)
    assert page.status == 200
    html = await page.text()
    return hidden_field(html, "csrf_token"), hidden_field(html, "next")


async def session_of(client: Any) -> str | None:
    for cookie in client.session.cookie_jar:
        if cookie.key == SESSION_COOKIE:
            return cookie.value
    return None


async def user_exists(client: Any, username: str) -> bool:
    async with client.app[DB]() as db:
        return await db.scalar(select(User.id).where(User.username == username)) is not None


async def post_json(client: Any, path: str, body: Any, token: str | None,
                    **headers: str) -> Any:
    if token is not None:
        headers["X-CSRF-Token"] = token
    return await client.post(path, json=body, headers=headers)


def user_form(username: str, **extra: str) -> dict[str, str]:
    return {"username": username, "display_name": "测试", "role": "agent", "region_code": "",
            "department_id": "", "password": "", **extra}



def without_token(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)


# Login -------------------------------------------------------------------------------------

async def test_wrong_password_is_refused_without_a_session(client):
    await add_user(client, "zhang", "agent")
    response = await login(client, "zhang", WRONG_PASSWORD)
    assert response.status == 401
    assert response.content_type == "text/html"
    html = await response.text()
    assert 'role="alert"' in html and "用户名或密码错误" in html
    assert 'action="/login"' in html  # the login form again
    assert SESSION_COOKIE not in set_cookies(response)
    assert await session_of(client) is None
    assert (await client.get("/api/me")).status == 401


async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    await add_user(client, "zhang", "agent")
    wrong = await login(client, "zhang", WRONG_PASSWORD)
    unknown = await login(client, "nobody", WRONG_PASSWORD)
    assert wrong.status == unknown.status == 401
    assert without_token(await wrong.text()) == without_token(await unknown.text())
    assert set(set_cookies(wrong)) == set(set_cookies(unknown)) == {LOGIN_CSRF_COOKIE}
    assert await session_of(client) is None


async def test_right_password_opens_a_session_with_a_safe_cookie(client):
    await add_user(client, "zhang", "supervisor", name="张三", region_code="530100")
    response = await login(client, "zhang")
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = set_cookies(response)[SESSION_COOKIE]
    assert cookie["value"]
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"

    me = await client.get("/api/me")
    assert me.status == 200
    body = await me.json()
    assert body["username"] == "zhang"
    assert body["display_name"] == "张三"
    assert body["role"] == "supervisor"
    assert body["region_code"] == "530100"
    assert body["csrf_token"]
    assert "password_hash" not in body


async def test_the_session_token_is_stored_only_as_a_hash(client):
    await add_user(client, "zhang", "agent")
    assert (await login(client, "zhang")).status == 303
    token = await session_of(client)
    assert token
    async with client.app[DB]() as db:
        hashes = list((await db.scalars(select(WebSession.token_hash))).all())
    assert hashes == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in hashes


async def test_login_without_the_csrf_cookie_or_field_is_refused(client):
    await add_user(client, "zhang", "agent")
    credentials = {"username": "zhang", "password": PASSWORD}

    # Neither cookie nor field (no GET /login first).
    response = await client.post("/login", data=credentials, allow_redirects=False)
    assert response.status == 403

    # Cookie but no field.
    token, _ = await login_page(client)
    response = await client.post("/login", data=credentials, allow_redirects=False)
    assert response.status == 403

    # Mismatching field.
    response = await client.post("/login", data={**credentials, "csrf_token": token + "x"},
                                 allow_redirects=False)
    assert response.status == 403
    other, _ = await login_page(client)  # a valid token, but not the one in the cookie now
    response = await client.post("/login", data={**credentials, "csrf_token": token},
                                 allow_redirects=False)
    assert other != token and response.status == 403

    # Field but no cookie.
    client.session.cookie_jar.clear()
    response = await client.post("/login", data={**credentials, "csrf_token": other},
                                 allow_redirects=False)
    assert response.status == 403

    assert await session_of(client) is None
    # The same credentials do work with a matching cookie and field.
    assert (await login(client, "zhang")).status == 303


async def test_login_csrf_cookie_is_strict_and_scoped_to_the_login_form(client):
    page = await client.get("/login")
    cookie = set_cookies(page)[LOGIN_CSRF_COOKIE]
    assert cookie["value"] == hidden_field(await page.text(), "csrf_token")
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/login"


async def test_five_wrong_passwords_lock_the_account(client):
    await add_user(client, "zhang", "agent")
    for _ in range(5):
        assert (await login(client, "zhang", WRONG_PASSWORD)).status == 401
    locked = await login(client, "zhang")
    assert locked.status == 401
    assert SESSION_COOKIE not in set_cookies(locked)
    assert (await client.get("/api/me")).status == 401


async def test_four_wrong_passwords_do_not_lock_the_account(client):
    await add_user(client, "zhang", "agent")
    for _ in range(4):
        assert (await login(client, "zhang", WRONG_PASSWORD)).status == 401
    assert (await login(client, "zhang")).status == 303


async def test_parallel_wrong_passwords_also_lock_the_account(client):
    """An attacker does not wait for one guess before sending the next: guesses sent at once
    must each count, or the lock-out could be dodged by sending them in parallel."""
    await add_user(client, "zhang", "agent")
    token, _ = await login_page(client)
    guesses = [
        client.post("/login", data={"username": "zhang", "password": f"Wrong-Horse-{n:02}",
                                    "csrf_token": token},
                    cookies={LOGIN_CSRF_COOKIE: token}, allow_redirects=False)
        for n in range(8)
    ]
    statuses = [r.status for r in await asyncio.gather(*guesses)]
    assert statuses == [401] * 8
    response = await login(client, "zhang")
    assert response.status == 401, "8 wrong passwords sent at once did not lock the account"


def assert_local(location: str, target: str) -> None:
    """A path on this site: no scheme, no host, nothing a browser would read as `//host`."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, (target, location)
    assert location.startswith("/") and not location.startswith("//"), (target, location)
    assert "\\" not in location and "\t" not in location, (target, location)


async def post_login(client: Any, username: str, next_: str, query: str = "") -> Any:
    """Log in with a given `next`: either as the form rendered it from ?next= (query given) or
    as a forged form that posts `next` itself."""
    client.session.cookie_jar.clear()
    token, rendered_next = await login_page(client, query)
    response = await client.post("/login", data={
        "username": username, "password": PASSWORD, "csrf_token": token,
        "next": rendered_next if query else next_}, allow_redirects=False)
    assert response.status == 303
    return response


async def test_after_login_no_redirect_to_another_site(client):
    await add_user(client, "boss", "admin")
    for target in (f"{EVIL}/", "//evil.example"):
        # As a browser would: GET /login?next=… and submit the form as rendered…
        response = await post_login(client, "boss", target, "?next=" + quote(target, safe=""))
        assert response.headers["Location"] == "/", target
        # …and a forged form that posts `next` directly.
        response = await post_login(client, "boss", target)
        assert response.headers["Location"] == "/", target


async def test_after_login_tricky_next_values_stay_on_the_site(client):
    await add_user(client, "boss", "admin")
    for target in ("//evil.example/admin", "///evil.example", "/\\evil.example",
                   "/\\/evil.example", "/\t/evil.example", "https:evil.example",
                   "javascript:alert(1)", "evil.example", f"{EVIL}/admin"):
        response = await post_login(client, "boss", target, "?next=" + quote(target, safe=""))
        assert_local(response.headers["Location"], target)
        response = await post_login(client, "boss", target)
        assert_local(response.headers["Location"], target)


async def test_after_login_a_local_next_is_kept(client):
    await add_user(client, "boss", "admin")
    token, rendered_next = await login_page(client, "?next=%2Fadmin")
    assert rendered_next == "/admin"
    response = await client.post("/login", data={
        "username": "boss", "password": PASSWORD, "csrf_token": token, "next": rendered_next},
        allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/admin"
    assert (await client.get("/admin", allow_redirects=False)).status == 200


async def test_a_protected_page_sends_the_visitor_to_login_and_back(client):
    await add_user(client, "boss", "admin")
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith("/login?")
    token, rendered_next = await login_page(client, location.removeprefix("/login"))
    assert rendered_next == "/admin"
    response = await client.post("/login", data={
        "username": "boss", "password": PASSWORD, "csrf_token": token, "next": rendered_next},
        allow_redirects=False)
    assert response.headers["Location"] == "/admin"


# Sessions ----------------------------------------------------------------------------------

async def test_logout_deletes_the_session(client):
    token = await logged_in(client, "zhang", "agent")
    old = await session_of(client)
    assert old
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    assert await session_of(client) is None  # the cookie is cleared…

    # …and the session is gone on the server: replaying the old cookie does not work.
    me = await client.get("/api/me", cookies={SESSION_COOKIE: old})
    assert me.status == 401
    home = await client.get("/", cookies={SESSION_COOKIE: old}, allow_redirects=False)
    assert home.status == 302
    async with client.app[DB]() as db:
        assert (await db.scalars(select(WebSession))).all() == []


async def test_logout_needs_the_csrf_token(client):
    await logged_in(client, "zhang", "agent")
    response = await client.post("/logout", allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/api/me")).status == 200  # still logged in


async def test_an_expired_session_is_refused(client):
    await logged_in(client, "zhang", "agent")
    async with client.app[DB]() as db:
        await db.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    assert (await client.get("/api/me")).status == 401


async def test_a_disabled_users_session_is_refused(client):
    await logged_in(client, "zhang", "agent")
    async with client.app[DB]() as db:
        await db.execute(update(User).where(User.username == "zhang").values(active=False))
        await db.commit()
    assert (await client.get("/api/me")).status == 401


async def test_a_made_up_session_cookie_is_refused(client):
    await logged_in(client, "zhang", "agent")
    client.session.cookie_jar.clear()
    response = await client.get("/api/me", cookies={SESSION_COOKIE: "made-up-token"})
    assert response.status == 401


# CSRF on unsafe requests -------------------------------------------------------------------

async def test_admin_form_without_or_with_a_wrong_csrf_token_is_refused(client):
    token = await logged_in(client, "boss", "admin")
    response = await client.post("/admin/users", data=user_form("intruder1"),
                                 allow_redirects=False)
    assert response.status == 403
    response = await client.post("/admin/users",
                                 data={**user_form("intruder2"), "csrf_token": token[::-1]},
                                 allow_redirects=False)
    assert response.status == 403
    response = await client.post("/admin/users",
                                 data={**user_form("intruder3"), "csrf_token": ""},
                                 allow_redirects=False)
    assert response.status == 403
    for name in ("intruder1", "intruder2", "intruder3"):
        assert not await user_exists(client, name)
    listed = {u["username"] for u in await (await client.get("/api/users")).json()}
    assert listed == {"boss"}

    # The same form with the session's token works.
    response = await client.post("/admin/users", data={**user_form("welcome"), "csrf_token": token})
    assert response.status == 201
    assert await user_exists(client, "welcome")


async def test_json_post_needs_the_csrf_header(client):
    token = await logged_in(client, "boss", "admin")
    body = {"username": "newbie", "role": "agent"}
    assert (await post_json(client, "/api/users", body, None)).status == 403
    assert (await post_json(client, "/api/users", body, "not-the-token")).status == 403
    assert not await user_exists(client, "newbie")
    response = await post_json(client, "/api/users", body, token)
    assert response.status == 201, await response.text()
    assert await user_exists(client, "newbie")


async def test_a_csrf_token_of_another_session_is_refused(client):
    other = await logged_in(client, "boss2", "admin")
    mine = await logged_in(client, "boss", "admin")
    assert other != mine
    response = await post_json(client, "/api/departments",
                               {"name": "昆明市公安局", "region_code": "530100"}, other)
    assert response.status == 403


async def test_cross_origin_post_is_refused_even_with_session_and_token(client):
    token = await logged_in(client, "boss", "admin")
    own = str(client.make_url("/").origin())
    body = {"name": "昆明市公安局", "region_code": "530100"}
    for origin in (EVIL, "null", own.replace("http://", "https://")):
        response = await post_json(client, "/api/departments", body, token, Origin=origin)
        assert response.status == 403, origin
        response = await client.post("/admin/users", headers={"Origin": origin},
                                     data={**user_form("viaform"), "csrf_token": token})
        assert response.status == 403, origin
    async with client.app[DB]() as db:
        assert await directory.list_departments(db) == []
    assert not await user_exists(client, "viaform")

    # A login form posted from another site is refused too.
    client.session.cookie_jar.clear()
    login_token, _ = await login_page(client)
    response = await client.post("/login", headers={"Origin": EVIL}, allow_redirects=False,
                                 data={"username": "boss", "password": PASSWORD,
                                       "csrf_token": login_token})
    assert response.status == 403
    assert await session_of(client) is None

    # The app's own origin is accepted.
    await login(client, "boss")
    token = await csrf_token(client)
    response = await post_json(client, "/api/departments", body, token, Origin=own)
    assert response.status == 201, await response.text()


# Roles -------------------------------------------------------------------------------------

async def test_an_agent_may_not_administer(client):
    token = await logged_in(client, "agent1", "agent")
    assert (await client.get("/admin", allow_redirects=False)).status == 403
    response = await client.post("/admin/users", data={**user_form("made1"), "csrf_token": token},
                                 allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/api/users")).status == 403
    response = await post_json(client, "/api/users", {"username": "made2", "role": "admin"},
                               token)
    assert response.status == 403
    assert (await response.json())["error"]
    response = await post_json(client, "/api/departments",
                               {"name": "昆明市公安局", "region_code": "530100"}, token)
    assert response.status == 403
    assert not await user_exists(client, "made1") and not await user_exists(client, "made2")
    # What an agent may do still works.
    assert (await client.get("/", allow_redirects=False)).status == 200
    assert (await client.get("/api/regions")).status == 200


async def test_a_supervisor_may_list_users_but_not_create_them(client):
    token = await logged_in(client, "sup", "supervisor")
    response = await client.get("/api/users")
    assert response.status == 200
    assert "sup" in {u["username"] for u in await response.json()}
    response = await post_json(client, "/api/users", {"username": "made", "role": "agent"}, token)
    assert response.status == 403
    assert not await user_exists(client, "made")
    assert (await client.get("/admin", allow_redirects=False)).status == 403
    response = await client.post("/admin/users", data={**user_form("made"), "csrf_token": token})
    assert response.status == 403
    assert not await user_exists(client, "made")


async def test_a_handler_may_not_open_the_admin_page(client):
    async with client.app[DB]() as db:
        department = await directory.create_department(db, name="五华区住建局",
                                                       region_code="530102")
    token = await logged_in(client, "handler1", "handler", department_id=department.id)
    assert (await client.get("/admin", allow_redirects=False)).status == 403
    assert (await client.get("/api/users")).status == 403
    response = await client.post("/admin/users", data={**user_form("made"), "csrf_token": token})
    assert response.status == 403
    assert (await client.get("/api/me")).status == 200


async def test_an_admin_may_administer(client):
    await logged_in(client, "boss", "admin")
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    assert (await client.get("/api/users")).status == 200


# Every route: policy and refusal without a session -----------------------------------------

PUBLIC_ROUTES = {("GET", "/healthz"), ("HEAD", "/healthz"), ("GET", "/login"),
                 ("HEAD", "/login"), ("POST", "/login")}


def app_routes(client: Any) -> list[tuple[str, str, Any]]:
    """(method, example URL, route) for every non-static route of the app."""
    found = []
    for route in client.app.router.routes():
        if isinstance(route.resource, StaticResource):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        assert path, f"cannot build a URL for {route!r}"
        found.append((route.method, re.sub(r"\{[^}]+\}", "1", path), route))
    return found


async def test_every_route_declares_an_access_policy(client):
    routes = list(client.app.router.routes())
    assert len(routes) > 10
    for route in routes:
        if isinstance(route.resource, StaticResource):
            continue
        assert access_of(route.handler) is not None, f"{route.method} {route.resource} is open"
    assert any(isinstance(r.resource, StaticResource) for r in routes)


async def test_every_non_public_route_refuses_a_visitor_without_a_session(client):
    client.session.cookie_jar.clear()
    checked = set()
    for method, url, _route in app_routes(client):
        if (method, url) in PUBLIC_ROUTES:
            continue
        checked.add((method, url))
        response = await client.request(method, url, allow_redirects=False)
        if url.startswith("/api/") or method != "GET":
            assert response.status == 401, (method, url, response.status)
            if url.startswith("/api/") and method != "HEAD":
                assert (await response.json())["error"], (method, url)
        else:
            assert response.status == 302, (method, url, response.status)
            assert response.headers["Location"].startswith("/login?next="), (method, url)
        assert SESSION_COOKIE not in set_cookies(response)
    # The list is the router's, not a copy: make sure the known routes were really in it.
    assert {("GET", "/"), ("GET", "/admin"), ("POST", "/admin/users"), ("POST", "/logout"),
            ("GET", "/api/me"), ("GET", "/api/users"), ("POST", "/api/users"),
            ("POST", "/api/departments"), ("GET", "/api/openapi.json")} <= checked


async def test_public_routes_answer_without_a_session(client):
    client.session.cookie_jar.clear()
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/login")).status == 200
    assert (await client.get("/static/app.css")).status == 200


WEBSOCKET_HANDSHAKE = {"Upgrade": "websocket", "Connection": "Upgrade",
                       "Sec-WebSocket-Version": "13",
                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


async def test_every_route_refuses_a_websocket_handshake_from_another_site(client):
    """Cross-site websocket hijacking: a handshake is a GET the browser sends with the session
    cookie from any site. The middleware refuses it on every route (the websocket handlers'
    own check aside), for a logged-in admin too, without an Origin or with a foreign one."""
    await logged_in(client, "root", "admin")
    own = f"http://{client.server.host}:{client.server.port}"
    urls = [url for method, url, _ in app_routes(client) if method == "GET"]
    assert {"/ws/desk", "/ws/wallboard", "/"} <= set(urls)
    for url in [*urls, "/static/app.css"]:
        for origin in ({"Origin": "https://evil.example"}, {}):
            response = await client.get(url, headers={**WEBSOCKET_HANDSHAKE, **origin},
                                        allow_redirects=False)
            assert response.status == 403, (url, origin, response.status)
    response = await client.get("/", headers={**WEBSOCKET_HANDSHAKE, "Origin": own})
    assert response.status == 200  # not a websocket route: the page, from our own origin


async def test_every_unsafe_route_needs_the_csrf_token_whatever_the_body(client):
    """CSRF on every POST/PUT/PATCH/DELETE route, JSON ones included: a user whose role may
    use the route is refused without the token, with a JSON, a form or a text body."""
    checked = set()
    for role in Role:
        await logged_in(client, f"csrf-{role.value}", role.value,
                        **({"department_id": await a_department(client)}
                           if role is Role.HANDLER else {}))
        for method, url, route in app_routes(client):
            access = access_of(route.handler)
            if method not in ("POST", "PUT", "PATCH", "DELETE") or access == PUBLIC or \
                    role not in access or url == "/login":
                continue
            for body in ({"json": {"x": 1}}, {"data": {"x": "1"}}, {"data": "x"}):
                response = await client.request(method, url, allow_redirects=False, **body)
                assert response.status == 403, (role, method, url, body, response.status)
                assert "CSRF" in await response.text(), (role, method, url)
            checked.add((method, url))
    assert {("POST", "/api/tickets"), ("PUT", "/admin/agents/1/profile"),
            ("POST", "/desk/tickets"), ("POST", "/api/followups/1/result")} <= checked


async def a_department(client: Any) -> int:
    from hotline.db.models import Department

    async with client.app[DB]() as db:
        department = Department(name="水务", region_code="530100")
        db.add(department)
        await db.commit()
        return department.id


async def test_static_files_are_plain_files_only(client):
    """The one public folder lists nothing, follows no symlink, and is not a way out."""
    client.session.cookie_jar.clear()
    statics = [r.resource for r in client.app.router.routes()
               if isinstance(r.resource, StaticResource)]
    assert statics
    for resource in statics:
        assert not resource._show_index and not resource._follow_symlinks
    for url in ("/static/", "/static/../app.py", "/static/%2e%2e/app.py",
                "/static/..%2fapp.py", "/static/%2e%2e%2ftemplates/base.html"):
        response = await client.get(url, allow_redirects=False)
        assert response.status in (403, 404), (url, response.status)


async def test_a_route_without_a_policy_is_refused(aiohttp_client, settings):
    """The guard behind the route test above: a handler that declares nothing is closed."""
    from aiohttp import web

    from hotline.web.app import create_app

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    app = create_app(settings)
    app.router.add_get("/forgotten", forgotten)
    app.router.add_get("/api/forgotten", forgotten)
    client = await aiohttp_client(app)
    await add_user(client, "boss", "admin")
    assert (await login(client, "boss")).status == 303
    for url in ("/forgotten", "/api/forgotten"):
        response = await client.get(url, allow_redirects=False)
        assert response.status == 403, url
        assert "secret" not in await response.text()


async def test_a_crashing_page_answers_500_with_headers_and_no_trace(aiohttp_client, settings):
    from aiohttp import web

    from hotline.auth.policy import public
    from hotline.web.app import create_app

    @public
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("internal detail that must not leak")

    app = create_app(settings)
    app.router.add_get("/broken", broken)
    app.router.add_get("/api/broken", broken)
    client = await aiohttp_client(app)
    for url in ("/broken", "/api/broken"):
        response = await client.get(url)
        assert response.status == 500, url
        assert "internal detail" not in await response.text()
        assert_security_headers(response)


# Security headers --------------------------------------------------------------------------

def assert_security_headers(response: Any) -> None:
    headers = response.headers
    where = f"{response.method} {response.url.path} → {response.status}"
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, where
    assert "frame-ancestors 'none'" in csp, where
    assert "object-src 'none'" in csp, where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where


async def test_security_headers_on_every_kind_of_response(client):
    await add_user(client, "boss", "admin")
    seen = []

    async def check(method: str, url: str, status: int, content_type: str | None = None,
                    **kwargs: Any) -> None:
        response = await client.request(method, url, allow_redirects=False, **kwargs)
        assert response.status == status, (method, url, response.status)
        if content_type:
            assert response.content_type == content_type, (method, url)
        assert_security_headers(response)
        seen.append((method, url))

    # Without a session.
    await check("GET", "/login", 200, "text/html")
    await check("GET", "/healthz", 200, "application/json")
    await check("GET", "/static/app.css", 200)
    await check("GET", "/admin", 302)
    await check("GET", "/api/me", 401, "application/json")
    await check("POST", "/admin/users", 401)
    await check("GET", "/no-such-page", 404)
    await check("GET", "/api/no-such-thing", 404, "application/json")
    await check("POST", "/healthz", 405)
    await check("DELETE", "/api/users", 405, "application/json")
    await check("POST", "/login", 403, data={"username": "boss"})
    # Logged in.
    assert (await login(client, "boss")).status == 303
    token = await csrf_token(client)
    await check("GET", "/", 200, "text/html")
    await check("GET", "/admin", 200, "text/html")
    await check("GET", "/api/me", 200, "application/json")
    await check("GET", "/api/regions?level=nonsense", 400, "application/json")
    await check("POST", "/api/users", 403, "application/json", json={})
    await check("POST", "/api/users", 400, "application/json", json={},
                headers={"X-CSRF-Token": token})
    await check("GET", "/no-such-page", 404)
    await check("GET", "/api/no-such-thing", 404, "application/json")
    assert len(seen) == 19
