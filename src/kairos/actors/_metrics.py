"""Per-actor bookkeeping the witness record reports: counts, gaps, restarts, latency."""

from __future__ import annotations

import json
import mmap
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kairos.records import InputStats
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
        times = message.times
        first = int(times[0]) if len(times) else message.sent_ns
        last = int(times[-1]) if len(times) else message.sent_ns
        return self.advance(message.epoch, message.seq, first, last)

    def advance(self, epoch: int, seq: int, first_t_ns: int, last_t_ns: int) -> int:
        """Account for the message ``(epoch, seq)`` whose samples span ``first_t_ns`` to
        ``last_t_ns``; returns how many messages were missed before it (docs/wire.md)."""
        self.msgs += 1
        missed = 0
        if self.epoch == -1:
            pass  # first message heard: joined late, never a gap
        elif epoch != self.epoch:
            # the publisher restarted: count it, the silence between its two lives, and the
            # new life's first messages if this one is not its first (seq counts from 0)
            self.restarts += 1
            self.outage_ns += max(0, first_t_ns - self.last_t_ns)
            missed = seq
        elif seq > self.last_seq + 1:
            missed = seq - self.last_seq - 1
        self.gaps += missed
        self.epoch = epoch
        self.last_seq = seq
        self.last_t_ns = last_t_ns
        return missed

    @property
    def heard(self) -> bool:
        """True once a message of the stream was heard (or resumed from a previous life)."""
        return self.epoch != -1

    def as_record(self) -> InputStats:
        return InputStats(self.msgs, self.gaps, self.restarts, self.outage_ns)


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
        p50, p99 = linear_quantiles(np.fromiter(self._values, dtype=float), (0.5, 0.99))
        return p50, p99


def linear_quantiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    """NumPy's default quantiles (``method="linear"``, the same bits as ``np.quantile``) of a
    non-empty 1-d array, from one ``np.partition``.

    Not ``np.percentile`` itself: its first call imports ``numpy.ma`` (``np.unique`` asks
    ``np.ma.is_masked``), 10-20 ms inside the actor's loop at its first witness record, one
    second after start, and 1.3 MB for good.  Measured: a hop at 1 000 msgs/s stalled 12-21 ms
    right then in every run, which was the bench's whole p99.9 (docs/performance.md)."""
    last = len(values) - 1
    positions = [q * last for q in quantiles]  # NumPy's virtual index: (n - 1) * q
    lows = [min(int(position), last) for position in positions]
    kth = sorted({i for low in lows for i in (low, min(low + 1, last))})
    ordered = np.partition(values, kth)
    out = []
    for position, low in zip(positions, lows, strict=True):
        below, above = float(ordered[low]), float(ordered[min(low + 1, last)])
        gamma = position - low
        span = above - below
        # NumPy's _lerp: from the nearer end, so a weight of 1 gives ``above`` exactly
        out.append(above - span * (1 - gamma) if gamma >= 0.5 else below + span * gamma)
    return out


@dataclass
class Counters:
    msgs_in: int = 0
    msgs_out: int = 0
    samples_out: int = 0


#: a blank slot's seq as the unsigned view reads it (the file starts as int64 -1 everywhere)
_NEVER = 2**64 - 1


class InputPositions:
    """Where each input stream stood (epoch, last seq, last sample time), in a memory-mapped
    file beside the actor's work.

    Written on every message at the cost of three stores to memory (~0.1 µs): the page cache
    keeps them when the process is killed (-9 included), so a restarted actor resumes each
    stream's bookkeeping and counts exactly the messages it never saw as gaps, instead of
    greeting its first message as "joined late".  The stream names sit in a JSON file beside
    it; another actor's layout is never reused.

    A seq is unsigned (docs/wire.md: 0 to 2^64 - 1), epochs and times signed: the seq slot is
    written and read through an unsigned view of the same memory, so a peer's seq of 2^63 or
    more is kept like any other instead of failing the store (and, with it, the actor).
    """

    _SLOT = 3  # int64 epoch, uint64 last_seq, int64 last_t_ns

    def __init__(self, path: Path, streams: list[str]) -> None:
        self.slots = {stream: index for index, stream in enumerate(streams)}
        self._names = path.with_suffix(".json")
        size = max(1, len(streams)) * self._SLOT * 8
        fresh = self._read_names() != streams or not path.exists() or path.stat().st_size != size
        if fresh:  # another actor's layout, or none yet: start from a blank file
            with open(path, "wb") as handle:
                handle.write(struct.pack(f"<{size // 8}q", *([-1] * (size // 8))))
            self._names.write_text(json.dumps(streams))
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open for the mapping's lifetime
        self._map = mmap.mmap(self._file.fileno(), size)
        self._values = memoryview(self._map).cast("q")
        self._seqs = memoryview(self._map).cast("Q")

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
            epoch, last_t_ns = self._values[index * 3], self._values[index * 3 + 2]
            last_seq = self._seqs[index * 3 + 1]
            if epoch != -1 and last_seq != _NEVER:
                tracks[stream] = StreamTrack(epoch=epoch, last_seq=last_seq, last_t_ns=last_t_ns)
        return tracks

    def record(self, stream: str, track: StreamTrack) -> None:
        index = self.slots.get(stream)
        if index is not None:
            base = index * 3
            values = self._values
            values[base] = track.epoch
            self._seqs[base + 1] = track.last_seq
            values[base + 2] = track.last_t_ns

    def close(self) -> None:
        self._values.release()
        self._seqs.release()
        self._map.close()
        self._file.close()
