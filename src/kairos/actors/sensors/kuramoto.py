"""A Kuramoto phase oscillator coupled to the mesh pulse (docs/design.md §5.6).

It emits its phase θ (radians, in (−π, π]); an engine with ``encoding: phase`` consumes it.
Between stamps θ advances by (2π·omega_hz + K·r·sin(ψ(t) − θ))·Δt, with r from the latest
mesh pulse and ψ(t) = ψ + Ω·(t − t_pulse) the pulse's phase carried forward at the mesh
frequency Ω to the step's start t: before any pulse r = 0 and the oscillator runs free at its
natural frequency.  Holding ψ instead acts as a delay of half a pulse period plus the
pipeline's latency, which pulls the common frequency down (−0.033 rad/s measured for 16
oscillators at K = 2 K_c with a 20 Hz pulse; carried forward, within 0.001 rad/s of an ideal
simulation: tests/adapters/test_kuramoto_mesh.py).  A pulse from before Ω existed (no
``mesh_frequency``) is held, as then.

The step runs in the frame turning with the pulse, φ = θ − Ω·(t − t_pulse), where ψ is
constant: φ advances by (2π·omega_hz − Ω + K·r·sin(ψ − φ))·Δt, which is the step above
exactly, so the one kuramoto kernel serves both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, SensorAdapter
from kairos.actors.sensors._draws import Draws
from kairos.actors.sensors._seed import seed_from_name
from kairos.kernels import KuramotoState, kuramoto, wrap_phase
from kairos.records import Pulse


class KuramotoSensor(SensorAdapter):
    """A phase oscillator with natural frequency ``omega_hz`` pulled towards the mesh phase."""

    name = "kuramoto"
    dtype = "<f8"
    wants_pulse = True
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["omega_hz"],
        "properties": {
            "omega_hz": {"type": "number", "description": "natural frequency in Hz (required)"},
            "coupling": {
                "type": "number",
                "description": "coupling strength K in rad/s (default 1.0)",
            },
            "theta0": {
                "type": "number",
                "description": "initial phase in radians (default: random from the seed)",
            },
            "seed": {
                "type": "integer",
                "minimum": 0,
                "description": "random seed for theta0 (default: derived from the actor name)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        self.omega_hz = float(params["omega_hz"])
        self.coupling = float(params.get("coupling", 1.0))
        self.seed = int(params.get("seed", seed_from_name(context.actor)))
        if "theta0" in params:
            self.theta0 = float(params["theta0"])
        else:
            self.theta0 = math.pi * (2.0 * float(Draws(self.seed, "theta0").uniform(1)[0]) - 1.0)
        self.r = 0.0
        self.pulse = Pulse(0, 0.0, 0.0)  # r = 0: no coupling before the first pulse
        self._state: KuramotoState | None = None

    @property
    def psi(self) -> float:
        """The latest pulse's mesh phase ψ (at its own stamp)."""
        return self.pulse.mesh_phase

    def on_pulse(self, pulse: Pulse) -> None:
        """Take the mesh's order parameter, phase and frequency for the following reads."""
        values = (pulse.order_parameter, pulse.mesh_phase, pulse.mesh_frequency)
        if not all(math.isfinite(v) for v in values):
            return  # a NaN would poison θ for good; keep the last good pulse
        self.r = min(max(float(pulse.order_parameter), 0.0), 1.0)
        self.pulse = pulse

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        t = np.ascontiguousarray(times_ns, dtype=np.int64)
        pulse = self.pulse
        omega = pulse.mesh_frequency
        if omega == 0.0 or t.shape[0] == 0:
            theta, self._state = kuramoto(
                t, self.omega_hz, self.coupling, self.r, pulse.mesh_phase, self._state, self.theta0
            )
            return np.asarray(theta, dtype=np.float64)
        # in the frame turning with the pulse: φ = θ − turned(t), turned(t) = Ω·(t − t_pulse)
        psi = pulse.mesh_phase
        state = self._state
        if state is not None and state.started:
            turned = pulse.phase_at(state.t_prev_ns) - psi
            state = state._replace(theta=float(wrap_phase(state.theta - turned)))
        theta0 = self.theta0 - (pulse.phase_at(int(t[0])) - psi)
        phi, after = kuramoto(
            t, self.omega_hz - omega / (2 * math.pi), self.coupling, self.r, psi, state, theta0
        )
        theta = wrap_phase(phi + (pulse.phase_at(t) - psi))
        if after.started:
            turned = pulse.phase_at(after.t_prev_ns) - psi
            after = after._replace(theta=float(wrap_phase(after.theta + turned)))
        self._state = after
        return np.asarray(theta, dtype=np.float64)
