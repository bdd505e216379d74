"""The floor of the hop benchmark: the plainest pyzmq PUB/SUB pair there is.

``python -m kairos.tools.benchmarks._plain send ENDPOINT RATE`` binds a PUB, gives a
subscriber a second to join (no handshake), then sends a message of a Kairos sensor chunk's
four frame sizes (a 3-byte topic, 40 header bytes, 512 bytes of times, 512 of payload) RATE
times a second, paced by ``time.sleep``, until SIGTERM.  The first 16 bytes of the third frame
carry ``time.monotonic_ns()`` taken just before the send and a sequence number.

``python -m kairos.tools.benchmarks._plain recv ENDPOINT OUT.npz`` connects a SUB to every
topic, blocks in ``poll`` and writes down (seq, sent, received ``time.monotonic_ns()``) per
message until SIGTERM.

Unlike the raw pair (kairos.tools.benchmarks._raw) nothing here imitates Kairos: default
socket options, no XPUB, no mesh clock, pyzmq's own ``send_multipart``/``recv_multipart``.  It
is how far any Python program can get on this machine; the raw pair is Kairos's bytes and
socket set-up without Kairos's code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import zmq

from kairos.tools.benchmarks._baseline import STAMP, StopFlag, record_arrivals

#: the slow-joiner wait: a PUB drops what it sends before the SUB's subscription arrives
JOIN_S = 1.0
TOPIC = b"hop"


def send(stop: StopFlag, address: str, rate: float) -> int:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(address)
    time.sleep(JOIN_S)
    header, tail, payload = bytes(40), bytes(496), bytes(512)
    step = 1e9 / rate
    next_ns = time.monotonic_ns() + step
    seq = 0
    while not stop.set:
        stamp = STAMP.pack(time.monotonic_ns(), seq)
        pub.send_multipart([TOPIC, header, stamp + tail, payload])
        seq += 1
        next_ns += step
        delay = next_ns - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
    pub.close(linger=0)
    ctx.term()
    return 0


def receive(stop: StopFlag, address: str, out: Path) -> int:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(address)
    record_arrivals(sub, stop, 2, time.monotonic_ns, out, drain=False)
    sub.close(linger=0)
    ctx.term()
    return 0


def main(argv: list[str]) -> int:
    stop = StopFlag()
    if len(argv) == 3 and argv[0] == "send":
        return send(stop, argv[1], float(argv[2]))
    if len(argv) == 3 and argv[0] == "recv":
        return receive(stop, argv[1], Path(argv[2]))
    print(
        "usage: python -m kairos.tools.benchmarks._plain send ENDPOINT RATE\n"
        "       python -m kairos.tools.benchmarks._plain recv ENDPOINT OUT.npz",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
