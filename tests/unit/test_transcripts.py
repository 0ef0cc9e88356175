"""The shipped transcripts are the shared captures of a real Asterisk 22.10.1, unedited."""

import hashlib

from hotline.testing import transcripts

from conftest import REPO

SHARED = REPO.parent / "shared" / "asterisk-22" / "transcripts"


def test_every_capture_is_shipped():
    assert {"ami-actions", "ami-auth-failure", "ami-queue-call", "agi-session-normal"} <= set(
        transcripts.names())


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.jsonl")}


def test_shipped_copies_are_identical_to_the_shared_originals():
    """Against SHA256SUMS (made from ../shared when they were copied), and against ../shared
    itself where it lies beside the checkout, as it does in CI."""
    manifest = dict(
        reversed(line.split()) for line in
        (transcripts.FOLDER / "SHA256SUMS").read_text().splitlines()
    )
    assert _digests(transcripts.FOLDER) == manifest
    if SHARED.is_dir():
        assert _digests(SHARED) == manifest


def test_records_are_bytes_in_wire_order():
    records = transcripts.load("ami-auth-failure")
    assert records[0].direction == "recv"
    assert records[0].data == b"Asterisk Call Manager/11.0.0\r\n"  # AMI banner, one CRLF
    assert [r.t for r in records] == sorted(r.t for r in records)
