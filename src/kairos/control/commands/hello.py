"""``hello``: the version handshake a client sends first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos import PROTOCOL_VERSION, __version__
from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import VERSION_MISMATCH, RequestError


@dataclass(frozen=True)
class HelloResult(Result):
    """Who answered: the agent's protocol and kairos versions, device, class and mesh time."""

    version: int
    agent_version: str
    device: str
    device_class: str
    now_ns: int

    def to_map(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "agent_version": self.agent_version,
            "device": self.device,
            "class": self.device_class,
            "now_ns": self.now_ns,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> HelloResult:
        return cls(
            version=take(raw, "version", int),
            agent_version=take(raw, "agent_version", str),
            device=take(raw, "device", str),
            device_class=take(raw, "class", str),
            now_ns=take(raw, "now_ns", int),
        )


@dataclass(frozen=True)
class Hello(Command[HelloResult]):
    """Check that client and agent speak the same control protocol.

    Request args: ``{"version": int}`` — the client's protocol version (optional; the
    request's own ``v`` is checked in any case).
    Reply result: ``{"version": int, "agent_version": str, "device": str, "class": str,
    "now_ns": int}`` — the agent's protocol version, its kairos version, its device name and
    class, and its mesh time.  A different ``version`` is refused with ``version-mismatch``.
    """

    name = "hello"
    result_type = HelloResult

    version: int = PROTOCOL_VERSION

    def args(self) -> dict[str, Any]:
        return {"version": self.version}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Hello:
        return cls(version=arg(args, "version", int, PROTOCOL_VERSION))

    def execute(self, agent: AgentServices, received_ns: int) -> HelloResult:
        if self.version != PROTOCOL_VERSION:
            raise RequestError(
                VERSION_MISMATCH,
                f"client speaks control protocol {self.version}, this agent speaks "
                f"{PROTOCOL_VERSION}; install the same kairos version on both sides",
            )
        return HelloResult(
            version=PROTOCOL_VERSION,
            agent_version=__version__,
            device=agent.device,
            device_class=agent.device_class,
            now_ns=agent.mesh_ns(),
        )
