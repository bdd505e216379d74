"""The agent's side of mesh time: the device's local clock and its clock file.

The agent samples the local clock's base once at start and writes it to the clock file, so
every actor it starts shares one local clock.  ``clock_set`` from the launcher updates the
correction; the base is never changed while the agent lives.
"""

from __future__ import annotations

import time
from pathlib import Path

from kairos.meshtime import ClockState, MeshClock, sample_base_ns


class AgentClock:
    """The local clock, the correction to mesh time, and the file actors read it from."""

    def __init__(self, clock_file: Path) -> None:
        self.path = clock_file
        self.base_ns = sample_base_ns()
        self.state = ClockState(base_ns=self.base_ns)
        self.state.write(self.path)
        self._mesh = MeshClock(self.path)

    def local_ns(self) -> int:
        return time.monotonic_ns() + self.base_ns

    def mesh_ns(self) -> int:
        return self._mesh.now_ns()

    def set(self, offset_ns: int, skew_ppm: float, uncertainty_ns: int, anchor_ns: int) -> None:
        """Publish a new estimate (atomically), continuous with the current correction:
        actors and this agent slew toward it, mesh time never runs backwards."""
        self.state = self.state.retarget(
            offset_ns, skew_ppm, uncertainty_ns, anchor_ns, mono_ns=time.monotonic_ns()
        )
        self.state.write(self.path)
        self._mesh.refresh()
