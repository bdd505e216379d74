"""Replay recorded probe bursts through the estimator: the figures of docs/meshtime.md.

    KAIROS_PROBE_DUMP=/tmp/probes.jsonl pytest tests/meshtime/test_faketime.py -k loopback
    PYTHONPATH=tests python tests/meshtime/replay.py /tmp/probes.jsonl [more.jsonl ...]

Each recording (``fakeclock.record_probes``) holds every burst the launcher's keeper took in
and the instant of each round (tests/meshtime/data keeps the runs behind docs/meshtime.md,
each burst reduced to its minimum-delay probe, all the estimator keeps); this runs them
through a fresh ``OffsetEstimator`` per device and ``mesh_offsets``, as
``MeshTimeKeeper.round`` does, and compares every correction with the injected offset.  A
change to the estimator is judged on the same probes in seconds, before live runs confirm
it.  The loopback test's first round (the join) is not in its tally, so it is left out here
too; the emulated test counts every round.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
from pathlib import Path

from meshtime.fakeclock import Tally

from kairos.clocksync import (
    ClockEstimate,
    OffsetEstimator,
    ProbeSample,
    mesh_offsets,
    paired_corrections,
)


def read(path: Path) -> list[dict]:
    """The rows of a recording (``.jsonl``, or ``.jsonl.gz`` as in tests/meshtime/data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def replay(rows: list[dict]) -> dict[str, tuple[str, Tally]]:
    """Each run's place (loopback, emulated) and tally, as its test counted it; rows
    without a ``run`` key belong to one run."""
    runs: dict[str, list[dict]] = {}
    for row in rows:
        runs.setdefault(row.get("run", ""), []).append(row)
    return {run: _replay_run(run_rows) for run, run_rows in runs.items()}


def _replay_run(rows: list[dict]) -> tuple[str, Tally]:
    estimators: dict[str, OffsetEstimator] = {}
    truths: dict[str, int] = {}
    base_errors: dict[str, int] = {}
    tally = Tally()
    rounds = 0
    where = ""
    for row in rows:
        where = row["where"]
        if row["kind"] == "burst":
            device = row["device"]
            truths[device] = row["truth_ns"]
            base_errors[device] = row["base_error_ns"]
            burst = [ProbeSample(*s) for s in row["samples"]]
            if burst:
                estimators.setdefault(device, OffsetEstimator()).add_burst(burst)
            continue
        rounds += 1
        if where == "loopback" and rounds == 1:
            continue  # the join round precedes the loopback test's tally
        estimates: dict[str, ClockEstimate] = {}
        for device, estimator in estimators.items():
            e = estimator.estimate(row["at_ns"])
            estimates[device] = dataclasses.replace(
                e, uncertainty_ns=e.uncertainty_ns + base_errors[device]
            )
        reference = row["reference"]
        paired = paired_corrections(estimators, reference, row["at_ns"], base_errors)
        offsets = mesh_offsets(estimates, reference, paired=paired)
        for device, e in offsets.offsets.items():
            if device != reference:
                tally.add(e.offset_ns + truths[device], e.uncertainty_ns, e.fitted)
    return where, tally


def pool(tallies: list[Tally]) -> Tally:
    """One tally of several runs' corrections."""
    total = Tally()
    for tally in tallies:
        total.errors += tally.errors
        total.uncertainties += tally.uncertainties
        total.fitted += tally.fitted
    return total


def main(paths: list[str]) -> None:
    by_place: dict[str, list[Tally]] = {}
    for name in paths:
        for run, (where, tally) in replay(read(Path(name))).items():
            print(f"{name} {run}: {json.dumps(tally.figures())}")
            by_place.setdefault(where, []).append(tally)
    for where, tallies in by_place.items():
        total = pool(tallies)
        print(f"{where}, {len(tallies)} runs pooled: {json.dumps(total.figures())}")
        print(f"{where}, fitted only: {json.dumps(total.figures(only_fitted=True))}")


if __name__ == "__main__":
    main(sys.argv[1:])
