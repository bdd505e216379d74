"""Every input Kairos drops is counted and told, without letting a flood flood the log.

Real inputs are hostile: an I²C read error returns NaN, a Pi without an RTC stamps 1970, a peer
sends garbage.  Kairos drops such input rather than let it poison the mesh, and a drop nobody
hears of is a silent failure.  So every drop goes through a :class:`DropLog`, which

* counts it per stream and reason (the witness record reports the counts: docs/wire.md);
* logs the first drop of each (stream, reason) at warning at once, with what was wrong;
* then logs at most one summary line per (stream, reason) every :data:`SUMMARY_INTERVAL_S`,
  giving the count since the previous line — a stream sending 1 000 bad messages a second
  costs one log line per 10 s, not 1 000.

Summaries of drops that stopped are written by :meth:`DropLog.flush`, which the owner calls
on its periodic tick (the witness second), so the last burst is never left untold.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: seconds between two log lines about the same stream and reason
SUMMARY_INTERVAL_S = 10.0


class Reason(str, enum.Enum):
    """Why an input was dropped; the value is the witness counter's name (docs/wire.md)."""

    MALFORMED = "decode_errors"  #: frames that do not decode as a wire-format message
    INVALID_SAMPLE = "invalid_samples"  #: a non-finite value (NaN, ±Inf) in a sample
    TIME_VIOLATION = "time_violations"  #: a row not after the stream's previous accepted row
    FUTURE_STAMP = "future_stamps"  #: a row stamped beyond mesh time + mesh.max_future_s
    QUEUE_OVERFLOW = "drops"  #: a queued message pushed out by a stalled input
    READ_ERROR = "read_errors"  #: a sensor adapter's read that raised
    #: an announcement naming a consumer the topology does not give this publisher
    UNKNOWN_CONSUMER = "unknown_consumers"
    REFUSED_REQUEST = "refused_requests"  #: a control request the agent refused

    def __str__(self) -> str:
        return self.value


@dataclass
class _Tally:
    total: int = 0
    #: drops since the last log line
    pending: int = 0
    #: monotonic time of the last log line
    logged_at: float = 0.0


class DropLog:
    """Counts drops per (stream, reason) and logs them at a bounded rate.

    ``log`` is a structlog-style logger (``log.warning(event, **fields)``); ``clock`` returns
    monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = SUMMARY_INTERVAL_S,
    ) -> None:
        self._log = log
        self._clock = clock
        self._interval_s = interval_s
        self._tallies: dict[tuple[str, Reason], _Tally] = {}
        #: every item dropped so far, of any stream and reason: whether anything was dropped
        #: since a moment costs one comparison, where ``total`` sums the tallies
        self.count = 0

    def drop(self, stream: str, reason: Reason, count: int = 1, **detail: Any) -> None:
        """Count ``count`` dropped items of ``stream`` for ``reason``; log if it is time.

        ``detail`` says what was wrong (the first value, the stamp, the error); it is logged
        with the first drop only, the summaries give counts.
        """
        if count <= 0:
            return
        self.count += count
        key = (stream, reason)
        now = self._clock()
        tally = self._tallies.get(key)
        if tally is None:
            self._tallies[key] = _Tally(total=count, pending=0, logged_at=now)
            self._log.warning(
                "input dropped", stream=stream, reason=reason.value, count=count, **detail
            )
            return
        tally.total += count
        tally.pending += count
        if now - tally.logged_at >= self._interval_s:
            self._summary(key, tally, now)

    def flush(self) -> None:
        """Log the summaries that are due; call it on a periodic tick."""
        now = self._clock()
        for key, tally in self._tallies.items():
            if tally.pending and now - tally.logged_at >= self._interval_s:
                self._summary(key, tally, now)

    def total(self, reason: Reason, stream: str | None = None) -> int:
        """Drops for ``reason`` so far, of one stream or of all."""
        return sum(
            t.total
            for (name, why), t in self._tallies.items()
            if why is reason and (stream is None or name == stream)
        )

    def counts(self, stream: str) -> dict[str, int]:
        """Every reason's total for ``stream``, by witness counter name (non-zero ones only)."""
        return {why.value: t.total for (name, why), t in self._tallies.items() if name == stream}

    def _summary(self, key: tuple[str, Reason], tally: _Tally, now: float) -> None:
        stream, reason = key
        self._log.warning(
            "inputs dropped",
            stream=stream,
            reason=reason.value,
            count=tally.pending,
            total=tally.total,
            seconds=round(now - tally.logged_at, 1),
        )
        tally.pending = 0
        tally.logged_at = now
