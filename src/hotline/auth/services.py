"""Users and logins: authentication with lock-out, database-backed sessions, user creation and
the first administrator."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.passwords import (
    DUMMY_HASH,
    check_strength,
    generate_password,
    hash_password,
    verify_password,
)
from hotline.db.base import utcnow
from hotline.db.models import Department, Region, Role, User, WebSession

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=5)
FIRST_ADMIN = "admin"


class LoginRefused(Exception):
    """Wrong username or password, or the account is locked or disabled. One message for all,
    so the form does not tell which usernames exist."""


class UserError(ValueError):
    """A user cannot be created as asked; the message is for the administrator (zh-CN)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(db: AsyncSession, username: str, password: str) -> User:
    now = utcnow()
    user = await db.scalar(select(User).where(User.username == username))
    if user is None:
        await verify_password(DUMMY_HASH, password)
        raise LoginRefused
    if not user.active or (user.locked_until is not None and user.locked_until > now):
        await verify_password(DUMMY_HASH, password)
        raise LoginRefused
    if not await verify_password(user.password_hash, password):
        # Counted in the database, not on the row loaded above: guesses sent in parallel all read
        # the same count, and writing back count + 1 would lose all but one of them.
        failed = await db.scalar(
            update(User).where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1).returning(User.failed_logins)
        )
        if failed is not None and failed >= MAX_FAILED_LOGINS:
            await db.execute(update(User).where(User.id == user.id)
                             .values(locked_until=now + LOCK_DURATION, failed_logins=0))
        await db.commit()
        raise LoginRefused
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    expires_at: datetime


async def open_session(db: AsyncSession, user: User, lifetime: timedelta) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + lifetime
    db.add(WebSession(token_hash=token_hash(token), user_id=user.id, csrf_token=csrf,
                      created_at=now, expires_at=expires))
    # Expired sessions are swept here rather than by a timer: logins are frequent enough.
    await db.execute(delete(WebSession).where(WebSession.expires_at < now))
    await db.commit()
    return NewSession(token, csrf, expires)


async def find_session(db: AsyncSession, token: str) -> WebSession | None:
    found = await db.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if found is None or found.expires_at <= utcnow() or not found.user.active:
        return None
    return found


async def close_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))
    await db.commit()


async def create_user(
    db: AsyncSession,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    region_code: str | None = None,
    department_id: int | None = None,
) -> User:
    username = username.strip()
    if not (2 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        raise UserError("username", "用户名须为 2–64 个字母、数字或 . _ -")
    if reason := check_strength(password):
        raise UserError("password", reason)
    if region_code and await db.get(Region, region_code) is None:
        raise UserError("region_code", f"地区代码 {region_code} 不存在")
    if role is Role.HANDLER:
        department = await db.get(Department, department_id) if department_id else None
        if department is None:
            raise UserError("department_id", "承办单位用户必须属于一个已有的承办单位")
        if region_code and region_code != department.region_code:
            raise UserError("region_code", "承办单位用户的地区须与其承办单位一致")
        region_code = department.region_code
    elif department_id is not None:
        raise UserError("department_id", "只有承办单位用户可以关联承办单位")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=await hash_password(password),
        region_code=region_code or None,
        department_id=department_id,
        active=True,
        failed_logins=0,
    )
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise UserError("username", f"用户名 {username} 已存在") from None
    return user


async def set_password(db: AsyncSession, user: User, password: str) -> None:
    if reason := check_strength(password):
        raise UserError("password", reason)
    user.password_hash = await hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    await db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    await db.commit()


async def change_own_password(db: AsyncSession, user_id: int, current: str, new: str) -> None:
    """A user changes their password; every session of theirs ends (log in again)."""
    user = await db.get(User, user_id)
    if user is None or not await verify_password(user.password_hash, current):
        raise UserError("current_password", "当前密码不正确")
    if new == current:
        raise UserError("new_password", "新密码不能与当前密码相同")
    try:
        await set_password(db, user, new)
    except UserError as exc:
        raise UserError("new_password", str(exc)) from None


async def ensure_first_admin(db: AsyncSession) -> str | None:
    """On a database without any administrator, create `admin` with a generated password and
    return it (to be shown once); otherwise None. Safe when several controllers start at once:
    the unique username lets exactly one of them create it."""
    admins = await db.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN))
    if admins:
        return None
    password = generate_password()
    try:
        await create_user(db, username=FIRST_ADMIN, display_name="系统管理员",
                          role=Role.ADMIN, password=password)
    except UserError:
        return None  # another controller won the race, or `admin` exists with another role
    return password
