"""Fixtures for agent tests: a real agent process on 127.0.0.1 and actor specs for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Processes, RunningAgent, free_port, start_agent, wait_for

from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import ActorStatus, Status


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


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
def status_of() -> Callable[[ControlClient, str], ActorStatus | None]:
    return actor_status


def actor_status(client: ControlClient, name: str) -> ActorStatus | None:
    return client.call(Status()).actor(name)
