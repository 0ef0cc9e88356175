"""The AMI stand-in (hotline.testing.ami_server) over real sockets, read with the sans-IO codec
and with panoramisk's Manager (our production AMI client). What it must say comes from the
captures of a real Asterisk 22.10.1 in ../shared/asterisk-22/transcripts/: ami-actions,
ami-actions-live, ami-queue-call, ami-abandon, ami-auth-failure, ami-unauthenticated."""

import asyncio
import contextlib
import hashlib
import re
import time
from typing import ClassVar

import pytest
from panoramisk import Manager

from hotline.asterisk.ami_codec import AmiMessage, AmiParser, Banner, Message, encode_action
from hotline.testing import transcripts
from hotline.testing.ami_server import AmiStandin
from hotline.testing.ami_state import AsteriskState

CAPTURE_IDS = re.compile(r"179560\d{4}\.\d+")  # the captures' uniqueids must never leak
QUIET = 0.2  # how long "nothing arrives" is watched for


class Client:
    """A bare AMI client: asyncio streams + the codec."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.parser = AmiParser("client")
        self.banner = None
        self.inbox: list[AmiMessage] = []
        self.closed = False
        self.ids = (f"t-{n}" for n in range(1, 10**6))

    opened: ClassVar[list["Client"]] = []

    @classmethod
    async def connect(cls, ami):
        client = cls(*await asyncio.open_connection("127.0.0.1", ami.port))
        cls.opened.append(client)
        await client._read_more(5)
        return client

    async def _read_more(self, wait):
        data = await asyncio.wait_for(self.reader.read(65536), wait)
        events = self.parser.feed(data) if data else self.parser.eof()
        self.closed = not data
        for event in events:
            assert isinstance(event, Banner | Message), event
            if isinstance(event, Banner):
                self.banner = event
            else:
                self.inbox.append(event.message)

    async def next(self, predicate, wait=5.0) -> AmiMessage:
        """The first message in the inbox, or to come, that matches; earlier ones stay."""
        deadline = time.monotonic() + wait
        while True:
            for i, message in enumerate(self.inbox):
                if predicate(message):
                    return self.inbox.pop(i)
            if self.closed:
                raise EOFError("connection closed")
            await self._read_more(max(0.0, deadline - time.monotonic()))

    async def nothing(self, predicate, wait=QUIET) -> bool:
        try:
            await self.next(predicate, wait)
        except (TimeoutError, EOFError):
            return True
        return False

    async def action(self, name, fields=(), action_id="auto") -> str | None:
        action_id = next(self.ids) if action_id == "auto" else action_id
        self.writer.write(encode_action(name, fields, action_id))
        await self.writer.drain()
        return action_id

    async def ask(self, name, fields=()) -> AmiMessage:
        action_id = await self.action(name, fields)
        return await self.next(lambda m: m.kind == "response" and m.action_id == action_id)

    async def ask_list(self, name, fields=()) -> tuple[AmiMessage, list[AmiMessage]]:
        action_id = await self.action(name, fields)
        head = await self.next(lambda m: m.kind == "response" and m.action_id == action_id)
        items = []
        while True:
            item = await self.next(lambda m: m.kind == "event" and m.action_id == action_id)
            items.append(item)
            if item.get("EventList") == "Complete":
                return head, items

    async def login(self, secret="hotline-secret") -> AmiMessage:
        return await self.ask("Login", {"Username": "hotline", "Secret": secret})

    async def event(self, name, **match) -> AmiMessage:
        return await self.next(lambda m: m.kind == "event" and m.name == name and all(
            m.get(k) == v for k, v in match.items()))

    async def events_until(self, name) -> list[AmiMessage]:
        """Every event up to and including the first `name`."""
        out = []
        while not out or out[-1].name != name:
            out.append(await self.next(lambda m: m.kind == "event"))
        return out

    async def events_before_reply(self) -> list[AmiMessage]:
        """Every event sent so far: they all come before the reply to a Ping sent now."""
        action_id = await self.action("Ping")
        events = []
        while True:
            message = await self.next(lambda m: True)
            if message.action_id == action_id:
                return events
            events.append(message)

    async def close(self):
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture(autouse=True)
async def close_clients():
    yield
    while Client.opened:
        await Client.opened.pop().close()


@pytest.fixture
async def ami():
    async with AmiStandin(auth_failure_delay=0.05) as server:
        yield server


@pytest.fixture
async def client(ami):
    client = await Client.connect(ami)
    response = await client.login()
    assert response["Message"] == "Authentication accepted"
    await client.event("SuccessfulAuth")
    yield client
    await client.close()


# -- login -------------------------------------------------------------------------------------


async def test_banner_and_login(ami):
    client = await Client.connect(ami)
    assert client.banner == Banner("11.0.0", "Asterisk Call Manager/11.0.0")  # fact 1
    response = await client.login()
    assert (response["Response"], response["Message"]) == ("Success", "Authentication accepted")
    auth = await client.event("SuccessfulAuth")
    assert (auth["AccountID"], auth["Service"], auth["UsingPassword"]) == ("hotline", "AMI", "0")
    # fact 7: FullyBooted only for users with `system` read rights; ours has none
    assert await client.nothing(lambda m: m.name == "FullyBooted")
    await client.close()


async def test_fully_booted_with_system_rights():
    async with AmiStandin(system_read=True) as ami:
        client = await Client.connect(ami)
        await client.login()
        booted, auth = await client.events_until("SuccessfulAuth")
        assert (booted.name, booted["Status"]) == ("FullyBooted", "Fully Booted")
        assert int(booted["Uptime"]) >= 0 and auth.name == "SuccessfulAuth"
        await client.close()


async def test_wrong_secret_waits_then_fails_and_closes():
    """ami-auth-failure: Asterisk sleeps 1 s, answers Error, closes the connection."""
    async with AmiStandin(auth_failure_delay=0.3) as ami:
        client = await Client.connect(ami)
        started = time.monotonic()
        response = await client.login(secret="wrong-secret")
        assert time.monotonic() - started >= 0.3
        assert (response["Response"], response["Message"]) == ("Error", "Authentication failed")
        with pytest.raises(EOFError):
            await client.next(lambda m: False)
        assert client.parser.eof() == []  # closed between messages, cleanly


async def test_before_login_and_md5_challenge(ami):
    """ami-unauthenticated: Permission denied, Missing action, Challenge + MD5 Login."""
    client = await Client.connect(ami)
    assert (await client.ask("Ping"))["Message"] == "Permission denied"
    action_id = "no-action-1"
    client.writer.write(encode_action("x", {"Foo": "bar"}, action_id).replace(
        b"Action: x\r\n", b""))
    missing = await client.next(lambda m: m.action_id == action_id)
    assert (missing["Response"], missing["Message"]) == ("Error", "Missing action in request")
    challenge = (await client.ask("Challenge", {"AuthType": "MD5"}))["Challenge"]
    # the capture's Key is md5(challenge + secret): 113203042 + hotline-secret
    sent = [r.data for r in transcripts.load("ami-unauthenticated") if b"Key: " in r.data]
    capture_key = hashlib.md5(b"113203042hotline-secret", usedforsecurity=False).hexdigest()
    assert capture_key.encode() in sent[0]
    key = hashlib.md5(f"{challenge}hotline-secret".encode(), usedforsecurity=False).hexdigest()
    response = await client.ask("Login", {"AuthType": "MD5", "Username": "hotline", "Key": key})
    assert response["Message"] == "Authentication accepted"
    assert (await client.login())["Message"] == "Already authenticated"
    goodbye = await client.ask("Logoff")
    assert (goodbye["Response"], goodbye["Message"]) == ("Goodbye", "Thanks for all the fish.")
    with pytest.raises(EOFError):
        await client.next(lambda m: False)


# -- actions -----------------------------------------------------------------------------------


async def test_ping_echoes_the_action_id(client):
    pong = await client.ask("Ping")
    assert (pong["Response"], pong["Ping"], pong.action_id) == ("Success", "Pong", "t-2")
    await client.action("Ping", action_id=None)  # answered without ActionID (ami-actions)
    bare = await client.next(lambda m: m.kind == "response")
    assert bare.get("Ping") == "Pong" and bare.action_id is None


async def test_list_framing_and_queue_membership(client, ami):
    head, items = await client.ask_list("QueueStatus", {"Queue": "hotline-12345"})
    assert (head["EventList"], head["Message"]) == ("start", "Queue status will follow")
    assert [i.name for i in items] == [
        "QueueParams", "QueueMember", "QueueMember", "QueueStatusComplete"]
    assert [i["Name"] for i in items[1:3]] == ["agent8001", "agent8002"]
    assert (items[-1]["EventList"], items[-1]["ListItems"]) == ("Complete", "3")

    member = {"Queue": "hotline-12345", "Interface": "Local/8003@agents-sim/n",
              "MemberName": "agent8003", "Paused": "false", "Penalty": "0"}
    assert (await client.ask("QueueAdd", member))["Message"] == "Added interface to queue"
    added = await client.event("QueueMemberAdded")
    assert (added["MemberName"], added["Membership"]) == ("agent8003", "dynamic")
    again = await client.ask("QueueAdd", member)
    assert again["Message"] == "Unable to add interface: Already there"

    pause = {"Queue": "hotline-12345", "Interface": "Local/8003@agents-sim/n",
             "Paused": "true", "Reason": "lunch"}
    assert (await client.ask("QueuePause", pause))["Message"] == "Interface paused successfully"
    paused = await client.event("QueueMemberPause")
    assert (paused["Paused"], paused["PausedReason"]) == ("1", "lunch")
    _, items = await client.ask_list(
        "QueueStatus", {"Queue": "hotline-12345", "Member": "Local/8003@agents-sim/n"})
    assert [(i.name, i.get("Paused")) for i in items] == [
        ("QueueParams", None), ("QueueMember", "1"), ("QueueStatusComplete", None)]
    missing = await client.ask("QueuePause", {**pause, "Interface": "Local/9999@agents-sim/n"})
    assert missing["Message"] == "Interface not found"

    remove = {"Queue": "hotline-12345", "Interface": "Local/8003@agents-sim/n"}
    assert (await client.ask("QueueRemove", remove))["Message"] == "Removed interface from queue"
    assert (await client.event("QueueMemberRemoved"))["MemberName"] == "agent8003"
    gone = await client.ask("QueueRemove", remove)
    assert gone["Message"] == "Unable to remove interface: Not there"
    _, summary = await client.ask_list("QueueSummary", {"Queue": "hotline-12345"})
    assert (summary[0]["LoggedIn"], summary[0]["Available"]) == ("2", "2")


async def test_other_replies(client):
    status = await client.ask("CoreStatus")
    assert status["CoreCurrentCalls"] == "0"
    assert (await client.ask("CoreSettings"))["AsteriskVersion"] == "22.10.1"
    assert (await client.ask("Setvar", {"Variable": "HOTLINE_GLOBAL", "Value": "42"}))[
        "Message"] == "Variable Set"
    assert (await client.event("VarSet", Variable="HOTLINE_GLOBAL"))["Channel"] == "none"
    assert (await client.ask("Getvar", {"Variable": "HOTLINE_GLOBAL"}))["Value"] == "42"
    unknown = await client.ask("NoSuchAction")
    assert unknown["Message"] == (
        "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available "
        "commands.")
    assert (await client.event("RequestBadFormat"))["RequestType"] == "Action: NoSuchAction"
    _, channels = await client.ask_list("CoreShowChannels")
    assert channels[-1]["ListItems"] == "0"


# -- Originate ---------------------------------------------------------------------------------

CALLBACK = {"Channel": "Local/8001@agents-sim", "Application": "Playback", "Data": "beep",
            "CallerID": '"Hotline Test" <0301234567>', "Timeout": "30000", "Async": "true"}


async def test_originate_answered(client, ami):
    fields = {**CALLBACK, "ChannelId": "cb-42.1"}
    queued = await client.ask("Originate", fields)
    assert queued["Message"] == "Originate successfully queued"
    answered = await client.event("OriginateResponse")
    assert answered.action_id == queued.action_id
    assert (answered["Response"], answered["Reason"]) == ("Success", "4")  # fact 8
    assert (answered["Application"], answered["Data"]) == ("Playback", "beep")
    assert answered["Uniqueid"] == "cb-42.1"  # the deterministic ChannelId
    assert (answered["CallerIDNum"], answered["CallerIDName"]) == ("0301234567", "Hotline Test")
    hangup = await client.event("Hangup", Uniqueid="cb-42.1")
    assert hangup["Channel"] == answered["Channel"]
    assert len(ami.actions_named("Originate")) == 1


async def test_originate_failure_and_refusal(client, ami):
    failing = {**CALLBACK, "Channel": "Local/s@no-such-context", "Application": None}
    failing = {k: v for k, v in failing.items() if v} | {
        "Context": "hotline-ivr", "Exten": "12345", "Priority": "1"}
    queued = await client.ask("Originate", failing)
    assert queued["Message"] == "Originate successfully queued"
    failed = await client.event("OriginateResponse")
    assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == (
        "Failure", "0", "<unknown>")
    assert (failed["Context"], failed["Exten"], failed.action_id) == (
        "hotline-ivr", "12345", queued.action_id)

    refused = await client.ask("Originate", {**failing, "Channel": "Local/8002@agents-sim",
                                             "Context": "no-such-context", "Exten": "s"})
    assert (refused["Response"], refused["Message"]) == ("Error", "Extension does not exist.")
    assert await client.nothing(lambda m: m.name == "OriginateResponse")

    sync = await client.ask("Originate", {**failing, "Async": "false"})
    assert (sync["Response"], sync["Message"]) == ("Error", "Originate failed")
    assert len(ami.actions_named("Originate")) == 3


# -- calls -------------------------------------------------------------------------------------


def names(events):
    return [e.name for e in events]


def capture_events(name):
    parser = AmiParser()
    return [e.message for e in parser.feed(b"".join(transcripts.from_asterisk(name)))
            if isinstance(e, Message) and e.message.kind == "event"]


def index(events, name, start=0, **match):
    return next(i for i in range(start, len(events)) if events[i].name == name and all(
        events[i].get(k) == v for k, v in match.items()))


async def test_queued_call_in_the_captures_order(client, ami):
    """The three phases of ami-queue-call, event for event (fact 10), with fresh identities."""
    capture = capture_events("ami-queue-call")
    joined = index(capture, "MusicOnHoldStart", index(capture, "QueueCallerJoin")) + 1
    talking = index(capture, "VarSet", joined, Variable="PLAYBACKSTATUS")
    enter = [e for e in capture[index(capture, "Newchannel") : joined]
             if e.name != "OriginateResponse"  # only when our client originated the call
             and e.get("Variable") != "HOTLINE_ORIGIN"]  # passed by the capture's Originate

    call = ami.queued_call(caller_num="13800001111", caller_name="张三")
    entered = await client.events_before_reply()
    assert names(entered) == names(enter)
    join = next(e for e in entered if e.name == "QueueCallerJoin")
    assert (join["Queue"], join["Position"], join["Count"]) == ("hotline-12345", "1", "1")
    assert (join["CallerIDNum"], join["CallerIDName"]) == ("13800001111", "张三")
    assert join["Uniqueid"] == call.uniqueid == join["Linkedid"]
    mixmonitor = next(e for e in entered if e.get("Variable") == "MIXMONITOR_FILENAME")
    assert mixmonitor["Value"] == f"/var/spool/asterisk/recordings/{call.linkedid}.wav"

    ami.agent_connect(call, "Local/8002@agents-sim/n")
    connected = await client.events_before_reply()
    assert names(connected) == names(capture[joined:talking])
    connect = next(e for e in connected if e.name == "AgentConnect")
    assert (connect["MemberName"], connect["Interface"], connect["RingTime"]) == (
        "agent8002", "Local/8002@agents-sim/n", "0")
    assert int(connect["HoldTime"]) >= 0
    bridge = next(e for e in connected if e.name == "BridgeCreate")["BridgeUniqueid"]
    assert [e["BridgeUniqueid"] for e in connected if e.name == "BridgeEnter"] == [bridge] * 2

    ami.agent_complete(call)
    ended = await client.events_before_reply()
    cdrs = max(i for i, e in enumerate(capture) if e.name == "Cdr") + 1
    assert names(ended) == names(capture[talking:cdrs])
    complete = next(e for e in ended if e.name == "AgentComplete")
    assert (complete["Reason"], complete["MemberName"]) == ("agent", "agent8002")
    assert int(complete["TalkTime"]) >= 0
    for event in entered + connected + ended:
        assert not CAPTURE_IDS.search(event.to_bytes().decode()), event
        if "Linkedid" in event:
            assert event["Linkedid"] == call.linkedid
    _, channels = await client.ask_list("CoreShowChannels")
    assert channels[-1]["ListItems"] == "0"
    _, listed = await client.ask_list("QueueStatus")
    agent = next(i for i in listed if i.get("Name") == "agent8002")
    assert (agent["CallsTaken"], agent["InCall"]) == ("1", "0")
    assert listed[0]["Completed"] == "1"


async def test_pushed_call_named_by_its_agi_uniqueid(client, ami):
    call = ami.queued_call(uniqueid="1800000000.42", queue="hotline-12345")
    events = await client.events_before_reply()
    assert "OriginateResponse" not in names(events)  # nobody originated it
    join = next(e for e in events if e.name == "QueueCallerJoin")
    assert join["Uniqueid"] == join["Linkedid"] == call.linkedid == "1800000000.42"
    for member in ami.state.queues["hotline-12345"].members.values():
        member.paused = True
    with pytest.raises(LookupError):
        ami.agent_connect(call)


async def test_abandon_in_the_captures_order(client, ami):
    call = ami.queued_call()
    await client.event("MusicOnHoldStart")
    ami.abandon(call)
    events = await client.events_until("QueueCallerLeave")
    relevant = [e.name for e in events if e.name in ("Hangup", "QueueCallerAbandon")]
    assert relevant == ["Hangup", "QueueCallerAbandon"]  # fact 11
    abandon = next(e for e in events if e.name == "QueueCallerAbandon")
    assert (abandon["Uniqueid"], abandon["Position"], abandon["OriginalPosition"]) == (
        call.uniqueid, "1", "1")
    assert "HoldTime" in abandon
    _, listed = await client.ask_list("QueueStatus")
    assert listed[0]["Abandoned"] == "1"


async def test_live_state_and_hangup_action(client, ami):
    """ami-actions-live: a waiting caller shows in QueueStatus (QueueEntry), CoreShowChannels,
    Status and Getvar; the Hangup action then ends it; a second Hangup finds no channel."""
    call = ami.queued_call()
    await client.event("QueueCallerJoin")
    _, listed = await client.ask_list("QueueStatus", {"Queue": "hotline-12345"})
    entry = next(i for i in listed if i.name == "QueueEntry")
    assert (entry["Channel"], entry["Uniqueid"], entry["Position"]) == (
        call.channel, call.uniqueid, "1")
    assert listed[0]["Calls"] == "1" and listed[-1]["ListItems"] == "4"
    _, channels = await client.ask_list("CoreShowChannels")
    assert [c["Linkedid"] for c in channels[:-1]] == [call.linkedid] * 2
    _, status = await client.ask_list(
        "Status", {"Channel": call.channel, "Variables": "HOTLINE_CHOICE,QEORIGINALPOS"})
    assert status[0].getall("Variable") == ["HOTLINE_CHOICE=2", "QEORIGINALPOS=(null)"]
    got = await client.ask("Getvar", {"Channel": call.channel, "Variable": "HOTLINE_CHOICE"})
    assert got["Value"] == "2"  # set by the IVR's SET VARIABLE in ami-queue-call
    ami.agent_connect(call)
    await client.event("AgentConnect")
    hung = await client.ask("Hangup", {"Channel": call.channel, "Cause": "16"})
    assert hung["Message"] == "Channel Hungup"
    assert (await client.event("AgentComplete"))["Reason"] == "caller"
    again = await client.ask("Hangup", {"Channel": call.channel})
    assert (again["Response"], again["Message"]) == ("Error", "No such channel")


async def test_originate_into_the_ivr_is_a_queued_call(client, ami):
    """ami-queue-call itself: Originate into hotline-ivr, OriginateResponse, the IVR, the queue."""
    queued = await client.ask("Originate", {
        "Channel": "Local/s@caller-sim", "Context": "hotline-ivr", "Exten": "12345",
        "Priority": "1", "CallerID": '"Hotline Test" <0301234567>', "Async": "true",
        "ChannelId": "dialer-7.1"})
    events = await client.events_until("QueueCallerJoin")
    answered = next(e for e in events if e.name == "OriginateResponse")
    assert (answered.action_id, answered["Uniqueid"], answered["Context"]) == (
        queued.action_id, "dialer-7.1", "hotline-ivr")
    assert events[-1]["Uniqueid"] == "dialer-7.1"
    assert len(ami.actions_named("Originate")) == 1


async def test_every_action_is_recorded_in_order(client, ami):
    await client.ask("Ping")
    await client.ask("Originate", CALLBACK)
    await client.ask("QueueSummary")
    assert [a["Action"] for a in ami.actions] == ["Login", "Ping", "Originate", "QueueSummary"]
    assert ami.actions_named("originate")[0]["Data"] == "beep"
    assert (await ami.wait_for_action("Ping"))["Action"] == "Ping"


# -- faults ------------------------------------------------------------------------------------


async def test_stop_reading_is_half_open(client, ami):
    ami.stop_reading()
    action_id = await client.action("Ping")
    assert await client.nothing(lambda m: m.action_id == action_id)
    assert not client.closed and ami.connections == 1
    ami.resume_reading()
    assert (await client.next(lambda m: m.action_id == action_id))["Ping"] == "Pong"


async def test_drop_and_restart(client, ami):
    before = ami.queued_call()
    await client.event("QueueCallerJoin")
    await client.ask("QueueAdd", {"Queue": "hotline-12345", "Interface": "Local/8003@x/n"})
    ami.drop()
    with pytest.raises(EOFError):
        await client.next(lambda m: False)

    again = await Client.connect(ami)
    await again.login()
    await again.ask("Ping")
    ami.restart()
    with pytest.raises(EOFError):
        await again.next(lambda m: False)

    fresh = await Client.connect(ami)
    await fresh.login()
    _, listed = await fresh.ask_list("QueueStatus")
    assert [i["Name"] for i in listed if i.name == "QueueMember"] == ["agent8001", "agent8002"]
    assert not [i for i in listed if i.name == "QueueEntry"]  # the call died with Asterisk
    after = ami.queued_call()
    assert after.uniqueid.endswith(".0")  # the counter starts again …
    assert float(after.uniqueid) > float(before.uniqueid)  # … under a later epoch
    assert after.channel == "Local/s@caller-sim-00000000;1"
    await fresh.close()


async def test_restart_into_a_given_state(ami):
    state = AsteriskState.from_transcripts()
    state.queues["hotline-12345"].members.pop("Local/8002@agents-sim/n")
    ami.restart(state)
    client = await Client.connect(ami)
    await client.login()
    _, summary = await client.ask_list("QueueSummary")
    assert summary[0]["LoggedIn"] == "1"
    await client.close()


# -- panoramisk ----------------------------------------------------------------------------------


async def test_panoramisk_manager_logs_in_and_pings(ami):
    manager = Manager(host="127.0.0.1", port=ami.port, username="hotline",
                      secret="hotline-secret", ping_delay=3600, reconnect_timeout=3600)
    try:
        await manager.connect()
        login = await asyncio.wait_for(manager.authenticated_future, 5)
        assert login.success and manager.authenticated
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 5)
        assert pong.ping == "Pong"
        # DESIGN.md §5: panoramisk's QueueAdd resolves only with as_list=False
        added = await asyncio.wait_for(manager.send_action(
            {"Action": "QueueAdd", "Queue": "hotline-12345",
             "Interface": "Local/8003@agents-sim/n"}, as_list=False), 5)
        assert added.message == "Added interface to queue"
        assert [a["Action"] for a in ami.actions] == ["Login", "Ping", "QueueAdd"]
    finally:
        manager.close()
