"""``kairos replay`` waits for the topology's live consumers only, as a live publisher does.

A full replay has no live consumer (every actor of the recording is replayed), so it starts
after the 0.3 s watcher grace, however long ``--wait`` is, even with a recorder subscribed to
every stream; the recorder, dialling before the replay binds, still gets the first message of
every stream.  Before, the recorder's subscription and the topology's consumer count were
mixed up and such a replay sat out its whole ``--wait``.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
import zmq
from support import free_port
from synthetic_mesh import kairos, kairos_cmd, mesh  # noqa: F401 - fixtures

from kairos import wire
from kairos.tools._recording.player import Publishers
from kairos.tools._recording.reader import read

WAIT_S = 60


def _topology(tmp_path: Path, endpoints: dict[str, str]) -> Path:
    """The synthetic mesh as a topology: sensor mic, engines eng and eng2, sync mesh."""
    port = {name: endpoint.rsplit(":", 1)[1] for name, endpoint in endpoints.items()}
    path = tmp_path / "synthetic.yaml"
    path.write_text(
        f"""name: synthetic
devices:
  kitchen: {{class: mac-mini, agent: localhost}}
  desk: {{class: mac-mini, agent: localhost}}
actors:
  mic: {{role: sensor, device: kitchen, adapter: oscillator, rate_hz: 400, port: {port["mic"]}}}
  eng: {{role: engine, device: kitchen, inputs: [mic], port: {port["eng"]}}}
  eng2: {{role: engine, device: desk, inputs: [mic], port: {port["eng2"]}}}
  mesh: {{role: sync, device: desk, inputs: [eng, eng2], port: {port["mesh"]}}}
"""
    )
    return path


def _by_stream(path: Path) -> dict[str, list[bytes]]:
    headers: dict[str, list[bytes]] = defaultdict(list)
    for message in read(path):
        headers[message.stream].append(message.header)
    return headers


def test_a_full_replay_with_a_recorder_listening_starts_without_waiting(
    mesh,  # noqa: F811 - the fixture
    processes,
    kairos,  # noqa: F811
    kairos_cmd,  # noqa: F811
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.mcap"
    result = kairos("record", *mesh.connect, "-o", str(live), "--duration", "2")
    assert result.returncode == 0, result.stderr
    topology = _topology(tmp_path, mesh.endpoints)
    connect = mesh.connect
    mesh.proc.kill()  # free the endpoints for the replay
    mesh.proc.wait(timeout=10)

    again = tmp_path / "again.mcap"
    recorder = processes.start(kairos_cmd("record", *connect, "-o", str(again)))
    time.sleep(0.5)  # dialling: nothing is bound yet
    began = time.monotonic()
    replay = kairos(
        "replay", str(live), "--topology", str(topology), "--wait", str(WAIT_S), timeout=120
    )
    took = time.monotonic() - began
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(timeout=20) == 0
    assert replay.returncode == 0, replay.stderr
    assert "not every consumer subscribed" not in replay.stderr, replay.stderr
    assert took < WAIT_S, f"the replay sat out its --wait ({took:.1f} s)"
    recorded, replayed = _by_stream(live), _by_stream(again)
    assert set(replayed) == set(recorded)
    for stream, headers in recorded.items():
        assert replayed[stream] == headers, stream  # from the first message on, in order


@pytest.mark.parametrize("announced", [(), ("evil", "eng2"), ("eng",)])
def test_replay_publishers_wait_for_their_named_consumers_only(
    tmp_path: Path, announced: tuple[str, ...]
) -> None:
    """Publishers.wait_for: a watcher, a foreign name and another consumer's name do not
    release an endpoint waiting for ``eng``; ``eng``'s announcement does."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    publishers = Publishers({"mic": endpoint})
    context = zmq.Context()
    sockets = []
    try:
        watcher = context.socket(zmq.SUB)
        watcher.setsockopt(zmq.SUBSCRIBE, b"")
        sockets.append(watcher)
        for name in announced:
            sub = context.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"mic")
            sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription(name))
            sockets.append(sub)
        for sock in sockets:
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
        missing = publishers.wait_for({endpoint: {"eng"}}, timeout_s=1.5)
        assert missing == ({} if "eng" in announced else {endpoint: ["eng"]})
    finally:
        for sock in sockets:
            sock.close()
        context.term()
        publishers.close(linger=0)
