"""One AMI connection per configured Asterisk node, on panoramisk's `Manager`.

What we add around it, and why (facts from ../shared/asterisk-22/README.md and transcripts):
- our own login, plain or MD5 challenge (ami-unauthenticated), and our own reconnection with
  backoff: panoramisk re-sends unanswered actions after a reconnect when FullyBooted arrives,
  and an Originate must never be re-sent blindly;
- never waiting for FullyBooted (only users with `system` read rights get it, fact 7);
- Ping with a reply deadline, so a half-open connection is found within about 3 s;
- a deadline on every action (default 10 s); list actions end with `EventList: Complete`
  (fact 9); QueueAdd sent with `as_list=False` (panoramisk 1.4 waits for ever otherwise);
- Originate always async with a caller-chosen ChannelId (fact 8: `Originate successfully
  queued`, then an OriginateResponse with the same ActionID);
- after every (re)connect a resync (QueueStatus + CoreShowChannels) whose result subscribers get
  as a `resynced` event, so live state is rebuilt from the truth;
- every event handed to subscribers with the node's name attached, and numbered (`seq`, per
  connection) so a subscriber can tell which events the resync's QueueStatus already reflects.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.message import Message

from hotline.config import AsteriskNodeConfig
from hotline.db.base import utcnow

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 10.0
PING_INTERVAL = 1.0
PING_TIMEOUT = 2.0


class NodeState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


class AmiError(Exception):
    pass


class AmiNotConnected(AmiError):
    """The node is not connected now; nothing was sent."""


class AmiActionTimeout(AmiError):
    """Sent, but no (complete) answer in time. For an Originate: it may still happen."""


class AmiActionFailed(AmiError):
    def __init__(self, action: str, message: Message) -> None:
        super().__init__(f"{action}: {message.get('Message', 'error')}")
        self.message = message


@dataclass(frozen=True)
class NodeEvent:
    """An AMI event from one node; `name` is the Event header, or `resynced` / `disconnected`
    (ours), whose `lists` carry the resync's QueueStatus and CoreShowChannels messages.

    `seq` numbers a connection's events from 1 (0: not numbered). On `resynced` it is the seq
    of the last event received before the QueueStatus answer was complete: events up to it are
    in the snapshot, later ones are not."""

    node: str
    name: str
    fields: Mapping[str, str]
    at: datetime = field(default_factory=utcnow)
    lists: Mapping[str, list[Message]] = field(default_factory=dict)
    seq: int = 0

    def get(self, key: str, default: str = "") -> str:
        return str(self.fields.get(key, default))


Subscriber = Callable[[NodeEvent], Any]


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own reconnection, login or re-sending."""

    def __init__(self, lost: asyncio.Event, **config: Any) -> None:
        super().__init__(**config)
        self._lost = lost

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._lost.set()
            return
        super().connection_made(future)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        self._lost.set()

    async def send_awaiting_actions(self, *_: Any) -> None:
        """Never: an action lost with a connection is the caller's to retry or not."""
        self.awaiting_actions.clear()


@dataclass(frozen=True)
class OriginateResult:
    success: bool
    reason: str  # 4 = answered (fact 8)
    channel: str
    uniqueid: str
    message: Message


class AmiNode:
    def __init__(self, config: AsteriskNodeConfig, *, connect_timeout: float = 5.0,
                 backoff: tuple[float, float] = (1.0, 30.0),
                 action_timeout: float = ACTION_TIMEOUT,
                 ping_interval: float = PING_INTERVAL, ping_timeout: float = PING_TIMEOUT) -> None:
        self.config = config
        self.name = config.name
        self.connect_timeout = connect_timeout
        self.backoff_min, self.backoff_max = backoff
        self.action_timeout = action_timeout
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.state = NodeState.DISCONNECTED
        self.since: datetime = utcnow()
        self.last_error: str | None = None
        self.attempts = 0
        self.connections = 0
        self.manager: _Manager | None = None
        self.subscribers: list[Subscriber] = []
        self._lost: asyncio.Event | None = None
        self._seq = 0  # events received on this connection
        self._snapshot: asyncio.Future[Any] | None = None  # the resync's QueueStatus answer
        self._snapshot_seq: int | None = None

    # state ---------------------------------------------------------------------------------
    def _set(self, state: NodeState, error: str | None = None) -> None:
        if state != self.state:
            log.info("AMI node %s: %s%s", self.name, state, f" ({error})" if error else "")
            self.state = state
            self.since = utcnow()
        self.last_error = error

    def status(self) -> dict[str, object]:
        return {"name": self.name, "state": str(self.state), "since": self.since.isoformat(),
                "error": self.last_error}

    def _publish(self, event: NodeEvent) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("AMI subscriber failed on %s %s", self.name, event.name)

    # the connection's life -------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, stay connected, reconnect with exponential backoff; until cancelled."""
        delay = self.backoff_min
        try:
            while True:
                self.attempts += 1
                connected = await self._session()
                delay = self.backoff_min if connected else min(delay * 2, self.backoff_max)
                await asyncio.sleep(delay)
        finally:
            self._close()
            self._set(NodeState.STOPPED)

    async def _session(self) -> bool:
        """One connection's life. True when it had logged in (so the next retry is quick)."""
        lost = self._lost = asyncio.Event()
        self._set(NodeState.CONNECTING, self.last_error)
        manager = self.manager = _Manager(
            lost, host=self.config.host, port=self.config.port,
            loop=asyncio.get_running_loop(), ping_delay=10**9, ping_interval=10**9,
            forgetable_actions=(),
        )
        try:
            async with asyncio.timeout(self.connect_timeout):
                await manager.connect()
                await self._login(manager)
        except (TimeoutError, OSError) as exc:
            where = f"{self.config.host}:{self.config.port}"
            self._set(NodeState.DISCONNECTED, f"no answer from {where}"
                      if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__)
            self._close()
            return False
        except AmiActionFailed as exc:
            self._set(NodeState.AUTH_FAILED, f"login refused: {exc.message.get('Message')}")
            self._close()
            return False
        self.connections += 1
        self._seq, self._snapshot, self._snapshot_seq = 0, None, None
        manager.register_event("*", self._on_event)
        self._set(NodeState.CONNECTED)
        pinger = asyncio.create_task(self._ping_until_lost(lost), name=f"ami-ping-{self.name}")
        try:
            await self._resync()
            await lost.wait()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        self._set(NodeState.DISCONNECTED, self.last_error or "connection lost")
        self._close()
        self._publish(NodeEvent(self.name, "disconnected", {}))
        return True

    async def _login(self, manager: _Manager) -> None:
        secret = self.config.secret.get_secret_value()
        fields = {"Action": "Login", "Username": self.config.username, "Events": "on"}
        if self.config.auth == "md5":
            challenge = await self._send(manager, {"Action": "Challenge", "AuthType": "MD5"})
            key = hashlib.md5((challenge["Challenge"] + secret).encode(),  # AMI's own scheme
                              usedforsecurity=False).hexdigest()
            fields |= {"AuthType": "MD5", "Key": key}
        else:
            fields["Secret"] = secret
        await self._send(manager, fields)

    async def _ping_until_lost(self, lost: asyncio.Event) -> None:
        """A Ping every interval; no Pong within the deadline means the peer is gone even if
        the socket looks open (half-open)."""
        while not lost.is_set():
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action({"Action": "Ping"}, reply_within=self.ping_timeout)
            except AmiError as exc:
                if not lost.is_set():
                    self.last_error = f"no reply to Ping ({exc})"
                    self._close()
                    lost.set()
                return

    async def _resync(self) -> None:
        lists = {}
        for action in ("QueueStatus", "CoreShowChannels"):
            try:
                lists[action] = await self.action(
                    {"Action": action}, as_list=True,
                    on_sent=self._watch_snapshot if action == "QueueStatus" else None)
            except AmiError as exc:
                log.warning("AMI node %s: resync %s failed: %s", self.name, action, exc)
                return
        seq = self._seq if self._snapshot_seq is None else self._snapshot_seq
        self._snapshot = None
        self._publish(NodeEvent(self.name, "resynced", {}, lists=lists, seq=seq))

    def _watch_snapshot(self, answer: asyncio.Future[Any]) -> None:
        self._snapshot, self._snapshot_seq = answer, None

    def _on_event(self, _manager: Manager, message: Message) -> None:
        # panoramisk completes the answer's future while it reads the list's last message, so
        # the first event read after it is the first one the snapshot does not reflect.
        if self._snapshot is not None and self._snapshot.done() and self._snapshot_seq is None:
            self._snapshot_seq = self._seq
        self._seq += 1
        self._publish(NodeEvent(self.name, message.get("Event", ""), message, seq=self._seq))

    def _close(self) -> None:
        if self.manager is not None:
            with contextlib.suppress(Exception):
                self.manager.close()
            self.manager = None

    # actions -------------------------------------------------------------------------------
    async def _send(self, manager: _Manager, fields: Mapping[str, Any], *,
                    as_list: bool | None = None, reply_within: float | None = None,
                    on_sent: Callable[[asyncio.Future[Any]], None] | None = None) -> Any:
        action = Action(dict(fields), as_list=as_list)
        future = manager.send_action(action, as_list=as_list)
        if on_sent is not None:
            on_sent(future)
        try:
            async with asyncio.timeout(reply_within or self.action_timeout):
                reply = await asyncio.shield(future)
        except TimeoutError:
            # Forget it, so a late answer cannot resolve anything and nothing accumulates.
            if manager.protocol is not None:
                manager.protocol.responses.pop(action.id, None)
            raise AmiActionTimeout(f"{fields['Action']}: no answer within "
                                   f"{reply_within or self.action_timeout:g} s") from None
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") == "Error":
            raise AmiActionFailed(str(fields["Action"]), first)
        return reply

    async def action(self, fields: Mapping[str, Any], *, as_list: bool | None = None,
                     reply_within: float | None = None,
                     on_sent: Callable[[asyncio.Future[Any]], None] | None = None) -> Any:
        """Send one action and wait (with a deadline) for its complete answer: a Message, or
        for list actions the list of messages up to `EventList: Complete`."""
        manager = self.manager
        if self.state != NodeState.CONNECTED or manager is None:
            raise AmiNotConnected(f"AMI node {self.name} is {self.state}")
        lost = self._lost
        task = asyncio.ensure_future(self._send(manager, fields, as_list=as_list,
                                                reply_within=reply_within, on_sent=on_sent))
        waiter = asyncio.ensure_future(lost.wait()) if lost else None
        try:
            done, _ = await asyncio.wait({task, *([waiter] if waiter else [])},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if waiter:
                waiter.cancel()
        if task not in done:
            task.cancel()
            raise AmiNotConnected(f"AMI node {self.name}: connection lost during "
                                  f"{fields['Action']}")
        return task.result()

    async def queue_add(self, queue: str, interface: str, *, penalty: int = 0,
                        paused: bool = False, member_name: str = "",
                        state_interface: str = "") -> Message:
        fields = {"Action": "QueueAdd", "Queue": queue, "Interface": interface,
                  "Penalty": penalty, "Paused": "true" if paused else "false"}
        if member_name:
            fields["MemberName"] = member_name
        if state_interface:
            fields["StateInterface"] = state_interface
        # panoramisk 1.4 treats "Added … to queue" as the start of a list and never resolves.
        return await self.action(fields, as_list=False)

    async def originate(self, channel: str, *, channel_id: str, context: str = "",
                        exten: str = "", priority: int = 1, application: str = "",
                        data: str = "", caller_id: str = "", timeout_ms: int = 30000,
                        variables: Mapping[str, str] | None = None,
                        reply_within: float = 60.0) -> OriginateResult:
        """Async Originate with a deterministic ChannelId. Sent once: a lost connection or a
        deadline raises, and the caller finds out what happened from the channel id, never by
        sending again blindly. A refusal (`Response: Error`) raises AmiActionFailed at once."""
        fields: dict[str, Any] = {"Action": "Originate", "Channel": channel, "Async": "true",
                                  "ChannelId": channel_id, "Timeout": timeout_ms}
        if application:
            fields |= {"Application": application, "Data": data}
        else:
            fields |= {"Context": context, "Exten": exten, "Priority": priority}
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        # No as_list: panoramisk then reads "Originate successfully queued" as the start of a
        # list that the OriginateResponse ends, and takes a refusal (`Response: Error`, e.g. a
        # missing context) as the whole answer. With as_list=True a lone Error never resolves.
        answer = await self.action(fields, reply_within=reply_within)
        replies = answer if isinstance(answer, list) else [answer]
        response = next((m for m in replies if m.get("Event") == "OriginateResponse"), replies[-1])
        return OriginateResult(response.get("Response") == "Success", response.get("Reason", ""),
                               response.get("Channel", ""), response.get("Uniqueid", ""),
                               response)


class AmiNodes:
    """All configured nodes, each in its own task."""

    def __init__(self, configs: list[AsteriskNodeConfig], **options: Any) -> None:
        self.nodes = [AmiNode(config, **options) for config in configs]
        self._tasks: list[asyncio.Task[None]] = []

    def __getitem__(self, name: str) -> AmiNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def subscribe(self, subscriber: Subscriber) -> None:
        for node in self.nodes:
            node.subscribers.append(subscriber)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(node.run(), name=f"ami-{node.name}") for node in self.nodes
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def status(self) -> list[dict[str, object]]:
        return [node.status() for node in self.nodes]
