"""The AMI stand-in's answer to each action, from the exchange with a real Asterisk 22.10.1 in
asterisk-22/transcripts/ami-actions (an idle system) and ami-actions-live (a caller waiting,
then bridged). Each handler takes (server, session, action); replies carry the action's ActionID
(none when the client sent none, as the Ping without ActionID in ami-actions shows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hotline.asterisk.ami_codec import AmiMessage
from hotline.testing.ami_scripts import (
    ACTIONS,
    LIVE,
    ORIGINATE_ANSWERED,
    ORIGINATE_FAILED,
    ORIGINATE_REFUSED,
    ORIGINATE_SYNC_FAILED,
    QUEUE_CALL,
    CallIds,
    Exchange,
    OriginateIds,
    Rewriter,
    agent_device,
    call_enters,
    event,
    exchange,
    is_local,
    local_target,
    originate,
    originate_response,
    parse_callerid,
)
from hotline.testing.ami_state import Member, cdr_times, event_tv, is_true

if TYPE_CHECKING:
    from hotline.testing.ami_server import AmiStandin, _Session

Handler = Callable[["AmiStandin", "_Session", AmiMessage], None]
HANDLERS: dict[str, Handler] = {}
_AS_IS = Rewriter({})
CHANNEL_KEYS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context",
                "Exten", "Priority", "Uniqueid", "Linkedid")


def handles(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name.lower()] = handler
        return handler
    return register


def _list_reply(session: _Session, action: AmiMessage, sent: Exchange,
                items: list[AmiMessage]) -> None:
    """`EventList: start`, the items, then the `…Complete` event with `EventList: Complete`
    and `ListItems` (fact 9; StatusComplete also says `Items`)."""
    session.reply(sent.response, action)
    for item in items:
        session.reply(item, action)
    session.reply(sent.after[-1], action, {"ListItems": len(items), "Items": len(items)})


@handles("Ping")
def ping(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    session.reply(exchange(ACTIONS, "Ping").response, action, {"Timestamp": f"{time.time():.6f}"})


@handles("CoreStatus")
def core_status(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    booted = time.localtime(server.state.booted_at)
    date, clock = time.strftime("%Y-%m-%d", booted), time.strftime("%H:%M:%S", booted)
    session.reply(exchange(ACTIONS, "CoreStatus").response, action, {
        "CoreStartupDate": date, "CoreStartupTime": clock, "CoreReloadDate": date,
        "CoreReloadTime": clock, "CoreCurrentCalls": len(server.state.calls),
        "CoreProcessedCalls": server.state.processed_calls})


@handles("CoreSettings")
def core_settings(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    session.reply(exchange(ACTIONS, "CoreSettings").response, action)


@handles("CoreShowChannels")
def core_show_channels(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    _list_reply(session, action, exchange(ACTIONS, "CoreShowChannels"), server.channels())


def _variable(server: AmiStandin, shown: AmiMessage, name: str) -> str | None:
    if name.upper() == "CHANNEL(LANGUAGE)":
        return shown.get("Language")
    return server.state.variables.get(shown["Channel"], {}).get(name)


def _status_of(server: AmiStandin, shown: AmiMessage, variables: list[str]) -> AmiMessage:
    """A Status event for a channel described by its CoreShowChannel (ami-actions-live)."""
    template = exchange(LIVE, "Status", 1).after[0]  # the one asked for Variables
    h, m, s = (int(part) for part in shown["Duration"].split(":"))
    values: dict[str, str | int | None] = {key: shown.get(key) for key in CHANNEL_KEYS}
    values |= {"Application": shown.get("Application"), "Data": shown.get("ApplicationData"),
               "BridgeID": shown.get("BridgeId"), "Seconds": h * 3600 + m * 60 + s,
               "EffectiveConnectedLineNum": shown.get("ConnectedLineNum"),
               "EffectiveConnectedLineName": shown.get("ConnectedLineName")}
    status = _AS_IS(template, values)
    assert status is not None
    # unset variables read `(null)`: `Variable: QEORIGINALPOS=(null)` in ami-actions-live
    asked = [("Variable", f"{n}={_variable(server, shown, n) or '(null)'}") for n in variables]
    fields = [f for f in status.fields if f[0] not in ("Variable", "ActionID")]
    return AmiMessage([*fields, *asked, ("ActionID", "")])


@handles("Status")
def status(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    wanted = action.get("Channel")
    shown = [c for c in server.channels() if wanted in (None, "", c["Channel"])]
    if wanted and not shown:
        session.reply(exchange(LIVE, "Getvar", 2).response, action)  # `No such channel`
        return
    names = [n.strip() for n in (action.get("Variables") or "").split(",") if n.strip()]
    items = [_status_of(server, channel, names) for channel in shown]
    _list_reply(session, action, exchange(ACTIONS, "Status"), items)


@handles("QueueStatus")
def queue_status(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    sent = exchange(ACTIONS, "QueueStatus")
    params, member_template = sent.after[0], sent.after[1]
    entry, capture = event(LIVE, "QueueEntry"), CallIds.of_transcript(LIVE)
    wanted_member, now = action.get("Member"), time.time()
    items: list[AmiMessage | None] = []
    for queue in server.queues(action.get("Queue")):
        items.append(_AS_IS(params, {
            "Queue": queue.name, "Strategy": queue.strategy, "Calls": len(queue.waiting),
            "Completed": queue.completed, "Abandoned": queue.abandoned}))
        items += [_AS_IS(member_template, {**member.values(), "Queue": queue.name})
                  for member in queue.members.values()
                  if wanted_member in (None, "", member.interface)]
        items += [capture.rewriter_to(call.ids)(entry, {
            "Position": position, "Wait": int(now - call.joined_at)})
            for position, call in enumerate(queue.waiting, 1)]
    _list_reply(session, action, sent, [item for item in items if item is not None])


@handles("QueueSummary")
def queue_summary(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    sent, now = exchange(ACTIONS, "QueueSummary"), time.time()
    items = [_AS_IS(sent.after[0], {
        "Queue": queue.name, "LoggedIn": len(queue.members),
        "Available": sum(m.available for m in queue.members.values()),
        "Callers": len(queue.waiting),
        "LongestHoldTime": max((int(now - c.joined_at) for c in queue.waiting), default=0)})
        for queue in server.queues(action.get("Queue"))]
    _list_reply(session, action, sent, [item for item in items if item is not None])


@handles("QueueAdd")
def queue_add(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    added, refused = exchange(ACTIONS, "QueueAdd", 0), exchange(ACTIONS, "QueueAdd", 1)
    queue = server.state.queues.get(action.get("Queue") or "")
    interface = action.get("Interface") or ""
    if queue is None or not interface:  # not captured: the duplicate's error, our wording
        session.reply(refused.response, action, {"Message": "Unable to add interface to queue"})
        return
    if interface in queue.members:  # `Unable to add interface: Already there`
        session.reply(refused.response, action)
        return
    paused = is_true(action.get("Paused"))
    member = Member(interface, action.get("MemberName") or interface, "dynamic",
                    int(action.get("Penalty") or 0), paused=paused,
                    paused_reason=(action.get("Reason") or "") if paused else "")
    queue.members[interface] = member
    session.reply(added.response, action)
    server.member_events(queue, member, added.after)


@handles("QueuePause")
def queue_pause(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    interface, paused = action.get("Interface") or "", is_true(action.get("Paused"))
    # without Queue, the member is paused in every queue
    queues = [q for q in server.queues(action.get("Queue")) if interface in q.members]
    if not queues:
        session.reply(exchange(ACTIONS, "QueuePause", 2).response, action)  # not found
        return
    sent = exchange(ACTIONS, "QueuePause", 0 if paused else 1)
    session.reply(sent.response, action)
    for queue in queues:
        member = queue.members[interface]
        member.paused, member.paused_reason = paused, (action.get("Reason") or "") if paused else ""
        if paused:  # unpausing leaves LastPause as it was (ami-actions)
            member.last_pause = int(time.time())
        server.member_events(queue, member, sent.after)


@handles("QueueRemove")
def queue_remove(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    queue = server.state.queues.get(action.get("Queue") or "")
    interface = action.get("Interface") or ""
    if queue is None or interface not in queue.members:  # `Not there`
        session.reply(exchange(ACTIONS, "QueueRemove", 1).response, action)
        return
    member = queue.members.pop(interface)
    # Asterisk answers first; QueueMemberRemoved came after the response (ami-actions)
    session.reply(exchange(ACTIONS, "QueueRemove", 0).response, action)
    server.member_events(queue, member, [event(ACTIONS, "QueueMemberRemoved")])


@handles("Setvar")
def set_var(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    channel, name = action.get("Channel"), action.get("Variable") or ""
    value = action.get("Value") or ""
    shown = server.channel(channel) if channel else None
    if channel and shown is None:
        session.reply(exchange(LIVE, "Getvar", 2).response, action)  # `No such channel`
        return
    sent = exchange(ACTIONS, "Setvar")  # then the VarSet event (Channel: none for a global)
    session.reply(sent.response, action)
    if shown is None:
        server.state.variables.setdefault("", {})[name] = value
        server.emit(_AS_IS(sent.after[0], {"Variable": name, "Value": value}))
    else:
        template = event(QUEUE_CALL, "VarSet", Variable="HOTLINE_TEST")  # on a live channel
        server.emit(_AS_IS(template, {**{k: shown.get(k) for k in CHANNEL_KEYS},
                                      "Variable": name, "Value": value}))


@handles("Getvar")
def get_var(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    channel, name = action.get("Channel"), action.get("Variable") or ""
    if not channel:
        value = server.state.variables.get("", {}).get(name, "")
        session.reply(exchange(ACTIONS, "Getvar").response, action,
                      {"Variable": name, "Value": value})
        return
    shown = server.channel(channel)
    if shown is None:
        session.reply(exchange(LIVE, "Getvar", 2).response, action)  # `No such channel`
        return
    session.reply(exchange(LIVE, "Getvar", 0).response, action,
                  {"Variable": name, "Value": _variable(server, shown, name) or ""})


@handles("Hangup")
def hangup(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    found = server.call_of(action.get("Channel") or "")
    if found is None:
        session.reply(exchange(LIVE, "Hangup", 1).response, action)  # `No such channel`
        return
    session.reply(exchange(LIVE, "Hangup", 0).response, action)  # `Channel Hungup`
    call, leg = found
    if call.member is None:
        server.abandon(call)
    else:
        server.agent_complete(call, reason="caller" if leg == "caller" else "agent")


@handles("Originate")
def originate_action(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    """Originate (fact 8), by what the action asks: a Context the dialplan lacks is refused at
    once; a Local channel into a missing context fails (OriginateResponse Failure, Reason 0); an
    Originate into the IVR context becomes a queued call (ami-queue-call); anything else is
    answered as ami-actions' callback is (Reason 4)."""
    channel, application = action.get("Channel") or "", action.get("Application")
    context, exten = action.get("Context") or "", action.get("Exten") or ""
    if application is None and context not in server.contexts:
        session.reply(originate(ORIGINATE_REFUSED).response, action)
        return
    fails = is_local(channel) and local_target(channel)[1] not in server.contexts
    if fails:
        nth = ORIGINATE_FAILED if is_true(action.get("Async")) else ORIGINATE_SYNC_FAILED
    else:
        nth = ORIGINATE_ANSWERED
    sent = originate(nth)
    session.reply(sent.response, action)
    num, name = parse_callerid(action.get("CallerID") or "")
    if nth == ORIGINATE_ANSWERED and application is None and context == server.ivr_context:
        capture = call_enters().ids  # its queue is named after its line: hotline-12345
        queue = capture.queue.replace(capture.line, exten)
        # Our dialplan's hotline-queue joins HOTLINE_QUEUE when the Originate set it (a
        # callback into hotline-callback, dialplans/hotline.conf; assumed, not captured).
        variables = dict(v.split("=", 1) for v in action.getall("Variable") if "=" in v)
        asked = variables.get("HOTLINE_QUEUE", "")
        queue = asked if asked in server.state.queues else queue
        server.queued_call(caller_num=num, caller_name=name, line=exten or None,
                           queue=queue if queue in server.state.queues else None,
                           originate_action=action)
        return
    state = server.state
    new = OriginateIds(
        channel, f"{agent_device(channel)}-{state.new_channel_suffix()}",
        action.get("ChannelId") or state.new_uniqueid(),
        action.get("OtherChannelId") or state.new_uniqueid(),
        num, name, application, action.get("Data"))
    rewrite = OriginateIds.of_capture(nth).rewriter_to(new, context)
    for template in sent.after:
        if template.name == "QueueMemberStatus":  # the capture happened to dial a queue member
            continue
        if template.name == "OriginateResponse":
            template = originate_response(template, action)
        now = time.time()
        server.emit(rewrite(template, cdr_times(now, now) if template.name == "Cdr" else None))


@handles("Command")
def command(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    sent = exchange(ACTIONS, "Command")  # `core show version`; other commands: no output lines
    same = action.get("Command") == sent.action.get("Command")
    session.reply(sent.response, action, None if same else {"Output": None})


def unknown_action(server: AmiStandin, session: _Session, action: AmiMessage) -> None:
    """`Invalid/unknown command: …`, then the RequestBadFormat security event (ami-actions)."""
    sent = exchange(ACTIONS, "NoSuchAction")
    named = Rewriter({sent.action["Action"]: action.get("Action") or ""})
    session.reply(sent.response, action, rewrite=named)
    bad_format = event(ACTIONS, "RequestBadFormat")
    session.send(named(bad_format, {**session.security, "EventTV": event_tv()}))

