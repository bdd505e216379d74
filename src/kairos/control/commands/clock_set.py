"""``clock_set``: the launcher's latest estimate of this device's clock to mesh time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command, arg
from kairos.control.protocol import BAD_REQUEST, RequestError

#: sanity bound: a crystal off by more than this is broken, not drifting
MAX_SKEW_PPM = 1000.0


class ClockSet(Command):
    """Write a new correction to the agent's clock file; the agent and its actors slew to it.

    Request args: ``{"offset_ns": int, "skew_ppm": float, "uncertainty_ns": int,
    "anchor_ns": int}`` — mesh time = local + offset_ns + skew_ppm·1e-6·(local − anchor_ns);
    anchor_ns is on the agent's local clock.  The base of the local clock is kept.
    Reply result: ``{"base_ns": int, "offset_ns": int, "skew_ppm": float,
    "uncertainty_ns": int, "anchor_ns": int}``: the state written.
    """

    name = "clock_set"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        offset = arg(args, "offset_ns", int)
        skew = float(arg(args, "skew_ppm", (int, float), 0.0))
        uncertainty = arg(args, "uncertainty_ns", int, 0)
        anchor = arg(args, "anchor_ns", int, received_ns)
        if abs(skew) > MAX_SKEW_PPM:
            raise RequestError(BAD_REQUEST, f"skew_ppm {skew} is beyond ±{MAX_SKEW_PPM}")
        if uncertainty < 0:
            raise RequestError(BAD_REQUEST, "uncertainty_ns must not be negative")
        agent.clock.set(offset, skew, uncertainty, anchor)
        state = agent.clock.state
        return {
            "base_ns": state.base_ns,
            "offset_ns": state.offset_ns,
            "skew_ppm": state.skew_ppm,
            "uncertainty_ns": state.uncertainty_ns,
            "anchor_ns": state.anchor_ns,
        }
