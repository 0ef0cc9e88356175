"""/healthz: database, FastAGI listener and each Asterisk node's AMI state.

The AMI peers here replay the login exchanges of a real Asterisk 22.10.1:
../shared/asterisk-22/transcripts/ami-actions.jsonl (banner, `Response: Success` /
`Authentication accepted`, FullyBooted, SuccessfulAuth) and ami-auth-failure.jsonl (banner,
`Response: Error` / `Authentication failed` after 1 s, then Asterisk closes the connection).
Only the ActionID is changed, to the one our client sent, as Asterisk echoes it.
"""

import asyncio
import contextlib
import json
import re
import socket

from hotline.config import load_settings
from hotline.testing import transcripts
from hotline.web.app import create_app
from hotline.web.keys import AMI

from conftest import make_settings
from pg import free_port


class ReplayedLogin:
    """Asterisk's side of an AMI login, from a transcript."""

    def __init__(self, transcript, *, close_after_reply):
        self.banner, *self.replies = transcripts.from_asterisk(transcript)
        self.close_after_reply = close_after_reply
        self.logins = 0

    async def handle(self, reader, writer):
        writer.write(self.banner)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            login = await reader.readuntil(b"\r\n\r\n")
            self.logins += 1
            action_id = re.search(rb"ActionID: ([^\r]*)", login).group(1)
            for reply in self.replies:
                writer.write(re.sub(rb"ActionID: [^\r]*", b"ActionID: " + action_id, reply))
            await writer.drain()
            if not self.close_after_reply:
                await reader.read()  # stay connected until the client leaves
        writer.close()


@contextlib.asynccontextmanager
async def ami_peer(peer):
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


async def _health_until(client, predicate, seconds=10.0):
    body = None
    async with asyncio.timeout(seconds):
        while True:
            response = await client.get("/healthz")
            body = await response.json()
            if predicate(body):
                return response, body
            await asyncio.sleep(0.05)


def _node_settings(tmp_path, db_url, port, name="pbx1", secret="hotline-secret"):
    path = tmp_path / "ami.toml"
    path.write_text(f'[[asterisk]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
                    f'username = "hotline"\n')
    # The secret comes from the environment, as in production.
    return load_settings(path, environ={
        "HOTLINE_DATA_DIR": str(tmp_path / "var"), "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_FASTAGI_BIND": f"127.0.0.1:{free_port()}",
        f"HOTLINE_ASTERISK_{name.upper()}_SECRET": secret})


async def test_health_without_asterisk_nodes(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "database": {"ok": True},
        "fastagi": {"listening": True, "bind": str(settings.fastagi.bind), "active_sessions": 0,
                    "refused_sessions": 0},
        "asterisk": [],
    }
    # FastAGI really listens where it says.
    _, writer = await asyncio.open_connection(settings.fastagi.bind.host,
                                                   settings.fastagi.bind.port)
    writer.close()


async def test_unreachable_asterisk_is_reported_not_fatal(aiohttp_client, tmp_path, db_url):
    settings = _node_settings(tmp_path, db_url, _closed_port())
    client = await aiohttp_client(create_app(settings))
    response, body = await _health_until(
        client, lambda b: b["asterisk"][0]["state"] == "disconnected" and b["asterisk"][0]["error"])
    assert response.status == 200  # the web side keeps working
    assert body["asterisk"][0]["name"] == "pbx1"
    assert "hotline-secret" not in json.dumps(body)
    # ...and it keeps trying.
    node = client.app[AMI].nodes[0]
    attempts = node.attempts
    await _health_until(client, lambda b: node.attempts > attempts, seconds=10)


async def test_connected_asterisk(aiohttp_client, tmp_path, db_url):
    peer = ReplayedLogin("ami-actions", close_after_reply=False)
    peer.replies = peer.replies[:3]  # login reply, FullyBooted, SuccessfulAuth
    async with ami_peer(peer) as port:
        client = await aiohttp_client(create_app(_node_settings(tmp_path, db_url, port)))
        response, body = await _health_until(
            client, lambda b: b["asterisk"][0]["state"] == "connected")
        assert response.status == 200 and body["asterisk"][0]["error"] is None
        assert peer.logins == 1


async def test_wrong_secret_is_reported_as_auth_failure(aiohttp_client, tmp_path, db_url):
    peer = ReplayedLogin("ami-auth-failure", close_after_reply=True)
    async with ami_peer(peer) as port:
        settings = _node_settings(tmp_path, db_url, port, secret="wrong-secret")
        client = await aiohttp_client(create_app(settings))
        _, body = await _health_until(client, lambda b: b["asterisk"][0]["state"] == "auth_failed")
    assert "Authentication failed" in body["asterisk"][0]["error"]
    assert "wrong-secret" not in json.dumps(body)


async def test_fastagi_port_taken_fails_health(aiohttp_client, tmp_path, db_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path, db_url, HOTLINE_FASTAGI_BIND=f"127.0.0.1:{port}")
        client = await aiohttp_client(create_app(settings))
        response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "fail" and body["fastagi"]["listening"] is False
