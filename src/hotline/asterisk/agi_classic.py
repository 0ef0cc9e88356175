"""`hotline-agi`: the same call flows for sites that run AGI as a process per call
(`AGI(hotline-agi,ivr,line=12345-5301&region=530100)` in the dialplan).

pyst2 (`asterisk.agi.AGI`) reads the environment block from stdin, as it does for any classic
AGI script; after that the flow talks through the same `AgiChannel` as over FastAGI, its replies
read from stdin by the sans-IO codec. The configuration comes from HOTLINE_CONFIG /
`hotline.toml` and HOTLINE_* variables, like the server's. Exit status 0 whatever the caller
did; 2 for a configuration error.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from typing import Any, BinaryIO

from hotline.asterisk import agi_codec
from hotline.asterisk.agi_channel import AgiChannel, AgiHangup, AgiProtocolFailure
from hotline.config import ConfigError, load_settings
from hotline.logs import setup_logging

log = logging.getLogger(__name__)


class _PipeTransport(asyncio.WriteTransport):
    """What AgiChannel writes its commands to: Asterisk's end of our stdout."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._out.write(data)
        self._out.flush()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True


def read_environment(stdin: Any) -> agi_codec.Environment:
    from asterisk.agi import AGI  # pyst2

    agi = AGI(stdin=stdin, stdout=io.StringIO(), stderr=io.StringIO())
    variables = dict(agi.env)
    args = tuple(variables[k] for k in sorted(
        (k for k in variables if k.startswith("agi_arg_") and k[8:].isdigit()),
        key=lambda k: int(k[8:])))
    # Classic AGI has no agi_network_script: the script and its query are the arguments.
    if args and "agi_network_script" not in variables:
        query = args[1] if len(args) > 1 else ""
        variables["agi_network_script"] = f"{args[0]}?{query}" if query else args[0]
    return agi_codec.Environment(variables, args)


async def run_flow(env: agi_codec.Environment, stdin: BinaryIO, stdout: BinaryIO) -> None:
    from hotline.db.engine import create_engine, session_maker
    from hotline.ivr import flows

    settings = load_settings()
    engine = create_engine(settings.database_url)
    channel = AgiChannel(env, _PipeTransport(stdout), command_timeout=60.0)
    codec = agi_codec.AgiServerCodec.after_environment()
    loop = asyncio.get_running_loop()

    # Non-blocking reads of the pipe Asterisk gave us (a thread blocked in readline() would
    # keep the process alive after the flow ends). pyst2 read the environment through the
    # buffered stdin; Asterisk sends nothing more until our first command, so nothing is left
    # in that buffer.
    reader_stream = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader_stream), stdin)

    async def read_replies() -> None:
        while True:
            line = await reader_stream.read(65536)  # all that has arrived, lines or not
            events = codec.feed(line) if line else codec.eof()
            for event in events:
                if isinstance(event, agi_codec.Reply):
                    channel._reply(event)
                elif isinstance(event, agi_codec.Hangup):
                    channel._hangup_seen()
                elif isinstance(event, agi_codec.ProtocolError):
                    channel._fail(event.reason)
                    return
            if not line:
                channel._connection_lost()
                return

    reader = asyncio.create_task(read_replies())
    # The same flows as FastAGI, without speech: a vosk model takes seconds to load, too long
    # for a process per call, so a spoken statement goes to an agent with its recording.
    context = flows.FlowContext.from_settings(session_maker(engine), settings, recognizer=None)
    routes = flows.routes(context)
    try:
        flow = routes.get(env.script)
        if flow is None:
            log.error("hotline-agi: no flow named %r", env.script)
            return
        await flow(channel)
    except AgiHangup:
        log.debug("hotline-agi: caller hung up")
    except AgiProtocolFailure as exc:
        log.warning("hotline-agi: %s", exc)
    finally:
        reader.cancel()
        await engine.dispose()


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hotline-agi: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    env = read_environment(sys.stdin.buffer)
    try:
        asyncio.run(run_flow(env, sys.stdin.buffer, sys.stdout.buffer))
    except Exception:
        log.exception("hotline-agi: flow %s failed", env.script)
    return 0
