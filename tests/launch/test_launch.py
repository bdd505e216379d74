"""``kairos launch`` end to end: real agents, real actors, real sockets, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import psutil
import zmq
from support import run_kairos

from kairos.control.client import ControlClient
from kairos.control.commands import Status
from kairos.wire import decode


def test_demo_runs_for_its_duration_and_leaves_nothing(demo_topology, tmp_path, mentioning):
    state = tmp_path / "launch"
    result = run_kairos(
        "launch", str(demo_topology), "--duration", "10", "--state-dir", str(state), timeout=90
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "coherent" in result.stdout and "tcp://127.0.0.1:" in result.stdout
    # plain status lines (stdout is not a terminal): every actor ran and reported a rate
    running = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if "state=running" in line and "rate_hz=-" not in line
    }
    assert {"actor=osc-a", "actor=coherent", "actor=mesh"} <= running
    assert mentioning(str(tmp_path)) == []


def test_broken_topology_exits_2_and_starts_nothing(tmp_path, mentioning):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: broken\n"
        "devices:\n"
        "  here: {class: no-such-class, agent: localhost}\n"
        "actors:\n"
        "  eng: {role: engine, device: here, inputs: [ghost]}\n"
    )
    state = tmp_path / "launch"
    result = run_kairos("launch", str(broken), "--state-dir", str(state), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "no-such-class" in result.stderr and "ghost" in result.stderr
    assert not state.exists()
    assert mentioning(str(tmp_path)) == []


def _start(processes, topology: Path, state: Path, *extra: str):
    out = open(state.parent / "launch.out", "w+")  # noqa: SIM115 - closed by the test
    proc = processes.kairos(
        "launch", str(topology), "--state-dir", str(state), *extra, stdout=out, stderr=out
    )
    return proc, out


def _wait_deployed(proc, out, wait_until) -> None:
    def deployed():
        if proc.poll() is not None:
            out.seek(0)
            raise AssertionError(f"launcher exited {proc.returncode}: {out.read()[-3000:]}")
        out.seek(0)
        return "deployed (logs" in out.read()

    wait_until(deployed, 60, step_s=0.1)


def test_sigint_stops_everything_within_5s(
    processes, demo_topology, tmp_path, wait_until, mentioning
):
    state = tmp_path / "launch"
    proc, out = _start(processes, demo_topology, state, "--no-status")
    try:
        _wait_deployed(proc, out, wait_until)
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(family) >= 2 + 8  # launcher, its agent, eight actors
        family += [p for p in mentioning(str(tmp_path)) if p not in family]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(family, timeout=5.0)
        elapsed = time.monotonic() - sent
        assert alive == [], f"still alive {elapsed:.1f} s after SIGINT: {alive}"
        assert proc.wait(timeout=5) == 0
        assert mentioning(str(tmp_path)) == []
    finally:
        out.close()


def test_kill9_engine_is_restarted_and_subscribers_see_the_gap(
    processes, demo_topology, tmp_path, wait_until
):
    state = tmp_path / "launch"
    proc, out = _start(processes, demo_topology, state, "--no-status")
    try:
        _wait_deployed(proc, out, wait_until)
        endpoint = (state / "agents" / "local" / "ready").read_text().strip()
        pid_file = state / "agents" / "local" / "actors" / "coherent" / "pid"
        mesh_endpoint = _endpoint_of(state, "mesh")
        context = zmq.Context.instance()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(mesh_endpoint)
        sub.setsockopt(zmq.SUBSCRIBE, b"mesh/witness")
        with ControlClient(endpoint) as client, contextlib.closing(sub):
            # let data flow so the sync actor has heard the engine before it dies
            wait_until(lambda: _witness_input(sub, "coherent", "msgs") > 0, 20)
            pid = json.loads(pid_file.read_text())["pid"]
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)

            def restarted():
                engine = client.call(Status()).actor("coherent")
                assert engine is not None
                return engine if engine.state == "running" and engine.pid != pid else None

            engine = wait_until(restarted, 10, step_s=0.02)
            elapsed = time.monotonic() - killed
            assert elapsed < 2.0, f"engine restarted after {elapsed:.2f} s"
            assert engine.restarts == 1
            # the sync actor, a subscriber of the engine, reports a restart and an outage
            wait_until(lambda: _witness_input(sub, "coherent", "restarts") >= 1, 20)
            assert _witness_input(sub, "coherent", "outage_ns", wait_s=5) > 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        out.close()


def _endpoint_of(state: Path, actor: str) -> str:
    spec = state / "agents" / "local" / "actors" / actor / "spec.json"
    return json.loads(spec.read_text())["bind"]


def _witness_input(sub: zmq.Socket, stream: str, key: str, wait_s: float = 1.5) -> int:
    """The latest witness value ``inputs[stream][key]`` seen within ``wait_s`` (0 if none)."""
    value = 0
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not sub.poll(100):
            continue
        message = decode(sub.recv_multipart())
        value = int(message.data.get("inputs", {}).get(stream, {}).get(key, 0))
        if value:
            return value
    return value


def test_excluded_actor_is_planned_but_not_started(demo_topology, tmp_path, mentioning):
    state = tmp_path / "launch"
    result = run_kairos(
        "launch",
        str(demo_topology),
        "--duration",
        "4",
        "--exclude",
        "osc-a",
        "--state-dir",
        str(state),
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    plan_line = next(line for line in result.stdout.splitlines() if " osc-a " in line)
    assert "excluded" in plan_line and "tcp://127.0.0.1:" in plan_line
    assert "actor=osc-a device=local role=sensor state=excluded" in result.stdout
    assert not (state / "agents" / "local" / "actors" / "osc-a").exists()
    assert (state / "agents" / "local" / "actors" / "osc-b" / "spec.json").exists()
    bad = run_kairos("launch", str(demo_topology), "--exclude", "nobody", timeout=60)
    assert bad.returncode == 2 and "nobody" in bad.stderr
    assert mentioning(str(tmp_path)) == []
