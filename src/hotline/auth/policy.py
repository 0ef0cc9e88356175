"""Who may call which route. Every handler declares its access with `@public` or
`@allow(...)`; the auth middleware refuses any route that declares nothing (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hotline.db.models import Role

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTRIBUTE = "__hotline_access__"
PUBLIC = "public"
ALL_ROLES = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})


def public(handler: F) -> F:
    setattr(handler, ACCESS_ATTRIBUTE, PUBLIC)
    return handler


def allow(*roles: Role | frozenset[Role]) -> Callable[[F], F]:
    allowed: set[Role] = set()
    for role in roles:
        allowed |= role if isinstance(role, frozenset) else {role}
    if not allowed:
        raise ValueError("allow() needs at least one role; use @public for open routes")

    def decorate(handler: F) -> F:
        setattr(handler, ACCESS_ATTRIBUTE, frozenset(allowed))
        return handler

    return decorate


def access_of(handler: Any) -> frozenset[Role] | str | None:
    return getattr(handler, ACCESS_ATTRIBUTE, None)
