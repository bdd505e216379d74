"""Helpers for tests: free ports, process trees that are always killed, running kairos.

Importable from any test as ``from support import ...`` (``tests`` is on pytest's pythonpath).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import zmq

from kairos.control.client import ControlClient
from kairos.ports import free_port_range

T = TypeVar("T")


def free_port() -> int:
    """A port on 127.0.0.1 with the 32 after it free too: room for a topology's base_port.

    Taken from below the ephemeral range (see kairos.ports), so no outgoing connection of
    the test can occupy an actor's port before the actor binds it.
    """
    return free_port_range(32)


def kill_tree(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM a process and its descendants, then SIGKILL whatever is left."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    family = [*parent.children(recursive=True), parent]
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)


class Processes:
    """Starts subprocesses for one test and kills every one (with children) at the end."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen] = []

    def start(
        self, argv: Sequence[str], *, cwd: Path | None = None, env: dict | None = None, **kwargs
    ) -> subprocess.Popen:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = subprocess.Popen(list(argv), cwd=cwd, env=full_env, **kwargs)
        self._started.append(proc)
        return proc

    def kairos(self, *args: str, **kwargs) -> subprocess.Popen:
        """Start the installed ``kairos`` command with this interpreter."""
        return self.start([sys.executable, "-m", "kairos.tools.cli", *args], **kwargs)

    def cleanup(self) -> None:
        for proc in self._started:
            kill_tree(proc.pid)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()


def run_kairos(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run ``kairos ARGS`` to completion, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "kairos.tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def wait_for(predicate: Callable[[], T], timeout_s: float, step_s: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(step_s)


#: seconds an agent may take to write its ready file
AGENT_READY_TIMEOUT_S = 20.0


@dataclass
class RunningAgent:
    """An agent process started by :func:`start_agent`: its control endpoint and log."""

    proc: Any
    endpoint: str
    state_dir: Path
    log_path: Path

    def client(self, **kwargs: Any) -> ControlClient:
        return ControlClient(self.endpoint, **kwargs)

    def raw(self, frames: list[bytes], timeout_s: float = 5.0) -> list[bytes]:
        return raw_exchange(self.endpoint, frames, timeout_s)


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


def start_agent(
    processes: Processes,
    tmp_path: Path,
    state_dir: Path,
    tag: str,
    *,
    device: str = "test-device",
    env: Mapping[str, str] | None = None,
    bind: str = "tcp://127.0.0.1:0",
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = AGENT_READY_TIMEOUT_S,
) -> RunningAgent:
    """An agent bound at ``bind`` (default: 127.0.0.1, an ephemeral port), ready to use;
    plain unless ``extra_args`` give it a CurveZMQ key; its stdout and stderr go to
    ``tmp_path/agent-<tag>.log``; ``env`` adds variables."""
    ready = tmp_path / f"ready-{tag}"
    log_path = tmp_path / f"agent-{tag}.log"
    with open(log_path, "wb") as log:
        proc = processes.start(
            [
                sys.executable,
                "-m",
                "kairos.agent",
                "--bind",
                bind,
                "--ready-file",
                str(ready),
                "--class",
                "mac-mini",
                "--device",
                device,
                "--state-dir",
                str(state_dir),
                *extra_args,
            ],
            env=dict(env) if env else None,  # Processes.start adds os.environ
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + ready_timeout_s
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}: {log_path.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"agent not ready in {ready_timeout_s} s: {log_path.read_text()}")
        time.sleep(0.05)
    return RunningAgent(proc, ready.read_text().strip(), state_dir, log_path)
