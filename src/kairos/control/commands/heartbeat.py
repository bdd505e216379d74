"""``heartbeat``: the launcher's application-level liveness check (twice a second)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, take
from kairos.control.commands.status import RUNNING


@dataclass(frozen=True)
class HeartbeatResult(Result):
    """The agent's mesh time, how many actors it knows and how many of them run."""

    now_ns: int
    actors: int
    running: int

    def to_map(self) -> dict[str, Any]:
        return {"now_ns": self.now_ns, "actors": self.actors, "running": self.running}

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> HeartbeatResult:
        return cls(
            now_ns=take(raw, "now_ns", int),
            actors=take(raw, "actors", int),
            running=take(raw, "running", int),
        )


@dataclass(frozen=True)
class Heartbeat(Command[HeartbeatResult]):
    """Prove the agent's loop is alive (ZeroMQ heartbeats only prove the connection is).

    Request args: ``{}``.
    Reply result: ``{"now_ns": int, "actors": int, "running": int}`` — the agent's mesh time,
    how many actors it knows and how many run.
    """

    name = "heartbeat"
    result_type = HeartbeatResult
    logged = False

    def execute(self, agent: AgentServices, received_ns: int) -> HeartbeatResult:
        status = agent.supervisor.status()
        return HeartbeatResult(
            now_ns=agent.mesh_ns(),
            actors=len(status),
            running=sum(1 for a in status if a.state == RUNNING),
        )
