"""``health``: the device's latest health sample and the control plane's refusals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, take
from kairos.errors import ProtocolError


@dataclass(frozen=True)
class HealthReport(Result):
    """One health sample of the device (kairos.agent.health takes one a second)."""

    #: wall-clock time of the sample (seconds since the epoch)
    t_s: float
    cpu_percent: float
    cpu_count: int
    memory_total_bytes: int
    memory_available_bytes: int
    memory_percent: float
    #: 1, 5 and 15 minute load averages; None where the platform has none
    load: tuple[float, ...] | None
    #: the hottest sensor; None where there is none (VMs, macOS)
    temperature_c: float | None
    agent_rss_bytes: int
    agent_cpu_percent: float
    #: what the control plane refused, by kind (kairos.agent.daemon), plus ``curve``
    security: dict[str, Any] = field(default_factory=dict)

    def to_map(self) -> dict[str, Any]:
        return {
            "t_s": self.t_s,
            "cpu_percent": self.cpu_percent,
            "cpu_count": self.cpu_count,
            "memory_total_bytes": self.memory_total_bytes,
            "memory_available_bytes": self.memory_available_bytes,
            "memory_percent": self.memory_percent,
            "load": list(self.load) if self.load is not None else None,
            "temperature_c": self.temperature_c,
            "agent_rss_bytes": self.agent_rss_bytes,
            "agent_cpu_percent": self.agent_cpu_percent,
            "security": dict(self.security),
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> HealthReport:
        load = take(raw, "load", list, optional=True)
        if load is not None and not all(type(v) in (int, float) for v in load):
            raise ProtocolError("result key 'load' must be a list of numbers")
        return cls(
            t_s=take(raw, "t_s", float),
            cpu_percent=take(raw, "cpu_percent", float),
            cpu_count=take(raw, "cpu_count", int),
            memory_total_bytes=take(raw, "memory_total_bytes", int),
            memory_available_bytes=take(raw, "memory_available_bytes", int),
            memory_percent=take(raw, "memory_percent", float),
            load=tuple(float(v) for v in load) if load is not None else None,
            temperature_c=take(raw, "temperature_c", float, optional=True),
            agent_rss_bytes=take(raw, "agent_rss_bytes", int),
            agent_cpu_percent=take(raw, "agent_cpu_percent", float),
            security=take(raw, "security", dict, optional=True) or {},
        )


@dataclass(frozen=True)
class Health(Command[HealthReport]):
    """The device's health as sampled (every second) by the agent.

    Request args: ``{}``.
    Reply result: ``{"t_s", "cpu_percent", "cpu_count", "memory_total_bytes",
    "memory_available_bytes", "memory_percent", "load": [1, 5, 15 min]|None,
    "temperature_c": float|None, "agent_rss_bytes", "agent_cpu_percent", "security": {...}}``
    — ``security`` counts what the control plane refused (``curve``: bool,
    ``handshakes_refused``, ``untrusted_requests``, ``replayed``, ``expired``,
    ``duplicate``, ``malformed``, ``unknown_command``, ``refused``).
    """

    name = "health"
    result_type = HealthReport

    def execute(self, agent: AgentServices, received_ns: int) -> HealthReport:
        report: HealthReport = agent.health.latest
        return report
