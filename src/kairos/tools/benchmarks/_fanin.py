"""Engine-like traffic for many nodes from one process, to load a sync actor.

``python -m kairos.tools.benchmarks._fanin ENDPOINT NODES RATE PREFIX`` binds an XPUB, waits
until the sync subscribed to every node stream ``PREFIX0000``…, then publishes one engine
row (``ENGINE_FIELDS``, stamped with the sample time) per node at RATE Hz, spreading the
nodes evenly over each period, until SIGTERM or until its parent (the benchmark) is gone.
A feed that falls behind skips the slots it missed instead of catching up: at 10 000 nodes
a starved feed once spent an hour catching up, orphaned, at 88 % of a core.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import zmq

from kairos import wire
from kairos.actors._runtime import SNDHWM
from kairos.actors.engine import ENGINE_FIELDS
from kairos.meshtime import MeshClock

READY_TIMEOUT_S = 20.0
SLOTS_PER_PERIOD = 20

_stopping = False


def _stop(signum: int, frame: object) -> None:
    global _stopping
    _stopping = True


def node_name(prefix: str, index: int) -> str:
    return f"{prefix}{index:04d}"


def publish(address: str, nodes: int, rate: float, prefix: str) -> int:
    clock = MeshClock()
    epoch = clock.now_ns()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 500)
    pub.setsockopt(zmq.SNDHWM, SNDHWM)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)
    pub.bind(address)
    names = [node_name(prefix, i) for i in range(nodes)]
    wanted = {b"\x01" + name.encode() for name in names}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while wanted and not _stopping and time.monotonic() < deadline:
        if pub.poll(100, zmq.POLLIN):
            wanted.discard(pub.recv())
    rng = np.random.default_rng(7)
    phases = rng.uniform(-np.pi, np.pi, nodes)
    row = np.zeros((1, len(ENGINE_FIELDS)))
    coherence = ENGINE_FIELDS.index("coherence_slow")
    phase = ENGINE_FIELDS.index("phase_slow")
    period_ns = round(1e9 / rate)
    slot_ns = period_ns // SLOTS_PER_PERIOD
    per_slot = -(-nodes // SLOTS_PER_PERIOD)
    seq = 0
    next_ns = (clock.now_ns() // period_ns + 1) * period_ns
    slot = 0
    parent = os.getppid()
    while not _stopping and os.getppid() == parent:
        now = clock.now_ns()
        if now - next_ns > period_ns:  # more than a period behind: skip what was missed
            missed = (now - next_ns) // slot_ns
            seq += (slot + missed) // SLOTS_PER_PERIOD
            slot = (slot + missed) % SLOTS_PER_PERIOD
            next_ns += missed * slot_ns
        while next_ns <= now and not _stopping:
            for i in range(slot * per_slot, min(nodes, (slot + 1) * per_slot)):
                row[0, coherence] = 0.9
                row[0, phase] = phases[i]
                frames = wire.encode(names[i], seq, epoch, clock.now_ns(), [next_ns], row,
                                     ENGINE_FIELDS)  # fmt: skip
                pub.send_multipart(frames)
            slot += 1
            if slot == SLOTS_PER_PERIOD:
                slot = 0
                seq += 1
            next_ns += slot_ns
        time.sleep(max(0, next_ns - clock.now_ns()) / 1e9)
    pub.close(linger=500)
    ctx.term()
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if len(argv) != 4:
        print(
            "usage: python -m kairos.tools.benchmarks._fanin ENDPOINT NODES RATE PREFIX",
            file=sys.stderr,
        )
        return 2
    return publish(argv[0], int(argv[1]), float(argv[2]), argv[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
