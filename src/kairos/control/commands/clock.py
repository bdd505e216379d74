"""``clock``: one NTP-style probe of the agent's local clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, take


@dataclass(frozen=True)
class ClockReading(Result):
    """One probe's agent side: t2 (receipt) and t3 (reply) on its local clock, the echoed t1,
    and the correction the agent applies now."""

    t1: int | None
    t2: int
    t3: int
    offset_ns: int
    uncertainty_ns: int
    synced: bool
    #: bound on the error of the agent's local-clock base (half the gap of its best read):
    #: the launcher counts it in the device's uncertainty against true time
    base_error_ns: int = 0
    #: how long after its t3 the agent's PREVIOUS clock reply was handed to its socket (0:
    #: none yet): the launcher moves t3 by the burst's median of it
    send_delay_ns: int = 0

    def to_map(self) -> dict[str, Any]:
        return {
            "t1": self.t1,
            "t2": self.t2,
            "t3": self.t3,
            "offset_ns": self.offset_ns,
            "uncertainty_ns": self.uncertainty_ns,
            "synced": self.synced,
            "base_error_ns": self.base_error_ns,
            "send_delay_ns": self.send_delay_ns,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> ClockReading:
        return cls(
            t1=take(raw, "t1", int, optional=True),
            t2=take(raw, "t2", int),
            t3=take(raw, "t3", int),
            offset_ns=take(raw, "offset_ns", int),
            uncertainty_ns=take(raw, "uncertainty_ns", int),
            synced=take(raw, "synced", bool),
            base_error_ns=take(raw, "base_error_ns", int),
            send_delay_ns=take(raw, "send_delay_ns", int),
        )


@dataclass(frozen=True)
class Clock(Command[ClockReading]):
    """Answer a four-timestamp probe: the client stamps t1 (send) and t4 (receive).

    Request args: ``{}`` (a client may echo its own ``t1``; it is returned unchanged).
    Reply result: ``{"t1": int|None, "t2": int, "t3": int, "offset_ns": int,
    "uncertainty_ns": int, "synced": bool, "base_error_ns": int, "send_delay_ns": int}`` —
    t2 when the request was received and t3 when the reply was built, both on the agent's
    *local* clock (kairos.meshtime: monotonic + base, uncorrected), the correction the agent
    currently applies, the bound on its base's error, and how long after its t3 the previous
    clock reply reached the socket (its encoding, which t3 cannot include).
    """

    name = "clock"
    result_type = ClockReading
    logged = False

    t1: int | None = None

    def args(self) -> dict[str, Any]:
        return {} if self.t1 is None else {"t1": self.t1}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Clock:
        t1 = args.get("t1")
        return cls(t1=t1 if type(t1) is int else None)  # an echo only: never refused

    def execute(self, agent: AgentServices, received_ns: int) -> ClockReading:
        clock = agent.clock
        state = clock.state
        reading = ClockReading(
            t1=self.t1,
            t2=received_ns,
            offset_ns=state.offset_ns,
            uncertainty_ns=state.uncertainty_ns,
            synced=state.synced,
            base_error_ns=state.base_error_ns,
            send_delay_ns=clock.send_delay_ns,
            t3=agent.local_ns(),  # last: as close to the reply as the agent can stamp it
        )
        clock.reply_t3 = reading.t3  # the agent measures the rest up to its socket
        return reading
