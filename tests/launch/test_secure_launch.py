"""The launcher and the tools with CurveZMQ: agent keys, ``--key``, ``mesh.encrypt`` end to end.

Everything runs on 127.0.0.1: an agent started with ``--curve-key`` speaks CurveZMQ on
loopback too, so the launcher's key path is the one a remote device gets.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq
from support import free_port, run_kairos

from kairos import keys, wire
from kairos.control.commands import Status
from kairos.meshkey import MeshKey, connect_encrypted

SEALED = """\
name: sealed
mesh: {{encrypt: true, clock: consensus, pulse_hz: 10}}
devices:
  {device}: {{class: mac-mini, agent: {agent}{agent_key}}}
actors:
  osc: {{role: sensor, device: {device}, port: {p0}, adapter: oscillator, rate_hz: 100,
         params: {{freq_hz: 5.0, noise: 0.05}}}}
  eng: {{role: engine, device: {device}, port: {p1}, inputs: [osc],
         encoding: {{type: lockin, freq_hz: 5.0}}, windows: {{fast: 0.5, slow: 5}}}}
  mesh: {{role: sync, device: {device}, port: {p2}, inputs: [eng], rate_hz: 10}}
"""


def sealed(tmp_path: Path, device: str = "local", agent: str = "localhost", key: str = "") -> Path:
    path = tmp_path / "sealed.yaml"
    path.write_text(
        SEALED.format(
            device=device,
            agent=agent,
            agent_key=f", agent_key: {key}" if key else "",
            p0=free_port(),
            p1=free_port(),
            p2=free_port(),
        )
    )
    return path


def start_launch(processes: Any, topology: Path, state: Path, *extra: str) -> tuple[Any, Path]:
    out = state.parent / "launch.out"
    with open(out, "w") as sink:
        proc = processes.kairos(
            "launch", str(topology), "--state-dir", str(state), *extra, stdout=sink, stderr=sink
        )
    return proc, out


def wait_for_text(proc: Any, out: Path, text: str, wait_until: Any, timeout_s: float = 60) -> str:
    def seen() -> str | None:
        content = out.read_text()
        if text in content:
            return content
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited {proc.returncode}: {content[-3000:]}")
        return None

    return wait_until(seen, timeout_s, step_s=0.1)


def stop_launch(proc: Any, out: Path) -> str:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, out.read_text()[-3000:]
    return out.read_text()


def rated_actors(text: str) -> set[str]:
    """Actors the launcher's plain status showed with a rate: it heard their witness."""
    return {
        line.split()[0].removeprefix("actor=")
        for line in text.splitlines()
        if line.startswith("actor=") and "rate_hz=-" not in line and "rate_hz=" in line
    }


def test_encrypted_mesh_tap_record_replay(processes, tmp_path, wait_until, mentioning) -> None:
    topology = sealed(tmp_path)
    state = tmp_path / "launch"
    proc, out = start_launch(processes, topology, state, "--duration", "90")
    text = wait_for_text(proc, out, "deployed (logs", wait_until)
    key_file = state / "mesh.key_secret"
    assert f"mesh key: {key_file}" in text
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = MeshKey.read(key_file)
    specs = sorted((state / "agents" / "local" / "actors").glob("*/spec.json"))
    assert len(specs) == 3
    for spec in specs:
        assert json.loads(spec.read_text())["curve"] == key.as_spec()

    keyed = run_kairos(
        "tap", str(topology), "--mesh-key", str(key_file), "--once", "--json", "--timeout", "30"
    )
    assert keyed.returncode == 0, keyed.stderr
    nodes = {json.loads(line)["node"] for line in keyed.stdout.splitlines()}
    assert nodes == {"eng", "mesh"}

    blind = run_kairos("tap", str(topology), "--once", "--json", "--timeout", "4")
    assert blind.returncode == 1
    assert blind.stdout == ""
    assert "no complete snapshot" in blind.stderr and "--mesh-key" in blind.stderr
    assert ": encrypted (mesh.encrypt)" in blind.stderr  # seen by the handshake monitor

    from kairos.topologies.loader import load

    eng = load(topology).endpoint("eng")
    wrong = MeshKey.new().write(tmp_path / "other-launch")
    foreign = run_kairos(
        "tap", "--connect", eng, "--mesh-key", str(wrong), "--stream", "eng", "--once",
        "--timeout", "4",
    )  # fmt: skip
    assert foreign.returncode == 1 and foreign.stdout == ""
    assert f"{eng}: refused the mesh key" in foreign.stderr

    recording = tmp_path / "run.mcap"
    recorded = run_kairos(
        "record", str(topology), "--mesh-key", str(key_file), "-o", str(recording),
        "--duration", "3",
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    info = run_kairos("record", "info", str(recording), "--json")
    assert info.returncode == 0, info.stderr
    streams = json.loads(info.stdout)["streams"]
    assert {"osc", "eng", "mesh", "osc/witness", "eng/witness", "mesh/witness"} <= set(streams)
    assert streams["osc"]["messages"] > 0 and streams["osc"]["gaps"] == 0

    # the launcher itself holds the key for its witness subscriber: every actor has a rate
    wait_until(lambda: rated_actors(out.read_text()) == {"osc", "eng", "mesh"}, 30)
    stop_launch(proc, out)
    assert mentioning(str(tmp_path)) == []

    # replay onto the recorded endpoints: keyed subscribers hear it all, a plain one nothing
    refused = run_kairos(
        "replay", str(recording), "--topology", str(topology), "--max-speed", "--wait", "0"
    )
    assert refused.returncode == 1 and "--mesh-key" in refused.stderr
    replayed = replay_into_listeners(recording, key_file, streams["osc"]["messages"], topology)
    assert replayed["keyed"] == streams["osc"]["messages"]
    assert replayed["plain"] == 0


def replay_into_listeners(
    recording: Path, key_file: Path, expected: int, topology: Path
) -> dict[str, int]:
    """Run ``kairos replay --mesh-key`` of ``osc`` with one keyed and one plain listener."""
    from kairos.topologies.loader import load

    endpoint = load(topology).endpoint("osc")
    context = zmq.Context()
    listeners: dict[str, zmq.Socket] = {}
    for name, key in (("keyed", MeshKey.read(key_file)), ("plain", None)):
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        if key is not None:
            connect_encrypted(sock, key)
        sock.setsockopt(zmq.SUBSCRIBE, b"osc")
        sock.connect(endpoint)
        listeners[name] = sock
    counts = dict.fromkeys(listeners, 0)
    try:
        replay = subprocess.Popen(
            [
                sys.executable, "-m", "kairos.tools.cli", "replay", str(recording),
                "--mesh-key", str(key_file), "--streams", "osc", "--max-speed", "--wait", "20",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (
                replay.poll() is None or any(s.poll(0) for s in listeners.values())
            ):
                for name, sock in listeners.items():
                    while sock.poll(0):
                        frames = sock.recv_multipart()
                        assert wire.decode(frames).stream == "osc"
                        counts[name] += 1
                if counts["keyed"] >= expected and replay.poll() is not None:
                    break
                time.sleep(0.01)
            _, err = replay.communicate(timeout=30)
            assert replay.returncode == 0, err
        finally:
            if replay.poll() is None:
                replay.kill()
                replay.communicate()
    finally:
        for sock in listeners.values():
            sock.close(0)
        context.destroy(linger=0)
    return counts


def test_devices_beyond_loopback_without_agent_key_exit_2(tmp_path, mentioning) -> None:
    topology = tmp_path / "far.yaml"
    topology.write_text(
        "name: far\n"
        "devices:\n"
        "  here: {class: mac-mini, agent: localhost}\n"
        '  kitchen: {class: pi-4, agent: "tcp://10.9.8.7:7700"}\n'
        '  garage: {class: pi-4, agent: "tcp://10.9.8.8:7700"}\n'
        "actors:\n"
        f"  osc: {{role: sensor, device: kitchen, port: {free_port()}, adapter: oscillator,"
        " rate_hz: 50, params: {freq_hz: 2.0}}\n"
        f"  eng: {{role: engine, device: here, port: {free_port()}, inputs: [osc]}}\n"
    )
    state = tmp_path / "launch"
    result = run_kairos("launch", str(topology), "--state-dir", str(state), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "kitchen (tcp://10.9.8.7:7700)" in result.stderr
    assert "garage (tcp://10.9.8.8:7700)" in result.stderr
    assert "agent_key" in result.stderr and "nothing was started" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not state.exists()
    assert mentioning(str(tmp_path)) == []


def test_launcher_key_and_agent_key_over_curve(processes, tmp_path, wait_until, mentioning) -> None:
    agent_pair = keys.generate(tmp_path / "agent-keys", "agent")
    launcher = keys.generate(tmp_path / "launcher-keys", "launcher")
    trusted = tmp_path / "trusted"
    keys.trust(trusted, str(launcher.public_file))
    ready = tmp_path / "agent-ready"
    agent_log = tmp_path / "agent.log"
    with open(agent_log, "wb") as log:
        agent = processes.start(
            [
                sys.executable, "-m", "kairos.agent", "--bind", "tcp://127.0.0.1:0",
                "--ready-file", str(ready), "--class", "mac-mini", "--device", "far",
                "--state-dir", str(tmp_path / "agent-state"),
                "--curve-key", str(agent_pair.secret_file), "--trusted-dir", str(trusted),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until(lambda: ready.exists() or agent.poll() is not None, 30)
    assert agent.poll() is None, agent_log.read_text()
    endpoint = ready.read_text().strip()
    topology = sealed(tmp_path, "far", f'"{endpoint}"', str(agent_pair.public_file))

    stranger = keys.generate(tmp_path / "stranger-keys", "stranger")
    refused = run_kairos(
        "launch", str(topology), "--state-dir", str(tmp_path / "refused"), "--no-status",
        "--key", str(stranger.secret_file), timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "not trusted" in refused.stderr and "kairos keys trust" in refused.stderr

    missing = run_kairos(
        "launch", str(topology), "--state-dir", str(tmp_path / "missing"),
        "--key", str(tmp_path / "nowhere.key_secret"), timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "nowhere.key_secret" in missing.stderr
    assert not (tmp_path / "missing").exists()

    state = tmp_path / "launch"
    proc, out = start_launch(
        processes, topology, state, "--duration", "90", "--key", str(launcher.secret_file)
    )
    text = wait_for_text(proc, out, "deployed (logs", wait_until)
    assert "mesh key:" in text
    keyed = run_kairos(
        "tap", str(topology), "--mesh-key", str(state / "mesh.key_secret"), "--once", "--json",
        "--timeout", "30",
    )  # fmt: skip
    assert keyed.returncode == 0, keyed.stderr
    assert {json.loads(line)["node"] for line in keyed.stdout.splitlines()} == {"eng", "mesh"}
    wait_until(lambda: rated_actors(out.read_text()) == {"osc", "eng", "mesh"}, 30)
    stop_launch(proc, out)
    # the launcher stopped the actors on the agent it does not own; the agent still serves
    assert agent.poll() is None
    with keys_client(endpoint, launcher, agent_pair) as client:
        assert [a for a in client.call(Status()).actors if a.state == "running"] == []
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=15) == 0
    assert mentioning(str(tmp_path)) == []


@contextlib.contextmanager
def keys_client(endpoint: str, launcher: keys.KeyPair, agent: keys.KeyPair) -> Iterator[Any]:
    """A control client over CurveZMQ with the launcher's pair, on its own context."""
    from kairos.launch.agents import client_curve, connect

    context = zmq.Context()
    client = connect(endpoint, context=context, curve=client_curve(launcher, agent.public))
    try:
        yield client
    finally:
        client.close()
        context.destroy(linger=0)
