"""``status``: every actor the agent supervises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command


class Status(Command):
    """Report every actor and the agent's request counters.

    Request args: ``{}``.
    Reply result: ``{"device": str, "class": str, "now_ns": int, "counters": {code: int},
    "actors": [{"name", "state": "running"|"backoff"|"stopped"|"failed", "pid": int|None,
    "restarts": int, "last_exit": int|None, "uptime_s": float, "spec_hash": str,
    "policy": str, "next_start_s": float|None}, ...]}``.
    """

    name = "status"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        return {
            "device": agent.device,
            "class": agent.device_class,
            "now_ns": agent.mesh_ns(),
            "counters": agent.counters(),
            "actors": agent.supervisor.status(),
        }
