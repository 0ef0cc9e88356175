"""What a real Asterisk 22.10.1 sends on AMI, as templates cut from its captures.

Every reply and event of the AMI stand-in (`ami_server`) is a message Asterisk really sent in
one of the transcripts of `hotline.testing.transcripts` (copies of `asterisk-22/transcripts/`),
with its identities swapped for fresh ones: uniqueids, channel names, the caller, the queue, the
member, the bridge. Nothing here is typed from memory: the templates are looked up by the action
our client sent in the capture (`exchange`) or by event name (`event`), and the identities to
swap are read out of the capture itself (`CallIds.of_transcript`).

The event sequences of a queued call, in the capture's order:
- `call_enters`    ami-queue-call: the caller's Local pair, IVR (AGIExecStart/End...), then
                   QueueCallerJoin and MusicOnHoldStart (README fact 10, first half);
- `agent_connects` ami-queue-call: the member's channel, AgentCalled ... AgentConnect,
                   BridgeCreate, BridgeEnter x2;
- `agent_hangs_up` ami-queue-call: AgentComplete `Reason: agent`, hangups, BridgeDestroy, Cdr;
- `caller_hangs_up` ami-actions-live: after an AMI Hangup of the caller, AgentComplete
                   `Reason: caller`;
- `caller_abandons` ami-abandon: the caller's Hangup, QueueCallerAbandon, QueueCallerLeave
                   (fact 11).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from hotline.asterisk.ami_codec import AmiMessage, parse_block
from hotline.testing import transcripts

QUEUE_CALL = "ami-queue-call"
ACTIONS = "ami-actions"
LIVE = "ami-actions-live"
ABANDON = "ami-abandon"
UNAUTHENTICATED = "ami-unauthenticated"
AUTH_FAILURE = "ami-auth-failure"

Values = Mapping[str, "str | int | None"]


@cache
def _records(name: str) -> tuple[tuple[str, AmiMessage], ...]:
    """(direction, message) of every AMI message of a transcript, in wire order, banner left out."""
    out = []
    for record in transcripts.load(name):
        message = parse_block(record.data) if record.direction != "note" else None
        if message is not None and not record.data.startswith(b"Asterisk Call Manager/"):
            out.append((record.direction, message))
    return tuple(out)


def received(name: str) -> list[AmiMessage]:
    """Every message Asterisk sent in transcript `name`, after the banner."""
    return [message for direction, message in _records(name) if direction == "recv"]


def find(messages: list[AmiMessage], event: str, start: int = 0, **match: str) -> int:
    """Index of the first event named `event` at or after `start` whose fields match."""
    for i in range(start, len(messages)):
        message = messages[i]
        if message.kind == "event" and message.name == event and all(
            message.get(key) == value for key, value in match.items()
        ):
            return i
    raise LookupError(f"no {event} {match} after #{start}")


def event(name: str, event_name: str, **match: str) -> AmiMessage:
    messages = received(name)
    return messages[find(messages, event_name, **match)]


@dataclass(frozen=True)
class Exchange:
    """An action our client sent in a capture, Asterisk's response, and what followed it."""

    action: AmiMessage
    response: AmiMessage
    after: tuple[AmiMessage, ...]  # until Asterisk's next response (list events, events)


@cache
def exchange(name: str, action: str | None, nth: int = 0) -> Exchange:
    """The `nth` exchange for `action` in transcript `name` (None: a message without Action)."""
    records = _records(name)
    sent = [m for d, m in records if d == "sent" and m.get("Action") == action]
    sent_action = sent[nth]
    wanted_id = sent_action.action_id
    for i, (direction, message) in enumerate(records):
        if direction == "recv" and message.kind == "response" and (
            message.action_id == wanted_id
            # a Ping sent without ActionID is answered without one (ami-actions)
            or (wanted_id is None and records[i - 1][1] is sent_action)
        ):
            after = []
            for later_direction, later in records[i + 1 :]:
                if later_direction == "recv" and later.kind == "response":
                    break
                if later_direction == "recv":
                    after.append(later)
            return Exchange(sent_action, message, tuple(after))
    raise LookupError(f"no response to {action} #{nth} in {name}")


# -- rewriting templates ---------------------------------------------------------------------


def _token(text: str) -> str:
    # uniqueids are numbers: 1795606851.1 must not match inside 1795606851.10
    if re.fullmatch(r"\d+\.\d+", text):
        return rf"(?<![\d.]){re.escape(text)}(?!\d)"
    return re.escape(text)


class Rewriter:
    """Swaps a capture's identities in a template's values.

    `swap` replaces substrings (a channel name inside a recording path or a device name); a token
    mapped to None drops the whole message (a Local channel's ;2 leg when the new channel is not
    a Local pair). `exact` replaces only whole values (an exten such as `12345`).
    """

    def __init__(self, swap: Mapping[str, str | None], exact: Mapping[str, str] | None = None):
        self._swap = {k: v for k, v in swap.items() if k and k != v}
        self._exact = {k: v for k, v in (exact or {}).items() if k and k != v}
        tokens = sorted(self._swap, key=len, reverse=True)  # longest first: a channel before
        self._pattern = re.compile("|".join(map(_token, tokens))) if tokens else None  # its device

    def __call__(self, template: AmiMessage, values: Values | None = None) -> AmiMessage | None:
        """The template with identities swapped and the `values` of existing keys replaced
        (None removes the key: an ActionID the client did not send)."""
        overrides = {k.lower(): v for k, v in (values or {}).items()}
        dropped = False

        def swapped(match: re.Match[str]) -> str:
            nonlocal dropped
            new = self._swap[match.group(0)]
            if new is None:
                dropped = True
                return ""
            return new

        fields = []
        for key, value in template.fields:
            lowered = key.lower()
            if lowered in overrides:
                new_value = overrides[lowered]
                if new_value is not None:
                    fields.append((key, str(new_value)))
                continue
            if value in self._exact:
                value = self._exact[value]
            elif self._pattern is not None:
                value = self._pattern.sub(swapped, value)
                if dropped:
                    return None
            fields.append((key, value))
        return AmiMessage(fields)


def agent_device(interface: str) -> str:
    """`Local/8001@agents-sim/n` → `Local/8001@agents-sim` (the name in DeviceStateChange)."""
    return interface.removesuffix("/n")


def agent_exten(interface: str) -> str:
    return agent_device(interface).partition("/")[2].partition("@")[0]


def caller_device(channel: str) -> str:
    """`Local/s@caller-sim-00000000` → `Local/s@caller-sim` (the name in DeviceStateChange)."""
    return channel.rpartition("-")[0]


def is_local(channel_or_interface: str) -> bool:
    return channel_or_interface.startswith("Local/")


@dataclass(frozen=True)
class CallIds:
    """The identities one queued call's events carry. Caller channels are Local pairs (;1 is the
    leg in the queue, ;2 the simulated phone), as in every capture."""

    caller_uniqueid: str  # also the call's Linkedid
    caller_uniqueid2: str
    caller_channel: str  # without ;1 / ;2
    caller_context: str
    caller_num: str
    caller_name: str
    line: str  # the dialled number, the exten in hotline-ivr
    queue: str
    agent_uniqueid: str = ""
    agent_uniqueid2: str = ""
    agent_channel: str = ""  # without ;1 / ;2 when a Local pair
    agent_interface: str = ""
    agent_name: str = ""
    bridge_id: str = ""

    @classmethod
    @cache
    def of_transcript(cls, name: str) -> CallIds:
        join = event(name, "QueueCallerJoin")
        caller_leg = join["Channel"]
        pair = event(name, "LocalBridge", LocalOneChannel=caller_leg)
        ids = CallIds(
            caller_uniqueid=join["Uniqueid"],
            caller_uniqueid2=pair["LocalTwoUniqueid"],
            caller_channel=caller_leg.removesuffix(";1"),
            caller_context=pair["LocalTwoContext"],
            caller_num=join["CallerIDNum"],
            caller_name=join["CallerIDName"],
            line=join["Exten"],
            queue=join["Queue"],
        )
        try:
            connect = event(name, "AgentConnect")
        except LookupError:
            return ids
        agent_leg = connect["DestChannel"]
        agent_pair = event(name, "LocalBridge", LocalOneChannel=agent_leg)
        return ids.with_agent(
            uniqueid=connect["DestUniqueid"],
            uniqueid2=agent_pair["LocalTwoUniqueid"],
            channel=agent_leg.removesuffix(";1"),
            interface=connect["Interface"],
            name=connect["MemberName"],
            bridge_id=event(name, "BridgeCreate")["BridgeUniqueid"],
        )

    def with_agent(self, *, uniqueid: str, uniqueid2: str, channel: str, interface: str,
                   name: str, bridge_id: str) -> CallIds:
        return CallIds(**{**self.__dict__, "agent_uniqueid": uniqueid,
                          "agent_uniqueid2": uniqueid2, "agent_channel": channel,
                          "agent_interface": interface, "agent_name": name,
                          "bridge_id": bridge_id})

    def rewriter_to(self, new: CallIds) -> Rewriter:
        """Rewrites messages carrying these (captured) identities to carry `new` ones."""
        swap: dict[str, str | None] = {
            f"{self.caller_channel};1": f"{new.caller_channel};1",
            f"{self.caller_channel};2": f"{new.caller_channel};2",
            caller_device(self.caller_channel): caller_device(new.caller_channel),
            self.caller_uniqueid: new.caller_uniqueid,
            self.caller_uniqueid2: new.caller_uniqueid2,
            self.caller_num: new.caller_num,
            self.caller_name: new.caller_name,
            self.queue: new.queue,
        }
        exact = {self.line: new.line, self.caller_context: new.caller_context}
        if self.agent_interface and new.agent_interface:
            local = is_local(new.agent_interface)
            swap |= {
                f"{self.agent_channel};1": f"{new.agent_channel};1" if local else new.agent_channel,
                f"{self.agent_channel};2": f"{new.agent_channel};2" if local else None,
                self.agent_uniqueid: new.agent_uniqueid,
                self.agent_uniqueid2: new.agent_uniqueid2 if local else None,
                self.agent_interface: new.agent_interface,
                agent_device(self.agent_interface): agent_device(new.agent_interface),
                self.agent_interface.removeprefix("Local/"):  # DIALEDPEERNUMBER
                    new.agent_interface.removeprefix("Local/"),
                self.agent_name: new.agent_name,
                self.bridge_id: new.bridge_id,
            }
            exact[agent_exten(self.agent_interface)] = agent_exten(new.agent_interface)
        return Rewriter(swap, exact)


@dataclass(frozen=True)
class Script:
    """A run of captured events and the identities they carry."""

    transcript: str
    messages: tuple[AmiMessage, ...]

    @property
    def ids(self) -> CallIds:
        return CallIds.of_transcript(self.transcript)


@cache
def call_enters() -> Script:
    messages = received(QUEUE_CALL)
    start = find(messages, "Newchannel")
    end = find(messages, "MusicOnHoldStart", find(messages, "QueueCallerJoin")) + 1
    return Script(QUEUE_CALL, tuple(messages[start:end]))


@cache
def _agent_hangup_start() -> int:
    # the member's Playback ends (VarSet PLAYBACKSTATUS on its ;2 leg) and it hangs up
    messages = received(QUEUE_CALL)
    return find(messages, "VarSet", find(messages, "AgentConnect"), Variable="PLAYBACKSTATUS")


@cache
def agent_connects() -> Script:
    messages = received(QUEUE_CALL)
    start = find(messages, "MusicOnHoldStart", find(messages, "QueueCallerJoin")) + 1
    return Script(QUEUE_CALL, tuple(messages[start : _agent_hangup_start()]))


@cache
def agent_hangs_up() -> Script:
    messages = received(QUEUE_CALL)
    end = max(i for i, m in enumerate(messages) if m.name == "Cdr") + 1
    return Script(QUEUE_CALL, tuple(messages[_agent_hangup_start() : end]))


@cache
def caller_hangs_up() -> Script:
    return Script(LIVE, exchange(LIVE, "Hangup").after)


@cache
def caller_abandons() -> Script:
    messages = received(ABANDON)
    start = find(messages, "MusicOnHoldStart", find(messages, "QueueCallerJoin")) + 1
    end = find(messages, "QueueCallerAbandon", start)
    while messages[end].kind != "response":  # through the caller's last event
        end += 1
    return Script(ABANDON, tuple(messages[start:end]))


# -- Originate -------------------------------------------------------------------------------
# ami-actions, in order: #0 a callback (Application=Playback) that is answered, #1 a Local
# channel into a missing context (OriginateResponse Failure, Reason 0, Uniqueid <unknown>),
# #2 a missing dialplan Context (refused at once: `Extension does not exist.`), #3 the same
# failing channel as #1 with Async=false (`Originate failed`, then the channel's events).
ORIGINATE_ANSWERED, ORIGINATE_FAILED, ORIGINATE_REFUSED, ORIGINATE_SYNC_FAILED = range(4)


def originate(nth: int) -> Exchange:
    return exchange(ACTIONS, "Originate", nth)


def parse_callerid(callerid: str) -> tuple[str, str]:
    """`"Hotline Test" <0301234567>` → ("0301234567", "Hotline Test"), as OriginateResponse
    splits it into CallerIDNum and CallerIDName (ami-actions)."""
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', callerid)
    return (match.group(2), match.group(1)) if match else (callerid.strip(), "")


def local_target(channel: str) -> tuple[str, str]:
    """`Local/8001@agents-sim/n` → ("8001", "agents-sim")."""
    exten, _, context = agent_device(channel).removeprefix("Local/").partition("@")
    return exten, context


@dataclass(frozen=True)
class OriginateIds:
    """The identities an Originate's events carry."""

    channel: str  # as in the action: Local/8001@agents-sim, PJSIP/1001
    created: str  # the new channel's name, without ;1 / ;2 when a Local pair
    uniqueid: str
    uniqueid2: str
    caller_num: str
    caller_name: str
    application: str | None
    data: str | None

    @classmethod
    @cache
    def of_capture(cls, nth: int) -> OriginateIds:
        sent = originate(nth)
        messages = list(sent.after)
        first = messages[find(messages, "Newchannel")]
        second = messages[find(messages, "Newchannel", find(messages, "Newchannel") + 1)]
        num, name = parse_callerid(sent.action["CallerID"])
        return cls(sent.action["Channel"], first["Channel"].removesuffix(";1"),
                   first["Uniqueid"], second["Uniqueid"], num, name,
                   sent.action.get("Application"), sent.action.get("Data"))

    def rewriter_to(self, new: OriginateIds, context: str) -> Rewriter:
        local = is_local(new.channel)
        swap: dict[str, str | None] = {
            f"{self.created};1": f"{new.created};1" if local else new.created,
            f"{self.created};2": f"{new.created};2" if local else None,
            self.uniqueid: new.uniqueid,
            self.uniqueid2: new.uniqueid2 if local else None,
            agent_device(self.channel): agent_device(new.channel),
            agent_device(self.channel).removeprefix("Local/"):  # DialString
                agent_device(new.channel).removeprefix("Local/"),
            self.caller_num: new.caller_num,
            self.caller_name: new.caller_name,
        }
        exten, old_context = local_target(self.channel)
        new_exten, new_context = local_target(new.channel) if local else ("s", context)
        exact = {exten: new_exten, old_context: new_context}
        if self.application and new.application:
            exact |= {self.application: new.application, self.data or "": new.data or ""}
        return Rewriter(swap, exact)


def originate_response(template: AmiMessage, action: AmiMessage) -> AmiMessage:
    """A captured OriginateResponse for `action`: its ActionID (or none, as the client sent),
    and Context/Exten or Application/Data as the action asked (fact 8)."""
    if action.get("Application") is not None:
        target = [("Application", action["Application"]), ("Data", action.get("Data") or "")]
    else:
        target = [("Context", action.get("Context") or ""), ("Exten", action.get("Exten") or "")]
    fields: list[tuple[str, str]] = []
    for key, value in template.fields:
        if key == "ActionID":
            if action.action_id is not None:
                fields.append((key, action.action_id))
        elif key in ("Context", "Application"):
            fields += target
        elif key not in ("Exten", "Data"):
            fields.append((key, value))
    return AmiMessage(fields)
