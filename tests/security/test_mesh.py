"""Data-plane encryption: actors spawned with the mesh key talk; nobody without it hears."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from support import free_port

from kairos import wire
from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands import Spawn, Status
from kairos.errors import SecurityError
from kairos.launch.agents import check_agent_keys, mesh_curve
from kairos.meshkey import MeshKey, connect_encrypted
from kairos.topologies.loader import load_text


def specs(key: MeshKey) -> tuple[dict[str, Any], dict[str, Any]]:
    sensor_port, engine_port = free_port(), free_port()
    sensor = {
        "name": "osc",
        "role": "sensor",
        "device": "secure-device",
        "device_class": "mac-mini",
        "bind": f"tcp://127.0.0.1:{sensor_port}",
        "adapter": "oscillator",
        "rate_hz": 50.0,
        "chunk": 5,
        "params": {"freq_hz": 2.0},
        "consumers": ["eng"],
        "curve": key.as_spec(),
    }
    engine = {
        "name": "eng",
        "role": "engine",
        "device": "secure-device",
        "device_class": "mac-mini",
        "bind": f"tcp://127.0.0.1:{engine_port}",
        "inputs": [{"actor": "osc", "stream": "osc", "endpoint": sensor["bind"]}],
        "encoding": {"type": "lockin", "freq_hz": 2.0, "lp_cycles": 2.0},
        "windows": [0.5, 5.0],
        "curve": key.as_spec(),
    }
    return sensor, engine


def listen(endpoint: str, topic: str, seconds: float, key: MeshKey | None) -> list[wire.Message]:
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if key is not None:
        connect_encrypted(sub, key)
    sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("test"))  # releases the ready wait
    sub.connect(endpoint)
    got: list[wire.Message] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sub.poll(100):
                got.append(wire.decode(sub.recv_multipart()))
    finally:
        sub.close(linger=0)
        context.destroy(linger=0)
    return got


def test_encrypted_actors_work_and_strangers_hear_nothing(secure_agent: Any, wait: Any) -> None:
    key = MeshKey.new()
    sensor, engine = specs(key)
    with secure_agent.client() as client:
        client.call(Spawn(ActorProcessSpec.from_dict(engine)))
        client.call(Spawn(ActorProcessSpec.from_dict(sensor)))

        def running() -> bool:
            states = [a.state for a in client.call(Status()).actors]
            return states == ["running", "running"]

        wait(running, 20)
    heard = listen(engine["bind"], "eng/witness", 4.0, key)
    assert heard, "the mesh key holder heard no witness of the engine"
    assert max(m.data["inputs"]["osc"]["msgs"] for m in heard) > 0  # engine got sensor data
    assert any(m.stream == "eng/witness" for m in heard)
    samples = listen(sensor["bind"], "osc", 2.0, key)
    assert samples and samples[0].stream == "osc"
    # a plain subscriber, and one with another key pair, get nothing at all
    assert listen(sensor["bind"], "", 2.0, None) == []
    assert listen(engine["bind"], "", 2.0, MeshKey.new()) == []
    with secure_agent.client() as client:
        assert [a.state for a in client.call(Status()).actors] == ["running", "running"]
    spec_file = secure_agent.state_dir / "actors" / "osc" / "spec.json"
    assert (secure_agent.state_dir.stat().st_mode & 0o077) == 0  # the key stays private
    assert key.secret.decode() in spec_file.read_text()


def test_mesh_key_file_is_0600_and_reads_back(tmp_path: Path) -> None:
    key = MeshKey.new()
    path = key.write(tmp_path / "launch")
    assert path.stat().st_mode & 0o777 == 0o600
    assert MeshKey.read(path) == key
    with pytest.raises(SecurityError, match="does not match"):
        MeshKey.from_spec({"public": MeshKey.new().public.decode(), "secret": key.secret.decode()})


TOPOLOGY = """\
name: keyed
mesh: {{encrypt: true, base_port: {port}}}
devices:
  here: {{class: mac-mini, agent: localhost}}
  far: {{class: pi-4, agent: "tcp://10.9.8.7:7700"{agent_key}}}
actors:
  osc: {{role: sensor, device: far, adapter: oscillator, rate_hz: 50, params: {{freq_hz: 2.0}}}}
  eng: {{role: engine, device: here, inputs: [osc], encoding: {{type: lockin, freq_hz: 2.0}}}}
"""


def test_launcher_key_rules(tmp_path: Path) -> None:
    from kairos.actors.spec import build_specs
    from kairos.errors import TopologyError

    bare = load_text(TOPOLOGY.format(port=free_port(), agent_key=""), "keyed.yaml")
    with pytest.raises(SecurityError, match=r"no agent_key.*far \(tcp://10\.9\.8\.7:7700\)"):
        check_agent_keys(bare)
    key = MeshKey.new()
    with pytest.raises(SecurityError, match=r"refusing to send the mesh key.*far"):
        mesh_curve(build_specs(bare, tmp_path), bare, set(), key)
    agent_pub = MeshKey.new().public.decode()
    keyed = load_text(
        TOPOLOGY.format(port=free_port(), agent_key=f", agent_key: '{agent_pub}'"), "keyed.yaml"
    )
    assert keyed.devices["far"].agent_key == agent_pub
    check_agent_keys(keyed)
    given = mesh_curve(build_specs(keyed, tmp_path), keyed, {"far"}, key)
    assert {spec.curve["secret"] for spec in given.values()} == {key.secret.decode()}
    (tmp_path / "far.key").write_text(f'curve\n    public-key = "{agent_pub}"\n')
    from_file = load_text(
        TOPOLOGY.format(port=free_port(), agent_key=", agent_key: far.key"),
        "keyed.yaml",
        path=tmp_path / "keyed.yaml",
    )
    assert from_file.devices["far"].agent_key == agent_pub
    with pytest.raises(TopologyError, match=r"keyed.yaml:5:\d+: devices.far.agent_key"):
        load_text(
            TOPOLOGY.format(port=free_port(), agent_key=", agent_key: nope.key"),
            "keyed.yaml",
            path=tmp_path / "keyed.yaml",
        )
