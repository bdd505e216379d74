"""Fixtures for security tests: key pairs on disk and a real agent with CurveZMQ on loopback.

CurveZMQ works on loopback too: an agent given ``--curve-key`` uses it (with the allow-list
and the self-test) whatever its bind, so these tests never leave 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import Processes, start_agent, wait_for

from kairos import keys
from kairos.control.client import ControlClient
from kairos.control.sockets import CurveKeys

READY_TIMEOUT_S = 30.0


@dataclass
class KeyRing:
    """An agent pair, a trusted launcher pair and a trusted directory, all under tmp."""

    root: Path
    agent: keys.KeyPair
    launcher: keys.KeyPair
    trusted_dir: Path

    def curve(self, pair: keys.KeyPair | None = None) -> CurveKeys:
        """Client keys towards the agent (the trusted launcher's unless ``pair`` is given)."""
        chosen = pair or self.launcher
        assert chosen.secret is not None
        return CurveKeys(chosen.public, chosen.secret, self.agent.public)


@dataclass
class SecureAgent:
    proc: subprocess.Popen
    endpoint: str
    state_dir: Path
    log_path: Path
    ring: KeyRing

    def client(self, pair: keys.KeyPair | None = None, **kwargs: Any) -> ControlClient:
        return ControlClient(self.endpoint, curve=self.ring.curve(pair), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    root = tmp_path / "keys"
    agent = keys.generate(root, "agent")
    launcher = keys.generate(root, "launcher")
    trusted = tmp_path / "trusted"
    keys.trust(trusted, str(launcher.public_file))
    return KeyRing(root, agent, launcher, trusted)


def start_secure_agent(
    processes: Processes, tmp_path: Path, ring: KeyRing, tag: str = "a", bind: str | None = None
) -> SecureAgent:
    agent = start_agent(
        processes,
        tmp_path,
        tmp_path / f"state-{tag}",
        tag,
        device="secure-device",
        bind=bind or "tcp://127.0.0.1:0",
        extra_args=(
            "--curve-key",
            str(ring.agent.secret_file),
            "--trusted-dir",
            str(ring.trusted_dir),
        ),
        ready_timeout_s=READY_TIMEOUT_S,
    )
    return SecureAgent(agent.proc, agent.endpoint, agent.state_dir, agent.log_path, ring)


@pytest.fixture
def secure_agent(processes: Processes, tmp_path: Path, ring: KeyRing) -> SecureAgent:
    return start_secure_agent(processes, tmp_path, ring)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
def secure_agent_starter(
    processes: Processes, tmp_path: Path, ring: KeyRing
) -> Callable[..., SecureAgent]:
    """Start (another) CurveZMQ agent: ``starter(tag, bind=None)``."""
    return lambda tag, bind=None: start_secure_agent(processes, tmp_path, ring, tag, bind)
