"""``am-tone``: an amplitude-modulated tone, the signal a Hilbert transform is made for.

    x(t) = A·(1 + m·cos(2π·cycles(t, f_m)))·cos(2π·cycles(t, f_c) + φ) + σ·N(0, 1)

``cycles`` is :func:`kairos.kernels.carrier_cycles`, the fractional cycle count at a mesh-time
stamp computed without multiplying a 10¹⁸-ns stamp by a frequency in floating point (that
product alone would cost ~10⁻⁴ rad of phase at 40 Hz): every value follows from its own stamp,
so chunking, gaps and the start time never shift the tone.  The envelope A·(1 + m·cos…) is what
the ``hilbert`` encoding's magnitude recovers; the carrier phase φ is what its phase recovers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, SensorAdapter
from kairos.kernels import carrier_cycles


class AmTone(SensorAdapter):
    """x(t) = A·(1 + m·cos(2π f_m t))·cos(2π f_c t + φ) + σ·N(0, 1), from each stamp."""

    name = "am-tone"
    dtype = "<f8"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["carrier_hz"],
        "properties": {
            "carrier_hz": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "carrier frequency f_c in Hz",
            },
            "mod_hz": {
                "type": "number",
                "minimum": 0,
                "description": "modulation frequency f_m in Hz (default 0.5)",
            },
            "depth": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "modulation depth m (default 0.5; 1 touches zero)",
            },
            "amplitude": {"type": "number", "description": "carrier amplitude A (default 1.0)"},
            "phase": {"type": "number", "description": "carrier phase φ in radians (default 0)"},
            "noise": {
                "type": "number",
                "minimum": 0,
                "description": "standard deviation σ of additive Gaussian noise (default 0)",
            },
            "seed": {
                "type": "integer",
                "minimum": 0,
                "description": "noise seed (default: from the actor name, so runs repeat)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        self.carrier_hz = float(params["carrier_hz"])
        self.mod_hz = float(params.get("mod_hz", 0.5))
        self.depth = float(params.get("depth", 0.5))
        self.amplitude = float(params.get("amplitude", 1.0))
        self.phase = float(params.get("phase", 0.0))
        self.noise = float(params.get("noise", 0.0))
        default_seed = int.from_bytes(
            hashlib.blake2b(context.actor.encode(), digest_size=8).digest(), "little"
        )
        # one generator drawn in stamp order: the same seed and stamps give the same noise
        # however the runtime chunks its reads
        self._rng = np.random.Generator(np.random.PCG64(int(params.get("seed", default_seed))))

    def envelope(self, times_ns: np.ndarray) -> np.ndarray:
        """A·(1 + m·cos(2π f_m t)) at each stamp: the amplitude the carrier has there."""
        t = np.ascontiguousarray(times_ns, dtype=np.int64)
        return self.amplitude * (
            1.0 + self.depth * np.cos(2.0 * math.pi * carrier_cycles(t, self.mod_hz))
        )

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        t = np.ascontiguousarray(times_ns, dtype=np.int64)
        carrier = np.cos(2.0 * math.pi * carrier_cycles(t, self.carrier_hz) + self.phase)
        values = self.envelope(t) * carrier
        if self.noise > 0.0:
            values = values + self.noise * self._rng.standard_normal(t.shape[0])
        return values.astype(np.float64, copy=False)
