"""The raw-pyzmq baseline of the hop benchmark: a PUB process and a SUB process, nothing else.

``python -m kairos.tools.benchmarks._raw send ENDPOINT TOPIC RATE HEADER_BYTES PHASE_NS SAMPLES``
publishes four frames per message with the sizes of a Kairos sensor chunk of SAMPLES float64
samples (topic, a header of HEADER_BYTES, 8 × SAMPLES bytes of times, 8 × SAMPLES bytes of
payload) at RATE messages per second; the send time and a sequence number travel in the
first 16 bytes of the header frame, so no encoding is done beyond what raw pyzmq needs.
Like a Kairos publisher it binds an XPUB, waits for its subscriber and uses the same
high-water mark.

``python -m kairos.tools.benchmarks._raw recv ENDPOINT TOPIC OUT.npz`` subscribes and writes
down (seq, sent_ns, received time) for every message until SIGTERM.

``python -m kairos.tools.benchmarks._raw feed ENDPOINT NODES PREFIX SETTLE_S WINDOW_S OUT.json``
is the scale benchmark's baseline for a sync: it subscribes to the NODES streams of a
``_fanin`` feed, as the sync does, reads every message with ``recv_multipart`` and nothing
else (a poll, then every waiting message), and writes its CPU share and the rate it read over
WINDOW_S seconds after SETTLE_S of reading, then exits.

Both read time from the same :class:`~kairos.meshtime.MeshClock` the actors use.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import zmq

from kairos._usage import ProcessUsage
from kairos.actors._runtime import RCVHWM, SNDHWM
from kairos.meshtime import MeshClock
from kairos.tools.benchmarks._baseline import STAMP, StopFlag, record_arrivals
from kairos.tools.benchmarks._fanin import node_name

READY_TIMEOUT_S = 5.0
#: behind by more than this, the sender skips ahead, as a Kairos sensor does
MAX_BACKLOG_NS = 1_000_000_000


def send(
    stop: StopFlag,
    address: str,
    topic: str,
    rate: float,
    header_bytes: int,
    phase_ns: int,
    samples: int,
) -> int:
    clock = MeshClock()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 500)
    pub.setsockopt(zmq.SNDHWM, SNDHWM)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)
    pub.bind(address)
    topic_frame = topic.encode()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stop.set and time.monotonic() < deadline:
        if pub.poll(100, zmq.POLLIN) and pub.recv() == b"\x01" + topic_frame:
            break
    header = bytearray(max(16, header_bytes))
    times = bytes(8 * samples)
    payload = np.cos(np.arange(samples, dtype=np.float64)).tobytes()
    step_ns = round(1e9 / rate)
    now = clock.now_ns()
    next_ns = (now // step_ns + 1) * step_ns + phase_ns % step_ns
    seq = 0
    while not stop.set:
        now = clock.now_ns()
        if now - next_ns > MAX_BACKLOG_NS:
            next_ns += (now - next_ns) // step_ns * step_ns
        while next_ns <= now:
            STAMP.pack_into(header, 0, clock.now_ns(), seq)
            pub.send_multipart((topic_frame, header, times, payload))
            seq += 1
            next_ns += step_ns
        time.sleep(max(0, next_ns - clock.now_ns()) / 1e9)
    pub.close(linger=500)
    ctx.term()
    return 0


def receive(stop: StopFlag, address: str, topic: str, out: Path) -> int:
    clock = MeshClock()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, RCVHWM)
    sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sub.connect(address)
    record_arrivals(sub, stop, 1, clock.now_ns, out, drain=True)
    sub.close(linger=0)
    ctx.term()
    return 0


@dataclass(frozen=True)
class FeedReading:
    """What ``feed`` measured: its CPU share (percent of one core, every thread) and the rate
    it read (msgs/s); written by the reader as JSON, read back by the scale benchmark."""

    cpu_percent: float
    rate: float

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> FeedReading:
        raw = json.loads(path.read_text())
        return cls(float(raw["cpu_percent"]), float(raw["rate"]))


def read_feed(
    stop: StopFlag,
    address: str,
    nodes: int,
    prefix: str,
    settle_s: float,
    window_s: float,
    out: Path,
) -> int:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, RCVHWM)
    for index in range(nodes):
        sub.setsockopt(zmq.SUBSCRIBE, node_name(prefix, index).encode())
    sub.connect(address)
    read, usage, window_start, started = 0, ProcessUsage(), 0.0, 0.0
    while not stop.set:
        if not sub.poll(100):
            continue
        while True:
            try:
                sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            read += 1
        now = time.monotonic()
        if not started:
            started = now
        elif not window_start and now - started >= settle_s:
            read, window_start = 0, now
            usage.cpu_percent()  # the window's CPU counts from here
        elif window_start and now - window_start >= window_s:
            FeedReading(usage.cpu_percent(), read / (now - window_start)).save(out)
            break
    sub.close(linger=0)
    ctx.term()
    return 0


def main(argv: list[str]) -> int:
    stop = StopFlag()
    if len(argv) == 7 and argv[0] == "send":
        return send(
            stop, argv[1], argv[2], float(argv[3]), int(argv[4]), int(argv[5]), int(argv[6])
        )
    if len(argv) == 4 and argv[0] == "recv":
        return receive(stop, argv[1], argv[2], Path(argv[3]))
    if len(argv) == 7 and argv[0] == "feed":
        nodes, settle_s, window_s = int(argv[2]), float(argv[4]), float(argv[5])
        return read_feed(stop, argv[1], nodes, argv[3], settle_s, window_s, Path(argv[6]))
    print(
        "usage: python -m kairos.tools.benchmarks._raw send ENDPOINT TOPIC RATE HEADER PHASE_NS "
        "SAMPLES\n"
        "       python -m kairos.tools.benchmarks._raw recv ENDPOINT TOPIC OUT.npz\n"
        "       python -m kairos.tools.benchmarks._raw feed ENDPOINT NODES PREFIX SETTLE_S "
        "WINDOW_S OUT.json",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
