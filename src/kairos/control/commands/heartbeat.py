"""``heartbeat``: the launcher's application-level liveness check (once a second)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command


class Heartbeat(Command):
    """Prove the agent's loop is alive (ZeroMQ heartbeats only prove the connection is).

    Request args: ``{}``.
    Reply result: ``{"now_ns": int, "actors": int, "running": int}`` — the agent's mesh time,
    how many actors it knows and how many run.
    """

    name = "heartbeat"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        status = agent.supervisor.status()
        return {
            "now_ns": agent.mesh_ns(),
            "actors": len(status),
            "running": sum(1 for a in status if a["state"] == "running"),
        }
