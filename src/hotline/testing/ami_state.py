"""What the AMI stand-in (`ami_server`) remembers between actions: queues, members, live calls,
variables, and the counters that name channels. An Asterisk restart loses all of it.

The initial queue is the capture's: `hotline-12345` (rrmemory) with the static members agent8001
and agent8002, as the first QueueStatus reply of asterisk-22/transcripts/ami-actions lists them.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hotline.testing.ami_scripts import ACTIONS, CallIds, exchange


def event_tv(at: float | None = None) -> str:
    """`2026-11-25T11:40:51.336+0000`, the time format of SuccessfulAuth (ami-actions)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def cdr_times(start: float, end: float) -> dict[str, str | int]:
    """The time fields of a Cdr event (`StartTime: 2026-11-25 11:40:51`, local time)."""
    start_text, end_text = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
                            for t in (start, end))
    seconds = int(end - start)
    return {"StartTime": start_text, "AnswerTime": start_text, "EndTime": end_text,
            "Duration": seconds, "BillableSeconds": seconds}


def is_true(value: str | None) -> bool:
    """How Asterisk reads `Paused: true`, `Async: true` (ast_true)."""
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


@dataclass
class Member:
    interface: str
    name: str
    membership: str = "dynamic"
    penalty: int = 0
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False

    def values(self, *, with_status: bool = True) -> dict[str, str | int]:
        """The fields queue events and lists show of a member, under every name they use
        (QueueMember says Name/Location, QueueMemberAdded MemberName/Interface)."""
        values: dict[str, str | int] = {
            "Name": self.name, "MemberName": self.name, "Location": self.interface,
            "Interface": self.interface, "StateInterface": self.interface,
            "Membership": self.membership, "Penalty": self.penalty,
            "CallsTaken": self.calls_taken, "LastCall": self.last_call,
            "LastPause": self.last_pause, "LoginTime": self.login_time,
            "Paused": int(self.paused), "PausedReason": self.paused_reason,
        }
        if with_status:  # Status 1 = not in use, 2 = in use (ami-actions-live QueueStatus)
            values |= {"InCall": int(self.in_call), "Status": 2 if self.in_call else 1}
        return values

    @property
    def available(self) -> bool:
        return not self.paused and not self.in_call


@dataclass
class SimCall:
    """A caller the stand-in put in a queue, and the member who took it, if any."""

    ids: CallIds
    joined_at: float
    connected_at: float | None = None
    member: Member | None = None

    @property
    def uniqueid(self) -> str:
        return self.ids.caller_uniqueid

    @property
    def linkedid(self) -> str:
        return self.ids.caller_uniqueid

    @property
    def channel(self) -> str:
        return f"{self.ids.caller_channel};1"

    def leg_of(self, channel: str) -> str | None:
        """'caller' or 'agent' when `channel` is one of this call's channels."""
        if channel in (f"{self.ids.caller_channel};1", f"{self.ids.caller_channel};2"):
            return "caller"
        agent = self.ids.agent_channel
        if agent and channel in (agent, f"{agent};1", f"{agent};2"):
            return "agent"
        return None


@dataclass
class Queue:
    name: str
    strategy: str = "rrmemory"
    members: dict[str, Member] = field(default_factory=dict)  # by interface
    waiting: list[SimCall] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0


@dataclass
class AsteriskState:
    queues: dict[str, Queue]
    booted_at: float = field(default_factory=time.time)
    calls: dict[str, SimCall] = field(default_factory=dict)  # live calls by uniqueid
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # channel ("" = global)
    processed_calls: int = 0
    # Uniqueids are `<epoch>.<counter>`, the counter shared by every channel and reset by a
    # restart; Local channel names share one hex counter (ami-queue-call, ami-actions).
    uniqueid_epoch_floor: int = 0
    last_uniqueid_epoch: int = 0
    _uniqueids: itertools.count[int] = field(default_factory=itertools.count)
    _channel_numbers: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def from_transcripts(cls) -> AsteriskState:
        queues: dict[str, Queue] = {}
        for listed in exchange(ACTIONS, "QueueStatus").after:
            if listed.name == "QueueParams":
                queues[listed["Queue"]] = Queue(listed["Queue"], listed["Strategy"])
            elif listed.name == "QueueMember":
                member = Member(listed["Location"], listed["Name"], listed["Membership"],
                                int(listed["Penalty"]))
                queues[listed["Queue"]].members[member.interface] = member
        return cls(queues)

    def new_uniqueid(self) -> str:
        epoch = max(int(time.time()), self.uniqueid_epoch_floor)
        self.last_uniqueid_epoch = max(self.last_uniqueid_epoch, epoch)
        return f"{epoch}.{next(self._uniqueids)}"

    def new_channel_suffix(self) -> str:
        return f"{next(self._channel_numbers):08x}"

    def after_restart_of(self, old: AsteriskState) -> AsteriskState:
        """Make this state follow `old` as a restarted Asterisk would: uniqueids start again at
        .0 but under a later epoch, so they never repeat one from before the restart."""
        self.uniqueid_epoch_floor = max(old.last_uniqueid_epoch, old.uniqueid_epoch_floor) + 1
        return self
