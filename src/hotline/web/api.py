"""JSON API under /api/ (thin handlers; logic in services). Documented at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hotline import directory
from hotline.auth.passwords import generate_password
from hotline.auth.policy import ALL_ROLES, allow
from hotline.auth.services import UserError, create_user
from hotline.db.models import RegionLevel, Role
from hotline.version import VERSION
from hotline.web import schemas
from hotline.web.keys import DB
from hotline.web.middleware import current_session, current_user, json_error
from hotline.web.openapi import build_document, operation

MAX_JSON_BYTES = 64 * 1024


async def read_json(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send application/json")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_JSON_BYTES, actual_size=request.content_length)
    raw = await request.read()  # bounded by the app's client_max_size
    if len(raw) > MAX_JSON_BYTES:  # a chunked body has no Content-Length to check up front
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON_BYTES, actual_size=len(raw))
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise web.HTTPBadRequest(
            text=schemas.ErrorOut(error=first["msg"], field=field).model_dump_json(),
            content_type="application/json",
        ) from None


def dump(model: type[BaseModel], rows: Any, status: int = 200) -> web.Response:
    if isinstance(rows, list):
        body = [model.model_validate(r).model_dump(mode="json") for r in rows]
    else:
        body = model.model_validate(rows).model_dump(mode="json")
    return web.json_response(body, status=status)


@allow(ALL_ROLES)
@operation("The logged-in user, with the CSRF token for unsafe requests", response=schemas.MeOut)
async def me(request: web.Request) -> web.Response:
    user = schemas.UserOut.model_validate(current_user(request)).model_dump(mode="json")
    return web.json_response({**user, "csrf_token": current_session(request).csrf_token})


@allow(ALL_ROLES)
@operation("Administrative divisions (GB/T 2260)", response=list[schemas.RegionOut],
           query={"level": "province | prefecture | county", "parent": "parent region code"})
async def regions(request: web.Request) -> web.Response:
    level = request.query.get("level")
    if level is not None and level not in RegionLevel.__members__.values():
        return json_error(400, "level must be province, prefecture or county", field="level")
    async with request.app[DB]() as db:
        rows = await directory.list_regions(
            db, level=RegionLevel(level) if level else None, parent=request.query.get("parent")
        )
    return dump(schemas.RegionOut, rows)


@allow(ALL_ROLES)
@operation("Hotline lines (96128 and the prefectures' 12345) with their DIDs",
           response=list[schemas.LineOut])
async def lines(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        rows = await directory.list_lines(db)
    return dump(schemas.LineOut, rows)


@allow(ALL_ROLES)
@operation("Departments (承办单位) in the caller's region scope",
           response=list[schemas.DepartmentOut])
async def departments(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        rows = await directory.list_departments(db, current_user(request).region_code)
    return dump(schemas.DepartmentOut, rows)


@allow(Role.ADMIN)
@operation("Add a department", body=schemas.DepartmentIn, response=schemas.DepartmentOut,
           status=201)
async def create_department(request: web.Request) -> web.Response:
    data = await read_json(request, schemas.DepartmentIn)
    async with request.app[DB]() as db:
        try:
            row = await directory.create_department(db, **data.model_dump())
        except directory.DirectoryError as exc:
            return json_error(400, str(exc), field=exc.field)
    return dump(schemas.DepartmentOut, row, status=201)


@allow(Role.ADMIN, Role.SUPERVISOR)
@operation("Staff accounts in the caller's region scope", response=list[schemas.UserOut])
async def users(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        rows = await directory.list_users(db, current_user(request).region_code)
    return dump(schemas.UserOut, rows)


@allow(Role.ADMIN)
@operation("Create a user; without a password one is generated and returned once",
           body=schemas.UserIn, response=schemas.UserCreatedOut, status=201)
async def create_user_api(request: web.Request) -> web.Response:
    data = await read_json(request, schemas.UserIn)
    password = data.password or generate_password()
    async with request.app[DB]() as db:
        try:
            user = await create_user(
                db, username=data.username, display_name=data.display_name, role=data.role,
                password=password, region_code=data.region_code, department_id=data.department_id,
            )
        except UserError as exc:
            return json_error(400, str(exc), field=exc.field)
    body = schemas.UserOut.model_validate(user).model_dump(mode="json")
    body["initial_password"] = None if data.password else password
    return web.json_response(body, status=201)


@allow(ALL_ROLES)
@operation("This document")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app, "Yunnan hotline API", VERSION))


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/me", me)
    router.add_get("/api/regions", regions)
    router.add_get("/api/lines", lines)
    router.add_get("/api/departments", departments)
    router.add_post("/api/departments", create_department)
    router.add_get("/api/users", users)
    router.add_post("/api/users", create_user_api)
    router.add_get("/api/openapi.json", openapi)
