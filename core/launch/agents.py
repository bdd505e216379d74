"""Agents the launcher starts itself: one per ``localhost`` device, or one per emulated device.

A local agent is the launcher's child in its own session (a Ctrl-C in the terminal reaches
the launcher only, which then tears down in order); it binds port 0 and reports its real
endpoint through a ready file.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kairos.errors import AgentError

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 2.0


@dataclass
class StartedAgent:
    """An agent process this launcher owns, and its control endpoint."""

    device: str
    proc: subprocess.Popen[Any]
    endpoint: str
    log_path: Path

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (the agent stops its actors), SIGKILL if it does not go in time."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def agent_argv(
    bind: str, device: str, device_class: str, state_dir: Path, ready: Path
) -> list[str]:
    """How the launcher runs an agent: ``python -m kairos.agent`` (= ``kairos agent run``)."""
    return [
        sys.executable,
        "-m",
        "kairos.agent",
        "--bind",
        bind,
        "--class",
        device_class,
        "--device",
        device,
        "--state-dir",
        str(state_dir),
        "--ready-file",
        str(ready),
    ]


def start_agent(
    device: str,
    device_class: str,
    state_root: Path,
    *,
    bind: str = "tcp://127.0.0.1:0",
    spawn: Callable[[list[str], Any], subprocess.Popen[Any]] | None = None,
) -> StartedAgent:
    """Start an agent for ``device`` and wait until it serves (bounded)."""
    state_dir = state_root / "agents" / device
    state_dir.mkdir(parents=True, exist_ok=True)
    ready = state_dir / "ready"
    ready.unlink(missing_ok=True)
    log_path = state_root / "agents" / f"{device}.log"
    argv = agent_argv(bind, device, device_class, state_dir, ready)
    with open(log_path, "ab") as log:
        if spawn is None:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        else:
            proc = spawn(argv, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None:
            raise AgentError(
                f"agent for device {device!r} exited with {proc.returncode} before serving; "
                f"see {log_path}"
            )
        if time.monotonic() > deadline:
            StartedAgent(device, proc, "", log_path).stop()
            raise AgentError(f"agent for device {device!r} not ready in {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    return StartedAgent(device, proc, ready.read_text().strip(), log_path)
