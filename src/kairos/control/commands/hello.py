"""``hello``: the version handshake a client sends first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos import PROTOCOL_VERSION, __version__
from kairos.control.commands.base import AgentServices, Command, arg
from kairos.control.protocol import VERSION_MISMATCH, RequestError


class Hello(Command):
    """Check that client and agent speak the same control protocol.

    Request args: ``{"version": int}`` — the client's protocol version (optional; the
    request's own ``v`` is checked in any case).
    Reply result: ``{"version": int, "agent_version": str, "device": str, "class": str,
    "now_ns": int}`` — the agent's protocol version, its kairos version, its device name and
    class, and its mesh time.  A different ``version`` is refused with ``version-mismatch``.
    """

    name = "hello"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        version = arg(args, "version", int, PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise RequestError(
                VERSION_MISMATCH,
                f"client speaks control protocol {version}, this agent speaks "
                f"{PROTOCOL_VERSION}; install the same kairos version on both sides",
            )
        return {
            "version": PROTOCOL_VERSION,
            "agent_version": __version__,
            "device": agent.device,
            "class": agent.device_class,
            "now_ns": agent.mesh_ns(),
        }
