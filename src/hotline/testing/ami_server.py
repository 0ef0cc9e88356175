"""An AMI server that answers as a real Asterisk 22.10.1 does, for tests, benchmarks and
`hotline simulate`.

Every byte it sends is a message from asterisk-22/transcripts (see `ami_scripts`) with the
client's ActionID and fresh identities put in: the banner; Login (plain, or Challenge + MD5 as in
ami-unauthenticated) answered `Authentication accepted`, then FullyBooted (only with
`system_read=True`: fact 7, our production user lacks `system` rights) and SuccessfulAuth; a wrong
secret answered after `auth_failure_delay` (1 s in ami-auth-failure) with `Authentication failed`
and the connection closed; `Permission denied` before Login; the action replies of ami-actions
and ami-actions-live, lists framed by `EventList: start` … `EventList: Complete` / `ListItems`
(fact 9); Originate (fact 8) queued then answered or failed, or refused at once.

State (`AsteriskState`): queues and members change with QueueAdd/QueuePause/QueueRemove and show
in QueueStatus/QueueSummary; calls pushed by the test show in CoreShowChannels/Status/QueueStatus.
A test drives calls with `queued_call`, `agent_connect`, `agent_complete` and `abandon`, and
breaks things with `stop_reading` (half-open, until `resume_reading`), `drop` and `restart`.
`actions` records every action received, in order and across restarts, so a test can assert
that an Originate was sent exactly once even when the connection broke in between.

Not in the captures, so kept minimal: ChannelId/OtherChannelId name the originated channels'
uniqueids; an Async=false Originate that succeeds gets the async reply; QueueAdd to a missing
queue gets the duplicate's error shape.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable

from hotline.asterisk.ami_codec import AmiMessage, AmiParser, Message
from hotline.testing import ami_actions, transcripts
from hotline.testing.ami_scripts import (
    ACTIONS,
    AUTH_FAILURE,
    LIVE,
    QUEUE_CALL,
    UNAUTHENTICATED,
    CallIds,
    Rewriter,
    Script,
    agent_connects,
    agent_device,
    agent_hangs_up,
    call_enters,
    caller_abandons,
    caller_device,
    caller_hangs_up,
    exchange,
    originate_response,
)
from hotline.testing.ami_state import (
    AsteriskState,
    Member,
    Queue,
    SimCall,
    cdr_times,
    event_tv,
)

BANNER = transcripts.from_asterisk(ACTIONS)[0]  # b"Asterisk Call Manager/11.0.0\r\n"
# The contexts of the dialplan the captures ran on (asterisk-22/conf/extensions.conf).
CAPTURE_CONTEXTS = frozenset(
    {"agents-sim", "hotline-ivr", "caller-sim", "caller-hangup-sim", "caller-abandon-sim",
     "emergency-sim"})
_AS_IS = Rewriter({})


def _address(sockname: tuple[str, int] | None) -> str:
    host, port = (sockname or ("0.0.0.0", 0))[:2]  # noqa: S104 - only a label
    return f"IPV4/TCP/{host}/{port}"


class _Session:
    """One client connection: its parser, its login, where its replies go."""

    def __init__(self, server: AmiStandin, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, number: int) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.authenticated = False
        self.wants_events = True
        self.challenge: str | None = None
        self.closing = False
        self.security = {  # what SuccessfulAuth and RequestBadFormat say about the session
            "SessionID": f"0x{0x7F8200000000 + number:x}", "SessionTV": event_tv(),
            "LocalAddress": _address(writer.get_extra_info("sockname")),
            "RemoteAddress": _address(writer.get_extra_info("peername")),
            "AccountID": server.username,
        }

    async def serve(self) -> None:
        parser = AmiParser("server")
        self.send_bytes(BANNER)
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                # A ProtocolError is dropped: Asterisk ignores what it cannot parse.
                actions = [i.message for i in parser.feed(data) if isinstance(i, Message)]
                self.server._received(actions)  # on record even if never answered
                await self.server._answering.wait()  # half-open: answer nothing
                for action in actions:
                    if not self.closing:
                        await self.server._handle(self, action)
                await self.writer.drain()
        except ConnectionError:
            pass
        finally:
            self.close()

    def send_bytes(self, data: bytes) -> None:
        if not self.writer.is_closing() and self.server._answering.is_set():
            self.writer.write(data)

    def send(self, message: AmiMessage | None) -> None:
        if message is not None:
            self.send_bytes(message.to_bytes())

    def reply(self, template: AmiMessage, action: AmiMessage,
              values: dict[str, str | int | None] | None = None,
              rewrite: Rewriter = _AS_IS) -> None:
        self.send(rewrite(template, {**(values or {}), "ActionID": action.action_id}))

    def close(self) -> None:
        self.closing = True
        self.writer.close()
        self.server._sessions.discard(self)

    async def login(self, action: AmiMessage) -> None:
        server = self.server
        if self.authenticated:
            self.reply(exchange(UNAUTHENTICATED, "Login", 1).response, action)
            return
        if (action.get("AuthType") or "").lower() == "md5":
            # md5(challenge + secret): checked against the Key in ami-unauthenticated
            digest = hashlib.md5(f"{self.challenge}{server.secret}".encode(),
                                 usedforsecurity=False).hexdigest()
            good = self.challenge is not None and action.get("Key") == digest
        else:
            good = secrets.compare_digest((action.get("Secret") or "").encode(),
                                          server.secret.encode())
        if not (good and action.get("Username") == server.username):
            await asyncio.sleep(server.auth_failure_delay)
            self.reply(exchange(AUTH_FAILURE, "Login").response, action)
            self.close()
            return
        self.authenticated = True
        self.wants_events = (action.get("Events") or "on").lower() != "off"
        login = exchange(ACTIONS, "Login")
        self.reply(login.response, action)
        uptime = int(time.time() - server.state.booted_at)
        for template in login.after:  # FullyBooted, SuccessfulAuth
            if template.name != "FullyBooted" or server.system_read:
                self.send(_AS_IS(template, {"Uptime": uptime, "LastReload": uptime,
                                            "EventTV": event_tv(), **self.security}))

    async def challenge_action(self, action: AmiMessage) -> None:
        self.challenge = str(secrets.randbelow(10**9))
        self.reply(exchange(UNAUTHENTICATED, "Challenge").response, action,
                   {"Challenge": self.challenge})

    async def logoff(self, action: AmiMessage) -> None:
        self.reply(exchange(ACTIONS, "Logoff").response, action)
        self.close()


class AmiStandin:
    """`async with AmiStandin() as ami:` listens on 127.0.0.1:`ami.port`."""

    def __init__(self, *, username: str = "hotline",
                 secret: str = "hotline-secret",  # noqa: S107 - the captures' (conf/manager.conf)
                 system_read: bool = False, auth_failure_delay: float = 1.0,
                 contexts: Iterable[str] = CAPTURE_CONTEXTS, ivr_context: str = "hotline-ivr",
                 state: AsteriskState | None = None, host: str = "127.0.0.1", port: int = 0):
        self.username, self.secret = username, secret
        self.system_read = system_read
        self.auth_failure_delay = auth_failure_delay
        self.contexts = frozenset(contexts)
        self.ivr_context = ivr_context
        self.state = state or AsteriskState.from_transcripts()
        self.host, self.port = host, port
        self.actions: list[AmiMessage] = []
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._answering = asyncio.Event()
        self._answering.set()
        self._action_seen = asyncio.Event()
        self._session_numbers = iter(range(1, 1 << 32))

    async def start(self) -> AmiStandin:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._answering.set()
        self.drop()  # each connection's task then sees EOF and ends by itself
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> AmiStandin:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer, next(self._session_numbers))
        self._sessions.add(session)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await session.serve()
        finally:
            self._tasks.discard(task)

    # -- what tests look at and do -----------------------------------------------------------

    @property
    def connections(self) -> int:
        return len(self._sessions)

    def actions_named(self, name: str) -> list[AmiMessage]:
        return [a for a in self.actions if (a.get("Action") or "").lower() == name.lower()]

    async def wait_for_action(self, name: str, count: int = 1) -> AmiMessage:
        """The `count`-th action named `name`, once it has arrived (wrap in asyncio.timeout)."""
        while len(self.actions_named(name)) < count:
            self._action_seen.clear()
            await self._action_seen.wait()
        return self.actions_named(name)[count - 1]

    def stop_reading(self) -> None:
        """Half-open: connections stay up, but nothing is answered and no event is sent."""
        self._answering.clear()

    def resume_reading(self) -> None:
        self._answering.set()

    def drop(self) -> None:
        """Close every client connection, as a crashed Asterisk or a broken network would."""
        for session in list(self._sessions):
            session.close()

    def restart(self, new_state: AsteriskState | None = None) -> None:
        """Drop every connection and come back with a new state: new boot time (Uptime,
        CoreStartupTime), queues as configured, no calls, uniqueids counting from .0 again."""
        self.drop()
        self.state = (new_state or AsteriskState.from_transcripts()).after_restart_of(self.state)
        self._answering.set()

    def emit(self, message: AmiMessage | None) -> None:
        """Send an event to every logged-in connection that wants events."""
        if message is None:
            return
        if message.name == "VarSet" and message.get("Channel") not in (None, "none"):
            self.state.variables.setdefault(message["Channel"], {})[
                message.get("Variable") or ""] = message.get("Value") or ""
        data = message.to_bytes()
        for session in list(self._sessions):
            if session.authenticated and session.wants_events and not session.closing:
                session.send_bytes(data)

    # -- calls ---------------------------------------------------------------------------------

    def queued_call(self, *, caller_num: str | None = None, caller_name: str | None = None,
                    queue: str | None = None, line: str | None = None,
                    uniqueid: str | None = None,
                    originate_action: AmiMessage | None = None) -> SimCall:
        """A caller goes through the IVR into a queue: the events of ami-queue-call from the
        caller's Newchannel to QueueCallerJoin and MusicOnHoldStart, with fresh ids.

        `uniqueid` names the caller's channel (and so the call's linkedid), e.g. the one its
        FastAGI session announced. `originate_action` is the Originate that placed the call:
        its ActionID goes into the OriginateResponse, which is sent only then.
        """
        capture, state = call_enters().ids, self.state
        target = state.queues[queue or capture.queue]
        ids = CallIds(
            caller_uniqueid=uniqueid or (originate_action and originate_action.get("ChannelId"))
            or state.new_uniqueid(),
            caller_uniqueid2=(originate_action and originate_action.get("OtherChannelId"))
            or state.new_uniqueid(),
            caller_channel=f"{caller_device(capture.caller_channel)}-{state.new_channel_suffix()}",
            caller_context=capture.caller_context,
            caller_num=capture.caller_num if caller_num is None else caller_num,
            caller_name=capture.caller_name if caller_name is None else caller_name,
            line=line or capture.line, queue=target.name)
        call = SimCall(ids, joined_at=time.time())
        target.waiting.append(call)
        state.calls[call.uniqueid] = call
        state.processed_calls += 1
        count = len(target.waiting)
        self._play(call_enters(), call, {"QueueCallerJoin": {"Position": count, "Count": count}},
                   originate_action)
        return call

    def agent_connect(self, call: SimCall, interface: str | None = None) -> SimCall:
        """A member answers: AgentCalled … AgentConnect (HoldTime, RingTime), BridgeEnter x2."""
        queue = self.state.queues[call.ids.queue]
        if interface is not None:
            member = queue.members[interface]
        else:
            member = next((m for m in queue.members.values() if m.available), None)
            if member is None:
                raise LookupError(f"no member of {queue.name} is available")
        device = agent_device(member.interface)
        call.ids = call.ids.with_agent(
            uniqueid=self.state.new_uniqueid(), uniqueid2=self.state.new_uniqueid(),
            channel=f"{device}-{self.state.new_channel_suffix()}", interface=member.interface,
            name=member.name, bridge_id=str(uuid.uuid4()))
        position = queue.waiting.index(call) + 1
        queue.waiting.remove(call)
        call.member, call.connected_at, member.in_call = member, time.time(), True
        self._play(agent_connects(), call, {
            "QueueCallerLeave": {"Position": position, "Count": len(queue.waiting)},
            "AgentConnect": {"HoldTime": int(call.connected_at - call.joined_at)}})
        return call

    def agent_complete(self, call: SimCall, reason: str = "agent") -> None:
        """The call ends after talking: AgentComplete `Reason: agent` (the member hangs up,
        ami-queue-call) or `Reason: caller` (ami-actions-live), then hangups and Cdr."""
        member, connected_at = call.member, call.connected_at
        if member is None or connected_at is None:
            raise ValueError("agent_complete needs a connected call")
        now = time.time()
        member.in_call, member.last_call = False, int(now)
        member.calls_taken += 1
        self.state.queues[call.ids.queue].completed += 1
        script = agent_hangs_up() if reason == "agent" else caller_hangs_up()
        self._play(script, call, {"AgentComplete": {
            "HoldTime": int(connected_at - call.joined_at), "TalkTime": int(now - connected_at)}})
        self._end(call)

    def abandon(self, call: SimCall) -> None:
        """The waiting caller hangs up: its Hangup, QueueCallerAbandon, QueueCallerLeave
        (ami-abandon, fact 11)."""
        queue = self.state.queues[call.ids.queue]
        position = queue.waiting.index(call) + 1
        queue.waiting.remove(call)
        queue.abandoned += 1
        self._play(caller_abandons(), call, {
            "QueueCallerAbandon": {"Position": position, "OriginalPosition": position,
                                   "HoldTime": int(time.time() - call.joined_at)},
            "QueueCallerLeave": {"Position": position, "Count": len(queue.waiting)}})
        self._end(call)

    def _end(self, call: SimCall) -> None:
        self.state.calls.pop(call.uniqueid, None)
        for channel in [c for c in self.state.variables if call.leg_of(c)]:
            del self.state.variables[channel]

    def _play(self, script: Script, call: SimCall,
              values: dict[str, dict[str, str | int]] | None = None,
              originate_action: AmiMessage | None = None) -> None:
        rewrite = script.ids.rewriter_to(call.ids)
        # variables the capture's Originate passed (HOTLINE_ORIGIN) belong to that Originate
        passed = {v.partition("=")[0] for v in exchange(QUEUE_CALL, "Originate").action.getall(
            "Variable")}
        for template in script.messages:
            extra = dict((values or {}).get(template.name or "", {}))
            if template.name == "OriginateResponse":
                if originate_action is None:
                    continue
                template = originate_response(template, originate_action)
            elif template.name == "VarSet" and template.get("Variable") in passed:
                continue
            elif template.name == "Cdr":
                agent_leg = template.get("UniqueID") in (script.ids.agent_uniqueid,
                                                         script.ids.agent_uniqueid2)
                start = (call.connected_at if agent_leg else None) or call.joined_at
                extra |= cdr_times(start, time.time())
            elif (template.name == "QueueMemberStatus" and call.member
                  and template.get("Interface") == script.ids.agent_interface):
                extra |= call.member.values(with_status=False)  # the transition's own status
            self.emit(rewrite(template, extra))

    # -- actions ---------------------------------------------------------------------------

    def _received(self, actions: list[AmiMessage]) -> None:
        self.actions.extend(actions)
        if actions:
            self._action_seen.set()

    async def _handle(self, session: _Session, action: AmiMessage) -> None:
        name = (action.get("Action") or "").lower()
        if not name:
            session.reply(exchange(UNAUTHENTICATED, None).response, action)
        elif name in ("login", "challenge", "logoff"):
            await getattr(session, {"challenge": "challenge_action"}.get(name, name))(action)
        elif not session.authenticated:
            session.reply(exchange(UNAUTHENTICATED, "Ping").response, action)
        else:
            ami_actions.HANDLERS.get(name, ami_actions.unknown_action)(self, session, action)

    # -- queries the action handlers share ---------------------------------------------------

    def channels(self) -> list[AmiMessage]:
        """A CoreShowChannel for every live channel, from ami-actions-live:
        its first CoreShowChannels while the caller waits, its second once bridged."""
        now, capture = time.time(), CallIds.of_transcript(LIVE)
        shown = []
        for call in self.state.calls.values():
            listing = exchange(LIVE, "CoreShowChannels", 1 if call.member else 0).after[:-1]
            seconds = int(now - call.joined_at)
            duration = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            rewrite = capture.rewriter_to(call.ids)
            shown += [m for t in listing if (m := rewrite(t, {"Duration": duration}))]
        return shown

    def channel(self, name: str) -> AmiMessage | None:
        return next((c for c in self.channels() if c.get("Channel") == name), None)

    def call_of(self, channel: str) -> tuple[SimCall, str] | None:
        for call in self.state.calls.values():
            leg = call.leg_of(channel)
            if leg:
                return call, leg
        return None

    def queues(self, name: str | None) -> list[Queue]:
        return [q for q in self.state.queues.values() if name in (None, "", q.name)]

    def member_events(self, queue: Queue, member: Member, templates: Iterable[AmiMessage]) -> None:
        """QueueMemberAdded/Pause/Removed and the pause device's DeviceStateChange before them,
        as ami-actions shows them after QueueAdd and QueuePause."""
        for template in templates:
            if template.name == "DeviceStateChange":
                self.emit(_AS_IS(template, {
                    "Device": f"Queue:{queue.name}_pause_{member.interface}",
                    "State": "INUSE" if member.paused else "NOT_INUSE"}))
            else:
                self.emit(_AS_IS(template, {**member.values(), "Queue": queue.name}))
