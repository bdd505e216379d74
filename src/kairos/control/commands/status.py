"""``status``: every actor the agent supervises, and the agent's request counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kairos.control.commands.base import AgentServices, Command, Result, take
from kairos.errors import ProtocolError

#: the states an agent reports for an actor (kairos.agent.supervisor moves them)
RUNNING: Final = "running"
BACKOFF: Final = "backoff"
STOPPED: Final = "stopped"
FAILED: Final = "failed"
#: states in which an actor counts as deployed: it runs, or will again by itself
ACTIVE: Final = frozenset({RUNNING, BACKOFF})


@dataclass(frozen=True)
class ActorStatus(Result):
    """One supervised actor as ``status`` reports it."""

    name: str
    state: str
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    uptime_s: float = 0.0
    spec_hash: str = ""
    policy: str = ""
    #: seconds until the next restart while in backoff, else None
    next_start_s: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_map(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "uptime_s": self.uptime_s,
            "spec_hash": self.spec_hash,
            "policy": self.policy,
            "next_start_s": self.next_start_s,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> ActorStatus:
        return cls(
            name=take(raw, "name", str),
            state=take(raw, "state", str),
            pid=take(raw, "pid", int, optional=True),
            restarts=take(raw, "restarts", int),
            last_exit=take(raw, "last_exit", int, optional=True),
            uptime_s=take(raw, "uptime_s", float),
            spec_hash=take(raw, "spec_hash", str),
            policy=take(raw, "policy", str),
            next_start_s=take(raw, "next_start_s", float, optional=True),
        )


@dataclass(frozen=True)
class StatusResult(Result):
    """The agent's device and class, its mesh time, request counters and actors."""

    device: str
    device_class: str
    now_ns: int
    counters: dict[str, int]
    actors: tuple[ActorStatus, ...]

    def actor(self, name: str) -> ActorStatus | None:
        """The actor called ``name``, or None when the agent does not know it."""
        return next((a for a in self.actors if a.name == name), None)

    def to_map(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "class": self.device_class,
            "now_ns": self.now_ns,
            "counters": dict(self.counters),
            "actors": [a.to_map() for a in self.actors],
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> StatusResult:
        counters = take(raw, "counters", dict)
        if not all(isinstance(k, str) and type(v) is int for k, v in counters.items()):
            raise ProtocolError("result key 'counters' must map names to integers")
        actors = take(raw, "actors", list)
        if not all(isinstance(a, dict) for a in actors):
            raise ProtocolError("result key 'actors' must be a list of maps")
        return cls(
            device=take(raw, "device", str),
            device_class=take(raw, "class", str),
            now_ns=take(raw, "now_ns", int),
            counters=counters,
            actors=tuple(ActorStatus.from_map(a) for a in actors),
        )


@dataclass(frozen=True)
class Status(Command[StatusResult]):
    """Report every actor and the agent's request counters.

    Request args: ``{}``.
    Reply result: ``{"device": str, "class": str, "now_ns": int, "counters": {code: int},
    "actors": [{"name", "state": "running"|"backoff"|"stopped"|"failed", "pid": int|None,
    "restarts": int, "last_exit": int|None, "uptime_s": float, "spec_hash": str,
    "policy": str, "next_start_s": float|None}, ...]}``.
    """

    name = "status"
    result_type = StatusResult

    def execute(self, agent: AgentServices, received_ns: int) -> StatusResult:
        return StatusResult(
            device=agent.device,
            device_class=agent.device_class,
            now_ns=agent.mesh_ns(),
            counters=agent.counters(),
            actors=tuple(agent.supervisor.status()),
        )
