"""This process's CPU share and resident memory, for the witnesses actors and relays publish.

On Linux both come from the kernel directly (``os.times`` and ``/proc/self/statm``): psutil,
which the agent needs anyway for its device-wide health, costs 2.3 MB of RSS in each actor
that would import it only for these two figures.  Elsewhere (macOS) psutil answers, imported
on first use.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

_STATM = "/proc/self/statm"
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessUsage:
    """``cpu_percent()``: CPU time (user + system, every thread) over wall time since the
    previous call, in percent of one core, as ``psutil.Process().cpu_percent(None)``; the
    first call measures from construction.  ``rss_bytes()``: resident memory now."""

    def __init__(self) -> None:
        self._psutil: Any = None
        if not sys.platform.startswith("linux"):
            import psutil

            self._psutil = psutil.Process()
        self._last_cpu = self._cpu_seconds()
        self._last_wall = time.monotonic()

    def _cpu_seconds(self) -> float:
        times = os.times()
        return times.user + times.system

    def cpu_percent(self) -> float:
        cpu, wall = self._cpu_seconds(), time.monotonic()
        used, elapsed = cpu - self._last_cpu, wall - self._last_wall
        self._last_cpu, self._last_wall = cpu, wall
        return 100.0 * used / elapsed if elapsed > 0 else 0.0

    def rss_bytes(self) -> int:
        if self._psutil is not None:
            return int(self._psutil.memory_info().rss)
        with open(_STATM, encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
