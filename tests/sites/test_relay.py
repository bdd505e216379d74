"""The relay role on loopback: what passes through it is counted exactly as on a direct link.

A relay started by a real agent; a publisher that both binds (direct subscribers) and dials
the relay (as a device behind NAT does); subscribers on both paths.  The publisher skips
seq numbers on purpose, so both paths must report the same, non-zero, gaps; the ready
handshake's announcements must reach the publisher through the relay; with the mesh
encrypted a stranger's key gets nothing; and a relay killed with -9 is restarted by its
agent while the subscriber reports the real hole, with no loss left unreported.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zmq
from support import Processes, free_port, start_agent, wait_for

from kairos import wire
from kairos.actors._metrics import StreamTrack
from kairos.actors._ready import Consumers
from kairos.actors._runtime import open_publisher
from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import Spawn, Status, Stop
from kairos.meshkey import MeshKey, connect_encrypted
from kairos.records import WITNESS_STREAM, Witness
from kairos.topologies.model import RestartPolicy, relay_inbound

pytestmark = pytest.mark.timeout(90)

STREAM = "s"


@pytest.fixture
def agent(processes: Processes, tmp_path: Path) -> Iterator[ControlClient]:
    running = start_agent(processes, tmp_path, tmp_path / "state", "relay")
    with running.client() as client:
        yield client
        client.call(Stop())


def spawn_relay(client: ControlClient, port: int, key: MeshKey | None) -> tuple[str, int]:
    spec = ActorProcessSpec(
        name="relay",
        role="relay",
        device="test-device",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{port}",
        restart=RestartPolicy(policy="always", backoff_s=0.1),
        curve=key.as_spec() if key is not None else None,
    )
    result = client.call(Spawn(spec))
    assert result.pid is not None
    return spec.bind, result.pid


def subscriber(
    ctx: zmq.Context, endpoint: str, name: str | None, topic: str, key: MeshKey | None = None
) -> zmq.Socket:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if key is not None:
        connect_encrypted(sub, key)
    sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    if name is not None:
        sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription(name))
    sub.connect(endpoint)
    return sub


def wait_consumers(
    pub: zmq.Socket, names: set[str], paths: int = 1, timeout_s: float = 10.0
) -> None:
    """The ready handshake as a publisher sees it: every named consumer announced, and the
    stream's own topic subscribed on each of ``paths`` connections (XPUB_VERBOSE reports
    each).  A relay's XSUB replays the subscriptions it holds to a
    publisher that dials in later in byte order: the announcements before the topic (the
    runtime's 0.3 s grace after the last announcement covers that; docs/wire.md)."""
    consumers = Consumers(names)
    topic = b"\x01" + STREAM.encode()
    heard = 0
    deadline = time.monotonic() + timeout_s
    while not (consumers.complete and heard >= paths):
        assert time.monotonic() < deadline, f"missing: {consumers.missing()}, topic {heard}"
        if pub.poll(100):
            event = pub.recv()
            heard += event == topic
            consumers.take(event)


def send(pub: zmq.Socket, seq: int, epoch: int) -> None:
    now = time.monotonic_ns()
    pub.send_multipart(wire.encode(STREAM, seq, epoch, now, [now], np.array([float(seq)])))


def drain(sub: zmq.Socket, track: StreamTrack, until_seq: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while track.last_seq < until_seq:
        assert time.monotonic() < deadline, f"stuck at seq {track.last_seq} of {until_seq}"
        if sub.poll(100):
            message = wire.decode(sub.recv_multipart())
            if message.stream == STREAM:
                track.observe(message)


def witness(sub: zmq.Socket, timeout_s: float = 5.0) -> Witness:
    assert sub.poll(int(timeout_s * 1000)), "no relay witness"
    message = wire.decode(sub.recv_multipart())
    assert isinstance(message.data, dict)
    return Witness.decode(message.data)


def test_gaps_through_a_relay_are_counted_exactly_as_direct(agent: ControlClient) -> None:
    relay, _ = spawn_relay(agent, free_port(), None)
    ctx = zmq.Context()
    try:
        pub, _ = open_publisher(ctx, f"tcp://127.0.0.1:{free_port()}")
        direct_endpoint = pub.getsockopt_string(zmq.LAST_ENDPOINT)
        pub.connect(relay_inbound(relay))
        direct = subscriber(ctx, direct_endpoint, "direct", STREAM)
        relayed = subscriber(ctx, relay, "relayed", STREAM)
        watch = subscriber(ctx, relay, None, f"relay/{WITNESS_STREAM}")
        # the ready handshake: "relayed" announced itself through the relay
        wait_consumers(pub, {"direct", "relayed"}, paths=2)
        skipped = {50, 51, 52, 200}
        epoch = time.monotonic_ns()
        for seq in range(300):
            if seq not in skipped:
                send(pub, seq, epoch)
        tracks = {"direct": StreamTrack(), "relayed": StreamTrack()}
        drain(direct, tracks["direct"], 299)
        drain(relayed, tracks["relayed"], 299)
        for track in tracks.values():
            assert (track.msgs, track.gaps, track.restarts) == (296, len(skipped), 0)
        # the relay saw the same holes before forwarding, and counts its consumer
        record = wait_for(
            lambda: (w := witness(watch)).inputs.get(STREAM) and w.msgs_out >= 296 and w, 5.0
        )
        assert record.role == "relay"
        assert record.inputs[STREAM].gaps == len(skipped)
        assert record.drops == 0 and record.decode_errors == 0
        assert record.subscribers == 1  # "relayed"; the direct consumer never met the relay
    finally:
        ctx.destroy(linger=0)


def test_encrypted_relay_killed_is_restarted_and_the_hole_is_reported(
    agent: ControlClient,
) -> None:
    key = MeshKey.new()
    relay, first_pid = spawn_relay(agent, free_port(), key)
    ctx = zmq.Context()
    try:
        # a publisher behind NAT: it only dials out, a CurveZMQ client of the mesh
        pub, auth = open_publisher(ctx, "", key, relay=relay_inbound(relay))
        assert auth is None
        sub = subscriber(ctx, relay, "far", STREAM, key)
        stranger_key = MeshKey.new()
        stranger = subscriber(ctx, relay, None, STREAM, stranger_key)
        wait_consumers(pub, {"far"})
        epoch = time.monotonic_ns()
        track = StreamTrack()
        seq = 0

        def publish_for(seconds: float) -> None:
            nonlocal seq
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                send(pub, seq, epoch)
                seq += 1
                time.sleep(0.001)

        publish_for(1.0)
        drain(sub, track, seq - 1)
        assert track.gaps == 0
        os.kill(first_pid, signal.SIGKILL)

        def restarted() -> int | None:
            actor = agent.call(Status()).actor("relay")
            return actor.pid if actor and actor.pid not in (None, first_pid) else None

        new_pid = wait_for(restarted, 10.0)
        assert new_pid != first_pid
        # keep publishing until the path is back and a good while after
        deadline = time.monotonic() + 15.0
        heard_before = track.msgs
        while track.msgs == heard_before:
            assert time.monotonic() < deadline, "nothing came through the restarted relay"
            publish_for(0.2)
            while sub.poll(0):
                message = wire.decode(sub.recv_multipart())
                track.observe(message)
        publish_for(1.0)
        drain(sub, track, seq - 1)
        # the publisher's epoch unchanged, nothing lost unreported: every message sent was
        # received or counted as a gap (what was sent while the relay was down waited in the
        # publisher's queue and went to the new relay; only what reached it before the
        # subscriber had reconnected is lost, and counted)
        assert track.restarts == 0
        assert track.msgs + track.gaps == seq
        print(f"relay kill -9 on loopback: {track.gaps} of {seq} messages lost, all counted")
        assert not stranger.poll(0), "a stranger's key was served by the relay"
    finally:
        ctx.destroy(linger=0)
