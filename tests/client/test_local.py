"""kairos.client without a launch: gap accounting, the consumer handshake, encryption, errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from kairos import client as client_module
from kairos import wire
from kairos.client import ClientError, Publisher, Subscription
from kairos.meshkey import MeshKey
from kairos.meshtime import ClockState, sample_base_ns
from kairos.records import Pulse


def _ipc(tmp_path: Path, name: str) -> str:
    return f"ipc://{tmp_path / name}"


def _until(sub: Subscription, count: int, timeout_s: float = 10.0) -> list:
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        received = sub.next(timeout_s=0.1)
        if received is not None:
            got.append(received)
    return got


def test_gaps_restarts_and_a_late_join_are_counted_as_docs_wire_says(tmp_path: Path) -> None:
    endpoint = _ipc(tmp_path, "pub")
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    try:
        with Subscription([endpoint], ["mic"]) as sub:
            time.sleep(0.3)  # the subscription reaches the PUB (no handshake on a raw PUB)
            # (epoch, seq): joined at seq 5, a gap of 2, a restart heard from its seq 3
            sent = [(100, 5), (100, 6), (100, 9), (200, 3), (200, 4)]
            for epoch, seq in sent:
                pub.send_multipart(wire.encode("mic", seq, epoch, 0, [seq], np.zeros(1)))
            pub.send_multipart(wire.encode("mic2", 0, 1, 0, [0], np.zeros(1)))  # not selected
            got = _until(sub, len(sent))
            assert [(r.epoch, r.seq) for r in got] == sent
            assert [r.missed for r in got] == [0, 0, 2, 3, 0]
            assert [r.restarted for r in got] == [False, False, False, True, False]
            assert [r.joined_late for r in got] == [True, False, False, False, False]
            track = sub.tracks["mic"]
            assert (track.msgs, track.gaps, track.restarts) == (5, 5, 1)
            assert sub.next(timeout_s=0.3) is None  # mic2 was never delivered
            pub.send_multipart([b"mic", b"\xc1", b"", b""])  # not a wire message
            assert sub.next(timeout_s=0.5) is None and sub.decode_errors == 1
    finally:
        pub.close()
        context.term()


def test_a_publisher_waits_for_its_consumer_and_numbers_its_messages(tmp_path: Path) -> None:
    endpoint = _ipc(tmp_path, "mic")
    context = zmq.Context()
    consumer = context.socket(zmq.SUB)
    consumer.setsockopt(zmq.LINGER, 0)
    try:
        with Publisher(endpoint, "mic", consumers=("eng",)) as pub:
            consumer.setsockopt(zmq.SUBSCRIBE, b"mic")
            consumer.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("eng"))
            consumer.connect(endpoint)
            with Subscription([endpoint], ["mic", "mic/pulse"]) as watcher:
                assert pub.wait_ready()  # the announced consumer, not the watcher, counted
                assert pub.consumers == 1
                for k in range(3):
                    assert pub.send([10 * k, 10 * k + 5], np.array([k, k + 0.5])) == k
                assert pub.send_record(Pulse(7, 0.5, 0.9), "pulse") == 0
                got = _until(watcher, 4)
        heard = [wire.decode(consumer.recv_multipart()) for _ in range(3)]
    finally:
        consumer.close()
        context.term()
    assert [m.seq for m in heard] == [0, 1, 2] and {m.epoch for m in heard} == {pub.epoch}
    assert heard[2].times.tolist() == [20, 25] and heard[2].data.tolist() == [2.0, 2.5]
    assert [(r.stream, r.seq, r.kind) for r in got] == [
        ("mic", 0, "samples"),
        ("mic", 1, "samples"),
        ("mic", 2, "samples"),
        ("mic/pulse", 0, "record"),
    ]
    assert got[3].record == Pulse(7, 0.5, 0.9)
    assert not any(r.joined_late or r.missed for r in got)


def test_an_encrypted_publisher_admits_only_the_key(tmp_path: Path) -> None:
    key = MeshKey.new()
    key_file = key.write(tmp_path / "state")
    endpoint = _ipc(tmp_path, "secure")
    with (
        Publisher(endpoint, "mic", mesh_key=key_file) as pub,
        Subscription([endpoint], ["mic"], mesh_key=key_file) as keyed,
        Subscription([endpoint], ["mic"]) as blind,
    ):
        pub.wait_ready()
        deadline = time.monotonic() + 10
        received = None
        while received is None and time.monotonic() < deadline:
            pub.send([1], np.ones(1))
            received = keyed.next(timeout_s=0.1)
        assert received is not None and received.stream == "mic"
        assert blind.next(timeout_s=0.5) is None
        assert "encrypted (mesh.encrypt)" in blind.problems()[endpoint]


def test_for_actor_takes_only_a_sensor_of_the_topology(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
    with pytest.raises(ClientError, match="'coherent' is not a sensor"):
        Publisher.for_actor(demo, "coherent")
    with pytest.raises(ClientError, match="not an actor"):
        Publisher.for_actor(demo, "ghost")
    with pytest.raises(ClientError, match="not actors of"):
        Subscription.from_topology(demo, actors=["ghost"])
    with pytest.raises(ClientError, match="not an endpoint"):
        Subscription(["localhost:7800"])
    secure = tmp_path / "secure.yaml"
    secure.write_text(
        demo.read_text().replace("  clock: consensus\n", "  clock: consensus\n  encrypt: true\n")
    )
    with pytest.raises(ClientError, match=r"mesh\.encrypt"):
        Subscription.from_topology(secure)
    with pytest.raises(ClientError, match=r"mesh\.encrypt"):
        Publisher.for_actor(secure, "osc-a")


def test_a_publisher_follows_the_agents_clock_and_a_step_starts_a_new_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock file is re-read at most every CLOCK_REFRESH_S; a slewed estimate is taken in
    quietly, a step (its ``steps`` count changed) restarts the epoch with seq 0, and the
    Subscription counts it as a restart, not a gap."""
    monkeypatch.setattr(client_module, "CLOCK_REFRESH_S", 0.0)
    clock_file = tmp_path / "clock.json"
    base = sample_base_ns()
    ClockState(base_ns=base, synced=True, steps=1).write(clock_file)
    endpoint = _ipc(tmp_path, "mic")
    with (
        Publisher(endpoint, "mic", clock_file=clock_file) as pub,
        Subscription([endpoint], ["mic"]) as sub,
    ):
        time.sleep(0.3)
        first_epoch = pub.epoch
        assert [pub.send([k], np.zeros(1)) for k in range(2)] == [0, 1]
        # a new estimate 2 s ahead, stepped by the agent
        ClockState(base_ns=base, offset_ns=2_000_000_000, synced=True, steps=2).write(clock_file)
        before = time.time_ns()
        assert pub.send([2], np.zeros(1)) == 0
        assert pub.epoch > first_epoch and pub.epoch - before > 1_900_000_000
        assert pub.send([3], np.zeros(1)) == 1
        got = _until(sub, 4)
    assert [(r.epoch == first_epoch, r.seq) for r in got] == [
        (True, 0),
        (True, 1),
        (False, 0),
        (False, 1),
    ]
    assert [r.restarted for r in got] == [False, False, True, False]
    assert sub.tracks["mic"].gaps == 0 and sub.tracks["mic"].restarts == 1
