"""A synthetic mesh publishing known values, and CLI runners: fixtures for tap and recording.

Imported by the conftest of each of those test folders (``tests`` is on pytest's pythonpath).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
from support import Processes, free_port

from kairos.actors._screen import BEHIND
from kairos.drops import Reason

SYNTHETIC = Path(__file__).parent / "synthetic.py"


@dataclass
class SyntheticMesh:
    config: dict
    proc: subprocess.Popen

    @property
    def endpoints(self) -> dict[str, str]:
        return {a["name"]: a["endpoint"] for a in self.config["actors"]}

    @property
    def connect(self) -> list[str]:
        return [arg for e in self.endpoints.values() for arg in ("--connect", e)]


#: what the synthetic engine ``eng`` reports wrong: drop totals, its input ``mic`` with a
#: clock ahead, degraded; and the sync reports ``eng2``'s clock (``eng2`` counts no drop)
ENG_COUNTERS = {
    Reason.MALFORMED.value: 1,
    Reason.QUEUE_OVERFLOW.value: 2,
    Reason.FUTURE_STAMP.value: 5,
    Reason.TIME_VIOLATION.value: 10,
    Reason.INVALID_SAMPLE.value: 3,
    Reason.UNKNOWN_CONSUMER.value: 7,
}
ENG_CLOCK_FAULTS = {"mic": Reason.FUTURE_STAMP.value, "cam": BEHIND}
ENG_DEGRADED = Reason.FUTURE_STAMP.value
SYNC_CLOCK_FAULTS = {"eng2": Reason.FUTURE_STAMP.value}


def mesh_config(duration: float = 60.0) -> dict:
    def endpoint() -> str:
        return f"tcp://127.0.0.1:{free_port()}"

    return {
        "duration": duration,
        "actors": [
            {
                "name": "mic",
                "role": "sensor",
                "endpoint": endpoint(),
                "period_s": 0.02,
                "chunk": 8,
                "device": "kitchen",
                "class": "pi-zero",
                "clock_offset_ns": 123456,  # one device, one clock: the same as eng's
            },
            {
                "name": "eng",
                "role": "engine",
                "endpoint": endpoint(),
                "period_s": 0.05,
                "chunk": 4,
                "device": "kitchen",
                "class": "pi-zero",
                "clock_offset_ns": 123456,
                "counters": ENG_COUNTERS,
                "inputs": {
                    "mic": {"msgs": 500, "future_stamps": 5, "clock": ENG_CLOCK_FAULTS["mic"]},
                    "cam": {"msgs": 40, "clock": ENG_CLOCK_FAULTS["cam"]},
                    "imu": {"msgs": 500},
                },
                "degraded": ENG_DEGRADED,
            },
            {
                "name": "eng2",
                "role": "engine",
                "endpoint": endpoint(),
                "period_s": 0.1,
                "chunk": 2,
                "device": "desk",
                "class": "mac-mini",
                "clock_offset_ns": -7000,
            },
            {
                "name": "mesh",
                "role": "sync",
                "endpoint": endpoint(),
                "period_s": 0.1,
                "device": "desk",
                "class": "mac-mini",
                "clock_offset_ns": -7000,
                "counters": {Reason.FUTURE_STAMP.value: 7},
                "inputs": {
                    "eng": {"msgs": 300},
                    "eng2": {"msgs": 20, "future_stamps": 7, "clock": SYNC_CLOCK_FAULTS["eng2"]},
                },
            },
        ],
    }


def wait_for_traffic(endpoint: str, timeout: float = 10.0) -> None:
    """Block until ``endpoint`` publishes something (the publisher is up and bound)."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    try:
        if not sub.poll(int(timeout * 1000)):
            raise TimeoutError(f"nothing published on {endpoint} within {timeout} s")
    finally:
        sub.close()
        ctx.destroy(linger=0)


def start_mesh(processes: Processes, tmp_path: Path, config: dict) -> SyntheticMesh:
    path = tmp_path / f"mesh-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    proc = processes.start([sys.executable, str(SYNTHETIC), str(path)])
    for endpoint in (a["endpoint"] for a in config["actors"]):
        wait_for_traffic(endpoint)
    return SyntheticMesh(config, proc)


@pytest.fixture
def mesh(processes: Processes, tmp_path: Path) -> Iterator[SyntheticMesh]:
    yield start_mesh(processes, tmp_path, mesh_config())


def kairos_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kairos.tools.cli", *args]


@pytest.fixture
def kairos() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``kairos ARGS`` to completion and capture its text output."""

    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(kairos_argv(*args), capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def synthetic():
    """The synthetic publisher's module, for its value functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kairos_test_synthetic", SYNTHETIC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kairos_cmd() -> Callable[..., list[str]]:
    """The argv that runs ``kairos ARGS`` (for processes a test starts and signals)."""
    return kairos_argv
