"""The JSON API end to end on SQLite and PostgreSQL: reference data (regions, lines), departments
and users (validation, limits, generated passwords), region scope, and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from hotline import directory
from hotline.db.models import User
from hotline.web.keys import DB

from conftest import add_user, logged_in, login

KUNMING = "530100"
DALI = "532900"


# Helpers ------------------------------------------------------------------------------------


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    response = await client.get(url)
    assert response.status == status, (url, response.status, await response.text())
    assert response.content_type == "application/json"
    return await response.json()


async def post_json(client: Any, url: str, body: Any, token: str) -> Any:
    return await client.post(url, json=body, headers={"X-CSRF-Token": token})


async def expect_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status == status, (response.status, await response.text())
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


async def usernames(client: Any) -> set[str]:
    async with client.app[DB]() as db:
        return set((await db.scalars(select(User.username))).all())


# Regions and lines ---------------------------------------------------------------------------

async def test_regions_lists_all_of_yunnan(client):
    await logged_in(client, "agent1", "agent")
    rows = await get_json(client, "/api/regions")
    assert len(rows) == 146
    assert len({r["code"] for r in rows}) == 146
    by_code = {r["code"]: r for r in rows}
    assert by_code["530000"]["level"] == "province" and by_code["530000"]["parent_code"] is None
    assert [r["code"] for r in rows if r["level"] == "province"] == ["530000"]
    # Every region but the province hangs under a region of the list.
    assert all(r["parent_code"] in by_code for r in rows if r["code"] != "530000")


async def test_regions_by_level_gives_the_sixteen_prefectures(client):
    await logged_in(client, "agent1", "agent")
    rows = await get_json(client, "/api/regions?level=prefecture")
    assert len(rows) == 16
    names = {r["code"]: r["name"] for r in rows}
    assert names["530100"] == "昆明市"
    assert names["532300"] == "楚雄彝族自治州"
    assert names["533400"] == "迪庆藏族自治州"
    assert names["532900"] == "大理白族自治州"
    assert all(r["level"] == "prefecture" and r["parent_code"] == "530000" for r in rows)
    assert [r["code"] for r in rows] == sorted(names)


async def test_regions_by_parent_gives_kunmings_districts_and_counties(client):
    await logged_in(client, "agent1", "agent")
    rows = await get_json(client, f"/api/regions?parent={KUNMING}")
    assert len(rows) == 14
    names = {r["code"]: r["name"] for r in rows}
    assert names["530102"] == "五华区"
    assert names["530181"] == "安宁市"
    assert all(r["parent_code"] == KUNMING and r["level"] == "county" for r in rows)
    both = await get_json(client, f"/api/regions?parent={KUNMING}&level=county")
    assert both == rows
    assert await get_json(client, f"/api/regions?parent={KUNMING}&level=prefecture") == []


async def test_regions_refuses_an_unknown_level(client):
    await logged_in(client, "agent1", "agent")
    for level in ("city", "", "PREFECTURE", "prefecture'--"):
        await expect_error(await client.get("/api/regions", params={"level": level}), 400,
                           field="level")


async def test_lines_lists_96128_and_the_prefectures_12345(client):
    await logged_in(client, "agent1", "agent")
    rows = await get_json(client, "/api/lines")
    assert len(rows) == 17
    by_code = {r["code"]: r for r in rows}
    assert set(by_code["96128"]["dids"]) == {"96128", "087196128"}
    assert by_code["96128"]["service_number"] == "96128"
    assert by_code["96128"]["region_code"] == "530000"
    kunming = by_code["12345-5301"]
    assert kunming["queue"] == "hl-12345-5301"
    assert kunming["service_number"] == "12345"
    assert kunming["region_code"] == KUNMING
    assert sum(r["service_number"] == "12345" for r in rows) == 16
    assert len({r["queue"] for r in rows}) == 17
    all_dids = [d for r in rows for d in r["dids"]]
    assert len(all_dids) == len(set(all_dids))  # a DID reaches exactly one line


# Departments ---------------------------------------------------------------------------------

async def test_admin_creates_a_department(client):
    token = await logged_in(client, "boss", "admin")
    body = {"name": "昆明市公安局", "region_code": KUNMING, "phone": "0871-110"}
    response = await post_json(client, "/api/departments", body, token)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["name"] == "昆明市公安局" and created["region_code"] == KUNMING
    assert created["phone"] == "0871-110" and created["active"] is True
    assert isinstance(created["id"], int)
    listed = await get_json(client, "/api/departments")
    assert [d["id"] for d in listed] == [created["id"]]


async def test_department_validation(client):
    token = await logged_in(client, "boss", "admin")
    body = {"name": "昆明市公安局", "region_code": KUNMING}
    assert (await post_json(client, "/api/departments", body, token)).status == 201
    # Same name in the same region: refused; in another region: fine.
    await expect_error(await post_json(client, "/api/departments", body, token), 400, "name")
    other = await post_json(client, "/api/departments", {**body, "region_code": DALI}, token)
    assert other.status == 201
    # Regions: well-formed but unknown, and malformed.
    await expect_error(await post_json(client, "/api/departments",
                                       {**body, "region_code": "539999"}, token),
                       400, "region_code")
    await expect_error(await post_json(client, "/api/departments",
                                       {**body, "region_code": "5301"}, token),
                       400, "region_code")
    # Unknown fields are refused, not ignored.
    await expect_error(await post_json(client, "/api/departments",
                                       {**body, "name": "新单位", "active": False}, token),
                       400, "active")
    # Missing or too short name; not an object; not JSON at all.
    await expect_error(await post_json(client, "/api/departments", {"region_code": KUNMING},
                                       token), 400, "name")
    await expect_error(await post_json(client, "/api/departments",
                                       {**body, "name": "x"}, token), 400, "name")
    await expect_error(await post_json(client, "/api/departments", [body], token), 400)
    await expect_error(await client.post("/api/departments", data=b"{not json",
                                         headers={"X-CSRF-Token": token,
                                                  "Content-Type": "application/json"}), 400)
    assert len(await get_json(client, "/api/departments")) == 2


async def test_department_needs_a_json_content_type(client):
    token = await logged_in(client, "boss", "admin")
    response = await client.post("/api/departments", headers={"X-CSRF-Token": token},
                                 data={"name": "昆明市公安局", "region_code": KUNMING})
    await expect_error(response, 415)
    response = await client.post("/api/departments",
                                 data='{"name": "昆明市公安局", "region_code": "530100"}',
                                 headers={"X-CSRF-Token": token, "Content-Type": "text/plain"})
    await expect_error(response, 415)
    assert await get_json(client, "/api/departments") == []


async def test_department_body_over_64_kib_is_refused(client):
    token = await logged_in(client, "boss", "admin")
    big = {"name": "昆明市公安局", "region_code": KUNMING, "phone": "1" * (65 * 1024)}
    await expect_error(await post_json(client, "/api/departments", big, token), 413)
    assert await get_json(client, "/api/departments") == []


async def test_department_body_over_64_kib_is_refused_without_a_content_length(client):
    """Chunked transfer sends no Content-Length: the limit must hold on what is read."""
    token = await logged_in(client, "boss", "admin")

    async def chunked():
        yield '{"name": "昆明市公安局",'.encode()
        yield b' "region_code": "530100", "phone": "'
        for _ in range(65):
            yield b"1" * 1024
        yield b'"}'

    response = await client.post("/api/departments", data=chunked(),
                                 headers={"X-CSRF-Token": token,
                                          "Content-Type": "application/json"})
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    await expect_error(response, 413)
    assert await get_json(client, "/api/departments") == []


# Users -------------------------------------------------------------------------------------

async def test_user_without_password_gets_a_generated_one_that_logs_in(client):
    token = await logged_in(client, "boss", "admin")
    response = await post_json(client, "/api/users",
                               {"username": "wang", "display_name": "王五", "role": "agent",
                                "region_code": KUNMING}, token)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["username"] == "wang" and created["role"] == "agent"
    assert created["region_code"] == KUNMING and created["active"] is True
    assert "password_hash" not in created
    password = created["initial_password"]
    assert isinstance(password, str) and len(password) >= 10

    # Not shown again anywhere.
    listed = await get_json(client, "/api/users")
    assert "wang" in {u["username"] for u in listed}
    assert all("initial_password" not in u and "password_hash" not in u for u in listed)

    client.session.cookie_jar.clear()
    assert (await login(client, "wang", "wrong-" + password)).status == 401
    assert (await login(client, "wang", password)).status == 303
    me = await get_json(client, "/api/me")
    assert me["username"] == "wang" and me["display_name"] == "王五"


async def test_user_with_a_chosen_password_gets_none_back(client):
    token = await logged_in(client, "boss", "admin")
    response = await post_json(client, "/api/users",
                               {"username": "wang", "role": "agent", "password": "Chosen-Pass-77"},
                               token)
    assert response.status == 201, await response.text()
    assert (await response.json())["initial_password"] is None
    client.session.cookie_jar.clear()
    assert (await login(client, "wang", "Chosen-Pass-77")).status == 303


async def test_user_validation(client):
    token = await logged_in(client, "boss", "admin")
    for weak in ("short1", "aaaaaaaaaaaa", "abababababab"):
        await expect_error(await post_json(client, "/api/users",
                                           {"username": "wang", "role": "agent",
                                            "password": weak}, token), 400, "password")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang", "role": "handler"}, token),
                       400, "department_id")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang", "role": "handler",
                                        "department_id": 999999}, token), 400, "department_id")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang", "role": "root"}, token), 400, "role")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang", "role": "agent",
                                        "region_code": "539999"}, token), 400, "region_code")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang li", "role": "agent"}, token),
                       400, "username")
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "boss", "role": "agent"}, token),
                       400, "username")  # taken
    await expect_error(await post_json(client, "/api/users",
                                       {"username": "wang", "role": "agent", "is_admin": True},
                                       token), 400, "is_admin")
    assert await usernames(client) == {"boss"}


async def test_handler_with_a_department_is_created_in_its_region(client):
    token = await logged_in(client, "boss", "admin")
    async with client.app[DB]() as db:
        department = await directory.create_department(db, name="大理州市场监管局",
                                                       region_code=DALI)
    response = await post_json(client, "/api/users",
                               {"username": "li", "role": "handler",
                                "department_id": department.id}, token)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["department_id"] == department.id and created["region_code"] == DALI

    # A handler's region is its department's: another region is refused.
    response = await post_json(client, "/api/users",
                               {"username": "wang", "role": "handler", "region_code": KUNMING,
                                "department_id": department.id}, token)
    assert response.status == 400
    assert (await response.json())["field"] == "region_code"


async def test_admin_form_shows_the_generated_password_once(client):
    token = await logged_in(client, "boss", "admin")
    response = await client.post("/admin/users", data={
        "csrf_token": token, "username": "zhao", "display_name": "赵六", "role": "supervisor",
        "region_code": KUNMING, "department_id": "", "password": ""})
    assert response.status == 201, await response.text()
    html = await response.text()
    found = re.findall(r'id="initial-password">([^<]+)<', html)
    assert len(found) == 1
    password = found[0]
    assert len(password) >= 10 and html.count(password) == 1

    again = await client.get("/admin")
    assert again.status == 200
    page = await again.text()
    assert "initial-password" not in page and password not in page
    assert "zhao" in page

    client.session.cookie_jar.clear()
    assert (await login(client, "zhao", password)).status == 303
    me = await get_json(client, "/api/me")
    assert me["username"] == "zhao" and me["role"] == "supervisor"
    assert me["region_code"] == KUNMING


async def test_admin_form_with_a_chosen_password_does_not_echo_it(client):
    token = await logged_in(client, "boss", "admin")
    response = await client.post("/admin/users", data={
        "csrf_token": token, "username": "zhao", "role": "agent", "password": "Chosen-Pass-77"})
    assert response.status == 201
    html = await response.text()
    assert "initial-password" not in html and "Chosen-Pass-77" not in html
    client.session.cookie_jar.clear()
    assert (await login(client, "zhao", "Chosen-Pass-77")).status == 303


async def test_admin_form_errors_are_shown_on_the_page(client):
    token = await logged_in(client, "boss", "admin")
    response = await client.post("/admin/users", data={
        "csrf_token": token, "username": "zhao", "role": "agent", "password": "Qz7!kp"})
    assert response.status == 400
    html = await response.text()
    assert 'role="alert"' in html and "密码" in html
    assert 'value="zhao"' in html  # the form keeps what was typed…
    assert "Qz7!kp" not in html  # …but not the password
    response = await client.post("/admin/users", data={
        "csrf_token": token, "username": "zhao", "role": "superuser"})
    assert response.status == 400
    response = await client.post("/admin/users", data={
        "csrf_token": token, "username": "zhao", "role": "handler", "department_id": "x"})
    assert response.status == 400
    assert await usernames(client) == {"boss"}


# Region scope --------------------------------------------------------------------------------

async def test_a_supervisor_scoped_to_kunming_sees_only_kunming(client):
    async with client.app[DB]() as db:
        police = await directory.create_department(db, name="昆明市公安局", region_code=KUNMING)
        wuhua = await directory.create_department(db, name="五华区住建局", region_code="530102")
        dali = await directory.create_department(db, name="大理州市场监管局", region_code=DALI)
    await add_user(client, "agent-km", "agent", region_code=KUNMING)
    await add_user(client, "agent-wh", "agent", region_code="530102")
    await add_user(client, "handler-km", "handler", department_id=police.id)
    await add_user(client, "agent-dl", "agent", region_code=DALI)
    await add_user(client, "handler-dl", "handler", department_id=dali.id)
    await add_user(client, "agent-all", "agent")  # the whole province
    await add_user(client, "sup-dl", "supervisor", region_code=DALI)
    await logged_in(client, "sup-km", "supervisor", region_code=KUNMING)

    departments = await get_json(client, "/api/departments")
    assert {d["id"] for d in departments} == {police.id, wuhua.id}
    users = await get_json(client, "/api/users")
    assert {u["username"] for u in users} == {"agent-km", "agent-wh", "handler-km", "sup-km"}
    assert all(u["region_code"].startswith("5301") for u in users)

    # A province-wide administrator sees everyone and everything.
    await logged_in(client, "boss", "admin")
    assert {d["id"] for d in await get_json(client, "/api/departments")} == \
        {police.id, wuhua.id, dali.id}
    assert {u["username"] for u in await get_json(client, "/api/users")} == {
        "agent-km", "agent-wh", "handler-km", "agent-dl", "handler-dl", "agent-all", "sup-dl",
        "sup-km", "boss"}


async def test_a_supervisor_scoped_to_dali_does_not_see_kunming(client):
    async with client.app[DB]() as db:
        await directory.create_department(db, name="昆明市公安局", region_code=KUNMING)
        dali = await directory.create_department(db, name="大理州市场监管局", region_code=DALI)
    await add_user(client, "agent-km", "agent", region_code=KUNMING)
    await logged_in(client, "sup-dl", "supervisor", region_code=DALI)
    assert [d["id"] for d in await get_json(client, "/api/departments")] == [dali.id]
    assert {u["username"] for u in await get_json(client, "/api/users")} == {"sup-dl"}


# OpenAPI -------------------------------------------------------------------------------------

def refs(node: Any) -> list[str]:
    """Every $ref value anywhere under `node`."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def test_openapi_needs_a_login(client):
    client.session.cookie_jar.clear()
    await expect_error(await client.get("/api/openapi.json"), 401)


async def test_openapi_documents_every_api_route(client):
    await logged_in(client, "agent1", "agent")
    document = await get_json(client, "/api/openapi.json")
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    paths = document["paths"]
    schemas = document["components"]["schemas"]

    api_routes = set()
    for route in client.app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            api_routes.add((route.method.lower(), path))
    assert len(api_routes) >= 8
    for method, path in api_routes:
        assert path in paths, path
        assert method in paths[path], (method, path)
    # Nothing documented that is not served.
    documented = {(m, p) for p, ops in paths.items() for m in ops}
    assert documented == api_routes

    # Every reference resolves.
    all_refs = refs(document)
    assert all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    # POST bodies are named components that exist and describe the fields the API takes.
    posts = [(path, ops["post"]) for path, ops in paths.items() if "post" in ops]
    assert {"/api/departments", "/api/users"} <= {p for p, _ in posts}  # + other features
    for path, op in posts:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, path
        component = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
        assert component["type"] == "object" and component["properties"], path
    body_of = {p: op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
               for p, op in posts}
    departments_in = schemas[body_of["/api/departments"].rsplit("/", 1)[1]]
    assert set(departments_in["required"]) == {"name", "region_code"}
    users_in = schemas[body_of["/api/users"].rsplit("/", 1)[1]]
    assert "password" in users_in["properties"] and "role" in users_in["required"]

    # Protected operations say so, with the roles allowed.
    assert paths["/api/users"]["post"]["x-roles"] == ["admin"]
    assert paths["/api/users"]["get"]["x-roles"] == ["admin", "supervisor"]
    assert all(op.get("security") for ops in paths.values() for op in ops.values())
    assert document["components"]["securitySchemes"]["session"]["name"] == "hotline_session"
