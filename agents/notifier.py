"""The only place that publishes the agents' events on the bus (DESIGN.md §3: notifier.py).

Topics:
- "agents": `{"type": "agent_state", "agent": {...}}` for the wallboard, every state change;
- "desk:<user id>": one agent's desk: `agent_state`, `screen_pop` (the caller, the IVR's
  transcript and category, earlier calls and tickets), `call_connected`, `call_ended`,
  `notice` (an AMI action's outcome the agent should see).
"""

from __future__ import annotations

from typing import Any

from hotline.bus import Bus

AGENTS_TOPIC = "agents"


def desk_topic(user_id: int) -> str:
    return f"desk:{user_id}"


class AgentNotifier:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def state_changed(self, agent: dict[str, Any]) -> None:
        event = {"type": "agent_state", "agent": agent}
        self.bus.publish(AGENTS_TOPIC, event)
        self.bus.publish(desk_topic(int(agent["user_id"])), event)

    def screen_pop(self, user_id: int, pop: dict[str, Any]) -> None:
        self.bus.publish(desk_topic(user_id), {"type": "screen_pop", "call": pop})

    def call_connected(self, user_id: int, uniqueid: str) -> None:
        self.bus.publish(desk_topic(user_id), {"type": "call_connected", "uniqueid": uniqueid})

    def call_ended(self, user_id: int, uniqueid: str) -> None:
        self.bus.publish(desk_topic(user_id), {"type": "call_ended", "uniqueid": uniqueid})

    def notice(self, user_id: int, text: str, *, level: str = "info") -> None:
        self.bus.publish(desk_topic(user_id), {"type": "notice", "level": level, "text": text})
