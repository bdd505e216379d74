"""Issue 15 point 3 over enough corrections: recorded libfaketime runs replayed through the
estimator (tests/meshtime/data, recorded under load on the shared 2-core development
machine; docs/meshtime.md has the table).  A live run is 320 corrections on loopback and
about 75 on the emulated links, too few to hold 99 % each time (test_faketime.py holds one
run to a margin); pooled, the issue's figures are asserted here, on the same probes every
time: coverage and the 5× ratio on both, and no loopback run below the live test's margin."""

from __future__ import annotations

import json
from pathlib import Path

from meshtime.fakeclock import MIN_COVERAGE
from meshtime.replay import pool, read, replay

DATA = Path(__file__).parent / "data"


def pooled(where: str) -> tuple[dict[str, float], list[float]]:
    """The pooled figures of a place's recorded runs, and each run's coverage."""
    runs = replay(read(DATA / f"probes-{where}.jsonl.gz"))
    assert len(runs) >= 6 and all(w == where for w, _ in runs.values()), sorted(runs)
    figures = pool([tally for _, tally in runs.values()]).figures()
    print(f"{where}, {len(runs)} runs:", json.dumps(figures))
    return figures, [tally.figures()["coverage"] for _, tally in runs.values()]


def test_loopback_corrections_are_covered_with_a_tight_uncertainty() -> None:
    figures, runs = pooled("loopback")
    assert figures["n"] >= 5000
    assert figures["coverage"] >= 0.99, figures
    assert figures["ratio"] <= 5.0, figures
    # a live run is held to MIN_COVERAGE; a recorded one below it would fail there
    assert min(runs) >= MIN_COVERAGE, runs


def test_emulated_link_corrections_are_covered_with_a_tight_uncertainty() -> None:
    figures, _ = pooled("emulated")
    assert figures["n"] >= 1000
    assert figures["coverage"] >= 0.99, figures
    assert figures["ratio"] <= 5.0, figures
