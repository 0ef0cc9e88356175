"""JSON shapes of the API (pydantic): validated input, documented output (OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline.db.models import RegionLevel, Role


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorOut(BaseModel):
    error: str
    field: str | None = None


class RegionOut(_Out):
    code: str
    name: str
    short_name: str
    level: RegionLevel
    parent_code: str | None


class LineOut(_Out):
    code: str
    service_number: str
    name: str
    region_code: str
    queue: str
    active: bool
    dids: list[str]

    @field_validator("dids", mode="before")
    @classmethod
    def _did_numbers(cls, dids: list[Any]) -> list[Any]:
        return [getattr(d, "did", d) for d in dids]


class DepartmentOut(_Out):
    id: int
    name: str
    region_code: str
    phone: str | None
    active: bool


class DepartmentIn(_In):
    name: str = Field(min_length=2, max_length=128)
    region_code: str = Field(pattern=r"^\d{6}$")
    phone: str | None = Field(default=None, max_length=32)


class UserOut(_Out):
    id: int
    username: str
    display_name: str
    role: Role
    region_code: str | None
    department_id: int | None
    active: bool
    last_login_at: datetime | None


class MeOut(UserOut):
    csrf_token: str


class UserIn(_In):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(default="", max_length=64)
    role: Role
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    department_id: int | None = None
    # Omitted: a password is generated and returned once in `initial_password`.
    password: str | None = Field(default=None, max_length=256)


class UserCreatedOut(UserOut):
    initial_password: str | None = None
