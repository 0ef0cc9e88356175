"""The wallboard hub (agents/wallboard_hub.py) on a bare bus: what it folds, whom it sends to,
and how it ends. The interval is an hour, so only the idle rule (the first event after a quiet
interval goes at once) and the alerts (they send the pending state first) make it send: no test
here hangs on speed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hotline.agents.wallboard_hub import HUB_QUEUE_SIZE, HubClient, WallboardHub
from hotline.bus import Bus


async def next_message(client: HubClient) -> dict[str, Any] | None:
    async with asyncio.timeout(5):
        text = await client.next()
    return None if text is None else json.loads(text)


def events_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return message["events"] if message["type"] == "wallboard.batch" else [message]


def queue_event(node: str, name: str, waiting: int) -> dict[str, Any]:
    return {"type": "queue.changed", "node": node, "queue": {"name": name, "waiting": waiting},
            "change": {"kind": "joined", "uniqueid": "1", "fields": {}}}


async def test_a_nodes_whole_list_replaces_its_pending_queues_and_alerts_come_after_state():
    bus, hub = Bus(), WallboardHub(interval=3600)
    client = hub.connect(bus, None, 64)
    bus.publish("queues", queue_event("pbx1", "q", 1))
    assert events_of(await next_message(client))[0]["queue"]["waiting"] == 1  # idle: at once
    bus.publish("queues", queue_event("pbx1", "q", 2))
    bus.publish("queues", queue_event("pbx2", "q", 3))
    bus.publish("queues", {"type": "queues.node", "node": "pbx1", "queues": []})
    bus.publish("alerts", {"type": "emergency", "service": "110"})
    batch = await next_message(client)
    assert [(e["type"], e["node"]) for e in events_of(batch)] == [
        ("queue.changed", "pbx2"), ("queues.node", "pbx1")]  # pbx1's q folded into its list
    assert (await next_message(client))["type"] == "emergency"
    client.close()


async def test_a_scoped_wallboard_gets_its_region_s_agents_and_every_alert():
    bus, hub = Bus(), WallboardHub(interval=3600)
    everyone, dali = hub.connect(bus, None, 64), hub.connect(bus, "532900", 64)
    bus.publish("agents", {"type": "agent_state", "agent": {"user_id": 1,
                                                            "region_code": "530100"}})
    bus.publish("agents", {"type": "agent_state", "agent": {"user_id": 2,
                                                            "region_code": "532901"}})
    bus.publish("alerts", {"type": "emergency", "service": "119"})
    first = await next_message(everyone)
    assert first["agent"]["user_id"] == 1
    assert [e["agent"]["user_id"] for e in events_of(await next_message(everyone))] == [2]
    assert (await next_message(everyone))["type"] == "emergency"
    assert [e["agent"]["user_id"] for e in events_of(await next_message(dali))] == [2]
    assert (await next_message(dali))["type"] == "emergency"
    everyone.close()
    dali.close()


async def test_an_alert_about_a_region_reaches_that_regions_and_the_provinces_wallboards():
    """An alert carries the citizen's number: Kunming's emergency is not Dali's to see."""
    bus, hub = Bus(), WallboardHub(interval=3600)
    everyone, dali = hub.connect(bus, None, 64), hub.connect(bus, "532900", 64)
    bus.publish("alerts", {"type": "emergency", "service": "119", "region_code": "530100",
                           "caller": "13800000001"})
    bus.publish("alerts", {"type": "emergency", "service": "120", "region_code": "532901",
                           "caller": "13800000002"})
    assert [(await next_message(everyone))["service"] for _ in range(2)] == ["119", "120"]
    assert (await next_message(dali))["service"] == "120"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await dali.next()
    everyone.close()
    dali.close()


async def test_a_malformed_event_is_skipped_and_the_hub_goes_on():
    bus, hub = Bus(), WallboardHub(interval=3600)
    client = hub.connect(bus, None, 64)
    bus.publish("agents", {"type": "agent_state", "agent": {"user_id": [1]}})  # unhashable
    bus.publish("alerts", {"type": "emergency", "service": "120"})
    assert (await next_message(client))["type"] == "emergency"
    client.close()


async def test_a_hub_that_falls_behind_the_bus_closes_every_wallboard_as_too_slow():
    bus, hub = Bus(), WallboardHub(interval=3600)
    client = hub.connect(bus, None, 64)
    for n in range(HUB_QUEUE_SIZE + 1):  # the hub never ran meanwhile
        bus.publish("queues", queue_event("pbx1", "q", n))
    while (message := await next_message(client)) is not None:
        assert message["type"] == "queue.changed"  # what it had read is still sent
    assert client.overflowed
    assert bus.subscriber_count("queues") == 0


async def test_the_hub_leaves_the_bus_with_its_last_wallboard_and_comes_back():
    bus, hub = Bus(), WallboardHub(interval=3600)
    first = hub.connect(bus, None, 64)
    assert bus.subscriber_count("queues") == 1
    first.close()
    assert bus.subscriber_count("queues") == 0 and hub.client_count == 0
    second = hub.connect(bus, None, 64)
    bus.publish("queues", queue_event("pbx1", "q", 7))
    assert events_of(await next_message(second))[0]["queue"]["waiting"] == 7
    second.close()
