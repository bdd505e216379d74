"""The per-run coverage rule of the emulated clock tests (``fakeclock.episode_problems``)."""

from __future__ import annotations

from meshtime.fakeclock import MISS_BOUND, episode_problems, miss_episodes


def test_misses_within_two_rounds_are_one_episode() -> None:
    assert miss_episodes([9, 3, 4, 6, 12, 4]) == [[3, 4, 6], [9], [12]]
    assert miss_episodes([]) == []


def test_one_episode_within_the_bound_passes_and_anything_more_fails() -> None:
    covered = [(k, 1.0, 10.0) for k in range(30)]
    assert episode_problems(covered) == []
    one = [(k, 15.0 if 10 <= k <= 16 else 1.0, 10.0) for k in range(30)]
    assert episode_problems(one) == []  # 7 consecutive misses: one load episode
    two = [(k, 15.0 if k in (3, 20) else 1.0, 10.0) for k in range(30)]
    problems = episode_problems(two)
    assert problems[0] == "2 episode(s) of misses in 30 corrections", problems
    assert len(problems) == 3 and "round 20: error +15 ns" in problems[2], problems
    wild = [(k, -10.0 * MISS_BOUND - 1 if k == 5 else 1.0, 10.0) for k in range(30)]
    assert episode_problems(wild) == [
        "1 episode(s) of misses in 30 corrections",
        "round 5: error -21 ns, uncertainty 10 ns",
    ]
