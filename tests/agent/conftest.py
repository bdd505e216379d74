"""Fixtures for agent tests: a real agent process on 127.0.0.1 and actor specs for it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from support import Processes, free_port, wait_for

from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import ActorStatus, Status

READY_TIMEOUT_S = 20.0


@dataclass
class RunningAgent:
    proc: Any
    endpoint: str
    state_dir: Path
    log_path: Path

    def client(self, **kwargs: Any) -> ControlClient:
        return ControlClient(self.endpoint, **kwargs)

    def raw(self, frames: list[bytes], timeout_s: float = 5.0) -> list[bytes]:
        return raw_exchange(self.endpoint, frames, timeout_s)


def start_agent(processes: Processes, tmp_path: Path, state_dir: Path, tag: str) -> RunningAgent:
    ready = tmp_path / f"ready-{tag}"
    log_path = tmp_path / f"agent-{tag}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the process owns it until the test ends
    proc = processes.start(
        [
            sys.executable,
            "-m",
            "kairos.agent",
            "--bind",
            "tcp://127.0.0.1:0",
            "--ready-file",
            str(ready),
            "--class",
            "mac-mini",
            "--device",
            "test-device",
            "--state-dir",
            str(state_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}: {log_path.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"agent not ready in {READY_TIMEOUT_S} s: {log_path.read_text()}")
        time.sleep(0.05)
    return RunningAgent(proc, ready.read_text().strip(), state_dir, log_path)


@pytest.fixture
def agent(processes: Processes, tmp_path: Path) -> Iterator[RunningAgent]:
    yield start_agent(processes, tmp_path, tmp_path / "state", "a")


@pytest.fixture
def agent_starter(processes: Processes, tmp_path: Path) -> Callable[[Path, str], RunningAgent]:
    """Start (another) agent on a given state directory."""
    return lambda state_dir, tag: start_agent(processes, tmp_path, state_dir, tag)


@pytest.fixture
def client(agent: RunningAgent) -> Iterator[ControlClient]:
    with agent.client() as c:
        yield c


@pytest.fixture
def sensor_spec() -> Callable[..., ActorProcessSpec]:
    """An oscillator sensor's spec on a free port (``extra``: other spec fields)."""

    def make(name: str = "osc", policy: str = "on-failure", **extra: Any) -> ActorProcessSpec:
        spec = {
            "name": name,
            "role": "sensor",
            "device": "test-device",
            "device_class": "mac-mini",
            "bind": f"tcp://127.0.0.1:{free_port()}",
            "adapter": "oscillator",
            "rate_hz": 50.0,
            "params": {"freq_hz": 2.0},
            "restart": {
                "policy": policy,
                "max_restarts": 10,
                "backoff_s": 0.2,
                "backoff_max_s": 10.0,
            },
        }
        spec.update(extra)
        return ActorProcessSpec.from_dict(spec)

    return make


def raw_exchange(endpoint: str, frames: list[bytes], timeout_s: float = 5.0) -> list[bytes]:
    """Send raw frames on a fresh DEALER and return the reply frames (bounded wait)."""
    context = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send_multipart(frames)
        if not sock.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no reply from {endpoint} within {timeout_s} s")
        return sock.recv_multipart()
    finally:
        sock.close()


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
def status_of() -> Callable[[ControlClient, str], ActorStatus | None]:
    return actor_status


def actor_status(client: ControlClient, name: str) -> ActorStatus | None:
    return client.call(Status()).actor(name)
