"""Every hand-written malformed input ends in its target's one typed error, within 10 s.

Cases listed in ``corpus.KNOWN_BUGS`` reproduce reported bugs and are strict xfails.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from fuzz.corpus import CORPUS, KNOWN_BUGS

from kairos.tools._fuzz import load_target
from kairos.tools._fuzz._random import InputTimeout, _alarm
from kairos.tools._fuzz._target import check

INPUT_SECONDS = 10.0


def _cases() -> Iterator[object]:
    for target, cases in CORPUS.items():
        for name, data in cases:
            marks = []
            bug = KNOWN_BUGS.get((target, name))
            if bug:
                marks.append(pytest.mark.xfail(strict=True, reason=f"reported bug: {bug}"))
            yield pytest.param(target, data, id=f"{target}: {name}", marks=marks)


@pytest.mark.parametrize(("target_name", "data"), list(_cases()))
def test_malformed_input_ends_in_the_typed_error(target_name: str, data: bytes) -> None:
    target = load_target(target_name)
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        with target.session() as run:
            signal.setitimer(signal.ITIMER_REAL, INPUT_SECONDS)
            try:
                check(run, target.expected, data)
            except InputTimeout:
                pytest.fail(f"one input took more than {INPUT_SECONDS} s")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_every_known_bug_names_a_corpus_case() -> None:
    cases = {(target, name) for target, items in CORPUS.items() for name, _ in items}
    assert set(KNOWN_BUGS) <= cases


@pytest.mark.parametrize("target_name", sorted(CORPUS))
def test_seeds_are_accepted_or_refused_with_the_typed_error(target_name: str) -> None:
    target = load_target(target_name)
    seeds = target.seeds()
    assert seeds
    with target.session() as run:
        outcomes = [check(run, target.expected, data) for data in seeds]
    # the seeds are mostly valid inputs: fuzzing starts from what decodes
    assert sum(outcome is None for outcome in outcomes) >= len(seeds) // 2
