"""The FastAGI server against Asterisk stand-ins derived from the captures of a real Asterisk
22.10.1 (../shared/asterisk-22/transcripts/agi-session-*.jsonl, via hotline.testing)."""

import asyncio
import socket
import time

import pytest
from sqlalchemy import select

from hotline.asterisk.agi_channel import AgiCommandError, AgiHangup, AgiProtocolFailure
from hotline.asterisk.fastagi import FastAgiServer
from hotline.config import Bind
from hotline.db.models import Call, CallOutcome
from hotline.ivr.flows import FlowContext, hotline_entry
from hotline.testing.agi_client import AgiSession, Caller, replay_transcript


@pytest.fixture
async def serve():
    servers = []

    async def start(routes, **options):
        server = FastAgiServer(Bind("127.0.0.1", 0), routes, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def test_normal_session_byte_for_byte(serve):
    """The flow issues the commands of agi-session-normal through the typed channel API; the
    bytes on the wire must be exactly those the capturing server sent."""
    seen = {}

    async def flow(ch):
        await ch.answer()
        seen["language"] = await ch.get_variable("CHANNEL(language)")
        await ch.set_variable("HOTLINE_TEST", 1)
        seen["test"] = await ch.get_variable("HOTLINE_TEST")
        seen["missing"] = await ch.get_variable("NO_SUCH_VARIABLE_XYZ")
        seen["full"] = await ch.get_full_variable("${CALLERID(num)}-${UNIQUEID}")
        seen["stream"] = await ch.stream_file("demo-congrats", "0123456789#*")
        seen["data"] = await ch.get_data("beep", 3000, 1)
        seen["wait"] = await ch.wait_for_digit(2000)
        seen["no data"] = await ch.get_data("beep", 1500, 4)
        await ch.say_digits("12345")
        seen["status"] = await ch.channel_status()
        await ch.exec("Playback", "beep")
        await ch.verbose("hello", 1)
        await ch.set_music(True)
        await ch.set_music(False)
        seen["record"] = await ch.record_file("/var/spool/asterisk/recordings/agi-rec", "wav",
                                              "#", 2000, silence_s=1)
        with pytest.raises(AgiCommandError) as unknown:
            await ch.command("FOO BAR")
        seen["510"] = unknown.value.reply.code
        with pytest.raises(AgiCommandError) as usage:
            await ch.command("STREAM FILE")
        seen["520"] = usage.value.reply.code
        await ch.set_variable("HOTLINE_CHOICE", 2)

    server = await serve({"ivr": flow})
    assert await replay_transcript("agi-session-normal", "127.0.0.1", server.port) == []
    assert seen == {
        "language": "en", "test": "1", "missing": None,
        "full": "0301234567-1795606851.0", "stream": ("2", 9760), "data": "2", "wait": None,
        "no data": "", "status": 6, "record": (None, 0), "510": 510, "520": 520,
    }


async def test_hangup_session_byte_for_byte(serve):
    """agi-session-hangup: EXEC Hangup → result=-1 → AgiHangup; afterwards variables still
    work on the wire while channel commands raise at once (no 511 round trip needed)."""
    outcome = {}

    async def flow(ch):
        await ch.answer()
        with pytest.raises(AgiHangup):
            await ch.hangup()
        outcome["hung_up"] = ch.hung_up
        with pytest.raises(AgiHangup):
            await ch.stream_file("demo-congrats")  # refused locally: no bytes sent

    server = await serve({"ivr": flow})
    problems = await replay_transcript("agi-session-hangup", "127.0.0.1", server.port)
    # The capture goes on with the post-hangup tour; our flow stops after the hang-up, so the
    # first difference is the server closing where the capture sent STREAM FILE.
    assert problems == ["expected b'STREAM FILE demo-congrats \"\"\\n', got b''"]
    assert outcome == {"hung_up": True}


async def test_caller_hangs_up_mid_prompt(serve, db):
    """As agi-session-caller-hangup: `200 result=-1 endpos=…`, then `HANGUP`. No exception
    escapes, the socket is closed within a second of HANGUP, the call row is closed."""
    context = FlowContext(db, default_node="pbx1")

    async def ivr(ch):
        await hotline_entry(ch, context)

    server = await serve({"ivr": ivr})
    session = AgiSession(Caller(hangup_during=1), script="ivr?line=12345-5301&region=530100"
                         "&node=pbx1&linkedid=1795606851.0", uniqueid="1795606851.1",
                         channel="PJSIP/trunk-00000001", port=server.port)
    result = await session.run()
    assert result.commands[:2] == [
        "ANSWER", 'STREAM FILE hotline/welcome-12345-5301 "0123456789*#"']
    assert result.hung_up_at is not None and result.closed_at is not None
    assert result.closed_at - result.hung_up_at < 1.0
    async with db() as s:
        call = await s.scalar(select(Call))
    assert (call.node, call.uniqueid, call.linkedid) == ("pbx1", "1795606851.1", "1795606851.0")
    assert call.caller_number == "13800138000" and call.region_code == "530100"
    assert call.ended_at is not None and call.outcome == CallOutcome.IVR_ONLY


async def test_entry_flow_hands_the_call_to_its_queue(serve, db):
    context = FlowContext(db, default_node="pbx1")

    async def ivr(ch):
        await hotline_entry(ch, context)

    server = await serve({"ivr": ivr})
    session = AgiSession(Caller(), script="ivr?line=12345-5329&node=pbx1",
                         uniqueid="1795606900.7", channel="PJSIP/trunk-00000002",
                         port=server.port)
    result = await session.run()
    assert result.variables == {"HOTLINE_QUEUE": "hl-12345-5329", "HOTLINE_DEST": "queue"}
    async with db() as s:
        call = await s.scalar(select(Call))
    assert call.linkedid == "1795606900.7"  # no linkedid given: the channel's own uniqueid
    assert call.region_code == "532900" and call.ended_at is None  # still in the queue
    # The same call arriving again (a retried AGI) is still one row.
    await AgiSession(Caller(), script="ivr?line=12345-5329&node=pbx1", uniqueid="1795606900.7",
                     channel="PJSIP/trunk-00000002", port=server.port).run()
    async with db() as s:
        assert len((await s.scalars(select(Call))).all()) == 1


async def test_missing_prompt_is_not_a_hangup(serve):
    """Not in the transcripts (an assumption, from res_agi's source, that STREAM FILE of a
    missing file answers `200 result=-1 endpos=0` with no HANGUP): so that such a result is
    never mistaken for a hang-up, the channel asks CHANNEL STATUS, whose 511-or-not IS in the
    captures (agi-session-hangup, agi-session-normal `200 result=6`).
    A channel command answering result=-1 on a live channel (e.g. a missing sound file) is
    checked with CHANNEL STATUS and reported as a command error, not as a hang-up."""
    caught = {}

    async def flow(ch):
        try:
            caught["reply"] = await ch.command("STREAM FILE", "no-such-file", "")
        except AgiCommandError as exc:
            caught["error"] = exc.reply.result

    class MissingFile(AgiSession):
        def _stream_file(self, args):
            return [b"200 result=-1 endpos=0\n"]

    server = await serve({"ivr": flow})
    session = MissingFile(Caller(), script="ivr", uniqueid="1.2", channel="Local/x",
                          port=server.port)
    result = await session.run()
    assert caught == {"error": "-1"}
    assert result.commands == ['STREAM FILE no-such-file ""', "CHANNEL STATUS"]


async def _lag_probe(stop, samples):
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        samples.append(loop.time() - before - 0.01)


async def test_slow_and_half_open_clients_never_stall_the_loop(serve):
    async def flow(ch):
        await ch.answer()

    server = await serve({"ivr": flow}, env_timeout=0.5)
    stop, lag = asyncio.Event(), []
    probe = asyncio.create_task(_lag_probe(stop, lag))
    half_open = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(50)]
    trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    for byte in b"agi_network: yes\nagi_uniqueid: 1.1\n":  # one byte at a time, never done
        trickle.write(bytes([byte]))
        await asyncio.sleep(0.02)
        if trickle.is_closing() or trickle_reader.at_eof():
            break
    # A normal session still runs meanwhile.
    session = AgiSession(Caller(), script="ivr", uniqueid="2.2", channel="Local/y",
                         port=server.port)
    assert (await session.run()).commands == ["ANSWER"]
    assert await asyncio.wait_for(trickle_reader.read(), 2) == b""  # closed by the server
    assert time.monotonic() - started < 2.5
    for reader, writer in half_open:  # all closed after env_timeout
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    trickle.close()
    stop.set()
    await probe
    # A server that blocked on a slow peer would freeze the loop for the whole trickle (seconds,
    # or for ever on a half-open peer, as panoramisk's fast_agi does); the bound is loose so a
    # busy shared CI machine does not fail it, while a real stall always does.
    assert max(lag) < 0.25, f"event loop lag {max(lag) * 1000:.1f} ms"


async def test_session_cap_refuses_extra_connections(serve):
    release, running = asyncio.Event(), asyncio.Semaphore(0)

    async def flow(ch):
        await ch.answer()
        running.release()
        await release.wait()

    server = await serve({"ivr": flow}, max_sessions=2)
    first = [asyncio.create_task(AgiSession(Caller(), script="ivr", uniqueid=f"3.{i}",
                                            channel="Local/z", port=server.port).run())
             for i in range(2)]
    for _ in range(2):
        await asyncio.wait_for(running.acquire(), 5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await asyncio.wait_for(reader.read(), 2) == b""  # refused: the dialplan queues it
    writer.close()
    assert server.refused_sessions == 1
    release.set()
    await asyncio.gather(*first)


async def test_a_command_without_reply_times_out_and_closes(serve):
    failures = []

    async def flow(ch):
        try:
            await ch.command("ANSWER", reply_within=0.2)
        except AgiProtocolFailure as exc:
            failures.append(str(exc))

    server = await serve({"ivr": flow})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: 4.4\n\n")
    assert await asyncio.wait_for(reader.readline(), 2) == b"ANSWER\n"
    assert await asyncio.wait_for(reader.read(), 2) == b""  # we never answer: it closes
    writer.close()
    assert failures == ["ANSWER: no reply within 0.2 s"]


async def test_garbage_and_unknown_scripts_are_closed(serve):
    async def flow(ch):
        await ch.answer()

    server = await serve({"ivr": flow}, env_timeout=0.5)
    # Bytes without a line end are closed by the environment deadline, the rest at once.
    for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff" * 100,
                    b"agi_network: yes\nagi_network_script: nope\n\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload)
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()


def test_plain_functions_are_refused_as_flows():
    def not_async(channel):
        return None

    with pytest.raises(TypeError, match="async"):
        FastAgiServer(Bind("127.0.0.1", 0), {"ivr": not_async})


def test_port_in_use_is_reported(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = FastAgiServer(Bind("127.0.0.1", taken.getsockname()[1]), {})
        asyncio.run(server.start())
        assert not server.listening and "cannot listen" in server.error


async def test_record_file_writes_the_callers_audio_where_asterisk_would(serve, tmp_path):
    """RECORD FILE: the stand-in puts the test's WAV at <path>.<format>, as Asterisk writes the
    recording on its own disk, and answers `200 result=0 (timeout) endpos=N` (the reply form
    of agi-session-normal)."""
    import wave

    audio = tmp_path / "statement.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 8000)  # one second
    target = tmp_path / "spool" / "rec-1"
    heard = {}

    async def flow(ch):
        heard["result"] = await ch.record_file(str(target), "wav", "#", 8000, silence_s=2)

    server = await serve({"ivr": flow})
    await AgiSession(Caller(recording=audio), script="ivr", uniqueid="5.5", channel="Local/r",
                     port=server.port).run()
    assert heard["result"] == (None, 8000)
    assert (tmp_path / "spool" / "rec-1.wav").read_bytes() == audio.read_bytes()
