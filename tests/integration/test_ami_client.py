"""Our AMI client (hotline.asterisk.ami, on panoramisk's Manager) against the AMI stand-in,
which answers as the captures of a real Asterisk 22.10.1 do
(../shared/asterisk-22/transcripts/ami-actions, ami-actions-live, ami-queue-call,
ami-auth-failure, ami-unauthenticated)."""

import asyncio
import contextlib

import pytest
from pydantic import SecretStr

from hotline.asterisk.ami import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiNode,
    AmiNotConnected,
    NodeState,
)
from hotline.config import AsteriskNodeConfig
from hotline.testing.ami_server import AmiStandin

SECRET = "hotline-secret"  # the captures' manager.conf user (shared/asterisk-22/conf)


def _config(port, *, secret=SECRET, auth="plain"):
    return AsteriskNodeConfig(name="pbx1", host="127.0.0.1", port=port, username="hotline",
                              secret=SecretStr(secret), auth=auth)


@contextlib.asynccontextmanager
async def running(node):
    events = []
    node.subscribers.append(events.append)
    task = asyncio.create_task(node.run())
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(predicate, seconds=10.0):
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state owned by the client under test
            await asyncio.sleep(0.02)


@pytest.fixture
async def ami():
    async with AmiStandin(auth_failure_delay=0.05) as standin:
        yield standin


@pytest.mark.parametrize("auth", ["plain", "md5"])
async def test_login_then_resync(ami, auth):
    node = AmiNode(_config(ami.port, auth=auth))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        assert node.state == NodeState.CONNECTED
        resync = next(e for e in events if e.name == "resynced")
        assert resync.node == "pbx1"
        queue_status = resync.lists["QueueStatus"]
        assert queue_status[-1].get("EventList") == "Complete"  # fact 9
        assert any(m.get("Event") == "QueueParams" and m.get("Queue") == "hotline-12345"
                   for m in queue_status)
        assert resync.lists["CoreShowChannels"][-1].get("Event") == "CoreShowChannelsComplete"
        login = ami.actions_named("Login")[0]
        if auth == "md5":  # the secret never crosses the wire (ami-unauthenticated)
            assert login.get("Secret") is None and login.get("Key")
            assert ami.actions_named("Challenge")
        else:
            assert login.get("Secret") == SECRET


async def test_wrong_secret_is_auth_failed(ami):
    node = AmiNode(_config(ami.port, secret="wrong-secret"), backoff=(5.0, 5.0))
    async with running(node):
        await until(lambda: node.state == NodeState.AUTH_FAILED)
        assert "Authentication failed" in node.last_error


async def test_events_carry_the_node_name(ami):
    node = AmiNode(_config(ami.port))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        call = ami.queued_call(caller_num="13800000001")
        await until(lambda: any(e.name == "QueueCallerJoin" for e in events))
        join = next(e for e in events if e.name == "QueueCallerJoin")
        assert join.node == "pbx1" and join.get("Uniqueid") == call.uniqueid


async def test_half_open_peer_is_found_within_three_seconds(ami):
    node = AmiNode(_config(ami.port), backoff=(0.2, 0.2))
    async with running(node) as events:
        await until(lambda: node.state == NodeState.CONNECTED)
        await until(lambda: any(e.name == "resynced" for e in events))
        loop = asyncio.get_running_loop()
        ami.stop_reading()
        stalled = loop.time()
        await until(lambda: node.state != NodeState.CONNECTED, seconds=6)
        assert loop.time() - stalled <= 3.5
        assert "Ping" in (node.last_error or "")
        ami.resume_reading()
        resyncs = sum(e.name == "resynced" for e in events)
        await until(lambda: sum(e.name == "resynced" for e in events) > resyncs)
        assert node.state == NodeState.CONNECTED


async def test_drop_and_restart_reconnect_with_a_resync(ami):
    node = AmiNode(_config(ami.port), backoff=(0.1, 0.1))
    async with running(node) as events:
        def resyncs():
            return sum(e.name == "resynced" for e in events)

        await until(lambda: resyncs() == 1)
        ami.drop()
        await until(lambda: resyncs() == 2)
        assert any(e.name == "disconnected" for e in events)
        ami.restart()  # an Asterisk restart: new state, uniqueids from .0 under a later epoch
        await until(lambda: resyncs() == 3)
        assert node.connections == 3


async def test_actions_have_deadlines(ami):
    node = AmiNode(_config(ami.port), ping_interval=60)
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        pong = await node.action({"Action": "Ping"})
        assert pong.get("Ping") == "Pong"
        ami.stop_reading()
        with pytest.raises(AmiActionTimeout):
            await node.action({"Action": "CoreStatus"}, reply_within=0.3)
        ami.resume_reading()


async def test_not_connected_sends_nothing():
    node = AmiNode(_config(1))
    with pytest.raises(AmiNotConnected):
        await node.action({"Action": "Ping"})


async def test_queue_add_resolves(ami):
    """panoramisk 1.4 waits for ever on QueueAdd unless sent with as_list=False."""
    node = AmiNode(_config(ami.port))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        reply = await node.queue_add("hotline-12345", "Local/8003@agents-sim/n",
                                     member_name="agent8003")
        assert reply.get("Response") == "Success"
        status = await node.action({"Action": "QueueStatus", "Queue": "hotline-12345"},
                                   as_list=True)
        assert any(m.get("Location") == "Local/8003@agents-sim/n" for m in status)


async def test_originate_once_with_its_channel_id(ami):
    node = AmiNode(_config(ami.port))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        result = await node.originate("Local/13800000002@caller-sim", channel_id="cb-42-1",
                                      application="Playback", data="beep")
        assert result.success and result.reason == "4"  # answered (fact 8)
        sent = ami.actions_named("Originate")
        assert [a.get("ChannelId") for a in sent] == ["cb-42-1"]
        assert sent[0].get("Async") == "true"


async def test_a_refused_originate_is_answered_at_once(ami):
    """An Originate into a context the dialplan lacks gets `Response: Error` and nothing after
    it (ami-actions, fact 8): AmiActionFailed straight away, not a deadline expiring."""
    node = AmiNode(_config(ami.port))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        with pytest.raises(AmiActionFailed, match="Originate"):
            await node.originate("Local/13800000004@caller-sim", channel_id="cb-44-1",
                                 context="no-such-context", exten="s", reply_within=5)
    assert [a.get("ChannelId") for a in ami.actions_named("Originate")] == ["cb-44-1"]


async def test_originate_is_never_resent_after_a_drop(ami):
    node = AmiNode(_config(ami.port), backoff=(0.1, 0.1))
    async with running(node) as events:
        await until(lambda: any(e.name == "resynced" for e in events))
        ami.stop_reading()  # the Originate goes out but nothing answers …
        attempt = asyncio.create_task(node.originate(
            "Local/13800000003@caller-sim", channel_id="cb-43-1", application="Playback",
            data="beep"))
        async with asyncio.timeout(5):
            await ami.wait_for_action("Originate")
        ami.drop()  # … and the connection dies
        ami.resume_reading()
        with pytest.raises(AmiNotConnected):
            await attempt
        await until(lambda: sum(e.name == "resynced" for e in events) >= 2)
        await asyncio.sleep(0.5)
    assert [a.get("ChannelId") for a in ami.actions_named("Originate")] == ["cb-43-1"]
