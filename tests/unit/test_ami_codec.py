"""The sans-IO AMI codec against every AMI capture of a real Asterisk 22.10.1
(../shared/asterisk-22/transcripts/ami-*.jsonl, shipped as hotline.testing.transcripts)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.asterisk.ami_codec import (
    AmiMessage,
    AmiParser,
    Banner,
    Message,
    ProtocolError,
    encode_action,
    encode_message,
)
from hotline.testing import transcripts

AMI = [name for name in transcripts.names() if name.startswith("ami-")]
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def test_every_ami_capture_is_replayed():
    assert set(AMI) >= {"ami-queue-call", "ami-actions", "ami-actions-live", "ami-abandon",
                        "ami-auth-failure", "ami-unauthenticated", "ami-agi-hangup"}


def stream(name):
    return b"".join(transcripts.from_asterisk(name))


def parse(chunks, role="client", **options):
    parser = AmiParser(role, **options)
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.eof()


def messages(events):
    return [event.message for event in events if isinstance(event, Message)]


def chunked(data, rng):
    chunks, i = [], 0
    while i < len(data):
        size = rng.choice([1, 2, 3, 7, 64, 500, 4096, 70000])
        chunks.append(data[i : i + size])
        i += size
    return chunks


@pytest.mark.parametrize("name", AMI)
def test_replay_in_one_feed(name):
    events = parse([stream(name)])
    assert events[0] == Banner(version="11.0.0", text="Asterisk Call Manager/11.0.0")
    assert not [e for e in events if isinstance(e, ProtocolError)]
    # one AMI message per record, the banner being the first record
    assert len(messages(events)) == len(transcripts.from_asterisk(name)) - 1


@pytest.mark.parametrize("name", AMI)
def test_replay_in_random_chunks_gives_the_same_messages(name):
    data = stream(name)
    whole = messages(parse([data]))
    for seed in range(3):
        assert messages(parse(chunked(data, random.Random(f"{name}-{seed}")))) == whole


@pytest.mark.parametrize("name", ["ami-auth-failure", "ami-unauthenticated"])
def test_replay_byte_by_byte(name):
    data = stream(name)
    events = parse([data[i : i + 1] for i in range(len(data))])
    assert events[0] == Banner("11.0.0", "Asterisk Call Manager/11.0.0")
    assert messages(events) == messages(parse([data]))


@pytest.mark.parametrize("name", AMI)
def test_each_record_reencodes_byte_for_byte(name):
    """Keys, values, order and repeats are all kept: to_bytes() gives the wire bytes back."""
    for data in transcripts.from_asterisk(name)[1:]:
        (message,) = messages(parse([data], role="server"))
        assert message.to_bytes() == data


@pytest.mark.parametrize("name", AMI)
def test_what_our_client_sent_parses_in_server_role(name):
    sent = [r.data for r in transcripts.load(name) if r.direction == "sent"]
    parsed = messages(parse(sent, role="server"))
    assert len(parsed) == len(sent)
    for data, action in zip(sent, parsed, strict=True):
        if action.kind == "action" and action.fields[0][0] == "Action":
            assert encode_action(action.name, action.fields[1:]) == data
    # ami-unauthenticated sends one message without Action (Asterisk: `Missing action`)
    kinds = {a.kind for a in parsed}
    assert kinds == ({"action", "unknown"} if name == "ami-unauthenticated" else {"action"})


def received(name):
    return messages(parse([stream(name)]))


def first(name, event, **match):
    return next(m for m in received(name) if m.kind == "event" and m.name == event
                and all(m.get(k) == v for k, v in match.items()))


def response_to(name, action_id):
    return next(m for m in received(name) if m.kind == "response" and m.action_id == action_id)


def test_queued_call_values():
    """ami-queue-call: the queue, the agent's hold and ring times, the async Originate."""
    assert first("ami-queue-call", "QueueCallerJoin")["Queue"] == "hotline-12345"
    connect = first("ami-queue-call", "AgentConnect")
    assert connect["HoldTime"] == "0" and connect["RingTime"] == "0"
    assert connect["MemberName"] == "agent8001"
    complete = first("ami-queue-call", "AgentComplete")
    assert complete["Reason"] == "agent" and int(complete["TalkTime"]) > 0
    answered = first("ami-queue-call", "OriginateResponse")
    assert answered.kind == "event"  # its `Response: Success` line comes after `Event:`
    assert (answered["Response"], answered["Reason"]) == ("Success", "4")
    assert answered.action_id == "ami-queue-call-2"
    assert response_to("ami-queue-call", "ami-queue-call-2")["Message"] == (
        "Originate successfully queued")


def test_queued_call_order_is_fact_10():
    names = [m.name for m in received("ami-queue-call") if m.kind == "event"]
    expected = ["Newchannel", "Newchannel", "LocalBridge", "DialBegin", "Newstate", "DialEnd",
                "OriginateResponse", "Newexten", "MixMonitorStart", "AGIExecStart",
                "AGIExecEnd", "QueueCallerJoin", "MusicOnHoldStart", "AgentCalled",
                "DialBegin", "DialEnd", "QueueCallerLeave", "AgentConnect",
                "QueueMemberStatus", "BridgeCreate", "BridgeEnter", "BridgeEnter",
                "AgentComplete", "Hangup", "BridgeLeave", "BridgeDestroy", "Cdr"]
    remaining = iter(names)
    assert all(name in remaining for name in expected)  # a subsequence, in this order


def test_abandon_order_is_fact_11():
    events = [m for m in received("ami-abandon") if m.kind == "event"]
    names = [m.name for m in events]
    join = names.index("QueueCallerJoin")
    tail = [n for n in names[join:] if n in
            ("QueueCallerJoin", "Hangup", "QueueCallerAbandon", "QueueCallerLeave")]
    assert tail[:4] == ["QueueCallerJoin", "Hangup", "QueueCallerAbandon", "QueueCallerLeave"]
    abandon = first("ami-abandon", "QueueCallerAbandon")
    assert (abandon["Position"], abandon["OriginalPosition"], abandon["HoldTime"]) == (
        "1", "1", "3")


@pytest.mark.parametrize("name", AMI)
def test_list_framing(name):
    """`EventList: start`, list events with the ActionID, `…Complete` with `EventList:
    Complete` and a `ListItems` that counts them (ami-actions, ami-actions-live)."""
    stream_messages = received(name)
    for i, message in enumerate(stream_messages):
        if message.kind != "response" or message.get("EventList") != "start":
            continue
        listed = [m for m in stream_messages[i + 1 :] if m.action_id == message.action_id]
        end = next(j for j, m in enumerate(listed) if m.get("EventList") == "Complete")
        assert listed[end].name.endswith("Complete")
        assert int(listed[end]["ListItems"]) == end


def test_actions_replies():
    queue_status = response_to("ami-actions", "ami-actions-7")
    assert (queue_status["EventList"], queue_status["Message"]) == (
        "start", "Queue status will follow")
    refused = response_to("ami-actions", "ami-actions-25")
    assert (refused["Response"], refused["Message"]) == ("Error", "Extension does not exist.")
    failed = first("ami-actions", "OriginateResponse", ActionID="ami-actions-24")
    assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == (
        "Failure", "0", "<unknown>")
    command = response_to("ami-actions", "ami-actions-21")
    assert command["Message"] == "Command output follows"
    assert command.getall("Output")[0].startswith("Asterisk 22.10.1 built by")
    # a Ping sent without ActionID is answered without one
    unnamed = [m for m in received("ami-actions") if m.kind == "response" and m.action_id is None]
    assert [m.get("Ping") for m in unnamed] == ["Pong"]
    settings_reply = response_to("ami-actions", "ami-actions-4")
    assert settings_reply["SystemName"] == ""  # `SystemName: ` (empty values are kept)


def test_repeated_keys_are_all_kept():
    status = first("ami-actions-live", "Status", ActionID="ami-actions-live-9")
    assert status.getall("Variable") == ["QEORIGINALPOS=(null)", "CHANNEL(language)=en"]
    assert status.get("variable") == "QEORIGINALPOS=(null)"  # case-insensitive, first wins
    assert status["ACTIONID"] == "ami-actions-live-9"
    assert "variable" in status and "Nope" not in status


def test_auth_failure_and_unauthenticated():
    (failure,) = received("ami-auth-failure")
    assert (failure.kind, failure.name, failure["Message"]) == (
        "response", "Error", "Authentication failed")
    denied = response_to("ami-unauthenticated", "unauth-ping-1")
    assert denied["Message"] == "Permission denied"


# -- framing edge cases -----------------------------------------------------------------------


def test_eof_in_the_middle_of_a_message_is_an_error_event():
    parser = AmiParser()
    assert parser.feed(BANNER + b"Response: Success\r\nActionID: 1\r\n") == [
        Banner("11.0.0", "Asterisk Call Manager/11.0.0")]
    (error,) = parser.eof()
    assert isinstance(error, ProtocolError) and "EOF" in error.reason
    assert parser.eof() == []
    assert isinstance(parser.feed(b"x")[0], ProtocolError)  # nothing after EOF


def test_eof_in_the_banner_and_clean_eof():
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call") == []
    assert isinstance(parser.eof()[0], ProtocolError)
    clean = AmiParser()
    clean.feed(BANNER + b"Response: Goodbye\r\n\r\n\r\n")
    assert clean.eof() == []


def test_an_endless_banner_is_bounded():
    parser = AmiParser(max_message_bytes=100)
    assert isinstance(parser.feed(b"Asterisk" * 100)[0], ProtocolError)
    assert parser.buffered <= 100


def test_missing_banner_is_reported_and_the_message_still_parsed():
    events = parse([b"Response: Success\r\n\r\n"])
    assert isinstance(events[0], ProtocolError)
    assert messages(events) == [AmiMessage([("Response", "Success")])]


def test_server_role_has_no_banner():
    assert messages(parse([b"Action: Ping\r\nActionID: 7\r\n\r\n"], role="server"))[0].fields == (
        ("Action", "Ping"), ("ActionID", "7"))


def test_line_shapes():
    (message,) = messages(parse([b"Event: X\r\nEmpty:\r\nTight:value\r\nRaw text line\r\n"
                                 b"Deep: a: b\r\nSpaced:  two\r\n\r\n"], role="server"))
    assert message.fields == (("Event", "X"), ("Empty", ""), ("Tight", "value"),
                              ("", "Raw text line"), ("Deep", "a: b"), ("Spaced", " two"))


def test_crlf_only_bare_lf_and_cr_are_data():
    (message,) = messages(parse([b"Event: X\r\nValue: a\nb\rc\r\n\r\n"], role="server"))
    assert message["Value"] == "a\nb\rc"
    # an LF-only peer never completes a message: the size bound turns it into an error
    events = parse([b"Event: X\n\n" * 100], role="server", max_message_bytes=256)
    assert not messages(events) and isinstance(events[0], ProtocolError)


def test_stray_blank_lines_between_messages_are_ignored():
    data = b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n\r\n"
    assert [m.name for m in messages(parse([data], role="server"))] == ["A", "B"]


def test_utf8_with_latin1_fallback():
    chinese = "CallerIDName: 张三\r\n\r\n".encode()
    assert messages(parse([chinese], role="server"))[0]["CallerIDName"] == "张三"
    gbk = "CallerIDName: 张三\r\n\r\n".encode("gbk")  # not UTF-8: kept byte for byte
    value = messages(parse([gbk], role="server"))[0]["CallerIDName"]
    assert value.encode("latin-1") == "张三".encode("gbk")


def test_kind_and_name():
    assert AmiMessage([("Action", "Ping")]).kind == "action"
    assert AmiMessage([("ActionID", "1"), ("Foo", "bar")]).kind == "unknown"
    assert AmiMessage([("ActionID", "1"), ("Foo", "bar")]).name is None
    assert AmiMessage([("Event", "OriginateResponse"), ("Response", "Failure")]).name == (
        "OriginateResponse")


def test_over_long_message_is_reported_once_then_the_parser_resyncs():
    parser = AmiParser("server", max_message_bytes=64)
    events = parser.feed(b"Event: Big\r\n" + b"Padding: " + b"x" * 1000 + b"\r\n")
    assert [type(e) for e in events] == [ProtocolError]
    assert parser.buffered <= 64
    events = parser.feed(b"More: y\r\n\r\nEvent: Next\r\n\r\n")
    assert [m.name for m in messages(events)] == ["Next"]
    assert parser.eof() == []


def test_the_bound_holds_inside_one_huge_feed():
    parser = AmiParser("server", max_message_bytes=1024)
    events = parser.feed(b"A: " + b"z" * 10_000_000)
    assert len(events) == 1 and parser.buffered <= 3
    many = b"Event: Small\r\n\r\n" * 10_000  # far more than the bound, all of it well-formed
    assert len(messages(parser.feed(b"\r\n\r\n" + many))) == 10_000


# -- encoding ----------------------------------------------------------------------------------


def test_encode_action_with_repeated_keys():
    data = encode_action("Originate", [("Channel", "Local/s@caller-sim"), ("Async", True),
                                       ("Variable", "a=1"), ("Variable", "b=2")], "o-1")
    assert data == (b"Action: Originate\r\nActionID: o-1\r\nChannel: Local/s@caller-sim\r\n"
                    b"Async: true\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n")
    assert encode_action("Ping") == b"Action: Ping\r\n\r\n"
    assert encode_action("QueuePause", {"Paused": False, "Penalty": 0}) == (
        b"Action: QueuePause\r\nPaused: false\r\nPenalty: 0\r\n\r\n")


@pytest.mark.parametrize("fields", [
    {"CallerID": "x\r\nAction: Hangup"}, {"Value": "a\nb"}, {"Value": "a\rb"},
    {"Bad\r\nKey": "v"}, {"Bad:Key": "v"}, {"ActionID": "twice"}, {"action": "Hangup"},
])
def test_encode_action_refuses_injection(fields):
    with pytest.raises(ValueError):
        encode_action("Setvar", fields, action_id="1")


def test_encode_message_needs_a_field():
    with pytest.raises(ValueError):
        encode_message([])


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=20),
       role=st.sampled_from(["client", "server"]), bound=st.integers(5, 200))
def test_arbitrary_bytes_never_raise_and_never_exceed_the_bound(chunks, role, bound):
    parser = AmiParser(role, max_message_bytes=bound)
    for chunk in chunks:
        for event in parser.feed(chunk):
            assert isinstance(event, Banner | Message | ProtocolError)
        assert parser.buffered <= bound
    assert all(isinstance(e, ProtocolError) for e in parser.eof())


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 30000), max_size=30))
def test_any_split_of_a_capture_gives_the_same_messages(cuts):
    data = stream("ami-actions")
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert messages(parse(pieces)) == messages(parse([data]))


KEY_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_()"
KEYS = st.text(st.sampled_from(KEY_CHARACTERS), min_size=1, max_size=20).filter(
    lambda key: key.lower() not in ("action", "actionid"))
VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
                 max_size=40)  # any text a caller name could be, CR and LF excepted


@settings(max_examples=300, deadline=None)
@given(name=KEYS, fields=st.lists(st.tuples(KEYS, VALUES), max_size=12),
       action_id=st.none() | VALUES)
def test_encode_then_parse_round_trip(name, fields, action_id):
    (message,) = messages(parse([encode_action(name, fields, action_id)], role="server"))
    head = [("Action", name)] + ([("ActionID", action_id)] if action_id is not None else [])
    assert list(message.fields) == head + fields
    assert message.to_bytes() == encode_action(name, fields, action_id)
