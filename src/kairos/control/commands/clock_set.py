"""``clock_set``: the launcher's latest estimate of this device's clock to mesh time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, RequestError

#: sanity bound: a crystal off by more than this is broken, not drifting
MAX_SKEW_PPM = 1000.0


@dataclass(frozen=True)
class ClockSetResult(Result):
    """The clock state the agent wrote (its base is kept across corrections)."""

    base_ns: int
    offset_ns: int
    skew_ppm: float
    uncertainty_ns: int
    anchor_ns: int

    def to_map(self) -> dict[str, Any]:
        return {
            "base_ns": self.base_ns,
            "offset_ns": self.offset_ns,
            "skew_ppm": self.skew_ppm,
            "uncertainty_ns": self.uncertainty_ns,
            "anchor_ns": self.anchor_ns,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> ClockSetResult:
        return cls(
            base_ns=take(raw, "base_ns", int),
            offset_ns=take(raw, "offset_ns", int),
            skew_ppm=take(raw, "skew_ppm", float),
            uncertainty_ns=take(raw, "uncertainty_ns", int),
            anchor_ns=take(raw, "anchor_ns", int),
        )


@dataclass(frozen=True)
class ClockSet(Command[ClockSetResult]):
    """Write a new correction to the agent's clock file; the agent and its actors slew to it.

    Request args: ``{"offset_ns": int, "skew_ppm": float, "uncertainty_ns": int,
    "anchor_ns": int}`` — mesh time = local + offset_ns + skew_ppm·1e-6·(local − anchor_ns);
    anchor_ns is on the agent's local clock (default: when the request arrived).  The base of
    the local clock is kept.
    Reply result: ``{"base_ns": int, "offset_ns": int, "skew_ppm": float,
    "uncertainty_ns": int, "anchor_ns": int}``: the state written.
    """

    name = "clock_set"
    result_type = ClockSetResult

    offset_ns: int
    skew_ppm: float = 0.0
    uncertainty_ns: int = 0
    #: None: the agent's local time when the request arrives
    anchor_ns: int | None = None

    def args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "offset_ns": self.offset_ns,
            "skew_ppm": float(self.skew_ppm),
            "uncertainty_ns": self.uncertainty_ns,
        }
        if self.anchor_ns is not None:
            args["anchor_ns"] = self.anchor_ns
        return args

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> ClockSet:
        offset = arg(args, "offset_ns", int)
        skew = float(arg(args, "skew_ppm", (int, float), 0.0))
        uncertainty = arg(args, "uncertainty_ns", int, 0)
        if not abs(skew) <= MAX_SKEW_PPM:  # written so that NaN is refused too
            raise RequestError(BAD_REQUEST, f"skew_ppm {skew} is beyond ±{MAX_SKEW_PPM}")
        if uncertainty < 0:
            raise RequestError(BAD_REQUEST, "uncertainty_ns must not be negative")
        return cls(
            offset_ns=offset,
            skew_ppm=skew,
            uncertainty_ns=uncertainty,
            anchor_ns=arg(args, "anchor_ns", int, None),
        )

    def execute(self, agent: AgentServices, received_ns: int) -> ClockSetResult:
        anchor = received_ns if self.anchor_ns is None else self.anchor_ns
        agent.clock.set(self.offset_ns, self.skew_ppm, self.uncertainty_ns, anchor)
        state = agent.clock.state
        return ClockSetResult(
            base_ns=state.base_ns,
            offset_ns=state.offset_ns,
            skew_ppm=state.skew_ppm,
            uncertainty_ns=state.uncertainty_ns,
            anchor_ns=state.anchor_ns,
        )
