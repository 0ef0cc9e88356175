"""Request pipeline: security headers, session lookup, route access policy, CSRF and Origin
checks, JSON errors for the API."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource

from hotline.auth.policy import PUBLIC, access_of
from hotline.auth.services import find_session
from hotline.db.models import User, WebSession
from hotline.web.keys import DB, SETTINGS

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "hotline_session"
LOGIN_CSRF_COOKIE = "hotline_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

USER = web.RequestKey("user", User)
SESSION = web.RequestKey("session", WebSession)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def current_user(request: web.Request) -> User:
    return request[USER]


def current_session(request: web.Request) -> WebSession:
    return request[SESSION]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    except Exception:
        # Our own 500 (no stack trace out), so it carries the headers like any other page.
        log.exception("unhandled error in %s %s", request.method, request.path)
        response = web.Response(status=500, text="500 内部错误 / internal error")
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The JSON API answers JSON, also for 404/405 and unexpected errors (no stack traces out)."""
    if not is_api(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return json_error(exc.status, exc.reason)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal error")


def _same_origin(request: web.Request, origin: str) -> bool:
    own = f"{request.scheme}://{request.host}"
    return origin == own or origin in request.app[SETTINGS].web.trusted_origins


@web.middleware
async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # 404 / 405: nothing to protect
        return await handler(request)
    route_handler = match.handler
    static = isinstance(match.route.resource, StaticResource)
    access = PUBLIC if static else access_of(route_handler)
    if access is None:
        log.error("route %s has no access policy: refused", request.path)
        raise web.HTTPForbidden(reason="route without an access policy")

    origin = request.headers.get("Origin")
    cross_origin = origin is not None and not _same_origin(request, origin)
    if request.method in UNSAFE_METHODS and cross_origin:
        raise web.HTTPForbidden(reason="cross-origin request refused")
    # A websocket handshake is a GET that the browser sends with the session cookie from any
    # site: every one needs our Origin, whichever handler answers it (fail closed).
    if request.headers.get("Upgrade", "").lower() == "websocket" and (
            origin is None or cross_origin):
        raise web.HTTPForbidden(reason="cross-origin websocket refused")

    if access == PUBLIC:
        return await handler(request)

    token = request.cookies.get(SESSION_COOKIE)
    session = None
    if token:
        async with request.app[DB]() as db:
            session = await find_session(db, token)
    if session is None:
        if is_api(request) or request.method != "GET":
            raise web.HTTPUnauthorized(reason="login required")
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
    request[SESSION] = session
    request[USER] = session.user

    if session.user.role not in access:
        raise web.HTTPForbidden(reason="your role may not use this")

    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data"
        ):
            sent = (await request.post()).get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf_token):
            raise web.HTTPForbidden(reason="missing or wrong CSRF token")
    return await handler(request)


MIDDLEWARES = [security_headers, api_errors, access_control]
