"""Device health, sampled once a second so that a ``health`` request never waits on psutil."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psutil

from kairos.control.commands.health import HealthReport


class HealthMonitor:
    """Keeps the latest sample of the device's cpu, memory, load and temperature."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # prime: the first call has no interval to measure
        self._process.cpu_percent(interval=None)
        self.latest = self.sample()

    def sample(self) -> HealthReport:
        memory = psutil.virtual_memory()
        try:
            load: tuple[float, ...] | None = os.getloadavg()
        except OSError:  # not every platform has a load average
            load = None
        self.latest = HealthReport(
            t_s=time.time(),
            cpu_percent=psutil.cpu_percent(interval=None),
            cpu_count=psutil.cpu_count() or 1,
            memory_total_bytes=memory.total,
            memory_available_bytes=memory.available,
            memory_percent=memory.percent,
            load=load,
            temperature_c=_temperature(),
            agent_rss_bytes=self._process.memory_info().rss,
            agent_cpu_percent=self._process.cpu_percent(interval=None),
        )
        return self.latest


def _temperature() -> float | None:
    """The hottest sensor psutil can read, or None where there is none (VMs, macOS)."""
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    readings: dict[str, list[Any]] = {}
    with contextlib.suppress(OSError, RuntimeError):
        readings = reader()
    values = [t.current for entries in readings.values() for t in entries if t.current]
    return max(values) if values else None
