"""The launcher's Python API against a separately started agent: LOST, back, reconciled."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from support import free_port

from kairos.launch import Launch


def _topology(tmp_path: Path, agent_port: int) -> Path:
    path = tmp_path / "remote.yaml"
    path.write_text(
        "name: remote\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        f"  box: {{class: mac-mini, agent: 'tcp://127.0.0.1:{agent_port}'}}\n"
        "actors:\n"
        "  osc: {role: sensor, device: box, adapter: oscillator, rate_hz: 50,\n"
        "        params: {freq_hz: 2.0}}\n"
        "  eng: {role: engine, device: box, inputs: [osc],\n"
        "        encoding: {type: lockin, freq_hz: 2.0}, windows: {fast: 0.5, slow: 10}}\n"
    )
    return path


def _start_agent(processes, port: int, state: Path, ready: Path):
    ready.unlink(missing_ok=True)
    proc = processes.start(
        [
            sys.executable,
            "-m",
            "kairos.agent",
            "--bind",
            f"tcp://127.0.0.1:{port}",
            "--class",
            "mac-mini",
            "--device",
            "box",
            "--state-dir",
            str(state),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "agent did not start"
        time.sleep(0.05)
    return proc


def _actor_processes(state: Path) -> dict[str, list[int]]:
    """Live kairos actor processes per spec path under ``state``."""
    found: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if (
            proc.info["status"] != psutil.STATUS_ZOMBIE
            and cmdline[-3:-1] == ["-m", "kairos.actors"]
            and cmdline[-1].startswith(str(state))
        ):
            found.setdefault(cmdline[-1], []).append(proc.pid)
    return found


def _tick_until(launch: Launch, predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        launch.tick(0.1)
        value = predicate()
        if value:
            return value
    raise TimeoutError(f"not reached in {timeout_s} s: {launch.status()}")


def test_lost_agent_is_reported_and_redeployed_without_duplicates(processes, tmp_path):
    port = free_port()
    state = tmp_path / "agent-state"
    state.mkdir()
    ready = tmp_path / "ready"
    agent = _start_agent(processes, port, state, ready)
    launch = Launch(_topology(tmp_path, port), state_dir=tmp_path / "launch")
    try:
        launch.start()
        states = lambda: {a["name"]: a["state"] for a in launch.status()["actors"]}  # noqa: E731
        _tick_until(launch, lambda: states() == {"osc": "running", "eng": "running"}, 10)
        assert {len(p) for p in _actor_processes(state).values()} == {1}

        agent.send_signal(signal.SIGKILL)  # its actors live on as orphans
        agent.wait(timeout=10)
        _tick_until(launch, lambda: launch.status()["devices"]["box"]["lost"], 10)

        _start_agent(processes, port, state, ready)  # stops the orphans, starts empty
        _tick_until(launch, lambda: not launch.status()["devices"]["box"]["lost"], 15)
        _tick_until(launch, lambda: states() == {"osc": "running", "eng": "running"}, 15)
        time.sleep(0.5)
        running = _actor_processes(state)
        assert sorted(Path(p).parent.name for p in running) == ["eng", "osc"]
        assert {len(p) for p in running.values()} == {1}, running
    finally:
        launch.stop()
    assert _actor_processes(state) == {}
