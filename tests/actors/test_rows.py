"""The sync's compiled receive path (kairos.actors._rows, _drain.pyx): what it takes, what it
hands back to Python, and that its packed node map is byte for byte the records'."""

from __future__ import annotations

import math
import time

import msgpack
import numpy as np
import pytest
import zmq

from kairos import wire
from kairos.actors import _rows
from kairos.actors._metrics import StreamTrack
from kairos.actors._rows import NODE_FIELDS, NodeMap, NodeRows
from kairos.actors.engine import ENGINE_FIELDS
from kairos.records import NodeState

compiled = pytest.mark.skipif(not _rows.COMPILED, reason=_rows.DRAIN_REASON)
NOW = 1_000_000_000_000
MAX_FUTURE_NS = 2_000_000_000


def test_header_template_is_what_encode_sends() -> None:
    rng = np.random.default_rng(3)
    for stream in ("a", "node-0001", "é£seq" * 3, "x" * 200):
        for width, fields in ((4, NODE_FIELDS), (len(ENGINE_FIELDS), ENGINE_FIELDS)):
            template = wire.header_template(stream, "<f8", width, fields)
            for seq, epoch, sent, rows in (
                (0, 0, 0, 1),
                (2**64 - 1, -(2**63), 2**63 - 1, 300),
                (int(rng.integers(0, 2**62)), -1, 1_700_000_000_000_000_000, 65536),
            ):
                data = np.zeros((rows, width))
                header = wire.encode(stream, seq, epoch, sent, np.zeros(rows, np.int64), data,
                                     fields)[1]  # fmt: skip
                pack = msgpack.packb
                assert header == b"".join((
                    template.start, pack(seq), wire.KEY_EPOCH, pack(epoch), wire.KEY_SENT,
                    pack(sent), template.mid, pack(rows), template.tail,
                ))  # fmt: skip
                assert msgpack.unpackb(header)["shape"] == [rows, width]


def _node_arrays(count: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    specials = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, -1, -32, -33,
                -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]  # fmt: skip
    last_t = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
    last_t[: min(count, len(specials))] = specials[:count]
    coherence = rng.uniform(0, 1, count)
    coherence[:3] = [math.nan, math.inf, -0.0][: min(3, count)]
    return (
        coherence,
        rng.uniform(-np.pi, np.pi, count),
        rng.uniform(0, 1, count),
        rng.integers(0, 2, count, dtype=np.uint8),
        rng.uniform(0, 5, count),
        rng.normal(0, 1, count),
        rng.integers(0, 2, count, dtype=np.uint8),
        last_t,
    )


@pytest.mark.parametrize("count", [0, 3, 15, 16, 1000, 65536])
def test_the_packed_node_map_is_the_node_state_records(count: int) -> None:
    rng = np.random.default_rng(count)
    names = [f"node-{i}" if i % 7 else f"nœud-{i}" * 3 for i in range(count)]
    devices = [f"dev-{i % 5}" for i in range(count)]
    node_map = NodeMap(names, devices)
    arrays = _node_arrays(count, rng)
    packed = node_map.pack(*arrays)
    assert packed == node_map.pack_python(*arrays)
    decoded = msgpack.unpackb(packed)
    assert list(decoded) == names
    for name, entry in list(decoded.items())[:50]:
        node = NodeState.decode(entry, name)
        assert (node.delta_p is None) == node.stale
    assert tuple(NodeState.KEYS) == ("device", *_rows._PACKED_KEYS)


# -- the drain over a real socket pair ----------------------------------------------------------


class Feed:
    """A PUB bound on loopback and a SUB of the node streams, both real ZeroMQ sockets."""

    def __init__(self, nodes: list[str]) -> None:
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.XPUB)
        port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        for topic in [*nodes, "other", "end"]:
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.sub.connect(f"tcp://127.0.0.1:{port}")
        for _ in range(len(nodes) + 2):  # every subscription in before anything is sent
            assert self.pub.poll(5000)
            self.pub.recv()
        #: what the drains since the last send took: nodes, times, values, now; latencies
        self.nodes: list[int] = []
        self.times: list[int] = []
        self.values: list[list[float]] = []
        self.heard: list[int] = []
        self.latencies: list[float] = []
        self.rows = NodeRows(nodes, self._take, MAX_FUTURE_NS)
        self.tracks: dict[str, StreamTrack] = {}
        self.recorded: list[str] = []
        self.rows.attach(self.tracks, StreamTrack, lambda s, t: self.recorded.append(s))

    def _take(self, node, times, values, heard) -> None:
        self.nodes += node.tolist()
        self.times += times.tolist()
        self.values += values.tolist()
        self.heard += heard.tolist()

    def send(self, frames: list[bytes]) -> None:
        self.pub.send_multipart([bytes(f) for f in frames])

    def drain(self) -> tuple[int, list[list[bytes]]]:
        """Send an end marker and read until it came back: everything sent before is read."""
        self.send([b"end"])
        self.nodes, self.times, self.values, self.heard, self.latencies = [], [], [], [], []
        read_total, slow_total = 0, []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.sub.poll(100)
            read, slow = self.rows.drain(self.sub, NOW)
            read_total += read
            slow_total += slow
            self.latencies += self.rows.latencies()
            if slow_total and slow_total[-1] == [b"end"]:
                return read_total - 1, slow_total[:-1]
        raise AssertionError("the end marker never came")

    def close(self) -> None:
        self.sub.close(0)
        self.pub.close(0)
        self.ctx.term()


@pytest.fixture
def feed():
    f = Feed(["a", "b"])
    yield f
    f.close()


def engine_frames(stream, seq, times, coherence=0.9, phase=0.5, resonance=0.2, collapsed=0.0,
                  fields=ENGINE_FIELDS, extra=None, epoch=7):  # fmt: skip
    data = np.zeros((len(times), len(fields)))
    for name, value in zip(NODE_FIELDS, (coherence, phase, resonance, collapsed), strict=True):
        if name in fields:
            data[:, fields.index(name)] = value
    frames = wire.encode(stream, seq, epoch, NOW - 1_000_000, times, data, fields, extra)
    return [bytes(memoryview(f)) for f in frames]


def reorder(header: bytes) -> bytes:
    """The same header map, its keys packed in another order (as another client may)."""
    return msgpack.packb(dict(reversed(list(msgpack.unpackb(header).items()))))


def learn(feed: Feed, stream: str, seq: int = 0) -> None:
    frames = engine_frames(stream, seq, [NOW - 10])
    feed.send(frames)
    read, slow = feed.drain()
    assert (read, slow) == (1, [frames])  # a layout not learned yet: to Python
    feed.rows.learn(wire.decode(slow[0]))
    feed.rows.settle([])


@compiled
def test_learned_rows_are_taken_tracked_and_timed(feed: Feed) -> None:
    learn(feed, "a")
    learn(feed, "b")
    feed.send(engine_frames("a", 1, [NOW - 30, NOW - 20], coherence=0.7, phase=-1.0))
    feed.send(engine_frames("b", 1, [NOW - 5], coherence=1.0, phase=math.pi, collapsed=1.0))
    feed.send(engine_frames("a", 4, [NOW + MAX_FUTURE_NS], resonance=1.0))  # 2 missed
    read, slow = feed.drain()
    assert (read, slow) == (3, [])
    assert feed.nodes == [0, 1, 0]
    assert feed.times == [NOW - 20, NOW - 5, NOW + MAX_FUTURE_NS]
    assert feed.values == [[0.7, -1.0, 0.2, 0.0], [1.0, math.pi, 0.2, 1.0], [0.9, 0.5, 1.0, 0.0]]
    # each heard when read: NOW at each drain's start plus the time since (the feed's drains
    # all start at NOW, so only within one drain do the stamps grow)
    assert len(feed.heard) == 3 and all(NOW <= t < NOW + 10**10 for t in feed.heard)
    assert feed.tracks["a"].as_record().encode()["gaps"] == 2
    assert (feed.tracks["a"].last_seq, feed.tracks["a"].last_t_ns) == (4, NOW + MAX_FUTURE_NS)
    assert feed.tracks["b"].msgs == 1 and feed.recorded == ["a", "b", "a"]
    assert len(feed.latencies) == 3
    assert all(1.0 <= latency < 1e4 for latency in feed.latencies)  # sent 1 ms before NOW


@compiled
@pytest.mark.parametrize(
    "bad",
    [
        lambda: engine_frames("a", 1, [NOW], coherence=math.nan),
        lambda: engine_frames("a", 1, [NOW, NOW], coherence=1.5),
        lambda: engine_frames("a", 1, [NOW], phase=3.2),
        lambda: engine_frames("a", 1, [NOW], resonance=-0.1),
        lambda: engine_frames("a", 1, [NOW, NOW + MAX_FUTURE_NS + 10**10]),  # ahead
        lambda: engine_frames("a", 1, [NOW], extra={"k": 1}),
        lambda: engine_frames("a", 1, [NOW], fields=NODE_FIELDS),  # another layout
        lambda: engine_frames("a", 1, []),  # no rows
        lambda: engine_frames("a", 2**63, [NOW]),
        lambda: engine_frames("a", 1, [NOW])[:1] + engine_frames("b", 1, [NOW])[1:],  # topic
        lambda: engine_frames("a", 1, [NOW])[:3],
        lambda: [*engine_frames("a", 1, [NOW]), b"x"],
        lambda: [b"a", b"\x87garbage", b"", b""],
        lambda: (lambda f: [f[0], f[1], f[2][:-1], f[3]])(engine_frames("a", 1, [NOW])),
        lambda: (lambda f: [f[0], f[1], f[2], f[3] + b"\0"])(engine_frames("a", 1, [NOW])),
        lambda: (lambda f: [f[0], reorder(f[1]), f[2], f[3]])(engine_frames("a", 1, [NOW])),
    ],
)
def test_anything_else_goes_to_python_whole_and_in_order(feed: Feed, bad) -> None:
    learn(feed, "a")
    learn(feed, "b")
    frames = bad()
    after = engine_frames("a", 2, [NOW])  # the stream's next message follows it to Python
    other = engine_frames("b", 1, [NOW])
    feed.send(frames)
    feed.send(after)
    feed.send(other)
    read, slow = feed.drain()
    assert read == 3
    assert slow == [frames, after]
    assert feed.nodes == [1]  # b's row was taken
    assert feed.rows.hold.tolist() == [1, 0]
    feed.rows.settle([])
    feed.send(engine_frames("a", 3, [NOW]))
    assert feed.drain() == (1, [])


@compiled
def test_a_held_node_and_a_stranger_go_to_python(feed: Feed) -> None:
    learn(feed, "a")
    feed.rows.settle([0])
    held = engine_frames("a", 1, [NOW])
    stranger = engine_frames("other", 0, [NOW])
    feed.send(held)
    feed.send(stranger)
    assert feed.drain() == (2, [held, stranger])
    feed.rows.only({"b"})  # "a" is not an input: never taken, even once learned
    feed.rows.settle([])
    late = engine_frames("a", 2, [NOW])
    feed.send(late)
    assert feed.drain() == (1, [late])


@compiled
def test_serve_waits_for_its_deadline_and_returns_early_for_python(feed: Feed) -> None:
    """serve takes rows wake-up after wake-up until its deadline; a message for Python, or
    the wake-up fd, ends it at once."""
    import socket

    learn(feed, "a")
    wake_r, wake_w = socket.socketpair()
    address = [int(feed.sub.underlying)]
    try:
        feed.send(engine_frames("a", 1, [NOW]))
        start = time.monotonic_ns()
        read, slow = feed.rows.serve(address, wake_r.fileno(), start + 300_000_000, NOW)
        waited = time.monotonic_ns() - start
        assert (read, slow, feed.rows.taken) == (1, [], 1)
        assert waited >= 290_000_000  # the deadline, not the first message, ended it
        stranger = engine_frames("other", 0, [NOW])
        feed.send(stranger)
        start = time.monotonic_ns()
        read, slow = feed.rows.serve(address, wake_r.fileno(), start + 10**10, NOW)
        assert (read, slow) == (1, [stranger])
        wake_w.send(b"x")
        read, slow = feed.rows.serve(address, wake_r.fileno(), start + 10**10, NOW)
        assert (read, slow) == (0, [])
        assert time.monotonic_ns() - start < 5 * 10**9  # both ended long before 10 s
    finally:
        wake_r.close()
        wake_w.close()


@pytest.mark.parametrize(
    ("nodes", "capacity"), [(1, 1024), (3, 1024), (256, 1024), (1000, 4000), (10_000, 4096)]
)
def test_the_taken_buffer_grows_with_the_nodes_between_two_drains_and_the_cap(nodes, capacity):
    assert _rows.taken_capacity(nodes) == capacity
    streams = [f"node-{i}" for i in range(nodes)]
    rows = _rows.NodeRows(streams, lambda *columns: None, MAX_FUTURE_NS)
    assert rows._node.shape == rows._latency.shape == (capacity,)
    assert rows._values.shape == (capacity, len(_rows.NODE_FIELDS))
