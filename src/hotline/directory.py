"""Read side of the reference data and the staff directory, shared by the admin page and the
JSON API. Lists are cut to the caller's region scope."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline.db.models import Department, HotlineLine, Region, RegionLevel, User
from hotline.regions import scope_prefix


def _scoped(statement: Select, column, scope: str | None) -> Select:  # type: ignore[type-arg]
    if scope is None:
        return statement
    return statement.where(column.startswith(scope_prefix(scope)))


async def list_regions(
    db: AsyncSession, *, level: RegionLevel | None = None, parent: str | None = None
) -> list[Region]:
    statement = select(Region).order_by(Region.code)
    if level is not None:
        statement = statement.where(Region.level == level)
    if parent is not None:
        statement = statement.where(Region.parent_code == parent)
    return list((await db.scalars(statement)).all())


async def list_lines(db: AsyncSession) -> list[HotlineLine]:
    statement = select(HotlineLine).options(selectinload(HotlineLine.dids)).order_by(HotlineLine.id)
    return list((await db.scalars(statement)).all())


async def list_departments(db: AsyncSession, scope: str | None = None) -> list[Department]:
    statement = select(Department).order_by(Department.region_code, Department.name)
    return list((await db.scalars(_scoped(statement, Department.region_code, scope))).all())


async def list_users(db: AsyncSession, scope: str | None = None) -> list[User]:
    statement = select(User).order_by(User.id)
    if scope is not None:
        statement = statement.where(User.region_code.is_not(None))
    return list((await db.scalars(_scoped(statement, User.region_code, scope))).all())


async def region_names(db: AsyncSession) -> dict[str, str]:
    return {r.code: r.name for r in await list_regions(db)}


class DirectoryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


async def create_department(
    db: AsyncSession, *, name: str, region_code: str, phone: str | None = None
) -> Department:
    name = name.strip()
    if not 2 <= len(name) <= 128:
        raise DirectoryError("name", "单位名称须为 2–128 个字符")
    if await db.get(Region, region_code) is None:
        raise DirectoryError("region_code", f"地区代码 {region_code} 不存在")
    exists = await db.scalar(
        select(Department.id).where(Department.region_code == region_code, Department.name == name)
    )
    if exists is not None:
        raise DirectoryError("name", f"该地区已有承办单位「{name}」")
    department = Department(name=name, region_code=region_code, phone=phone or None, active=True)
    db.add(department)
    await db.commit()
    return department
