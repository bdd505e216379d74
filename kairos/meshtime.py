"""Mesh time as seen by one process: the device's local clock plus the agent's correction.

Every process on a device shares one *local clock*: CLOCK_MONOTONIC plus a base (realtime −
monotonic, sampled once by the agent), so stamps look like Unix-epoch nanoseconds yet never
jump with wall-clock changes.  The agent estimates this local clock's offset and skew to the
mesh reference and writes them to a small JSON *clock file*; every actor re-reads that file
about once a second.  Corrections are slewed, never stepped, so ``now_ns()`` never runs
backwards.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

#: Fastest rate at which a correction is slewed in (500 µs per second).
MAX_SLEW = 500e-6
#: Environment variable that shifts a device's local clock (tests inject clock offsets with it).
SHIFT_ENV = "KAIROS_CLOCK_SHIFT_NS"


def sample_base_ns() -> int:
    """realtime − monotonic now, plus any injected shift: the base of a local clock."""
    shift = int(os.environ.get(SHIFT_ENV, "0"))
    return time.time_ns() - time.monotonic_ns() + shift


@dataclass(frozen=True)
class ClockState:
    """What the agent publishes in the clock file."""

    base_ns: int
    offset_ns: int = 0
    skew_ppm: float = 0.0
    uncertainty_ns: int = 0
    #: local time at which offset_ns was estimated (skew extrapolates from here)
    anchor_ns: int = 0
    synced: bool = False

    def correction_at(self, local_ns: int) -> float:
        return self.offset_ns + self.skew_ppm * 1e-6 * (local_ns - self.anchor_ns)

    def write(self, path: Path) -> None:
        """Write atomically (temp file + rename) so readers never see half a file."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> ClockState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


class MeshClock:
    """Mesh time for one process; ``refresh()`` picks up the agent's latest estimate."""

    def __init__(self, clock_file: Path | None = None) -> None:
        self._file = clock_file
        self._mtime_ns = 0
        state = ClockState.read(clock_file) if clock_file else None
        self.state = state or ClockState(base_ns=sample_base_ns())
        # the correction currently applied; moves toward the state's target at MAX_SLEW
        self._applied = self.state.correction_at(self.local_ns())
        self._last_local = self.local_ns()
        self._last_mesh = int(self.local_ns() + self._applied)

    def local_ns(self) -> int:
        return time.monotonic_ns() + self.state.base_ns

    def now_ns(self) -> int:
        local = self.local_ns()
        target = self.state.correction_at(local)
        elapsed = max(0, local - self._last_local)
        step = MAX_SLEW * elapsed
        delta = target - self._applied
        self._applied += max(-step, min(step, delta))
        self._last_local = local
        mesh = int(local + self._applied)
        if mesh < self._last_mesh:  # rounding can never make time run backwards
            mesh = self._last_mesh
        self._last_mesh = mesh
        return mesh

    def refresh(self) -> bool:
        """Re-read the clock file if it changed; True when a new estimate was taken in."""
        if self._file is None:
            return False
        try:
            mtime = self._file.stat().st_mtime_ns
        except OSError:
            return False
        if mtime == self._mtime_ns:
            return False
        state = ClockState.read(self._file)
        if state is None:
            return False
        self._mtime_ns = mtime
        if state.base_ns != self.state.base_ns:
            # keep mesh time continuous across a base change: fold the difference into the
            # applied correction, which then slews toward the new target
            self._applied += self.state.base_ns - state.base_ns
        self.state = state
        return True

    @property
    def offset_ns(self) -> int:
        return self.state.offset_ns

    @property
    def uncertainty_ns(self) -> int:
        return self.state.uncertainty_ns
