"""GET /api/queues and /api/callbacks in the real app: roles, and what they show after the
ami-queue-call and ami-abandon transcripts (../shared/asterisk-22/transcripts) went through the
app's QueueMonitor (the abandon's HoldTime made 7 s so that a callback is owed: assumed)."""

from dataclasses import replace

from queue_transcripts import START, node_events

from hotline import directory
from hotline.web.keys import DB, QUEUES

from conftest import logged_in

KUNMING = "hl-12345-5301"


def in_kunming(event):
    """The abandon happened in Kunming's 12345 queue (the capture's queue renamed), after 7 s."""
    fields = {**event.fields, "Queue": KUNMING} if "Queue" in event.fields else event.fields
    if event.name == "QueueCallerAbandon":
        fields["HoldTime"] = "7"
    lists = {name: [{**item, "Queue": KUNMING} if "Queue" in item else item for item in items]
             for name, items in event.lists.items()}
    return replace(event, fields=fields, lists=lists)


async def fed(client):
    monitor = client.app[QUEUES]
    monitor.clock = lambda: START  # "today" is the transcripts' day
    events = node_events("ami-queue-call") + [in_kunming(e) for e in node_events("ami-abandon")]
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
    # the last resync (ami-abandon's QueueStatus) lists only the Kunming queue: it wins
    [queue] = node["queues"]
    assert (node["node"], queue["name"], queue["waiting"]) == ("pbx1", KUNMING, 0)
    # ami-abandon's last QueueStatus: Completed 1, Abandoned 1, both members unpaused
    assert (queue["completed"], queue["abandoned"], queue["available"]) == (1, 1, 2)
    today = body["today"]
    assert (today["hotline-12345"]["offered"], today["hotline-12345"]["answered"]) == (1, 1)
    assert today["hotline-12345"]["average_handling"] == 33  # TalkTime 33 (ami-queue-call)
    assert (today[KUNMING]["offered"], today[KUNMING]["abandoned"]) == (1, 1)
    assert body["estimated_wait"][KUNMING] == 0  # members free, nobody waiting
    assert body["targets"]["service_level_seconds"] == 15

    seen = {}
    for user, region in (("li", None), ("liu", "530100"), ("duan", "532900")):
        await logged_in(client, user, "agent", region_code=region)  # province, Kunming, Dali
        response = await client.get("/api/callbacks")
        assert response.status == 200
        seen[user] = await response.json()
    [task] = seen["li"]
    assert (task["kind"], task["status"], task["number"], task["queue"], task["line"]) == (
        "abandoned", "pending", "0301234567", KUNMING, "12345-5301")
    assert seen["liu"] == [task] and seen["duan"] == []

    async with client.app[DB]() as db:
        department = await directory.create_department(db, name="昆明市公安局",
                                                       region_code="530100")
    await logged_in(client, "wu", "handler", department_id=department.id)
    for path in ("/api/queues", "/api/callbacks"):
        assert (await client.get(path)).status == 403
