"""The sans-IO AGI codec against every AGI capture of a real Asterisk 22.10.1
(../shared/asterisk-22/transcripts/agi-session-*.jsonl, shipped in hotline.testing)."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.asterisk import agi_codec as agi
from hotline.testing.agi_client import split_arguments
from hotline.testing.transcripts import load, names

AGI_SESSIONS = [n for n in names() if n.startswith("agi-session-")]


def _asterisk_bytes(name):
    return b"".join(r.data for r in load(name) if r.direction == "recv")


def _feed(codec, data, chunks):
    events = []
    if chunks == "whole":
        events += codec.feed(data)
    elif chunks == "bytes":
        for i in range(len(data)):
            events += codec.feed(data[i:i + 1])
    else:
        rng = random.Random(len(data))
        i = 0
        while i < len(data):
            n = rng.randint(1, 40)
            events += codec.feed(data[i:i + n])
            i += n
    return events + codec.eof()


@pytest.mark.parametrize("chunks", ["whole", "random", "bytes"])
@pytest.mark.parametrize("name", AGI_SESSIONS)
def test_every_capture_decodes(name, chunks):
    records = load(name)
    events = _feed(agi.AgiServerCodec(), _asterisk_bytes(name), chunks)
    assert isinstance(events[0], agi.Environment)
    assert isinstance(events[-1], agi.Closed)  # Asterisk closes after its last HANGUP
    replies = [e for e in events if isinstance(e, agi.Reply)]
    hangups = [e for e in events if isinstance(e, agi.Hangup)]
    assert not [e for e in events if isinstance(e, agi.ProtocolError)]
    # One final reply per command the server sent; every HANGUP line is an event.
    assert len(replies) == sum(r.direction == "sent" for r in records)
    assert len(hangups) == sum(r.data == b"HANGUP\n" for r in records)


def test_environment_of_the_normal_session():
    codec = agi.AgiServerCodec()
    env = next(e for e in codec.feed(_asterisk_bytes("agi-session-normal"))
               if isinstance(e, agi.Environment))
    assert env.script == "ivr" and env.query == {}
    assert env.channel == "Local/s@caller-sim-00000000;1"
    assert env.uniqueid == "1795606851.0" and env.caller_number == "0301234567"
    assert env.get("accountcode") == ""  # `agi_accountcode: ` is sent empty (fact 2)
    assert env.args == ()


def test_replies_of_the_normal_session():
    codec = agi.AgiServerCodec()
    replies = [e for e in codec.feed(_asterisk_bytes("agi-session-normal"))
               if isinstance(e, agi.Reply)]
    by_text = {
        (r.code, r.result, r.data, r.endpos) for r in replies
    }
    assert (200, "1", "en", None) in by_text  # GET VARIABLE CHANNEL(language)
    assert (200, "0", None, None) in by_text  # unset variable
    assert (200, "1", "0301234567-1795606851.0", None) in by_text  # GET FULL VARIABLE
    assert (200, "50", None, 9760) in by_text  # STREAM FILE interrupted by '2'
    assert (200, "2", None, None) in by_text  # GET DATA digits
    assert (200, "", "timeout", None) in by_text  # GET DATA timeout
    assert (200, "0", "timeout", 0) in by_text  # RECORD FILE without audio
    usage = next(r for r in replies if r.code == 520)
    assert usage.text.startswith("Invalid command syntax.")
    assert "PLAYBACKSTATUS" in usage.text
    assert any(r.code == 510 for r in replies)


def test_caller_hangup_gives_minus_one_then_hangup():
    codec = agi.AgiServerCodec()
    events = codec.feed(_asterisk_bytes("agi-session-caller-hangup"))
    kinds = [type(e).__name__ for e in events]
    minus_one = next(i for i, e in enumerate(events)
                     if isinstance(e, agi.Reply) and e.result == "-1")
    assert events[minus_one].endpos == 16160
    assert kinds[minus_one + 1] == "Hangup"
    assert codec.hung_up
    assert any(isinstance(e, agi.Reply) and e.code == 511 for e in events)


@pytest.mark.parametrize("stream", [
    b"HANGUP\n200 result=-1\n",  # before a reply
    b"200 result=0\nHANGUP\n200 result=1\n",  # between replies
    b"HANGUP\nHANGUP\n",  # twice
])
def test_hangup_at_any_moment(stream):
    codec = agi.AgiServerCodec()
    codec.feed(b"agi_network: yes\nagi_uniqueid: 1.1\n\n")
    events = codec.feed(stream)
    assert [type(e).__name__ for e in events].count("Hangup") == stream.count(b"HANGUP")
    assert not [e for e in events if isinstance(e, agi.ProtocolError)]


@pytest.mark.parametrize("stream, reason", [
    (b"agi_network: yes\nagi_uniq", "middle of a line"),  # EOF inside an environment line
    (b"agi_network: yes\n", "before the end"),  # EOF before the environment's blank line
    (b"agi_network: yes\n\n200 resu", "middle of a line"),  # EOF inside a reply
    (b"agi_network: yes\n\n520-Invalid command syntax.\nusage\n", "middle"),  # inside a 520
])
def test_eof_in_the_middle_is_an_error_not_a_hang(stream, reason):
    codec = agi.AgiServerCodec()
    codec.feed(stream)
    (event,) = codec.eof()
    assert isinstance(event, agi.ProtocolError) and reason in event.reason


def test_environment_is_bounded():
    codec = agi.AgiServerCodec(environment_limit=1024)
    events = codec.feed(b"".join(b"agi_x%d: %s\n" % (i, b"v" * 50) for i in range(100)))
    assert isinstance(events[-1], agi.ProtocolError)
    assert codec.buffered == 0 and codec.feed(b"more\n") == []


def test_garbage_is_an_error():
    assert isinstance(agi.AgiServerCodec().feed(b"GET / HTTP/1.1\r\n")[0], agi.ProtocolError)
    codec = agi.AgiServerCodec()
    codec.feed(b"agi_network: yes\n\n")
    assert isinstance(codec.feed(b"hello\n")[0], agi.ProtocolError)


@given(st.binary(max_size=4000), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_never_raise_and_stay_bounded(data, chunk):
    codec = agi.AgiServerCodec(environment_limit=512, line_limit=256)
    for i in range(0, len(data), chunk):
        for event in codec.feed(data[i:i + chunk]):
            assert isinstance(event, agi.Event.__args__)
        assert codec.buffered <= 512
    codec.eof()


# Encoding ----------------------------------------------------------------------------------

@pytest.mark.parametrize("verb, args, wire", [
    # Lines exactly as the capturing server sent them (agi-session-normal / -hangup).
    ("GET VARIABLE", ["CHANNEL(language)"], b"GET VARIABLE CHANNEL(language)\n"),
    ("SET VARIABLE", ["HOTLINE_TEST", "1"], b"SET VARIABLE HOTLINE_TEST 1\n"),
    ("STREAM FILE", ["demo-congrats", agi.Quoted("0123456789#*")],
     b'STREAM FILE demo-congrats "0123456789#*"\n'),
    ("SAY DIGITS", ["12345", agi.Quoted("")], b'SAY DIGITS 12345 ""\n'),
    ("EXEC", ["Hangup", ""], b'EXEC Hangup ""\n'),
    ("VERBOSE", [agi.Quoted("hello"), 1], b'VERBOSE "hello" 1\n'),
    ("RECORD FILE", ["/var/spool/asterisk/recordings/agi-rec", "wav", agi.Quoted("#"), 2000,
                     "s=1"],
     b'RECORD FILE /var/spool/asterisk/recordings/agi-rec wav "#" 2000 s=1\n'),
])
def test_commands_encode_as_in_the_capture(verb, args, wire):
    assert agi.encode_command(verb, args) == wire
    assert any(r.data == wire for n in AGI_SESSIONS for r in load(n) if r.direction == "sent")


def test_arguments_with_spaces_and_quotes_are_quoted():
    assert agi.encode_command("SET VARIABLE", ["NOTE", 'he said "hi" \\ bye']) == \
        b'SET VARIABLE NOTE "he said \\"hi\\" \\\\ bye"\n'
    with pytest.raises(ValueError):
        agi.encode_command("SET VARIABLE", ["X", "line\nbreak"])


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\r\n"), max_size=20),
                max_size=5))
def test_quoting_round_trips_through_asterisks_argument_parser(arguments):
    wire = agi.encode_command("SET VARIABLE", arguments).decode()
    assert split_arguments(wire[len("SET VARIABLE"):-1]) == arguments


def test_stand_in_replies_are_the_captured_lines():
    """The FastAGI stand-in's fixed replies are lines of the captures, the right ones."""
    from hotline.testing import agi_client

    assert agi_client.DEAD_CHANNEL == (
        b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert agi_client.UNKNOWN_COMMAND == b"510 Invalid or unknown command\n"
    assert agi_client.USAGE_BLOCK.startswith(b"520-Invalid command syntax.")
    assert agi_client.USAGE_BLOCK.endswith(b"520 End of proper usage.\n")
    session = agi_client.AgiSession(agi_client.Caller(hangup_during=0), script="ivr",
                                    uniqueid="1.1", channel="Local/x")
    assert session.answer("ANSWER") == [b"200 result=-1\n", b"HANGUP\n"]
    # After the hang-up, as agi-session-hangup: channel commands 511, variables still 200.
    assert session.answer("CHANNEL STATUS") == [agi_client.DEAD_CHANNEL]
    assert session.answer("SET VARIABLE AFTER_HANGUP 1") == [b"200 result=1\n"]
    assert session.answer("EXEC Playback beep") == [b"200 result=0\n"]
    assert session.answer("FOO BAR") == [agi_client.UNKNOWN_COMMAND]
