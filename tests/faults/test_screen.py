"""The row screen: its vectorised verdict equals the sequential rule, and a wrong clock is
told once per episode."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors._screen import CLOCK_PERSIST_S, MAX_VALUE, InputScreen, classify, finite_values
from kairos.drops import DropLog, Reason

S = 1_000_000_000


class Lines:
    def __init__(self) -> None:
        self.lines: list[dict] = []

    def warning(self, event: str, **fields) -> None:
        self.lines.append({"event": event, **fields})


def sequential(times, valid, last, limit) -> list[int]:
    """The rule as written in docs/wire.md: row by row, first failed check wins."""
    fates = []
    for t, ok in zip(times.tolist(), valid.tolist(), strict=True):
        if t > limit:
            fates.append(1)
        elif last is not None and t <= last:
            fates.append(2)
        elif not ok:
            fates.append(3)
        else:
            fates.append(0)
            last = t
    return fates


@pytest.mark.parametrize("seed", range(20))
def test_classify_equals_the_sequential_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(0, 12))
        times = rng.integers(0, 30, size=n).astype(np.int64)
        valid = rng.random(n) < 0.8
        last = None if rng.random() < 0.3 else int(rng.integers(0, 20))
        limit = int(rng.integers(10, 30))
        assert classify(times, valid, last, limit).tolist() == sequential(times, valid, last, limit)


def test_finite_values_reads_every_part_and_the_bound() -> None:
    real = np.array([0.5, np.nan, np.inf, -np.inf, MAX_VALUE, 2 * MAX_VALUE, 5e-324])
    assert finite_values(real).tolist() == [True, False, False, False, True, False, True]
    pair = np.array([1 + 1j, complex(1, np.nan), complex(np.inf, 0)])
    assert finite_values(pair).tolist() == [True, False, False]
    # the magnitude is bounded, not only each part, and huge finite parts do not overflow it
    phasors = np.array([3 + 4j, 3 + 3j, complex(1e308, 1e308), complex(np.nan, np.inf)])
    assert finite_values(phasors, 4.5).tolist() == [False, True, False, False]
    small = np.array([3 + 4j, 3 + 3j, complex(3e38, 3e38), complex(np.nan, np.inf)], np.complex64)
    assert finite_values(small, 4.5).tolist() == [False, True, False, False]
    table = np.array([[0.0, 1.0], [0.0, np.nan]])
    assert finite_values(table).tolist() == [True, False]
    assert finite_values(np.array([2**62, -(2**62)])).tolist() == [True, True]


def test_a_wrong_clock_is_told_once_per_episode() -> None:
    log = Lines()
    screen = InputScreen("a", 1.0, DropLog(log))
    now, last = 100 * S, 99 * S
    told = []
    for step in range(110):  # 5 s of messages an hour ahead, then good ones, then again
        now += S // 10
        ahead = step < 50 or step >= 70
        times = np.array([now + 3600 * S if ahead else now])
        accepted, clock = screen.check(times, np.array([True]), last, now)
        if accepted.all():
            last = int(times[-1])
        if clock is not None:
            told.append((step, clock))
    # CLOCK_PERSIST_S after the first message of each episode, and never again within it
    first_told = int(CLOCK_PERSIST_S * 10)
    assert told == [(first_told, "future_stamps"), (70 + first_told, "future_stamps")]
    assert screen.clock_fault == "future_stamps"
    assert screen.drops.total(Reason.FUTURE_STAMP) == 50 + 40
    assert [line["event"] for line in log.lines] == ["input dropped"]  # the rest: summaries


def test_unordered_streams_are_checked_for_stamps_and_values_only() -> None:
    times = np.array([5, 3, 3, 40, 4])
    valid = np.array([True, True, False, True, True])
    assert classify(times, valid, 10, 30, ordered=False).tolist() == [0, 0, 3, 1, 0]
    assert classify(times, valid, 10, 30).tolist() == [2, 2, 2, 1, 2]
