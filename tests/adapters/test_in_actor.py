"""Adapters inside real actor processes, over real ZeroMQ sockets on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from support import free_port

from kairos import wire
from kairos.actors.spec import ActorProcessSpec, InputLink


def start_actor(processes, tmp_path: Path, spec: ActorProcessSpec):
    path = tmp_path / f"{spec.name}.json"
    path.write_text(spec.to_json())
    return processes.start([sys.executable, "-m", "kairos.actors", str(path)])


def stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


@pytest.fixture
def ctx():
    """A context whose sockets are all closed at the end (no ResourceWarning)."""
    context = zmq.Context()
    sockets: list[zmq.Socket] = []

    class Owned:
        def socket(self, kind: int) -> zmq.Socket:
            sockets.append(context.socket(kind))
            sockets[-1].setsockopt(zmq.LINGER, 0)
            return sockets[-1]

    yield Owned()
    for sock in sockets:
        sock.close()
    context.destroy(linger=0)


def test_file_sensor_actor_publishes_the_csv_in_order(processes, tmp_path, ctx):
    values = np.round(np.sin(np.arange(60) / 5.0), 6)
    (tmp_path / "data.csv").write_text(
        "t,level\n" + "".join(f"{k},{v}\n" for k, v in enumerate(values))
    )
    port = free_port()
    spec = ActorProcessSpec(
        name="player",
        role="sensor",
        device="here",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{port}",
        adapter="file",
        params={"path": "data.csv", "column": "level", "base_dir": str(tmp_path)},
        rate_hz=100.0,
        chunk=10,
        consumers=("test",),
        work_dir=str(tmp_path / "work"),
    )
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"player")
    sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("test"))  # the one it waits for
    sub.connect(f"tcp://127.0.0.1:{port}")
    proc = start_actor(processes, tmp_path, spec)
    got: list[float] = []
    stamps: list[int] = []
    deadline = time.monotonic() + 30
    while len(got) < len(values) and time.monotonic() < deadline:
        if not sub.poll(500):
            assert proc.poll() is None, "the sensor actor died"
            continue
        message = wire.decode(sub.recv_multipart())
        if message.stream != "player":
            continue  # player/witness
        got.extend(message.data.tolist())
        stamps.extend(message.times.tolist())
    assert got == values.tolist()
    assert np.all(np.diff(stamps) == 10_000_000)
    assert stop(proc) == 0


def test_jsonl_output_actor_writes_what_the_mesh_says(processes, tmp_path, ctx):
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    mesh_port = pub.bind_to_random_port("tcp://127.0.0.1")
    spec = ActorProcessSpec(
        name="journal",
        role="output",
        device="here",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{free_port()}",
        inputs=(InputLink(actor="mesh", stream="mesh", endpoint=f"tcp://127.0.0.1:{mesh_port}"),),
        adapter="jsonl",
        params={"path": "mesh.jsonl"},
        work_dir=str(tmp_path / "work"),
    )
    proc = start_actor(processes, tmp_path, spec)
    out = tmp_path / "work" / "mesh.jsonl"
    sent = {}
    deadline = time.monotonic() + 30
    k = 0
    while time.monotonic() < deadline:
        t_ns = 10**18 + k * 100_000_000
        record = {
            "t_ns": t_ns,
            "global_coherence": 0.5 + 0.001 * k,
            "order_parameter": 0.9,
            "mesh_phase": 0.25,
            "phasor": [0.3, -0.4],
            "emerged": k % 2 == 1,
            "stale_nodes": [],
            "nodes": {},
        }
        sent[t_ns] = record
        pub.send_multipart(wire.encode("mesh", k, 1, t_ns, [t_ns], record))
        k += 1
        time.sleep(0.05)
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= 5:
            break
        assert proc.poll() is None, "the output actor died"
    assert stop(proc) == 0
    lines = out.read_text().splitlines()
    assert len(lines) >= 5
    for line in lines:
        row = json.loads(line)
        record = sent[row["t_ns"]]
        assert row == {
            "t_ns": record["t_ns"],
            "source": "mesh",
            "coherence": record["global_coherence"],
            "phase": 0.25,
            "re": 0.3,
            "im": -0.4,
            "active": record["emerged"],
        }
