"""Issue 15 point 3 over enough corrections: recorded libfaketime runs replayed through the
estimator (tests/meshtime/data, recorded under load on the shared 2-core development
machine; docs/meshtime.md has the table).  A live run is 320 corrections on loopback and
about 75 on the emulated links, too few to hold 99 % each time (test_faketime.py holds one
run to a margin); pooled, the issue's figures are asserted here, on the same probes every
time: coverage on both, the 5× ratio on loopback (not met on the emulated links)."""

from __future__ import annotations

import json
from pathlib import Path

from meshtime.replay import pool, read, replay

DATA = Path(__file__).parent / "data"


def pooled(where: str) -> dict[str, float]:
    runs = replay(read(DATA / f"probes-{where}.jsonl.gz"))
    assert len(runs) >= 6 and all(w == where for w, _ in runs.values()), sorted(runs)
    figures = pool([tally for _, tally in runs.values()]).figures()
    print(f"{where}, {len(runs)} runs:", json.dumps(figures))
    return figures


def test_loopback_corrections_are_covered_with_a_tight_uncertainty() -> None:
    figures = pooled("loopback")
    assert figures["n"] >= 3800
    assert figures["coverage"] >= 0.99, figures
    assert figures["ratio"] <= 5.0, figures


def test_emulated_link_corrections_are_covered() -> None:
    # the 5× ratio is not met on the emulated links: 5.4× pooled (8.4× before the launcher's
    # iburst).  The correction fitted to paired samples met it (4.8×) but broke the live
    # loopback test's per-run margin; docs/meshtime.md, "Where the targets stand"
    figures = pooled("emulated")
    assert figures["n"] >= 800
    assert figures["coverage"] >= 0.99, figures
