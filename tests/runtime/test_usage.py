"""kairos._usage: the CPU share and RSS an actor's witness reports, without psutil on Linux."""

from __future__ import annotations

import os
import time

import psutil

from kairos._usage import ProcessUsage


def _spin(cpu_s: float) -> None:
    """Burn ``cpu_s`` seconds of this process's CPU time (reading the clock is the work)."""
    start = spent = sum(os.times()[:2])
    while spent - start < cpu_s:
        spent = sum(os.times()[:2])


def test_cpu_percent_is_cpu_time_over_wall_time_since_the_last_call() -> None:
    usage = ProcessUsage()
    _spin(0.2)
    busy = usage.cpu_percent()
    time.sleep(0.3)
    idle = usage.cpu_percent()
    assert busy > 20.0  # 0.2 s of CPU in at most ~1 s of wall time on a loaded machine
    assert idle < 20.0  # a sleep uses next to none
    assert busy > idle


def test_rss_is_the_resident_memory_psutil_reports() -> None:
    usage = ProcessUsage()
    ballast = bytearray(64 * 2**20)  # touched: resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    ours, theirs = usage.rss_bytes(), psutil.Process().memory_info().rss
    assert abs(ours - theirs) < 2 * 2**20, (ours, theirs)
    assert ours > 64 * 2**20
    del ballast
