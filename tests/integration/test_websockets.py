"""Websockets of the desk and the wallboard through the real app: a session and the right role
are required, the Origin must be the site's own, the first message is the current state, bus
events follow (on the wallboard coalesced: the latest state per agent / queue, alerts all and in
order), and a client that stops reading is cut off with close code 4008 while the others keep
receiving."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import socket
import struct
from typing import Any

import aiohttp
import pytest

from hotline.agents.wallboard_hub import WALLBOARD_HUB
from hotline.web.app import create_app
from hotline.web.keys import BUS

from conftest import add_user, login, make_settings

SESSION_COOKIE = "hotline_session"


@pytest.fixture
async def ws_client(aiohttp_client: Any, tmp_path: Any, sqlite_template: Any) -> Any:
    """The app on a copy of the migrated SQLite database: these tests are about sockets, not
    storage (the agents' tests run on both databases)."""
    database = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, database)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{database}",
                             HOTLINE_AGENTS_WS_QUEUE_SIZE="8",
                             HOTLINE_AGENTS_WS_SEND_TIMEOUT="0.5")
    return await aiohttp_client(create_app(settings))


def origin(client: Any) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def as_role(client: Any, username: str, role: str) -> None:
    await add_user(client, username, role)
    client.session.cookie_jar.clear()
    assert (await login(client, username)).status == 303


async def handshake_status(client: Any, path: str, **headers: str) -> int:
    """The status of a websocket handshake, redirects not followed."""
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode()}
    response = await client.get(path, headers={**upgrade, **headers}, allow_redirects=False)
    response.close()
    return response.status


async def until(predicate: Any) -> None:
    while True:
        if predicate():
            return
        await asyncio.sleep(0.002)


async def test_a_session_and_the_role_are_required(ws_client):
    own = {"Origin": origin(ws_client)}
    assert await handshake_status(ws_client, "/ws/wallboard", **own) == 302  # to the login page
    assert await handshake_status(ws_client, "/ws/desk", **own) == 302
    await as_role(ws_client, "agent1", "agent")
    assert await handshake_status(ws_client, "/ws/wallboard", **own) == 403
    assert await handshake_status(ws_client, "/ws/desk", **own) == 101
    await as_role(ws_client, "boss", "supervisor")
    assert await handshake_status(ws_client, "/ws/wallboard", **own) == 101
    await as_role(ws_client, "root", "admin")
    assert await handshake_status(ws_client, "/ws/wallboard", **own) == 101
    assert await handshake_status(ws_client, "/ws/desk", **own) == 403


async def test_the_origin_must_be_the_sites_own(ws_client):
    await as_role(ws_client, "boss", "supervisor")
    assert await handshake_status(ws_client, "/ws/wallboard",
                                  Origin="https://evil.example") == 403
    assert await handshake_status(ws_client, "/ws/wallboard") == 403  # none at all
    assert await handshake_status(ws_client, "/ws/wallboard", Origin=origin(ws_client)) == 101


async def test_the_wallboard_gets_a_snapshot_then_the_bus_events(ws_client):
    await as_role(ws_client, "boss", "supervisor")
    ws = await ws_client.ws_connect("/ws/wallboard", headers={"Origin": origin(ws_client)})
    async with asyncio.timeout(10):
        first = await ws.receive_json()
        assert first["type"] == "snapshot"
        assert first["targets"]["service_level_seconds"] == 15
        assert first["targets"]["connect_rate"] == 0.95
        assert first["agents"] == [] and first["queues"] == []
        bus = ws_client.app[BUS]
        bus.publish("alerts", {"type": "emergency", "service": "119", "caller": "13800000000"})
        bus.publish("desk:999", {"type": "screen_pop"})  # not a wallboard topic
        bus.publish("agents", {"type": "agent_state", "agent": {"user_id": 1}})
        assert await ws.receive_json() == {"type": "emergency", "service": "119",
                                           "caller": "13800000000", "topic": "alerts"}
        assert (await ws.receive_json())["topic"] == "agents"
    await ws.close()


async def test_a_desk_without_a_profile_says_so(ws_client):
    await as_role(ws_client, "agent1", "agent")
    ws = await ws_client.ws_connect("/ws/desk", headers={"Origin": origin(ws_client)})
    async with asyncio.timeout(10):
        hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["agent"] is None and "分机" in hello["error"]
    await ws.close()


# A client that stops reading -----------------------------------------------------------------

async def raw_websocket(client: Any, path: str) -> socket.socket:
    """A websocket client on a bare socket with a 4 KiB receive buffer that reads nothing
    after the handshake: the server's sends soon have nowhere to go."""
    cookie = next(c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (client.server.host, client.server.port))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {client.server.host}:{client.server.port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {origin(client)}\r\n"
               f"Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)  # byte by byte: not one byte of a frame more
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame the server sent, up to its close frame or EOF: (opcode, payload)."""
    loop = asyncio.get_running_loop()
    data = b""
    while True:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        data += chunk
        if _close_frame_complete(data):
            break
    return list(_frames(data))


def _frames(data: bytes) -> Any:
    at = 0
    while at + 2 <= len(data):
        opcode, size = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if size == 126:
            (size,) = struct.unpack("!H", data[at:at + 2])
            at += 2
        elif size == 127:
            (size,) = struct.unpack("!Q", data[at:at + 8])
            at += 8
        if at + size > len(data):
            return
        yield opcode, data[at:at + size]
        at += size


def _close_frame_complete(data: bytes) -> bool:
    return any(opcode == 0x8 for opcode, _ in _frames(data))


def events_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The events one wallboard message carries: itself, or a coalesced batch's."""
    return message["events"] if message["type"] == "wallboard.batch" else [message]


async def test_a_client_that_stops_reading_is_closed_and_the_others_keep_receiving(ws_client):
    await as_role(ws_client, "boss", "supervisor")
    bus, hub = ws_client.app[BUS], ws_client.app[WALLBOARD_HUB]
    fast = await ws_client.ws_connect("/ws/wallboard", headers={"Origin": origin(ws_client)})
    slow = await raw_websocket(ws_client, "/ws/wallboard")
    received: list[int] = []

    async def read_fast() -> None:
        assert (await fast.receive_json())["type"] == "snapshot"
        while True:
            message = await fast.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                return
            received.extend(e["n"] for e in events_of(json.loads(message.data)))

    reader = asyncio.create_task(read_fast())
    padding = "排队" * 4000  # about 24 KB of UTF-8 per event
    sent = 0
    try:
        async with asyncio.timeout(30):
            await until(lambda: hub.client_count == 2)
            while hub.client_count == 2:  # until the slow one is cut off
                assert sent < 5000, "the slow client was never cut off"
                bus.publish("agents", {"type": "agent_state", "n": sent, "pad": padding,
                                       "agent": {"user_id": 7}})
                sent += 1
                await until(lambda n=sent: received and received[-1] >= n - 4)
            await until(lambda: received[-1] == sent - 1)  # the fast one has the latest state
            assert received == sorted(set(received))  # in order, never twice

            frames = await read_frames(slow)
            opcode, payload = frames[-1]
            assert opcode == 0x8, "the server's last frame is its close frame"
            assert struct.unpack("!H", payload[:2])[0] == 4008
            delivered = [json.loads(p) for op, p in frames if op == 0x1]
            assert delivered[0]["type"] == "snapshot"
            assert delivered[-1].get("n") != sent - 1  # it fell behind: not the latest state
            # ...and the fast one is still being served.
            bus.publish("agents", {"type": "agent_state", "n": sent, "agent": {"user_id": 7}})
            await until(lambda: received[-1] == sent)
    finally:
        slow.close()
        reader.cancel()
        await fast.close()


async def test_a_burst_reaches_the_wallboard_as_few_messages_and_every_alert_in_order(
        aiohttp_client, tmp_path, sqlite_template):
    """1,000 queue events and 20 alerts published at once (as a burst of AMI events would):
    the socket gets a few messages whose last state per queue is the truth, and every alert,
    in order, none merged. (The default queue of 256 messages per socket: the burst's 41
    messages are queued at once.)"""
    database = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, database)
    ws_client = await aiohttp_client(create_app(
        make_settings(tmp_path, f"sqlite+aiosqlite:///{database}")))
    await as_role(ws_client, "boss", "supervisor")
    bus, hub = ws_client.app[BUS], ws_client.app[WALLBOARD_HUB]
    hub.interval = 30.0  # only the alerts and the idle rule send: the count does not hang on speed
    ws = await ws_client.ws_connect("/ws/wallboard", headers={"Origin": origin(ws_client)})
    truth: dict[str, dict[str, Any]] = {}
    alerts_sent = 20
    async with asyncio.timeout(20):
        assert (await ws.receive_json())["type"] == "snapshot"
        await until(lambda: hub.client_count == 1)
        for i in range(1000):
            name = f"hl-q{i % 7}"
            kind = "abandoned" if i == 5 else "joined"
            queue = {"name": name, "waiting": i, "callers": [], "longest_wait": 0}
            truth[name] = queue
            bus.publish("queues", {"type": "queue.changed", "node": "pbx1", "queue": queue,
                                   "change": {"kind": kind, "uniqueid": str(i), "fields": {}}})
            if i % 50 == 49:
                bus.publish("alerts", {"type": "emergency", "service": "119", "n": i // 50})
        bus.publish("alerts", {"type": "end"})
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1].get("type") != "end":
            messages.append(await ws.receive_json())
    await ws.close()
    seen: dict[str, dict[str, Any]] = {}
    alerts = []
    for message in messages:
        for event in events_of(message):
            if event["topic"] == "alerts":
                alerts.append(event.get("n"))
            else:
                assert event["type"] == "queue.changed"
                seen[event["queue"]["name"]] = event["queue"]
    assert seen == truth
    assert alerts == [*range(alerts_sent), None]
    assert len(messages) <= 2 * (alerts_sent + 1) + 1  # vs 1,021 events
    assert any(m.get("abandoned") for m in messages)  # the hang-up was folded, not forgotten


async def test_a_scoped_supervisor_sees_only_the_agents_of_their_region(ws_client):
    await add_user(ws_client, "dali", "supervisor", region_code="532900")
    ws_client.session.cookie_jar.clear()
    assert (await login(ws_client, "dali")).status == 303
    ws = await ws_client.ws_connect("/ws/wallboard", headers={"Origin": origin(ws_client)})
    bus = ws_client.app[BUS]
    async with asyncio.timeout(10):
        assert (await ws.receive_json())["type"] == "snapshot"
        bus.publish("agents", {"type": "agent_state", "agent": {"user_id": 1,
                                                                "region_code": "530100"}})
        bus.publish("agents", {"type": "agent_state", "agent": {"user_id": 2,
                                                                "region_code": "532901"}})
        assert (await ws.receive_json())["agent"]["user_id"] == 2
    await ws.close()


async def test_a_socket_ends_with_its_login(aiohttp_client, tmp_path, sqlite_template):
    database = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, database)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{database}",
                             HOTLINE_AGENTS_WS_HEARTBEAT="0.2")
    client = await aiohttp_client(create_app(settings))
    await as_role(client, "boss", "supervisor")
    token = (await (await client.get("/api/me")).json())["csrf_token"]
    ws = await client.ws_connect("/ws/wallboard", headers={"Origin": origin(client)})
    async with asyncio.timeout(10):
        assert (await ws.receive_json())["type"] == "snapshot"
        response = await client.post("/logout", data={"csrf_token": token},
                                     allow_redirects=False)
        assert response.status == 303
        message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 4001
