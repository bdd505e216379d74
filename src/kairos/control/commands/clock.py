"""``clock``: one NTP-style probe of the agent's local clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command


class Clock(Command):
    """Answer a four-timestamp probe: the client stamps t1 (send) and t4 (receive).

    Request args: ``{}`` (a client may echo its own ``t1``; it is returned unchanged).
    Reply result: ``{"t1": int|None, "t2": int, "t3": int, "offset_ns": int,
    "uncertainty_ns": int, "synced": bool}`` — t2 when the request was received and t3 just
    before the reply is sent, both on the agent's *local* clock (kairos.meshtime: monotonic +
    base, uncorrected), and the correction the agent currently applies.
    """

    name = "clock"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        state = agent.clock.state
        t1 = args.get("t1")
        return {
            "t1": t1 if type(t1) is int else None,
            "t2": received_ns,
            "offset_ns": state.offset_ns,
            "uncertainty_ns": state.uncertainty_ns,
            "synced": state.synced,
            "t3": agent.local_ns(),
        }
