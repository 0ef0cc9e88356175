"""The AMI events of ../shared/asterisk-22/transcripts/ami-queue-call.jsonl (AgentCalled,
AgentConnect, AgentComplete `Reason: agent` for member Local/8001@agents-sim/n), parsed with our
codec and fed to the agents' event handler with the member's interface renamed to a softphone's
(PJSIP/agent8001, as a desk agent's QueueAdd makes it): ringing → on call → wrap-up, each
stored once, even when the whole capture arrives twice (as after a reconnect); the screen pop
carries the capture's caller."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from hotline.agents import profiles
from hotline.agents.ami_events import AgentEventHandler
from hotline.agents.models import AgentState, AgentStateChange
from hotline.agents.notifier import AgentNotifier
from hotline.agents.services import AgentDesk
from hotline.asterisk.ami import NodeEvent
from hotline.asterisk.ami_codec import AmiParser, Message
from hotline.bus import Bus
from hotline.db.models import Role, User
from hotline.testing.transcripts import from_asterisk

CAPTURED_MEMBER = "Local/8001@agents-sim/n"


def captured_events(node: str = "pbx1") -> list[NodeEvent]:
    parser = AmiParser(role="client")
    events = []
    for chunk in from_asterisk("ami-queue-call"):
        for item in parser.feed(chunk):
            if isinstance(item, Message) and item.message.kind == "event":
                fields = dict(item.message.fields)
                if fields.get("Interface") == CAPTURED_MEMBER:
                    fields["Interface"] = "PJSIP/agent8001"
                events.append(NodeEvent(node, item.message.name, fields))
    return events


async def test_the_captured_call_moves_the_agent_once(db):
    async with db() as session:
        user = User(username="agent8001", display_name="坐席8001", role=Role.AGENT,
                    password_hash="!")
        session.add(user)
        await session.commit()
        await profiles.save_profile(session, user, extension="8001", queues={"hotline-12345": 0})
    bus = Bus()
    desk = AgentDesk(db, None, AgentNotifier(bus), wrap_up_seconds=600)
    await desk.load()
    agent = desk.agents[user.id]
    agent.status = replace(agent.status, state=AgentState.READY)  # logged in earlier
    pops = bus.subscribe([f"desk:{user.id}"])
    handler = AgentEventHandler(desk)
    handler.start()
    events = captured_events()
    assert {e.name for e in events} >= {"AgentCalled", "AgentConnect", "AgentComplete"}
    for _ in range(2):
        for event in events:
            handler(event)
        await handler.drain()
    async with db() as session:
        rows = (await session.scalars(select(AgentStateChange).order_by(
            AgentStateChange.id))).all()
    assert [r.state for r in rows] == [AgentState.RINGING, AgentState.ON_CALL,
                                       AgentState.WRAP_UP]
    caller = next(e for e in events if e.name == "AgentCalled")
    assert {r.call_uniqueid for r in rows} == {caller.get("Uniqueid")}
    bus.publish(f"desk:{user.id}", {"type": "end of test"})
    seen = []
    while (item := await pops.get()) is not None and item[1]["type"] != "end of test":
        seen.append(item[1])
    popped = [e["call"] for e in seen if e["type"] == "screen_pop"]
    assert len(popped) == 1 and popped[0]["caller_number"] == "0301234567"
    assert popped[0]["queue"] == "hotline-12345" and popped[0]["call_id"] is None
    await handler.close()
    await desk.close()


async def test_events_of_another_node_or_member_change_nothing(db):
    async with db() as session:
        user = User(username="agent8002", display_name="坐席8002", role=Role.AGENT,
                    password_hash="!")
        session.add(user)
        await session.commit()
        await profiles.save_profile(session, user, extension="8002", queues={"hotline-12345": 0})
    desk = AgentDesk(db, None, AgentNotifier(Bus()))
    await desk.load()
    handler = AgentEventHandler(desk)
    handler.start()
    for event in captured_events():  # the capture's member is PJSIP/agent8001, not 8002
        handler(event)
    await handler.drain()
    assert desk.agents[user.id].status.state is AgentState.LOGGED_OUT
    await handler.close()
