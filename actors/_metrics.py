"""Per-actor bookkeeping the witness record reports: counts, gaps, restarts, latency."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

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


class InputPositions:
    """Where each input stream stood (epoch, last seq, last sample time), in a memory-mapped
    file beside the actor's work.

    Written on every message at the cost of a store to memory: the page cache keeps it when
    the process is killed (-9 included), so a restarted actor resumes each stream's
    bookkeeping and counts exactly the messages it never saw as gaps, instead of greeting
    its first message as "joined late".
    """

    _SLOT = 3  # int64 epoch, last_seq, last_t_ns

    def __init__(self, path: Path, streams: list[str]) -> None:
        self.slots = {stream: index for index, stream in enumerate(streams)}
        self._names = path.with_suffix(".json")
        rows = max(1, len(streams))
        size = rows * self._SLOT * 8
        fresh = self._read_names() != streams or not path.exists() or path.stat().st_size != size
        if fresh:  # another actor's layout, or none yet: start from a blank file
            with open(path, "wb") as handle:
                handle.truncate(size)
        self._array = np.memmap(path, dtype="<i8", mode="r+", shape=(rows, self._SLOT))
        if fresh:
            self._array[:] = -1
            self._names.write_text(json.dumps(streams))

    def _read_names(self) -> list[str] | None:
        try:
            names = json.loads(self._names.read_text())
        except (OSError, ValueError):
            return None
        return names if isinstance(names, list) else None

    def load(self) -> dict[str, StreamTrack]:
        """The streams a previous life of this actor had heard, ready to continue."""
        tracks = {}
        for stream, index in self.slots.items():
            epoch, last_seq, last_t_ns = (int(v) for v in self._array[index])
            if epoch != -1 and last_seq >= 0:
                tracks[stream] = StreamTrack(epoch=epoch, last_seq=last_seq, last_t_ns=last_t_ns)
        return tracks

    def record(self, stream: str, track: StreamTrack) -> None:
        index = self.slots.get(stream)
        if index is not None:
            self._array[index] = (track.epoch, track.last_seq, track.last_t_ns)

    def close(self) -> None:
        self._array.flush()
        del self._array
