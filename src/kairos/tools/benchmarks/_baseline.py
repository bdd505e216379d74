"""What the hop benchmark's two pyzmq baselines share (kairos.tools.benchmarks._raw, _plain).

Both run as ``python -m`` processes that stop on SIGTERM (the bench's process group) or
SIGINT, and both receivers write down, for every message, the (send time, sequence number)
pair its sender packed at the start of one frame, next to their own receive time.
"""

from __future__ import annotations

import signal
import struct
from collections.abc import Callable
from pathlib import Path

import zmq

from kairos.tools.benchmarks._probe import save_arrivals

#: how each sender packs its stamp: send time (ns), sequence number
STAMP = struct.Struct("<qq")


class StopFlag:
    """Set by SIGTERM or SIGINT; senders and receivers loop until it is."""

    def __init__(self) -> None:
        self.set = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, frame: object) -> None:
        self.set = True


def record_arrivals(
    sub: zmq.Socket[bytes],
    stop: StopFlag,
    stamp_frame: int,
    now_ns: Callable[[], int],
    out: Path,
    *,
    drain: bool,
) -> None:
    """Receive until ``stop``, stamping each message with ``now_ns()`` right after it came.

    ``drain``: after a wake-up, read every waiting message (as Kairos's runtime does) rather
    than one per ``poll`` (the plain pattern, as ``plain_hop.py`` reads).
    """
    seqs: list[int] = []
    sent: list[int] = []
    received: list[int] = []
    while not stop.set:
        if not sub.poll(100):
            continue
        while True:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            now = now_ns()
            sent_ns, seq = STAMP.unpack_from(frames[stamp_frame])
            seqs.append(seq)
            sent.append(sent_ns)
            received.append(now)
            if not drain:
                break
    save_arrivals(out, seqs, [0] * len(seqs), sent, received)
