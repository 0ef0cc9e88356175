"""Access to the Asterisk 22 wire transcripts shipped in `transcripts/` (see its README)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

FOLDER = Path(__file__).with_name("transcripts")


@dataclass(frozen=True)
class Record:
    t: float
    direction: Literal["sent", "recv", "note"]  # recv: sent by Asterisk
    data: bytes  # a note's text, for notes


@cache
def load(name: str) -> tuple[Record, ...]:
    """The records of transcript `name` (e.g. "ami-actions"), in wire order."""
    path = FOLDER / f"{name}.jsonl"
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        records.append(Record(raw["t"], raw["dir"], raw["data"].encode("latin-1")))
    return tuple(records)


def from_asterisk(name: str) -> list[bytes]:
    """What Asterisk sent in transcript `name`, one wire message (AMI) or line (AGI) each."""
    return [r.data for r in load(name) if r.direction == "recv"]


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.jsonl"))
