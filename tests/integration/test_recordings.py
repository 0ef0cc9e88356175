"""Recordings: finalisation (size, WAV duration, sha256; the 44-byte header-only file flagged),
the AMI Hangup that triggers it (events of ../shared/asterisk-22/transcripts/ami-abandon.jsonl:
the caller's Hangup carries Uniqueid = Linkedid), playback with HTTP Range for those allowed
only, every playback audited, transcript search, retention that spares open tickets' recordings,
and the transcription job's bound and error path. Real WAV files, made with `wave`."""

import hashlib
import threading
import wave
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hotline.asterisk.ami import NodeEvent
from hotline.asterisk.ami_codec import AmiParser, Message
from hotline.calls.services import CallStart, record_call_start
from hotline.db.models import Department, Ticket, TicketCall, TicketChannel, TicketStatus, User
from hotline.recordings import paths, retention
from hotline.recordings.ami_events import RecordingFinaliser
from hotline.recordings.models import PlaybackAudit, Recording, RecordingStatus
from hotline.recordings.services import RecordingStore, finalise_call
from hotline.recordings.transcribe import Transcriber
from hotline.testing.transcripts import from_asterisk
from hotline.web.keys import DB, RECORDINGS

from conftest import add_user, csrf_token, logged_in, login

STARTED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


def write_wav(path, seconds, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(int(seconds * rate) * 2))
    return path.read_bytes()


def store_of(tmp_path):
    from zoneinfo import ZoneInfo
    return RecordingStore(tmp_path / "recordings", ZoneInfo("Asia/Shanghai"), settle_delay=0.01)


async def a_call(db, linkedid="1795606851.0", started=STARTED, node="pbx1"):
    async with db() as session:
        return await record_call_start(session, CallStart(
            node, linkedid, linkedid, "13800000000", region_code="530100", started_at=started))


def recording_file(store, linkedid="1795606851.0", started=STARTED, node="pbx1"):
    return store.root / str(paths.relative_path(node, linkedid, started, store.zone))


async def test_finalisation_reads_size_duration_and_hash(db, tmp_path):
    store = store_of(tmp_path)
    call_id = await a_call(db)
    data = write_wav(recording_file(store), 1.5)
    assert recording_file(store).parent.parts[-3:] == ("2026", "11", "25")
    async with db() as session:
        recording = await finalise_call(session, store, call_id)
        again = await finalise_call(session, store, call_id)
    assert (recording.size, recording.duration_s) == (len(data), 1.5)
    assert recording.sha256 == hashlib.sha256(data).hexdigest()
    assert not recording.header_only and recording.status == RecordingStatus.FINALISED
    assert recording.path == "2026/11/25/pbx1-1795606851.0.wav"
    assert again.id == recording.id
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Recording)) == 1


async def test_a_header_only_file_is_flagged_not_hidden(db, tmp_path):
    store = store_of(tmp_path)
    call_id = await a_call(db)
    data = write_wav(recording_file(store), 0)
    assert len(data) == 44
    async with db() as session:
        recording = await finalise_call(session, store, call_id)
    assert recording.header_only and recording.size == 44 and recording.duration_s == 0
    assert recording.status == RecordingStatus.FINALISED


async def test_a_call_started_at_midnight_finds_the_previous_days_file(db, tmp_path):
    store = store_of(tmp_path)
    started = datetime(2026, 11, 25, 16, 0, 0, 400000, tzinfo=UTC)  # 00:00:00.4 on the 26th
    call_id = await a_call(db, started=started)
    # MixMonitor started at 23:59:59.9 local: the file is under the 25th
    write_wav(recording_file(store, started=started - timedelta(seconds=1)), 0.5)
    async with db() as session:
        recording = await finalise_call(session, store, call_id)
    assert recording.path.startswith("2026/11/25/")


async def test_an_inbound_call_without_a_file_is_marked_missing(db, tmp_path):
    call_id = await a_call(db)
    async with db() as session:
        recording = await finalise_call(session, store_of(tmp_path), call_id)
    assert recording.status == RecordingStatus.MISSING and recording.size == 0


def hangups(transcript="ami-abandon"):
    parser, events = AmiParser(role="client"), []
    for chunk in from_asterisk(transcript):
        events += [NodeEvent("pbx1", i.message.name, dict(i.message.fields))
                   for i in parser.feed(chunk)
                   if isinstance(i, Message) and i.message.name == "Hangup"]
    return events


async def test_the_callers_hangup_finalises_the_recording(db, tmp_path):
    store = store_of(tmp_path)
    events = hangups()
    caller = next(e for e in events if e.get("Uniqueid") == e.get("Linkedid"))
    others = [e for e in events if e is not caller]
    assert others  # the Local channel's other leg hangs up too, and must not count
    call_id = await a_call(db, linkedid=caller.get("Linkedid"))
    write_wav(recording_file(store, linkedid=caller.get("Linkedid")), 0)
    finaliser = RecordingFinaliser(db, store, delay=0)
    for event in others:
        finaliser(event)
    await finaliser.drain()
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Recording)) == 0
    finaliser(caller)
    finaliser(caller)  # a replayed event
    await finaliser.drain()
    async with db() as session:
        rows = (await session.scalars(select(Recording))).all()
    assert [(r.call_id, r.header_only) for r in rows] == [(call_id, True)]


# Playback --------------------------------------------------------------------------------------

async def playback_setup(client):
    """A finalised recording of a call with one ticket, created by agent `a1`, held by the
    department `d1`; returns (recording, file bytes)."""
    db, store = client.app[DB], client.app[RECORDINGS]
    call_id = await a_call(db)
    data = write_wav(recording_file(store), 2.0)
    async with db() as session:
        d1 = Department(name="昆明市水务局", region_code="530100")
        d2 = Department(name="昆明市住建局", region_code="530100")
        session.add_all([d1, d2])
        await session.commit()
    await add_user(client, "a1", "agent", region_code="530100")
    await add_user(client, "h1", "handler", department_id=d1.id)
    await add_user(client, "h2", "handler", department_id=d2.id)
    async with db() as session:
        a1 = await session.scalar(select(User).where(User.username == "a1"))
        ticket = Ticket(number="5301-20261125-0001", channel=TicketChannel.PHONE,
                        region_code="530100", status=TicketStatus.IN_PROGRESS,
                        created_by_id=a1.id, department_id=d1.id)
        session.add(ticket)
        await session.flush()
        session.add(TicketCall(ticket_id=ticket.id, call_id=call_id))
        await session.commit()
        recording = await finalise_call(session, store, call_id)
    return recording, data


async def as_user(client, username, role=None, **fields):
    if role is not None:
        return await logged_in(client, username, role, **fields)
    client.session.cookie_jar.clear()
    assert (await login(client, username)).status == 303
    return await csrf_token(client)


async def test_range_playback_and_who_may_listen(client):
    recording, data = await playback_setup(client)
    url = f"/api/recordings/{recording.id}"

    await as_user(client, "boss", "supervisor")
    whole = await client.get(url)
    assert whole.status == 200 and await whole.read() == data
    assert whole.headers["Content-Type"] == "audio/wav"
    part = await client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status == 206 and await part.read() == data[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    tail = await client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and await tail.read() == data[-10:]
    beyond = await client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status == 416

    expected = {"a1": 200, "h1": 200, "h2": 403}
    for username in expected:
        await as_user(client, username)
        response = await client.get(url)
        assert response.status == expected[username], username
        if response.status == 200:
            assert await response.read() == data
    await as_user(client, "a2", "agent", region_code="530100")
    assert (await client.get(url)).status == 403
    assert (await client.get("/api/recordings/999999")).status == 404
    assert await (await client.get("/api/recordings")).json() == []  # a2 may play nothing

    async with client.app[DB]() as session:
        audits = (await session.execute(
            select(User.username, PlaybackAudit.allowed, PlaybackAudit.byte_range)
            .join(User, User.id == PlaybackAudit.user_id).order_by(PlaybackAudit.id))).all()
    assert [tuple(a) for a in audits] == [
        ("boss", True, ""), ("boss", True, "bytes=0-99"), ("boss", True, "bytes=-10"),
        ("boss", True, f"bytes={len(data) + 10}-"),
        ("a1", True, ""), ("h1", True, ""), ("h2", False, ""), ("a2", False, "")]


async def test_playback_looks_at_the_file_off_the_loop(client, monkeypatch):
    """Finding and stat-ing the file (on shared storage it can take a while) happens in a
    thread, never on the event loop that serves everyone else."""
    import pathlib

    recording, data = await playback_setup(client)
    root = str(client.app[RECORDINGS].root.resolve())
    on_loop: list[str] = []
    for name in ("is_file", "resolve", "stat"):
        original = getattr(pathlib.Path, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            if str(self).startswith(root) and threading.current_thread() is \
                    threading.main_thread():
                on_loop.append(f"{_name}({self})")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, name, spy)
    await as_user(client, "boss", "supervisor")
    response = await client.get(f"/api/recordings/{recording.id}")
    assert response.status == 200 and await response.read() == data
    assert on_loop == []


async def test_transcript_search_lists_only_what_the_user_may_play(client):
    recording, _ = await playback_setup(client)
    async with client.app[DB]() as session:
        row = await session.get(Recording, recording.id)
        row.transcript = "小区 停水 三天 了"
        await session.commit()
        ticket_id = await session.scalar(select(Ticket.id))
    await as_user(client, "a1")
    found = await (await client.get("/api/recordings", params={"q": "停水"})).json()
    assert [(r["id"], r["tickets"]) for r in found] == [(recording.id, ["5301-20261125-0001"])]
    assert found[0]["url"] == f"/api/recordings/{recording.id}"
    assert await (await client.get("/api/recordings", params={"q": "停电"})).json() == []
    assert (await client.get("/api/recordings", params={"call_id": "x"})).status == 400
    await as_user(client, "h2")  # another department: nothing
    assert await (await client.get("/api/recordings", params={"q": "停水"})).json() == []
    async with client.app[DB]() as session:  # the call has a ticket of another department
        d2 = await session.scalar(select(Department.id).where(Department.name == "昆明市住建局"))
        other_ticket = Ticket(number="5301-20261125-0002", channel=TicketChannel.PHONE,
                              region_code="530100", status=TicketStatus.IN_PROGRESS,
                              department_id=d2)
        session.add(other_ticket)
        await session.flush()
        session.add(TicketCall(ticket_id=other_ticket.id, call_id=row.call_id))
        await session.commit()
    await as_user(client, "h1")
    by_ticket = await (await client.get("/api/recordings", params={"ticket_id": ticket_id})).json()
    assert [(r["id"], r["tickets"]) for r in by_ticket] == [
        (recording.id, ["5301-20261125-0001"])]  # not the number of 住建局's ticket
    other = await (await client.get("/api/recordings",
                                    params={"ticket_id": other_ticket.id + 1})).json()
    assert other == []


# Retention -------------------------------------------------------------------------------------

async def test_purge_never_touches_an_open_tickets_recording(db, tmp_path):
    store = store_of(tmp_path)
    now = datetime(2027, 6, 1, tzinfo=UTC)
    rows = {}
    for n, status in enumerate([TicketStatus.IN_PROGRESS, TicketStatus.CLOSED, None,
                                TicketStatus.MERGED]):
        linkedid = f"17956068{n}.0"
        call_id = await a_call(db, linkedid=linkedid)
        write_wav(recording_file(store, linkedid=linkedid), 0.1)
        async with db() as session:
            if status is not None:
                ticket = Ticket(number=f"5301-20261125-000{n}", channel=TicketChannel.PHONE,
                                region_code="530100", status=status)
                session.add(ticket)
                await session.flush()
                session.add(TicketCall(ticket_id=ticket.id, call_id=call_id))
                await session.commit()
            rows[status] = await finalise_call(session, store, call_id)
    recent_id = await a_call(db, linkedid="1795606899.0")
    write_wav(recording_file(store, linkedid="1795606899.0"), 0.1)
    async with db() as session:
        recent = await finalise_call(session, store, recent_id)
        recent.finalised_at = now - timedelta(days=10)
        for row in rows.values():
            (await session.get(Recording, row.id)).finalised_at = now - timedelta(days=200)
        await session.commit()
        purged = await retention.purge(session, store, 180, now=now)
    assert sorted(purged) == sorted([rows[TicketStatus.CLOSED].id, rows[None].id])
    async with db() as session:
        for status, row in rows.items():
            fresh = await session.get(Recording, row.id)
            gone = status in (TicketStatus.CLOSED, None)
            assert (fresh.status == RecordingStatus.PURGED) == gone
            assert store.path_of(fresh.path).exists() != gone
        assert (await session.get(Recording, recent.id)).status == RecordingStatus.FINALISED
        assert await retention.purge(session, store, 180, now=now) == []


# Transcription ---------------------------------------------------------------------------------

async def test_transcription_is_bounded_and_a_failure_is_kept_not_retried(db, tmp_path):
    store = store_of(tmp_path)
    ids = []
    for n in range(5):
        linkedid = f"17956069{n}.0"
        call_id = await a_call(db, linkedid=linkedid)
        write_wav(recording_file(store, linkedid=linkedid), 0.1 if n != 4 else 0)
        async with db() as session:
            ids.append((await finalise_call(session, store, call_id)).id)
    lock, active, peak = threading.Lock(), [0], [0]
    pair = threading.Barrier(2, timeout=10)  # two must run together, or this breaks

    def recognize(path):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            pair.wait()
            if path.name.startswith("pbx1-179560693"):
                raise RuntimeError("model crashed")
            return f"words of {path.name}"
        finally:
            with lock:
                active[0] -= 1

    transcriber = Transcriber(db, store, recognize, concurrency=2)
    assert await transcriber.run_once() == 4  # the header-only one has nothing to hear
    assert peak[0] == 2
    async with db() as session:
        rows = {r.id: r for r in (await session.scalars(select(Recording))).all()}
    assert rows[ids[0]].transcript == "words of pbx1-179560690.0.wav"
    assert rows[ids[3]].transcribe_error == "RuntimeError: model crashed"
    assert rows[ids[3]].transcribed_at is None and rows[ids[4]].transcribed_at is None
    assert await transcriber.run_once() == 0


@pytest.mark.parametrize("relative", ["../etc/passwd", "2026/../../x.wav"])
def test_a_path_outside_the_root_is_refused(tmp_path, relative):
    with pytest.raises(paths.BadRecordingPath):
        paths.absolute(tmp_path, relative)


async def test_an_async_recognizer_is_awaited_on_the_loop(db, tmp_path):
    """The vosk recognizer (transcribe.VoskRecognize) is a callable object with an async
    __call__: awaited, not sent to a thread."""
    import asyncio

    store = store_of(tmp_path)
    call_id = await a_call(db)
    write_wav(recording_file(store), 0.2)
    async with db() as session:
        recording = await finalise_call(session, store, call_id)
    loop = asyncio.get_running_loop()

    class Recognize:
        async def __call__(self, path):
            assert asyncio.get_running_loop() is loop
            return f" 停水 {path.stat().st_size} "

    assert await Transcriber(db, store, Recognize()).run_once() == 1
    async with db() as session:
        row = await session.get(Recording, recording.id)
    assert row.transcript == f"停水 {recording.size}" and row.transcribed_at is not None
