"""The recording path is one scheme on both sides: the dialplan's [hotline-record] line
(dialplans/hotline.conf), evaluated here the way Asterisk expands it, names the same file as
hotline.recordings.paths for the same node, linkedid, moment and time zone."""

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.recordings import paths

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplans" / "hotline.conf"
ZONE = "Asia/Shanghai"


def dialplan_recording(root, node, linkedid, epoch):
    line = next(line for line in DIALPLAN.read_text().splitlines()
                if "Set(__HOTLINE_RECORDING=" in line)
    value = line.split("Set(__HOTLINE_RECORDING=", 1)[1].rsplit(")", 1)[0]

    def strftime(match):
        assert (match["epoch"], match["zone"]) == ("${EPOCH}", "${HOTLINE_TIMEZONE}")
        return datetime.fromtimestamp(epoch, ZoneInfo(ZONE)).strftime(match["format"])

    value = re.sub(r"\$\{STRFTIME\((?P<epoch>\$\{EPOCH\}),(?P<zone>\$\{HOTLINE_TIMEZONE\}),"
                   r"(?P<format>[^)]*)\)\}", strftime, value)
    for name, replacement in {"${HOTLINE_RECORDINGS}": root, "${HOTLINE_NODE}": node,
                              "${CHANNEL(linkedid)}": linkedid}.items():
        value = value.replace(name, replacement)
    assert "$" not in value, value
    return value


@pytest.mark.parametrize("moment", [
    datetime(2026, 11, 25, 3, 0, tzinfo=UTC),  # 11:00 in Shanghai
    datetime(2026, 12, 31, 16, 30, tzinfo=UTC),  # 00:30 on 1 January in Shanghai
    datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC),  # the last second of February
])
def test_the_dialplan_and_the_controller_name_the_same_file(moment):
    root, node, linkedid = "/var/spool/asterisk/recordings", "pbx1", "1795606851.0"
    expected = f"{root}/{paths.relative_path(node, linkedid, moment, ZoneInfo(ZONE))}"
    assert dialplan_recording(root, node, linkedid, moment.timestamp()) == expected


def test_names_that_could_leave_the_folder_are_refused():
    with pytest.raises(paths.BadRecordingPath):
        paths.file_name("pbx1", "../../etc/passwd")
    with pytest.raises(paths.BadRecordingPath):
        paths.file_name("PBX/1", "1795606851.0")


@pytest.mark.parametrize(("node", "uniqueid"), [
    ("../../etc", "1.1"), ("pbx1", "../../../tmp/x"), ("pbx1/..", "/etc/passwd"), ("..", ".."),
    ("pbx1\x00", "1.1\\..\\..")])
def test_a_statements_path_stays_in_its_day_folder(node, uniqueid):
    """node and linkedid/uniqueid come from the AGI URL and environment: whatever they hold,
    RECORD FILE writes one file in the day's folder under the recordings folder."""
    from hotline.ivr.statement import recording_path

    folder = Path("/srv/recordings")
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    written = Path(recording_path(folder, ZoneInfo("Asia/Shanghai"), node, uniqueid,
                                  "statement", now))
    assert written.parent == folder / "2026" / "11" / "25"
    assert written.name.endswith("-statement") and "/" not in written.name
    assert written.name not in (".", "..")
