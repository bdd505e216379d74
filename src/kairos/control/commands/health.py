"""``health``: the device's latest health sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command


class Health(Command):
    """The device's health as sampled (every second) by the agent.

    Request args: ``{}``.
    Reply result: ``{"t_s", "cpu_percent", "cpu_count", "memory_total_bytes",
    "memory_available_bytes", "memory_percent", "load": [1, 5, 15 min]|None,
    "temperature_c": float|None, "agent_rss_bytes", "agent_cpu_percent"}``.
    """

    name = "health"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        return dict(agent.health.latest)
