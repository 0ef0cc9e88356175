"""Region scope: a user scoped to a region sees that region and the regions under it."""

from __future__ import annotations


def scope_prefix(region_code: str) -> str:
    """The code prefix shared by a region and everything under it (GB/T 2260 layout:
    2 digits province, 2 prefecture, 2 county)."""
    if region_code.endswith("0000"):
        return region_code[:2]
    if region_code.endswith("00"):
        return region_code[:4]
    return region_code


def within(region_code: str | None, scope: str | None) -> bool:
    """Is `region_code` inside `scope` (None scope: the whole province)?"""
    if scope is None:
        return True
    return region_code is not None and region_code.startswith(scope_prefix(scope))
