"""The in-process bus: fan-out by topic, and a subscriber that stops reading is cut off without
holding up the others."""

import asyncio

from hotline.bus import Bus


async def test_events_reach_every_subscriber_of_the_topic_in_order():
    bus = Bus()
    wall, desk = bus.subscribe(["alerts", "queues"]), bus.subscribe(["desk:7"])
    bus.publish("alerts", {"type": "emergency", "n": 1})
    bus.publish("queues", {"type": "join", "n": 2})
    bus.publish("desk:7", {"type": "pop"})
    bus.publish("nobody", {"type": "lost"})
    assert await wall.get() == ("alerts", {"type": "emergency", "n": 1})
    assert await wall.get() == ("queues", {"type": "join", "n": 2})
    assert await desk.get() == ("desk:7", {"type": "pop"})
    assert wall._queue.empty() and desk._queue.empty()


async def test_a_stalled_subscriber_is_cut_off_and_the_others_get_everything():
    bus = Bus()
    stalled = bus.subscribe(["queues"], maxsize=4)
    reader = bus.subscribe(["queues"], maxsize=4)
    received = []

    async def read():
        async for _, event in reader:
            received.append(event["n"])

    task = asyncio.create_task(read())
    for n in range(50):
        bus.publish("queues", {"n": n})
        await asyncio.sleep(0)
    assert stalled.overflowed and stalled.closed
    assert bus.subscriber_count("queues") == 1
    reader.close()
    await asyncio.wait_for(task, 1)
    assert received == list(range(50))
    # The cut-off subscriber drains what it had, then sees the end.
    items = []
    while (item := await stalled.get()) is not None:
        items.append(item)
    assert len(items) <= 4


async def test_close_wakes_a_blocked_reader():
    bus = Bus()
    sub = bus.subscribe(["alerts"])
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.close()
    assert await asyncio.wait_for(waiter, 1) is None
    assert bus.subscriber_count("alerts") == 0
