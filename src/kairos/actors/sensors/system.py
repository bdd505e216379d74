"""The device's own health as a sensor: CPU load, memory use and CPU temperature.

One measurement is taken per read and given to every requested stamp of that read (psutil
reports CPU load since the previous call, so sampling faster than ``max_rate_hz`` says
nothing new).  Temperature is NaN where the OS reports none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import psutil

from kairos.actors.adapters import AdapterContext, SensorAdapter

# sensor chips that report the CPU package, most specific first
_CPU_CHIPS = ("coretemp", "k10temp", "zenpower", "cpu_thermal", "cpu-thermal", "soc_thermal")


def cpu_temperature() -> float:
    """The CPU temperature in °C, or NaN when the OS exposes none."""
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return math.nan
    try:
        chips = reader()
    except (OSError, RuntimeError):
        return math.nan
    if not chips:
        return math.nan
    name = next((c for c in _CPU_CHIPS if c in chips), next(iter(chips)))
    readings = [r.current for r in chips[name] if r.current is not None]
    package = [r.current for r in chips[name] if r.label.lower().startswith(("package", "tctl"))]
    chosen = package or readings
    return float(chosen[0]) if chosen else math.nan


class SystemSensor(SensorAdapter):
    """Rows of (cpu_percent, memory_percent, temperature_c)."""

    name = "system"
    dtype = "<f8"
    fields = ("cpu_percent", "memory_percent", "temperature_c")
    max_rate_hz = 10.0
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {},
    }

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        row = (
            psutil.cpu_percent(interval=None),
            psutil.virtual_memory().percent,
            cpu_temperature(),
        )
        return np.tile(np.asarray(row, dtype=np.float64), (len(times_ns), 1))
