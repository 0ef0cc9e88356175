"""GET /api/queues and /api/callbacks in the real app: roles, and what they show after the
ami-queue-call and ami-abandon transcripts (../shared/asterisk-22/transcripts) went through the
app's QueueMonitor (the abandon's HoldTime made 7 s so that a callback is owed: assumed)."""

from dataclasses import replace

from queue_transcripts import START, node_events

from hotline import directory
from hotline.web.keys import DB, QUEUES

from conftest import logged_in


async def fed(client):
    monitor = client.app[QUEUES]
    monitor.clock = lambda: START  # "today" is the transcripts' day
    events = node_events("ami-queue-call") + [
        replace(e, fields={**e.fields, "HoldTime": "7"}) if e.name == "QueueCallerAbandon" else e
        for e in node_events("ami-abandon")]
    for event in events:
        monitor(event)
    await monitor.drain()
    return monitor


async def test_queues_and_callbacks_for_staff_only(client):
    for path in ("/api/queues", "/api/callbacks"):  # no session
        assert (await client.get(path, allow_redirects=False)).status in (401, 303)
    await fed(client)
    await logged_in(client, "zhang", "supervisor")
    response = await client.get("/api/queues")
    assert response.status == 200
    body = await response.json()
    [node] = body["nodes"]
    [queue] = node["queues"]
    assert (node["node"], queue["name"], queue["waiting"]) == ("pbx1", "hotline-12345", 0)
    # ami-abandon's last QueueStatus: Completed 1, Abandoned 1, both members unpaused
    assert (queue["completed"], queue["abandoned"], queue["available"]) == (1, 1, 2)
    today = body["today"]["hotline-12345"]
    assert (today["offered"], today["answered"], today["abandoned"]) == (2, 1, 1)
    assert today["average_handling"] == 33  # TalkTime 33 (ami-queue-call)
    assert body["estimated_wait"]["hotline-12345"] == 0  # members free, nobody waiting
    assert body["targets"]["service_level_seconds"] == 15

    await logged_in(client, "li", "agent")
    response = await client.get("/api/callbacks")
    assert response.status == 200
    [task] = await response.json()
    assert (task["kind"], task["status"], task["number"], task["queue"]) == (
        "abandoned", "pending", "0301234567", "hotline-12345")

    async with client.app[DB]() as db:
        department = await directory.create_department(db, name="昆明市公安局",
                                                       region_code="530100")
    await logged_in(client, "wu", "handler", department_id=department.id)
    for path in ("/api/queues", "/api/callbacks"):
        assert (await client.get(path)).status == 403
