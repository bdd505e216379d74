"""A Kuramoto phase oscillator coupled to the mesh pulse (docs/design.md §5.6).

It emits its phase θ (radians, in (−π, π]); an engine with ``encoding: phase`` consumes it.
Between stamps θ advances by (2π·omega_hz + K·r·sin(ψ − θ))·Δt, with (r, ψ) from the latest
mesh pulse: before any pulse r = 0 and the oscillator runs free at its natural frequency.
The pulse's ψ is held until the next pulse, so the pulse rate should be well above
``omega_hz`` for the coupling to act smoothly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, SensorAdapter
from kairos.actors.sensors._seed import seed_from_name
from kairos.kernels import kuramoto
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
            rng = np.random.Generator(np.random.PCG64(self.seed))
            self.theta0 = float(rng.uniform(-math.pi, math.pi))
        self.r = 0.0
        self.psi = 0.0
        self._state: Any = None

    def on_pulse(self, pulse: Pulse) -> None:
        """Take the mesh's order parameter and phase for the following reads."""
        if not (math.isfinite(pulse.order_parameter) and math.isfinite(pulse.mesh_phase)):
            return  # a NaN would poison θ for good; keep the last good pulse
        self.r = min(max(float(pulse.order_parameter), 0.0), 1.0)
        self.psi = float(pulse.mesh_phase)

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        t = np.ascontiguousarray(times_ns, dtype=np.int64)
        theta, self._state = kuramoto(
            t, self.omega_hz, self.coupling, self.r, self.psi, self._state, self.theta0
        )
        return np.asarray(theta, dtype=np.float64)
