"""The agent's side of mesh time: the device's local clock and its clock file.

The agent reads the local clock's base once at start (exactly: the closest of several
sandwiched reads, :func:`kairos.meshtime.read_base`) and writes it to the clock file, so
every actor it starts shares one local clock.  ``clock_set`` from the launcher updates the
correction: the first one is a step (the launcher sends it before any actor is spawned),
later ones slew unless they jump by more than the step threshold; the base is never changed
while the agent lives.
"""

from __future__ import annotations

import time
from pathlib import Path

from kairos.meshtime import ClockState, MeshClock, read_base


class AgentClock:
    """The local clock, the correction to mesh time, and the file actors read it from."""

    def __init__(self, clock_file: Path) -> None:
        self.path = clock_file
        base = read_base()
        self.base_ns = base.base_ns
        #: bound on the base's error: the launcher counts it in this device's uncertainty
        self.base_error_ns = base.error_ns
        self.state = ClockState(base_ns=self.base_ns, base_error_ns=base.error_ns)
        self.state.write(self.path)
        self._mesh = MeshClock(self.path)
        #: t3 of a clock reply being sent, and how long after its t3 the last one was handed
        #: to the socket: the reply's encoding (~5–10 µs of Python) would otherwise count as
        #: network time on the way back and bias every offset by half of it
        self.reply_t3: int | None = None
        self.send_delay_ns = 0

    def before_send(self) -> None:
        """Called just before a reply is handed to the socket: measures a clock reply's
        delay after its t3, reported with the next clock reply."""
        if self.reply_t3 is not None:
            self.send_delay_ns = max(0, self.local_ns() - self.reply_t3)
            self.reply_t3 = None

    def local_ns(self) -> int:
        return time.monotonic_ns() + self.base_ns

    def mesh_ns(self) -> int:
        return self._mesh.now_ns()

    def set(
        self,
        offset_ns: int,
        skew_ppm: float,
        uncertainty_ns: int,
        anchor_ns: int,
        step_threshold_ns: int | None = None,
    ) -> bool:
        """Publish a new estimate (atomically); True when it was applied as a step.

        Continuous with the current correction (actors and this agent slew toward it, mesh
        time never runs backwards) except for the first estimate and a jump beyond
        ``step_threshold_ns``: those step, and every actor starts a new epoch
        (:meth:`ClockState.retarget`)."""
        steps = self.state.steps
        self.state = self.state.retarget(
            offset_ns,
            skew_ppm,
            uncertainty_ns,
            anchor_ns,
            mono_ns=time.monotonic_ns(),
            step_threshold_ns=step_threshold_ns,
        )
        self.state.write(self.path)
        self._mesh.refresh()
        return self.state.steps != steps
