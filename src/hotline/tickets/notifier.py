"""The one place the ticket feature publishes live events on the bus.

Topics: "alerts" (supervisors: emergencies arriving in text, overdue tickets — the deadline job
in deadlines.py publishes its own escalations) and "tickets" (every workflow step, so lists and
wallboards refresh; the follow-up dialer may also watch for {"type": "follow_up"})."""

from __future__ import annotations

from hotline.bus import Bus
from hotline.db.models import Ticket, TicketStatus
from hotline.ivr.emergency import Verdict


def emergency(bus: Bus, ticket: Ticket, verdict: Verdict) -> None:
    """A text channel brought an emergency: supervisors see it at once."""
    event = {
        "type": "emergency", "channel": str(ticket.channel), "service": verdict.service,
        "keyword": verdict.keyword, "number": ticket.number, "ticket_id": ticket.id,
        "region_code": ticket.region_code, "contact_number": ticket.contact_number,
        "title": ticket.title,
    }
    bus.publish("alerts", event)
    bus.publish("tickets", event)


def created(bus: Bus, ticket: Ticket) -> None:
    bus.publish("tickets", {"type": "ticket_created", "number": ticket.number,
                            "ticket_id": ticket.id, "channel": str(ticket.channel),
                            "status": str(ticket.status), "region_code": ticket.region_code})


def stepped(bus: Bus, ticket: Ticket, action: str, before: TicketStatus) -> None:
    event = {"type": "ticket_step", "action": action, "number": ticket.number,
             "ticket_id": ticket.id, "from_status": str(before), "status": str(ticket.status),
             "department_id": ticket.department_id, "version": ticket.version}
    bus.publish("tickets", event)
    if ticket.status == TicketStatus.FOLLOW_UP and before != TicketStatus.FOLLOW_UP:
        bus.publish("tickets", {**event, "type": "follow_up"})
