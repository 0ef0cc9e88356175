"""Live queue state per Asterisk node, pure: AMI events in, state out. No IO, no clock (times
come with the events).

Built from the QueueStatus list of every resync (`resynced` NodeEvent of `AmiNodes`), then
kept by the queue events. What each event carries is what a real Asterisk 22.10.1 sent
(../shared/asterisk-22/transcripts):
- QueueParams / QueueMember / QueueEntry: the QueueStatus list (ami-actions-live, ami-abandon);
- QueueCallerJoin (Position, Count), QueueCallerLeave, QueueCallerAbandon (Position,
  OriginalPosition, HoldTime): ami-queue-call, ami-abandon (fact 11);
- AgentCalled / AgentConnect (HoldTime, RingTime) / AgentComplete (HoldTime, TalkTime, Reason):
  ami-queue-call, ami-actions-live; AgentRingNoAnswer and AgentDump are not captured (assumed to
  carry the same Queue/Interface/Uniqueid fields as AgentCalled);
- QueueMemberStatus / QueueMemberPause / QueueMemberAdded / QueueMemberRemoved: every member
  field, absolute (CallsTaken, InCall, Status, Paused, PausedReason ...).

Consistency after a reconnect (the resync wins): events that arrive on a connection before its
resync result are kept in a journal; the snapshot replaces the node's state, then the journal
is applied again on top. Every event sets absolute facts (a caller is waiting or not, a member's
fields), so re-applying events the snapshot already reflects ends where the stream ends. The
counters (Completed/Abandoned, as Asterisk keeps them) are the exception: they are taken from
the snapshot, and journal events add to them only when numbered after it (`NodeEvent.seq` above
the resync's seq: received after the QueueStatus answer); a repeated event is counted once.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

JOURNAL_LIMIT = 5000
COUNTED_MEMORY = 2000  # (kind, uniqueid) remembered per queue to count a repeated event once

QUEUE_EVENTS = frozenset({
    "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
    "AgentConnect", "AgentComplete", "AgentRingNoAnswer", "AgentDump", "QueueMemberStatus",
    "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPenalty",
})


class DeviceStatus(enum.IntEnum):
    """`Status:` of QueueMember / QueueMemberStatus: Asterisk's device states (ast_device_state);
    1 and 2 are in the captures (ami-actions-live)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


class MemberState(enum.StrEnum):
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    IN_CALL = "in_call"
    UNAVAILABLE = "unavailable"


class Event(Protocol):
    """What `apply` needs of an event: hotline.asterisk.ami.NodeEvent fits."""

    node: str
    name: str
    at: datetime
    lists: Mapping[str, list[Any]]
    seq: int

    def get(self, key: str, default: str = "") -> str: ...


def as_int(value: str | None, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


@dataclass
class Caller:
    uniqueid: str
    channel: str
    number: str
    name: str
    joined_at: datetime
    priority: int = 0

    def wait(self, now: datetime) -> int:
        return max(0, int((now - self.joined_at).total_seconds()))


@dataclass
class Member:
    interface: str
    name: str = ""
    state_interface: str = ""
    membership: str = ""
    penalty: int = 0
    status: int = DeviceStatus.UNKNOWN
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    calls_taken: int = 0
    last_call: int = 0  # epoch seconds, as Asterisk says
    login_time: int = 0
    ringing_for: str = ""  # the caller's uniqueid between AgentCalled and its answer/no answer
    talking_to: str = ""  # the caller's uniqueid between AgentConnect and AgentComplete

    @property
    def state(self) -> MemberState:
        if self.in_call or self.talking_to or self.status in (
                DeviceStatus.INUSE, DeviceStatus.BUSY, DeviceStatus.RINGINUSE,
                DeviceStatus.ONHOLD):
            return MemberState.IN_CALL
        if self.ringing_for or self.status == DeviceStatus.RINGING:
            return MemberState.RINGING
        if self.paused:
            return MemberState.PAUSED
        if self.status in (DeviceStatus.INVALID, DeviceStatus.UNAVAILABLE):
            return MemberState.UNAVAILABLE
        return MemberState.READY

    @property
    def available(self) -> bool:
        return self.state == MemberState.READY

    def update(self, fields: Event | Mapping[str, str]) -> None:
        """Absolute fields of QueueMember (Name/Location) or QueueMember* events
        (MemberName/Interface)."""
        get = fields.get
        self.name = get("MemberName") or get("Name") or self.name
        self.state_interface = get("StateInterface") or self.state_interface
        self.membership = get("Membership") or self.membership
        for attr, key in (("penalty", "Penalty"), ("status", "Status"),
                          ("calls_taken", "CallsTaken"), ("last_call", "LastCall"),
                          ("login_time", "LoginTime")):
            if get(key):
                setattr(self, attr, as_int(get(key)))
        if get("Paused"):
            self.paused = get("Paused") not in ("0", "false")
            self.paused_reason = get("PausedReason") or "" if self.paused else ""
        if get("InCall"):
            self.in_call = get("InCall") == "1"
            if not self.in_call:
                self.talking_to = ""


@dataclass
class LiveQueue:
    name: str
    strategy: str = ""
    callers: list[Caller] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)  # by interface
    completed: int = 0  # Asterisk's counters since its start (QueueParams), kept by events
    abandoned: int = 0
    _counted: deque[tuple[str, str]] = field(
        default_factory=lambda: deque(maxlen=COUNTED_MEMORY), repr=False)

    def caller(self, uniqueid: str) -> Caller | None:
        return next((c for c in self.callers if c.uniqueid == uniqueid), None)

    def remove_caller(self, uniqueid: str) -> Caller | None:
        found = self.caller(uniqueid)
        if found is not None:
            self.callers.remove(found)
        return found

    def position(self, uniqueid: str) -> int | None:
        return next((i for i, c in enumerate(self.callers, 1) if c.uniqueid == uniqueid), None)

    def count(self, kind: str, uniqueid: str) -> bool:
        """True the first time (kind, uniqueid) is seen (counted or not)."""
        if (kind, uniqueid) in self._counted:
            return False
        self._counted.append((kind, uniqueid))
        return True

    @property
    def logged_in(self) -> int:
        return len(self.members)

    @property
    def available(self) -> int:
        return sum(m.available for m in self.members.values())

    @property
    def staffed(self) -> int:
        """Members who take calls now or soon: logged in and not paused."""
        return sum(not m.paused and m.state != MemberState.UNAVAILABLE
                   for m in self.members.values())

    def longest_wait(self, now: datetime) -> int:
        return max((c.wait(now) for c in self.callers), default=0)

    def snapshot(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name, "strategy": self.strategy,
            "waiting": len(self.callers), "longest_wait": self.longest_wait(now),
            "logged_in": self.logged_in, "available": self.available,
            "completed": self.completed, "abandoned": self.abandoned,
            "callers": [{"uniqueid": c.uniqueid, "channel": c.channel, "number": c.number,
                         "name": c.name, "position": i, "priority": c.priority,
                         "joined_at": c.joined_at.isoformat(), "wait": c.wait(now)}
                        for i, c in enumerate(self.callers, 1)],
            "members": [{"interface": m.interface, "name": m.name, "state": str(m.state),
                         "status": int(m.status), "paused": m.paused,
                         "paused_reason": m.paused_reason, "in_call": m.in_call,
                         "calls_taken": m.calls_taken, "last_call": m.last_call,
                         "penalty": m.penalty, "caller": m.talking_to or m.ringing_for}
                        for m in sorted(self.members.values(), key=lambda m: m.interface)],
        }


@dataclass
class NodeQueues:
    queues: dict[str, LiveQueue] = field(default_factory=dict)
    synced_at: datetime | None = None
    connected: bool = False
    journal: deque[Event] = field(default_factory=lambda: deque(maxlen=JOURNAL_LIMIT))

    def queue(self, name: str) -> LiveQueue:
        if name not in self.queues:
            self.queues[name] = LiveQueue(name)
        return self.queues[name]


@dataclass(frozen=True)
class Change:
    """What an event changed: `queue` is None when the whole node changed (resync)."""

    node: str
    queue: str | None
    kind: str  # joined, left, abandoned, answered, completed, ringing, member, resynced, lost
    uniqueid: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


class QueueState:
    """Every node's queues. `apply(event)` → the changes it made (empty: nothing changed)."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeQueues] = {}

    def node(self, name: str) -> NodeQueues:
        if name not in self.nodes:
            self.nodes[name] = NodeQueues()
        return self.nodes[name]

    def queue(self, node: str, name: str) -> LiveQueue | None:
        found = self.nodes.get(node)
        return found.queues.get(name) if found else None

    def find_queue(self, name: str) -> tuple[str, LiveQueue] | None:
        """The first node that has queue `name` (queues are named the same on every node)."""
        for node_name, node in self.nodes.items():
            if name in node.queues:
                return node_name, node.queues[name]
        return None

    def waiting_caller(self, node: str, uniqueid: str) -> tuple[str, Caller] | None:
        for queue in self.node(node).queues.values():
            caller = queue.caller(uniqueid)
            if caller is not None:
                return queue.name, caller
        return None

    def apply(self, event: Event) -> list[Change]:
        node = self.node(event.node)
        if event.name == "resynced":
            return self._resync(event, node)
        if event.name == "disconnected":
            node.connected, node.synced_at = False, None
            node.journal.clear()
            return [Change(event.node, None, "disconnected")]
        if event.name not in QUEUE_EVENTS or not event.get("Queue"):
            return []
        if node.synced_at is None:  # before this connection's resync: keep it for replay
            node.journal.append(event)
        return self._event(node, event, count=True)

    # -- resync ------------------------------------------------------------------------------

    def _resync(self, event: Event, node: NodeQueues) -> list[Change]:
        listed = event.lists.get("QueueStatus")
        if listed is None:  # the resync had no queue list: keep what we have
            return []
        fresh: dict[str, LiveQueue] = {}
        for item in listed:
            self._snapshot_item(fresh, item, event.at)
        node.queues = fresh
        for old in list(node.journal):  # unnumbered events (seq 0) are taken as reflected
            self._event(node, old, count=old.seq > event.seq)
        node.journal.clear()
        node.synced_at, node.connected = event.at, True
        return [Change(event.node, None, "resynced")]

    @staticmethod
    def _snapshot_item(queues: dict[str, LiveQueue], item: Mapping[str, str],
                       at: datetime) -> None:
        kind, name = item.get("Event"), item.get("Queue") or ""
        if not name or kind not in ("QueueParams", "QueueMember", "QueueEntry"):
            return
        queue = queues.setdefault(name, LiveQueue(name))
        if kind == "QueueParams":
            queue.strategy = item.get("Strategy") or ""
            queue.completed = as_int(item.get("Completed"))
            queue.abandoned = as_int(item.get("Abandoned"))
        elif kind == "QueueMember":
            interface = item.get("Location") or item.get("Interface") or ""
            if interface:
                member = queue.members.setdefault(interface, Member(interface))
                member.update(item)
        elif item.get("Uniqueid"):
            caller = Caller(item["Uniqueid"], item.get("Channel") or "",
                            item.get("CallerIDNum") or "", item.get("CallerIDName") or "",
                            at - timedelta(seconds=as_int(item.get("Wait"))),
                            as_int(item.get("Priority")))
            position = max(1, as_int(item.get("Position"), len(queue.callers) + 1))
            queue.callers.insert(min(position - 1, len(queue.callers)), caller)

    # -- events ------------------------------------------------------------------------------

    def _event(self, node: NodeQueues, event: Event, *, count: bool) -> list[Change]:
        queue = node.queue(event.get("Queue"))
        uniqueid, name = event.get("Uniqueid"), event.name
        changed = Change(event.node, queue.name, _KINDS.get(name, "member"), uniqueid,
                         _fields(event))
        if name == "QueueCallerJoin":
            if queue.caller(uniqueid) is not None:
                return []
            caller = Caller(uniqueid, event.get("Channel"), event.get("CallerIDNum"),
                            event.get("CallerIDName"), event.at)
            position = max(1, as_int(event.get("Position"), len(queue.callers) + 1))
            queue.callers.insert(min(position - 1, len(queue.callers)), caller)
        elif name == "QueueCallerLeave":
            if queue.remove_caller(uniqueid) is None:
                return []
        elif name == "QueueCallerAbandon":
            gone = queue.remove_caller(uniqueid)
            counted = queue.count("abandoned", uniqueid) and count
            queue.abandoned += counted
            if gone is None and not counted:
                return []
        else:
            return self._member_event(queue, event, changed, count)
        return [changed]

    def _member_event(self, queue: LiveQueue, event: Event, changed: Change,
                      count: bool) -> list[Change]:
        name, uniqueid = event.name, event.get("Uniqueid")
        interface = event.get("Interface") or event.get("Location")
        if name == "QueueMemberRemoved":
            return [changed] if queue.members.pop(interface, None) is not None else []
        if not interface:
            return []
        if name == "AgentComplete":  # counted (and its talk time kept) whoever the member is
            queue.completed += queue.count("completed", uniqueid) and count
        member = queue.members.get(interface)
        if member is None:
            if name in ("AgentRingNoAnswer", "AgentDump"):
                return []  # a member we do not know stopped ringing: nothing to show
            if name == "AgentComplete":  # e.g. removed during the call
                return [changed]
            member = queue.members[interface] = Member(interface)
        if name == "AgentCalled":
            member.ringing_for = uniqueid
        elif name in ("AgentRingNoAnswer", "AgentDump"):
            if member.ringing_for == uniqueid:
                member.ringing_for = ""
        elif name == "AgentConnect":
            queue.remove_caller(uniqueid)
            member.ringing_for, member.talking_to, member.in_call = "", uniqueid, True
        elif name == "AgentComplete" and member.talking_to in ("", uniqueid):
            member.talking_to, member.in_call = "", False
        member.update(event if name.startswith("QueueMember") else {
            "MemberName": event.get("MemberName")})
        return [changed]

    # -- reading -----------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> list[dict[str, Any]]:
        """Every node's queues, JSON-ready (the wallboard's first paint, GET /api/queues)."""
        return [{"node": name, "connected": node.connected,
                 "synced_at": node.synced_at.isoformat() if node.synced_at else None,
                 "queues": [q.snapshot(now) for _, q in sorted(node.queues.items())]}
                for name, node in sorted(self.nodes.items())]

    def callers(self, node: str, queue: str) -> Iterable[Caller]:
        found = self.queue(node, queue)
        return list(found.callers) if found else []


_KINDS = {
    "QueueCallerJoin": "joined", "QueueCallerLeave": "left", "QueueCallerAbandon": "abandoned",
    "AgentCalled": "ringing", "AgentConnect": "answered", "AgentComplete": "completed",
    "AgentRingNoAnswer": "no_answer", "AgentDump": "no_answer",
}
_KEPT_FIELDS = ("CallerIDNum", "CallerIDName", "Interface", "MemberName", "HoldTime",
                "TalkTime", "RingTime", "Reason", "Position", "OriginalPosition", "Linkedid",
                "Exten", "Channel")


def _fields(event: Event) -> dict[str, str]:
    return {key: value for key in _KEPT_FIELDS if (value := event.get(key))}
