"""The one path scheme of call recordings, shared with the dialplan.

    <recordings root>/<yyyy>/<mm>/<dd>/<node>-<linkedid>.wav

The dialplan builds it in [hotline-record] (dialplans/hotline.conf) when MixMonitor starts:
`${HOTLINE_RECORDINGS}/${STRFTIME(${EPOCH},${HOTLINE_TIMEZONE},%Y/%m/%d)}/${HOTLINE_NODE}-
${CHANNEL(linkedid)}.wav`. The day is the local day (HOTLINE_TIMEZONE = time_zone, default
Asia/Shanghai) of the moment the recording starts, a moment after the call did; the call row's
`started_at` is written when the FastAGI flow starts, a moment after that. So the controller looks
under the call's local day first and then the neighbouring days: a call that begins at
23:59:59 may be filed under either day.

The database keeps the path relative to the root, so the root can move (shared storage).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

SUFFIX = ".wav"
# node names as the configuration allows them; linkedids are "<epoch>.<n>" (or a ChannelId).
_NODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_LINKEDID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BadRecordingPath(ValueError):
    pass


def file_name(node: str, linkedid: str) -> str:
    if not _NODE.match(node) or not _LINKEDID.match(linkedid):
        raise BadRecordingPath(f"cannot name a recording for node {node!r}, linkedid {linkedid!r}")
    return f"{node}-{linkedid}{SUFFIX}"


def relative_path(node: str, linkedid: str, day: datetime, zone: ZoneInfo) -> PurePosixPath:
    """yyyy/mm/dd/<node>-<linkedid>.wav for the local day of `day` (an aware datetime)."""
    local = day.astimezone(zone)
    return PurePosixPath(local.strftime("%Y/%m/%d"), file_name(node, linkedid))


def candidates(node: str, linkedid: str, started_at: datetime,
               zone: ZoneInfo) -> list[PurePosixPath]:
    """Where the recording of a call started at `started_at` may be: its day, then the day
    before and the day after (see the module's docstring)."""
    days = (started_at, started_at - timedelta(days=1), started_at + timedelta(days=1))
    return [relative_path(node, linkedid, day, zone) for day in days]


def absolute(root: Path, relative: str | PurePosixPath) -> Path:
    """The file under `root`; a stored path that would leave the root is refused."""
    path = (root / str(relative)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BadRecordingPath(f"{relative!s} is outside the recordings root")
    return path
