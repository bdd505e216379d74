"""Per-actor bookkeeping the witness record reports: counts, gaps, restarts, latency."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from kairos.wire import Message


@dataclass
class StreamTrack:
    """What a subscriber knows of one input stream: its publisher epoch and last seq."""

    epoch: int = -1
    last_seq: int = -1
    last_t_ns: int = 0
    msgs: int = 0
    gaps: int = 0
    restarts: int = 0
    outage_ns: int = 0

    def observe(self, message: Message) -> int:
        """Account for one message; returns how many messages were missed before it."""
        self.msgs += 1
        missed = 0
        last_time = int(message.times[-1]) if len(message.times) else message.sent_ns
        first_time = int(message.times[0]) if len(message.times) else message.sent_ns
        if self.epoch == -1:
            pass  # first message heard: joined late, never a gap
        elif message.epoch != self.epoch:
            # the publisher restarted: count it, and the silence between its two lives
            self.restarts += 1
            self.outage_ns += max(0, first_time - self.last_t_ns)
        elif message.seq > self.last_seq + 1:
            missed = message.seq - self.last_seq - 1
            self.gaps += missed
        self.epoch = message.epoch
        self.last_seq = message.seq
        self.last_t_ns = last_time
        return missed

    def as_record(self) -> dict[str, int]:
        return {
            "msgs": self.msgs,
            "gaps": self.gaps,
            "restarts": self.restarts,
            "outage_ns": self.outage_ns,
        }


class LatencyWindow:
    """Latencies (ms) since the last witness record (at most the newest ``size``)."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, latency_ms: float) -> None:
        self._values.append(latency_ms)

    def clear(self) -> None:
        self._values.clear()

    def percentiles(self) -> tuple[float | None, float | None]:
        if not self._values:
            return None, None
        p50, p99 = np.percentile(np.fromiter(self._values, dtype=float), [50, 99])
        return float(p50), float(p99)


@dataclass
class Counters:
    msgs_in: int = 0
    msgs_out: int = 0
    samples_out: int = 0
    decode_errors: int = 0
    drops: int = 0
