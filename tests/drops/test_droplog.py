"""DropLog: every drop counted, the first told at once, then one summary per 10 s at most."""

from __future__ import annotations

from typing import Any

from kairos.drops import SUMMARY_INTERVAL_S, DropLog, Reason


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Lines:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


def test_a_flood_is_counted_exactly_and_logged_once_per_interval() -> None:
    clock, log = Clock(), Lines()
    drops = DropLog(log, clock)
    for _ in range(30 * 100):  # 100 bad rows a second for 30 s
        drops.drop("a", Reason.INVALID_SAMPLE, value="nan")
        clock.now += 0.01
    drops.flush()
    assert drops.total(Reason.INVALID_SAMPLE) == 3000
    assert drops.counts("a") == {"invalid_samples": 3000}
    assert log.lines[0]["event"] == "input dropped" and log.lines[0]["value"] == "nan"
    summaries = log.lines[1:]
    assert len(summaries) == 3  # at 10 s, 20 s and 30 s
    assert sum(line["count"] for line in log.lines) == 3000
    assert all(line["seconds"] >= SUMMARY_INTERVAL_S for line in summaries)


def test_streams_and_reasons_are_told_apart_and_flush_tells_the_last_burst() -> None:
    clock, log = Clock(), Lines()
    drops = DropLog(log, clock)
    drops.drop("a", Reason.FUTURE_STAMP)
    drops.drop("b", Reason.FUTURE_STAMP)
    drops.drop("a", Reason.TIME_VIOLATION, count=3)
    drops.drop("a", Reason.FUTURE_STAMP, count=4)
    assert len(log.lines) == 3  # one first line per (stream, reason)
    drops.flush()
    assert len(log.lines) == 3  # not due yet
    clock.now += SUMMARY_INTERVAL_S
    drops.flush()
    assert log.lines[-1] == {
        "event": "inputs dropped",
        "stream": "a",
        "reason": "future_stamps",
        "count": 4,
        "total": 5,
        "seconds": SUMMARY_INTERVAL_S,
    }
    assert drops.counts("a") == {"future_stamps": 5, "time_violations": 3}
    assert drops.total(Reason.FUTURE_STAMP, "b") == 1
    drops.drop("b", Reason.INVALID_SAMPLE, count=0)  # nothing dropped: nothing counted
    assert drops.count == 1 + 1 + 3 + 4  # every stream and reason
