"""Reference data shipped with the code (data/regions.csv, data/lines.csv), loaded idempotently
by `hotline db upgrade`: missing rows are added and changed names updated; nothing is deleted,
so rows that tickets point to stay."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import HotlineLine, LineDid, Region, RegionLevel

DATA = Path(__file__).parent.parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@dataclass(frozen=True)
class LoadReport:
    regions_added: int
    lines_added: int
    dids_added: int


async def load_reference_data(session: AsyncSession) -> LoadReport:
    regions = {r.code: r for r in (await session.scalars(select(Region))).all()}
    regions_added = 0
    # Parents come before children in the file (sorted by code, province first).
    for row in _rows("regions.csv"):
        values = {
            "name": row["name"],
            "short_name": row["short_name"],
            "level": RegionLevel(row["level"]),
            "parent_code": row["parent_code"] or None,
        }
        region = regions.get(row["code"])
        if region is None:
            session.add(Region(code=row["code"], **values))
            regions_added += 1
            await session.flush()
        else:
            for key, value in values.items():
                setattr(region, key, value)

    lines = {line.code: line for line in (await session.scalars(select(HotlineLine))).all()}
    known_dids = set((await session.scalars(select(LineDid.did))).all())
    lines_added = dids_added = 0
    for row in _rows("lines.csv"):
        line = lines.get(row["code"])
        if line is None:
            line = HotlineLine(code=row["code"], active=True)
            session.add(line)
            lines_added += 1
        line.service_number = row["service_number"]
        line.name = row["name"]
        line.region_code = row["region_code"]
        line.queue = row["queue"]
        await session.flush()
        for did in row["dids"].split():
            if did not in known_dids:
                session.add(LineDid(did=did, line_id=line.id))
                known_dids.add(did)
                dids_added += 1
    await session.flush()
    return LoadReport(regions_added, lines_added, dids_added)
