"""A synthetic tone: a cosine at a carrier frequency with optional noise and phase jitter.

The phase is computed from each stamp (never from a sample count), so a lock-in engine at
the same frequency sees a constant phase whatever the chunking, gaps or clock offsets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, SensorAdapter
from kairos.actors.sensors._draws import Draws
from kairos.actors.sensors._seed import seed_from_name
from kairos.kernels import carrier_cycles

_SEED_SCHEMA = {
    "type": "integer",
    "minimum": 0,
    "description": "random seed (default: derived from the actor name, so runs repeat)",
}


class OscillatorSensor(SensorAdapter):
    """x(t) = amplitude·cos(2π·cycles(t) + phase + jitter(t)) + noise·N(0, 1)."""

    name = "oscillator"
    dtype = "<f8"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "freq_hz": {
                "type": "number",
                "minimum": 0,
                "description": "carrier frequency in Hz (default 8.0)",
            },
            "amplitude": {"type": "number", "description": "peak amplitude (default 1.0)"},
            "noise": {
                "type": "number",
                "minimum": 0,
                "description": "standard deviation of additive Gaussian noise (default 0.0)",
            },
            "phase": {"type": "number", "description": "constant phase in radians (default 0.0)"},
            "phase_jitter": {
                "type": "number",
                "minimum": 0,
                "description": "random-walk phase diffusion in rad/√s (default 0.0: none)",
            },
            "seed": _SEED_SCHEMA,
        },
    }

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        self.freq_hz = float(params.get("freq_hz", 8.0))
        self.amplitude = float(params.get("amplitude", 1.0))
        self.noise = float(params.get("noise", 0.0))
        self.phase = float(params.get("phase", 0.0))
        self.phase_jitter = float(params.get("phase_jitter", 0.0))
        self.seed = int(params.get("seed", seed_from_name(context.actor)))
        # two independent streams, so the values do not depend on how reads are chunked
        self._noise_draws = Draws(self.seed, "noise")
        self._jitter_draws = Draws(self.seed, "jitter")
        self._jitter = 0.0
        self._t_prev: int | None = None

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        t = np.ascontiguousarray(times_ns, dtype=np.int64)
        angle = 2.0 * math.pi * carrier_cycles(t, self.freq_hz) + self.phase
        if self.phase_jitter > 0.0 and t.shape[0]:
            angle = angle + self._walk(t)
        values = self.amplitude * np.cos(angle)
        if self.noise > 0.0:
            values = values + self.noise * self._noise_draws.standard_normal(t.shape[0])
        return values.astype(np.float64, copy=False)

    def _walk(self, t: np.ndarray) -> np.ndarray:
        """The random-walk phase at each stamp: increments of σ·√Δt·N(0, 1), 0 at the start."""
        prev = t[0] if self._t_prev is None else self._t_prev
        edges = np.concatenate(([prev], t))
        dt = np.maximum(np.diff(edges), 0).astype(np.float64) * 1e-9
        steps = self.phase_jitter * np.sqrt(dt) * self._jitter_draws.standard_normal(t.shape[0])
        # cumsum adds left to right: carrying the last value in keeps chunking bit-exact
        walk = np.cumsum(np.concatenate(([self._jitter], steps)))[1:]
        self._jitter = float(walk[-1])
        self._t_prev = int(max(prev, t.max()))
        return walk
