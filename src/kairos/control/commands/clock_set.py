"""``clock_set``: the launcher's latest estimate of this device's clock to mesh time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, RequestError
from kairos.meshtime import DEFAULT_STEP_THRESHOLD_S

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
    #: the clock file's step count after this correction (kairos.meshtime.ClockState.steps)
    steps: int = 0
    #: whether this correction was applied as a step (the first one, or beyond the threshold)
    stepped: bool = False

    def to_map(self) -> dict[str, Any]:
        return {
            "base_ns": self.base_ns,
            "offset_ns": self.offset_ns,
            "skew_ppm": self.skew_ppm,
            "uncertainty_ns": self.uncertainty_ns,
            "anchor_ns": self.anchor_ns,
            "steps": self.steps,
            "stepped": self.stepped,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> ClockSetResult:
        return cls(
            base_ns=take(raw, "base_ns", int),
            offset_ns=take(raw, "offset_ns", int),
            skew_ppm=take(raw, "skew_ppm", float),
            uncertainty_ns=take(raw, "uncertainty_ns", int),
            anchor_ns=take(raw, "anchor_ns", int),
            steps=take(raw, "steps", int),
            stepped=take(raw, "stepped", bool),
        )


@dataclass(frozen=True)
class ClockSet(Command[ClockSetResult]):
    """Write a new correction to the agent's clock file; the agent and its actors slew to it.

    Request args: ``{"offset_ns": int, "skew_ppm": float, "uncertainty_ns": int,
    "anchor_ns": int, "step_threshold_ns": int}`` — mesh time = local + offset_ns +
    skew_ppm·1e-6·(local − anchor_ns); anchor_ns is on the agent's local clock (default: when
    the request arrived).  The first correction is a step; a later one that moves mesh time
    by more than step_threshold_ns (default: kairos.meshtime.DEFAULT_STEP_THRESHOLD_S) is a
    step too, which starts a new epoch for the device's streams; any other is slewed.  The
    base of the local clock is kept.
    Reply result: ``{"base_ns": int, "offset_ns": int, "skew_ppm": float,
    "uncertainty_ns": int, "anchor_ns": int, "steps": int, "stepped": bool}``: the state
    written, its step count and whether this correction stepped.
    """

    name = "clock_set"
    result_type = ClockSetResult

    offset_ns: int
    skew_ppm: float = 0.0
    uncertainty_ns: int = 0
    #: None: the agent's local time when the request arrives
    anchor_ns: int | None = None
    step_threshold_ns: int = round(DEFAULT_STEP_THRESHOLD_S * 1e9)

    def args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "offset_ns": self.offset_ns,
            "skew_ppm": float(self.skew_ppm),
            "uncertainty_ns": self.uncertainty_ns,
        }
        if self.anchor_ns is not None:
            args["anchor_ns"] = self.anchor_ns
        args["step_threshold_ns"] = self.step_threshold_ns
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
        threshold = arg(args, "step_threshold_ns", int, round(DEFAULT_STEP_THRESHOLD_S * 1e9))
        if threshold <= 0:
            raise RequestError(BAD_REQUEST, "step_threshold_ns must be positive")
        return cls(
            offset_ns=offset,
            skew_ppm=skew,
            uncertainty_ns=uncertainty,
            anchor_ns=arg(args, "anchor_ns", int, None),
            step_threshold_ns=threshold,
        )

    def execute(self, agent: AgentServices, received_ns: int) -> ClockSetResult:
        anchor = received_ns if self.anchor_ns is None else self.anchor_ns
        stepped = agent.clock.set(
            self.offset_ns, self.skew_ppm, self.uncertainty_ns, anchor, self.step_threshold_ns
        )
        state = agent.clock.state
        return ClockSetResult(
            base_ns=state.base_ns,
            offset_ns=state.offset_ns,
            skew_ppm=state.skew_ppm,
            uncertainty_ns=state.uncertainty_ns,
            anchor_ns=state.anchor_ns,
            steps=state.steps,
            stepped=stepped,
        )
