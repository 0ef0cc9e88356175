"""HTML pages: login, logout, home, administration (zh-CN). Thin: logic is in services."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from hotline import directory
from hotline.auth.passwords import generate_password
from hotline.auth.policy import ALL_ROLES, allow, public
from hotline.auth.services import (
    LoginRefused,
    UserError,
    authenticate,
    change_own_password,
    close_session,
    create_user,
    open_session,
)
from hotline.db.models import ROLE_LABELS, Role
from hotline.web.keys import DB, SETTINGS
from hotline.web.middleware import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    current_session,
    current_user,
)
from hotline.web.templates import render

LOGIN_FAILED = "用户名或密码错误，或账号已被暂时锁定"


def _safe_next(target: str) -> str:
    """Only local paths: never redirect a user to another site after login."""
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 0x20 for c in target)):
        return "/"
    return target


def _login_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(32)
    notice = "密码已修改，请用新密码登录" if request.query.get("changed") else ""
    response = render("login.html", status=status, error=error, csrf_token=token, notice=notice,
                      next=_safe_next(request.query.get("next", "/")))
    # Double-submit cookie: before login there is no session to hold the CSRF token.
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.app[SETTINGS].web.secure_cookies, path="/login")
    return response


@public
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


@public
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise web.HTTPForbidden(reason="missing or wrong CSRF token")
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    settings = request.app[SETTINGS]
    async with request.app[DB]() as db:
        try:
            user = await authenticate(db, username, password)
        except LoginRefused:
            return _login_page(request, error=LOGIN_FAILED, status=401)
        session = await open_session(db, user, timedelta(hours=settings.web.session_hours))
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="Lax",
                        secure=settings.web.secure_cookies, path="/",
                        max_age=settings.web.session_hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@allow(ALL_ROLES)
async def logout(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        await close_session(db, request.cookies[SESSION_COOKIE])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@allow(ALL_ROLES)
async def home(request: web.Request) -> web.Response:
    return render("home.html", user=current_user(request),
                  csrf_token=current_session(request).csrf_token)


async def _admin_page(request: web.Request, *, status: int = 200, **extra: object) -> web.Response:
    async with request.app[DB]() as db:
        regions = await directory.list_regions(db)
        context = {
            "lines": await directory.list_lines(db),
            "regions": regions,
            "region_names": {r.code: r.name for r in regions},
            "departments": await directory.list_departments(db),
            "users": await directory.list_users(db),
        }
    # Defaults first, so that `extra` (error, form, created) replaces them instead of being
    # passed twice (a TypeError: every form post answered 500).
    return render("admin.html", status=status, user=current_user(request),
                  csrf_token=current_session(request).csrf_token, roles=ROLE_LABELS,
                  **{"form": {}, "error": "", "created": None, **context, **extra})


@allow(Role.ADMIN)
async def admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request)


@allow(Role.ADMIN)
async def admin_create_user(request: web.Request) -> web.Response:
    form = await request.post()
    fields = {k: str(form.get(k, "")).strip() for k in
              ("username", "display_name", "role", "region_code", "department_id", "password")}
    try:
        role = Role(fields["role"])
    except ValueError:
        return await _admin_page(request, status=400, error="请选择角色", form=fields)
    department = fields["department_id"]
    if department and not department.isdigit():
        return await _admin_page(request, status=400, error="承办单位无效", form=fields)
    password = fields["password"] or generate_password()
    async with request.app[DB]() as db:
        try:
            user = await create_user(
                db, username=fields["username"], display_name=fields["display_name"], role=role,
                password=password, region_code=fields["region_code"] or None,
                department_id=int(department) if department else None,
            )
        except UserError as exc:
            return await _admin_page(request, status=400, error=str(exc), form=fields)
    shown = None if fields["password"] else password
    return await _admin_page(request, status=201, created={"username": user.username,
                                                           "password": shown})


def _password_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    return render("password.html", status=status, user=current_user(request),
                  csrf_token=current_session(request).csrf_token, error=error)


@allow(ALL_ROLES)
async def password_form(request: web.Request) -> web.Response:
    return _password_page(request)


@allow(ALL_ROLES)
async def password_submit(request: web.Request) -> web.Response:
    form = await request.post()
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
    if new != again:
        return _password_page(request, error="两次输入的新密码不一致", status=400)
    async with request.app[DB]() as db:
        try:
            await change_own_password(db, current_user(request).id, current, new)
        except UserError as exc:
            return _password_page(request, error=str(exc), status=400)
    response = web.HTTPSeeOther("/login?changed=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/account/password", password_form)
    app.router.add_post("/account/password", password_submit)
    app.router.add_get("/admin", admin_page)
    app.router.add_post("/admin/users", admin_create_user)
